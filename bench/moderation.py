"""Benchmark DetectModerationLabels' false positives on ordinary images, for each model.

Every image here is ordinary (people clothed, street scenes, animals, objects, documents,
test patterns, desktop wallpapers), so every moderation label reported is a false
positive, except on the images listed in TRUE_BY_EYE, which a person found really show a
category: those are counted apart, as hits or misses. Sources:

- ../shared/dev-data: every JPEG and PNG (faces, group photos, reference stills) and one
  frame a second of its video clip;
- tests/fixtures: every JPEG and PNG (the fuzzing corpus excluded);
- Debian's opencv-doc (examples/**: photos, scene text, calibration and test pictures, and
  one frame in twenty of data/vtest.avi, a pedestrian scene), darknet (data/*.jpg: dog,
  horses, person, ...) and the wallpapers of lomiri-wallpapers-16.04, -20.04 and
  ukui-wallpapers (usr/share/backgrounds: landscapes, animals, a room with wine, graphics),
  fetched with `--fetch DIR` (apt-get download + dpkg -x) or given unpacked with
  `--debian DIR`.

Printed, for the ImageNet classifier's labels (the default) and NudeNet's nudity labels
(opt-in) apart: per source and in all, the share of images with at least one label at
MinConfidence 50 (Rekognition's default) and at 30/70/90; every image with a label at 30
or more, with its labels (look at them); the true-by-eye images' labels; and the median
milliseconds per image of the classifier, of the detector and of both (the same images,
the same run). `--bgr` feeds the detector BGR instead of RGB: the nudenet package's own
pipeline swaps channels twice and so gives the model BGR, while Ultralytics, which
trained it, feeds RGB; oculi feeds RGB.

No photo of nudity can be shipped or fetched here, and registry photos of weapons, drinks,
pills or slot machines are few (one, in TRUE_BY_EYE), so this script does not measure
recall; see docs/text-and-moderation.md.

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
from oculi.service.labels import load_image_classifier
from oculi.service.moderation import (
    ModerationLabel,
    load_nudity_detector,
    moderation_labels,
    rolled_up,
)
from oculi.service.moderation_imagenet import CLASS_LABEL, imagenet_scores
from oculi.vision.decode import decode

ROOT = Path(__file__).resolve().parents[1]
DEV_DATA = ROOT.parent / "shared" / "dev-data"
THRESHOLDS = (30.0, 50.0, 70.0, 90.0)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


DEBIAN_PHOTOS = (
    ("opencv-doc", "usr/share/doc/opencv-doc/examples"),
    ("darknet", "usr/share/darknet/data"),
)
WALLPAPERS = (
    ("lomiri-wallpapers-16.04", "usr/share/doc/lomiri-wallpapers-16.04"),
    ("lomiri-wallpapers-20.04", "usr/share/doc/lomiri-wallpapers-20.04"),
    ("ukui-wallpapers", "usr/share/doc/ukui-wallpapers"),
)
# Images that really show a moderation category (looked at by a person), and which.
TRUE_BY_EYE = {
    "Wine_by_Jakkub_Mede.jpg": "Alcoholic Beverages",  # a wine bottle and a glass, small
    "wine.jpg": "Alcoholic Beverages",  # tests/fixtures/moderation: a crop of the above
}
# ImageNet classes considered for the taxonomy and not counted (docs/text-and-moderation.md
# says why): their strongest summed probability on the ordinary images is printed.
NOT_COUNTED: dict[str, tuple[int, ...]] = {
    "Swimwear or Underwear (bikini, brassiere, maillot, swimming trunks)": (445, 459, 639, 842),
    "projectile": (744,),
    "bow": (456,),
    "letter opener": (623,),
    "syringe": (845,),
    "tobacco shop": (860,),
}


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
        out["wallpapers"] = stills(files(debian / "usr/share/backgrounds", "*"))
    return out


class Tally:
    """Images with at least one label at each threshold, per source and in all."""

    def __init__(self) -> None:
        self.images: dict[str, int] = {}
        self.hits: dict[tuple[str, float], int] = {}

    def add(self, source: str, labels: list[ModerationLabel]) -> None:
        self.images[source] = self.images.get(source, 0) + 1
        for th in THRESHOLDS:
            key = (source, th)
            self.hits[key] = self.hits.get(key, 0) + any(lab.confidence >= th for lab in labels)

    def rows(self) -> list[str]:
        head = f"{'source':22} {'images':>6} " + " ".join(
            f"{'FP@' + str(int(t)):>7}" for t in THRESHOLDS
        )
        out = [head]
        for source, n in [*self.images.items(), ("all", sum(self.images.values()))]:
            counts = [
                sum(v for (s, t), v in self.hits.items() if t == th and source in (s, "all"))
                for th in THRESHOLDS
            ]
            out.append(
                f"{source:22} {n:6d} "
                + " ".join(f"{100 * c / max(1, n):6.2f}%" for c in counts)
                + f"  ({counts[1]} at 50)"
            )
        return out


def leaves(labels: list[ModerationLabel]) -> str:
    """The most specific labels found, with their confidences."""
    parents = {lab.parent for lab in labels}
    return ", ".join(
        f"{lab.name} {lab.confidence:.0f}" for lab in labels if lab.name not in parents
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fetch", type=Path, help="download and unpack the Debian packages here")
    ap.add_argument("--debian", type=Path, help="a folder with the Debian packages unpacked")
    ap.add_argument("--bgr", action="store_true", help="feed BGR, as the nudenet package does")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    args = ap.parse_args()
    debian = (
        fetch(args.fetch.expanduser(), DEBIAN_PHOTOS + WALLPAPERS) if args.fetch else args.debian
    )
    classifier = load_image_classifier(threads=args.threads)
    detector = load_nudity_detector(threads=args.threads)

    tallies = {"classifier": Tally(), "nudity": Tally()}
    took: dict[str, list[float]] = {"classifier": [], "nudity": [], "both": []}
    flagged: list[str] = []
    true_seen: list[str] = []
    strongest = {group: (0.0, "") for group in NOT_COUNTED}
    at_default = dict.fromkeys(NOT_COUNTED, 0)
    for name, images in sources(debian).items():
        for label, rgb in images:
            t0 = time.perf_counter()
            probs = classifier(rgb)[0]
            scores = imagenet_scores(probs)
            t1 = time.perf_counter()
            parts = detector(np.ascontiguousarray(rgb[:, :, ::-1]) if args.bgr else rgb)
            t2 = time.perf_counter()
            found = {
                "classifier": rolled_up(scores, min(THRESHOLDS)),
                "nudity": moderation_labels(parts, min(THRESHOLDS)),
            }
            took["classifier"].append(1000 * (t1 - t0))
            took["nudity"].append(1000 * (t2 - t1))
            took["both"].append(1000 * (t2 - t0))
            if label in TRUE_BY_EYE:
                wanted = TRUE_BY_EYE[label]
                summed = 100 * sum(probs[i] for i, lab in CLASS_LABEL.items() if lab == wanted)
                true_seen.append(
                    f"{name}: {label} shows {wanted} (its classes sum to {summed:.1f}%): "
                    + (leaves(found["classifier"] + found["nudity"]) or "nothing at 30")
                )
                continue
            for group, classes in NOT_COUNTED.items():
                p = 100 * float(sum(probs[i] for i in classes))
                at_default[group] += p >= 50
                if p > strongest[group][0]:
                    strongest[group] = (p, f"{name}: {label}")
            for model, labels in found.items():
                tallies[model].add(name, labels)
                if labels:
                    flagged.append(f"{model}: {name}: {label}: {leaves(labels)}")
    for model, tally in tallies.items():
        print(f"\n{model} labels (every one a false positive)")
        print("\n".join(tally.rows()))
    print(
        "\nmedian ms per image: "
        + ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in took.items())
        + f" ({'BGR' if args.bgr else 'RGB'} input to the detector)"
    )
    print("\nclasses not counted: strongest on the ordinary images, and how many at 50 or more")
    for group, (p, where) in strongest.items():
        print(f"  {group}: {p:.0f}% ({where}); {at_default[group]} at 50+")
    print("\nimages that really show a category (by eye; not counted above):")
    for line in true_seen:
        print("  " + line)
    print("\nflagged at MinConfidence 30 or more:" if flagged else "\nnothing flagged at 30")
    for line in flagged:
        print("  " + line)


if __name__ == "__main__":
    main()
