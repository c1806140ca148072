"""Benchmark DetectModerationLabels' false positives on ordinary images.

Every image here is ordinary (people clothed, street scenes, animals, objects, documents,
test patterns), so every moderation label reported is a false positive. Sources:

- ../shared/dev-data: every JPEG and PNG (faces, group photos, reference stills) and one
  frame a second of its video clip;
- tests/fixtures: every JPEG and PNG (the fuzzing corpus excluded);
- Debian's opencv-doc (examples/**: photos, scene text, calibration and test pictures, and
  one frame in twenty of data/vtest.avi, a pedestrian scene) and darknet (data/*.jpg:
  dog, horses, person, ...), fetched with `--fetch DIR` (apt-get download + dpkg -x) or
  given unpacked with `--debian DIR`.

Printed: per source and in all, the share of images with at least one label at
MinConfidence 50 (Rekognition's default) and at 30/70/90, the flagged images with their
labels, and milliseconds per image for the detector and the taxonomy mapping. `--bgr`
feeds the network BGR instead of RGB: the nudenet package's own pipeline swaps channels
twice and so gives the model BGR, while Ultralytics, which trained it, feeds RGB; oculi
feeds RGB.

True positives cannot be shipped or fetched here, so this script does not measure recall;
see docs/text-and-moderation.md for how the detector's decoding was checked instead.

    python bench/moderation.py --fetch ~/.cache/oculi/bench-data [--bgr] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from oculi.errors import OculiError
from oculi.service.image_source import ANALYSIS_SIDE
from oculi.service.moderation import load_nudity_detector, moderation_labels
from oculi.vision.decode import decode

ROOT = Path(__file__).resolve().parents[1]
DEV_DATA = ROOT.parent / "shared" / "dev-data"
THRESHOLDS = (30.0, 50.0, 70.0, 90.0)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


DEBIAN_PHOTOS = (
    ("opencv-doc", "usr/share/doc/opencv-doc/examples"),
    ("darknet", "usr/share/darknet/data"),
)


def fetch(dest: Path, packages: tuple[tuple[str, str], ...] = DEBIAN_PHOTOS) -> Path:
    """Download and unpack Debian packages (name, a folder marking it unpacked) with apt
    into dest; by default opencv-doc and darknet."""
    dest.mkdir(parents=True, exist_ok=True)
    for package, marker in packages:
        if (dest / marker).is_dir():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", package], cwd=tmp, check=True)
            deb = next(Path(tmp).glob(f"{package}_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)
    return dest


def files(folder: Path, pattern: str = "**/*") -> list[Path]:
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.suffix.lower() in IMAGE_SUFFIXES and "fuzz" not in p.parts
    )


def video_frames(path: Path, every: int) -> Iterator[tuple[str, np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i % every == 0:
            yield f"{path.name}#{i}", np.ascontiguousarray(bgr[:, :, ::-1])
        i += 1
    cap.release()


def still(path: Path) -> np.ndarray:
    """The image as the API decodes it (orientation applied, long side at most 2048)."""
    return decode(path.read_bytes(), reduce_to=ANALYSIS_SIDE).rgb


def sources(debian: Path | None) -> dict[str, Iterator[tuple[str, np.ndarray]]]:
    def stills(paths: list[Path]) -> Iterator[tuple[str, np.ndarray]]:
        for p in paths:
            try:
                yield p.name, still(p)
            except OculiError as e:  # the API refuses it too: not counted
                print(f"  skipped {p}: {e.message}")

    out: dict[str, Iterator[tuple[str, np.ndarray]]] = {}
    if DEV_DATA.is_dir():
        out["dev-data"] = stills(files(DEV_DATA))
        clip = DEV_DATA / "video" / "short_hamilton_clip.mp4"
        if clip.is_file():
            out["dev-data video"] = video_frames(clip, 30)
    out["tests/fixtures"] = stills(files(ROOT / "tests" / "fixtures"))
    if debian is not None:
        examples = debian / "usr/share/doc/opencv-doc/examples"
        out["opencv-doc"] = stills(files(examples))
        out["opencv-doc vtest.avi"] = video_frames(examples / "data" / "vtest.avi", 20)
        out["darknet"] = stills(files(debian / "usr/share/darknet/data", "*"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fetch", type=Path, help="download and unpack the Debian packages here")
    ap.add_argument("--debian", type=Path, help="a folder with opencv-doc and darknet unpacked")
    ap.add_argument("--bgr", action="store_true", help="feed BGR, as the nudenet package does")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    args = ap.parse_args()
    debian = fetch(args.fetch.expanduser()) if args.fetch else args.debian
    detector = load_nudity_detector(threads=args.threads)

    total: dict[float, int] = dict.fromkeys(THRESHOLDS, 0)
    count = 0
    took: list[float] = []
    flagged: list[str] = []
    print(
        f"{'source':22} {'images':>6} " + " ".join(f"{'FP@' + str(int(t)):>7}" for t in THRESHOLDS)
    )
    for name, images in sources(debian).items():
        hits: dict[float, int] = dict.fromkeys(THRESHOLDS, 0)
        n = 0
        for label, rgb in images:
            t = time.perf_counter()
            parts = detector(np.ascontiguousarray(rgb[:, :, ::-1]) if args.bgr else rgb)
            labels = moderation_labels(parts, min(THRESHOLDS))
            took.append(1000 * (time.perf_counter() - t))
            n += 1
            for th in THRESHOLDS:
                hits[th] += any(lab.confidence >= th for lab in labels)
            if any(lab.confidence >= 50.0 for lab in labels):
                flagged.append(
                    f"{name}: {label}: "
                    + ", ".join(
                        f"{lab.name} {lab.confidence:.0f}" for lab in labels if lab.level == 3
                    )
                )
        count += n
        for th in THRESHOLDS:
            total[th] += hits[th]
        print(
            f"{name:22} {n:6d} "
            + " ".join(f"{100 * hits[th] / max(1, n):6.2f}%" for th in THRESHOLDS)
        )
    print(
        f"{'all':22} {count:6d} "
        + " ".join(f"{100 * total[th] / max(1, count):6.2f}%" for th in THRESHOLDS)
    )
    print(
        f"\nmedian {statistics.median(took):.0f} ms per image "
        f"({'BGR' if args.bgr else 'RGB'} input)"
    )
    print("flagged at MinConfidence 50:" if flagged else "nothing flagged at MinConfidence 50")
    for line in flagged:
        print("  " + line)


if __name__ == "__main__":
    main()
