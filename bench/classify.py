"""Benchmark DetectLabels' image-level labels (EfficientNet-Lite2, ImageNet-1k): precision and
recall against hand-labelled photos, and its cost.

bench/labels_image.csv holds the true image-level labels of 53 real photos (how they were
made is in its header): Debian's darknet and opencv-doc photos, 12 photos from Debian's
lomiri-wallpapers-16.04/-20.04 (landscapes and objects), dlib's 9 PASCAL VOC group photos
and 5 portraits from ../shared/dev-data, and two from tests/fixtures. A small set, labelled
by one person: the figures say where the labels work and where they do not, not how they
compare with Rekognition.

For each photo the classifier's labels alone (oculi.vision.classify.image_labels on the
views DetectLabels uses, oculi.service.labels.LABEL_VIEWS; before merging with the
detectors' labels) are compared with its true labels and their ancestors:
a returned label is right when it is one of them. Recall counts the true labels (and their
ancestors) that the classifier can say at all. Printed: per label at MinConfidence 55
(Rekognition's default) and overall at several MinConfidence values, then each photo's
wrong labels at 55 and at 30. Then each test-time view set side by side (VARIANTS: the
centre crop, its mirror image, the whole image squashed or letterboxed to the input size;
the views' probabilities averaged or each label at its best view): precision / recall at
each MinConfidence and the classifier's milliseconds per image for those views (median of
--repeat passes), and each photo's labels at 55 that DetectLabels' views find and the
centre crop alone does not (and the reverse). Then milliseconds per image (median of
--repeat passes over all the photos, each pass timing both variants in turn): the
classifier alone on DetectLabels' views, and DetectLabels' GENERAL_LABELS use case
(oculi.service.labels.detect_labels) without and with it, with the ratio of the two in the
same run.

    python -m bench.classify --fetch ~/.cache/oculi/bench-data --threads 1 [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.moderation import DEBIAN_PHOTOS, fetch
from oculi.service.image_source import ANALYSIS_SIDE
from oculi.service.labels import (
    LABEL_VIEWS,
    detect_labels,
    load_image_classifier,
    load_label_detectors,
)
from oculi.vision.classify import CENTRE, VIEWS, image_labels
from oculi.vision.decode import decode
from oculi.vision.imagenet_labels import IMAGENET_LABELS
from oculi.vision.label_taxonomy import TAXONOMY, ancestors

ROOT = Path(__file__).resolve().parents[1]
DEV_DATA = ROOT.parent / "shared" / "dev-data"
TRUTH_CSV = Path(__file__).with_name("labels_image.csv")
PACKAGES = DEBIAN_PHOTOS + (
    ("lomiri-wallpapers-16.04", "usr/share/doc/lomiri-wallpapers-16.04"),
    ("lomiri-wallpapers-20.04", "usr/share/doc/lomiri-wallpapers-20.04"),
)
DEFAULT_MIN = 55.0
THRESHOLDS = (30.0, 40.0, 55.0, 70.0)
SQUASHED, LETTERBOXED = ("whole squashed",), ("whole letterboxed",)
FLIPPED = ("centre", "centre flipped")
# Test-time view sets compared side by side: the views' probabilities averaged ("mean") or
# each label at its best view ("max", what oculi.vision.classify.image_labels does).
VARIANTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (CENTRE, "mean"),
    (FLIPPED, "mean"),
    (FLIPPED, "max"),
    (SQUASHED, "mean"),
    (LETTERBOXED, "mean"),
    (CENTRE + SQUASHED, "mean"),
    (CENTRE + SQUASHED, "max"),
    (CENTRE + LETTERBOXED, "mean"),
    (CENTRE + LETTERBOXED, "max"),
    (FLIPPED + SQUASHED + ("whole squashed flipped",), "mean"),
    (FLIPPED + SQUASHED + ("whole squashed flipped",), "max"),
)


def truth(debian: Path) -> dict[Path, set[str]]:
    """Each photo's true labels with their ancestors."""
    roots = {
        "darknet": debian / "usr/share/darknet/data",
        "opencv": debian / "usr/share/doc/opencv-doc/examples/data",
        "lomiri": debian / "usr/share/backgrounds",
        "voc": DEV_DATA / "dlib_faces_voc",
        "deepface": DEV_DATA / "deepface_pairs" / "images",
        "fixtures": ROOT / "tests" / "fixtures",
    }
    lines = [ln for ln in TRUTH_CSV.read_text().splitlines() if not ln.startswith("#")]
    out: dict[Path, set[str]] = {}
    for row in csv.DictReader(lines):
        labels = set(row["labels"].split(";"))
        unknown = labels - TAXONOMY.keys()
        if unknown:
            raise ValueError(f"{row['image']}: labels not in the taxonomy: {unknown}")
        out[roots[row["source"]] / row["image"]] = labels | {
            a for lab in labels for a in ancestors(lab)
        }
    return out


