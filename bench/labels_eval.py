"""DetectLabels before and after the calibrated fusion, on eval-dev's COCO photos (fit and
report halves), on photos no detector was trained on, and its time on a 1280 x 720 photo.

Run by `python -m bench.labels --data ../shared/dev-data/eval-dev --fetch DIR`
(bench/labels.py hands an eval-dev folder here). Printed:

1. coco64_dev, each half (bench/labels_coco.py says what is measured), for DetectLabels
   before 2026-12-08 (one detector per shared label, raw scores) and now; per-class AP on
   the report half for now.
2. Photos the detectors never saw: dev-data's 9 VOC group photos (persons of dlib's 43
   labelled faces, bench/labels.py) and the hand-labelled boxes of bench/labels_boxes.csv
   (Debian's darknet and opencv-doc photos and two fixtures), before and now.
3. The labels at MinConfidence 55 of darknet's horses.jpg, person.jpg, dog.jpg and
   opencv-doc's fruits.jpg, before and now.
4. Milliseconds (median of --repeat) for darknet's kite.jpg resized to 1280 x 720: each
   model alone, DetectLabels' whole use case (detectors, classifier, merge) before and
   now (the two alternating), and the fusion step alone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench.labels import (
    OWNER,
    detect_all,
    labelled_boxes,
    labelled_faces,
    load,
    owned,
    report_boxes,
    report_faces,
)
from bench.labels_coco import load_coco, report, run_all, split
from oculi.service.labels import (
    LABEL_VIEWS,
    Classifier,
    detect_labels,
    load_image_classifier,
    load_label_detectors,
)
from oculi.vision.label_calibration import fuse_detectors
from oculi.vision.labels import Label, Objects

Detect = Callable[[np.ndarray], Objects]
CASES = (
    "usr/share/darknet/data/horses.jpg",
    "usr/share/darknet/data/person.jpg",
    "usr/share/darknet/data/dog.jpg",
    "usr/share/doc/opencv-doc/examples/data/fruits.jpg",
)
SPEED_PHOTO = "usr/share/darknet/data/kite.jpg"


def labels_of(detect: Detect, classifier: Classifier) -> Callable[[Path], list[Label]]:
    def run(path: Path) -> list[Label]:
        return detect_labels(detect, load(path), {"MinConfidence": 0}, classifier).labels

    return run


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def main(data: Path, debian: Path, threads: int, repeat: int) -> None:
    pair = load_label_detectors(threads=threads)
    before = owned(pair, OWNER)
    classifier = load_image_classifier(threads=threads)
    fit, rep = split(load_coco(data / "coco64_dev"))
    variants = (("before 2026-12-08", before), ("now", pair))
    print(f"threads={threads}; coco64_dev: fit half {len(fit)} photos, report half {len(rep)}")
    for name, detect in variants:
        print(f"\nDetectLabels {name}, coco64_dev:")
        run = labels_of(detect, classifier)
        for half_name, half in (("fit half", fit), ("report half", rep)):
            found, ms = run_all(run, half)
            report(half_name, half, found, ms, per_class=name == "now" and half is rep)
    faces = labelled_faces(data.parent / "dlib_faces_voc")
    truth = labelled_boxes(debian)
    face_images = {p: load(p) for p in faces}
    box_images = {p: load(p) for p in truth}
    for name, detect in variants:
        print(f"\nDetectLabels {name}, photos no detector was trained on:")
        print(f"  persons of dlib's {sum(len(f) for f in faces.values())} labelled faces (VOC):")
        report_faces(faces, detect_all(detect, face_images, 1)[0])
        print(f"  hand-labelled boxes (bench/labels_boxes.csv, {len(truth)} photos):")
        report_boxes(truth, detect_all(detect, box_images, 1)[0])
    print("\nLabels at MinConfidence 55 (Name Confidence xInstances):")
    for case in CASES:
        rgb = load(debian / case)
        for name, detect in variants:
            labels = detect_labels(detect, rgb, {}, classifier).labels
            said = ", ".join(
                f"{lab.name} {lab.confidence:.0f} x{len(lab.instances)}" for lab in labels
            )
            print(f"  {Path(case).name} {name}: {said}")
    rgb = cv2.resize(load(debian / SPEED_PHOTO), (1280, 720), interpolation=cv2.INTER_AREA)
    print(
        f"\nms for {Path(SPEED_PHOTO).name} at 1280 x 720, threads={threads}, median of {repeat}:"
    )
    parts = {
        "OpenImages SSD, whole image": lambda: pair.objects(rgb, tiled=False),
        "SSDLite persons, whole image + 4 crops": lambda: pair.persons.views(rgb),
        "NanoDet, whole image": lambda: pair.coco(rgb) if pair.coco else None,
        "EfficientNet-Lite2, two views": lambda: classifier(rgb, LABEL_VIEWS),
    }
    for name, run in parts.items():
        print(f"  {name}: {median_ms(run, repeat):.1f}")
    # before and now alternate, so that a change in the machine's load hits both alike
    runs = {name: [] for name, _ in variants}
    for _ in range(repeat):
        for name, detect in variants:
            runs[name].append(median_ms(lambda d=detect: detect_labels(d, rgb, {}, classifier), 1))
    base = statistics.median(runs[variants[0][0]])
    for name, times in runs.items():
        ms = statistics.median(times)
        print(f"  DetectLabels {name}: {ms:.1f} ms ({ms / base:.2f}x before)")
    parts = pair.parts(rgb)
    fuse = median_ms(lambda: fuse_detectors(parts, 1280, 720), repeat)
    print(f"  the calibrated fusion step alone (on the detectors' output): {fuse:.1f} ms")