def sayable() -> set[str]:
    """Every label the classifier can return."""
    own = {lab for lab in IMAGENET_LABELS if lab is not None}
    return own | {a for lab in own for a in ancestors(lab)}


def scores(
    returned: dict[Path, set[str]], true: dict[Path, set[str]], vocab: set[str]
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per label: labels returned, returned and true, true (and sayable)."""
    got, right, want = Counter[str](), Counter[str](), Counter[str]()
    for path, labels in returned.items():
        got.update(labels)
        right.update(labels & true[path])
        want.update(true[path] & vocab)
    return got, right, want


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def report_accuracy(probs: dict[Path, np.ndarray], true: dict[Path, set[str]]) -> None:
    vocab = sayable()
    print(
        f"{len(true)} photos; the classifier can say {len(vocab)} labels "
        f"({sum(lab is not None for lab in IMAGENET_LABELS)} of 1000 classes mapped)"
    )
    print(
        "\noverall (micro) by MinConfidence: returned, right, precision, true, found, "
        "recall, photos with >= 1 label"
    )
    for t in THRESHOLDS:
        returned = {p: {lab.name for lab in image_labels(pr, t)} for p, pr in probs.items()}
        got, right, want = scores(returned, true, vocab)
        found = sum((right & want).values())
        print(
            f"  {t:>4.0f}  {sum(got.values()):4d} {sum(right.values()):4d} "
            f"{ratio(sum(right.values()), sum(got.values())):>5}  {sum(want.values()):4d} "
            f"{found:4d} {ratio(found, sum(want.values())):>5}  "
            f"{sum(bool(r) for r in returned.values())}/{len(returned)}"
        )
    returned = {p: {lab.name for lab in image_labels(pr, DEFAULT_MIN)} for p, pr in probs.items()}
    got, right, want = scores(returned, true, vocab)
    print(
        f"\nper label at MinConfidence {DEFAULT_MIN:.0f}: returned, right, precision, "
        "true, found, recall"
    )
    for name in sorted(got.keys() | want.keys(), key=lambda n: (-want[n], -got[n], n)):
        print(
            f"  {name:<22} {got[name]:3d} {right[name]:3d} {ratio(right[name], got[name]):>5}"
            f"  {want[name]:3d} {right[name]:3d} {ratio(right[name], want[name]):>5}"
        )
    for t in (DEFAULT_MIN, THRESHOLDS[0]):
        print(f"\nwrong labels at MinConfidence {t:.0f}:")
        for path, pr in probs.items():
            wrong = [
                f"{lab.name} {lab.confidence:.0f}"
                for lab in image_labels(pr, t)
                if lab.name not in true[path]
            ]
            if wrong:
                print(f"  {path.name}: {', '.join(wrong)}")


def variant_labels(
    per_view: dict[str, np.ndarray], views: tuple[str, ...], combine: str, t: float
) -> set[str]:
    """The labels at or above `t` from the views' probabilities, averaged or each label at
    its best view (a label's best view reaches t when any view does)."""
    probs = np.stack([per_view[v] for v in views])
    return {lab.name for lab in image_labels(probs.mean(0) if combine == "mean" else probs, t)}


def report_variants(
    images: dict[Path, np.ndarray],
    true: dict[Path, set[str]],
    threads: int | None,
    repeat: int,
) -> None:
    """Precision and recall at each MinConfidence, and ms per image, of each view set."""
    classifier = load_image_classifier(threads=threads)
    per_view = {p: {v: classifier(rgb, (v,))[0] for v in VIEWS} for p, rgb in images.items()}
    sets = list(dict.fromkeys(views for views, _ in VARIANTS))
    passes: dict[tuple[str, ...], list[float]] = {views: [] for views in sets}
    for _ in range(repeat):
        for views in sets:
            start = time.perf_counter()
            for rgb in images.values():
                classifier(rgb, views)
            passes[views].append(time.perf_counter() - start)
    vocab = sayable()
    print(
        "\ntest-time views: precision / recall by MinConfidence "
        f"({', '.join(f'{t:.0f}' for t in THRESHOLDS)}); ms per image, median of {repeat} "
        "passes (the classifier alone, views run one after another)"
    )
    for views, combine in VARIANTS:
        cells = []
        for t in THRESHOLDS:
            returned = {p: variant_labels(pv, views, combine, t) for p, pv in per_view.items()}
            got, right, want = scores(returned, true, vocab)
            found = sum((right & want).values())
            cells.append(
                f"{ratio(sum(right.values()), sum(got.values()))}/"
                f"{ratio(found, sum(want.values()))}"
            )
        name = " + ".join(views) + ("" if len(views) == 1 else f" ({combine})")
        ms = median_ms(passes[views], len(images))
        print(f"  {name:<72} {'  '.join(cells)}  {ms:6.1f}")
    print(
        f"\nlabels at MinConfidence {DEFAULT_MIN:.0f} with DetectLabels' views "
        f"({' + '.join(LABEL_VIEWS)}) and not with the centre crop alone (* = wrong), "
        "and the reverse:"
    )
    for path, pv in per_view.items():
        views = variant_labels(pv, LABEL_VIEWS, "max", DEFAULT_MIN)
        centre = variant_labels(pv, CENTRE, "max", DEFAULT_MIN)
        for sign, diff in (("+", views - centre), ("-", centre - views)):
            if diff:
                named = ", ".join(n + ("" if n in true[path] else "*") for n in sorted(diff))
                print(f"  {sign} {path.name}: {named}")


def median_ms(passes: list[float], n: int) -> float:
    return 1000.0 * statistics.median(passes) / n


def report_speed(images: list[np.ndarray], threads: int | None, repeat: int) -> None:
    classifier = load_image_classifier(threads=threads)
    detectors = load_label_detectors(threads=threads)
    params = {"Features": ["GENERAL_LABELS"]}
    runs: dict[str, list[float]] = {"classifier": [], "without": [], "with": []}
    for rgb in images[:2]:  # warm-up
        detect_labels(detectors, rgb, params, classifier)
    for _ in range(repeat):
        for name, call in (
            ("classifier", lambda rgb: classifier(rgb, LABEL_VIEWS)),
            ("without", lambda rgb: detect_labels(detectors, rgb, params)),
            ("with", lambda rgb: detect_labels(detectors, rgb, params, classifier)),
        ):
            start = time.perf_counter()
            for rgb in images:
                call(rgb)
            runs[name].append(time.perf_counter() - start)
    n = len(images)
    without, with_ = median_ms(runs["without"], n), median_ms(runs["with"], n)
    print(
        f"\nms per image, median of {repeat} passes over {n} photos (threads={threads or 'all'}):"
    )
    print(f"  classifier alone                 {median_ms(runs['classifier'], n):7.1f}")
    print(f"  DetectLabels without classifier  {without:7.1f}")
    print(f"  DetectLabels with classifier     {with_:7.1f}  ({with_ / without:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--debian", type=Path, help="the Debian packages unpacked here")
    ap.add_argument("--fetch", type=Path, help="download and unpack them into this folder")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    debian = fetch(args.fetch.expanduser(), PACKAGES) if args.fetch else args.debian
    if debian is None:
        ap.error("give --fetch DIR or --debian DIR")
    true = truth(debian.expanduser())
    images = {p: decode(p.read_bytes(), reduce_to=ANALYSIS_SIDE).rgb for p in true}
    classifier = load_image_classifier(threads=args.threads)
    report_accuracy({p: classifier(rgb, LABEL_VIEWS) for p, rgb in images.items()}, true)
    report_variants(images, true, args.threads, args.repeat)
    report_speed(list(images.values()), args.threads, args.repeat)


if __name__ == "__main__":
    main()
