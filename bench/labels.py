"""Benchmark DetectLabels' object detector: person recall, per-class AP, ms per image.

Two labelled sets, both small:

1. dlib's 9 PASCAL VOC group photos in ../shared/dev-data/dlib_faces_voc, whose 43 faces
   dlib labelled by hand (no person boxes exist for them here). A labelled face counts as
   a person found when a Person instance holds at least 70% of the face box, is at least
   1.5 face heights tall (more than a head) and at most 6 face widths wide; one instance
   per face, best score first. Every face is 37-109 px, so every such person is taller
   than 60 px. Person instances left unmatched are counted too (an upper bound on false
   positives: people whose face is not labelled, e.g. seen from behind, also land there).
2. bench/labels_boxes.csv: person, dog, bicycle, car, horse, bird, giraffe and zebra
   boxes hand-labelled by oculi on 10 photos from Debian's darknet and opencv-doc packages
   and tests/fixtures (see the CSV's header). Per-class AP at IoU 0.5 (all-point
   interpolated, VOC 2010+ style), and at MinConfidence 55 the boxes found, their mean IoU
   and the instances matching no labelled box; person recall at IoU 0.5 for people taller
   than 60 px.

NanoDet (COCO) is run on the whole image; each SSD detector (the OpenImages SSD, and the
SSDLite person detector whose persons DetectLabels reports) on the whole image alone (one
300 x 300 view) and tiled (the whole image plus four overlapping crops), at several
MinConfidence values; and milliseconds per image (median of --repeat runs over all the
photos) for each. Then DetectLabels' whole detection step in VARIANTS of the person fusion
(the default before 2026-12-02 first; the others' times as ratios of its time in the same
run), without NanoDet, with NanoDet and the labels both detectors find taken from one or
the other, and as shipped. Debian's packages are fetched with `--fetch DIR` (apt-get
download + dpkg -x) or given unpacked with `--debian DIR`.

    python -m bench.labels --fetch ~/.cache/oculi/bench-data [--threads N]

With --data pointing at eval-dev (../shared/dev-data/eval-dev), it measures DetectLabels
on COCO photos and on the photos above instead, before and after the calibrated fusion
(bench/labels_eval.py).
"""

from __future__ import annotations

import argparse
import csv
import functools
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.moderation import fetch
from oculi.service.image_source import ANALYSIS_SIDE
from oculi.service.labels import PERSON, LabelDetectors, load_label_detectors
from oculi.vision.decode import decode
from oculi.vision.label_taxonomy import CLASS_LABEL
from oculi.vision.labels import (
    NMS_IOU,
    PERSON_IOU,
    Candidates,
    ObjectDetector,
    Objects,
    fuse,
    to_objects,
    with_class_from,
)
from oculi.vision.nanodet import COCO_CLASSES
from oculi.vision.nms import iou_matrix

ROOT = Path(__file__).resolve().parents[1]
DEV_DATA = ROOT.parent / "shared" / "dev-data"
BOXES_CSV = Path(__file__).with_name("labels_boxes.csv")
THRESHOLDS = (10.0, 15.0, 20.0, 30.0, 55.0)
MIN_PERSON_HEIGHT = 60
DEFAULT_MIN = 55.0  # Rekognition's default MinConfidence
FLOOR = 0.05


def load(path: Path) -> np.ndarray:
    return decode(path.read_bytes(), reduce_to=ANALYSIS_SIDE).rgb


def labelled_faces(folder: Path) -> dict[Path, np.ndarray]:
    """dlib's face boxes (N, 4) x1 y1 x2 y2 per photo."""
    out: dict[Path, np.ndarray] = {}
    for xml in ("training.xml", "testing.xml"):
        for im in ET.parse(folder / xml).findall(".//image"):
            boxes = [
                (
                    int(b.get("left", 0)),
                    int(b.get("top", 0)),
                    int(b.get("left", 0)) + int(b.get("width", 0)),
                    int(b.get("top", 0)) + int(b.get("height", 0)),
                )
                for b in im.findall("box")
            ]
            out[folder / Path(im.get("file", "")).name] = np.array(boxes, np.float32)
    return out


def labelled_boxes(debian: Path) -> dict[Path, list[tuple[str, np.ndarray]]]:
    roots = {
        "darknet": debian / "usr/share/darknet/data",
        "opencv": debian / "usr/share/doc/opencv-doc/examples/data",
        "fixtures": ROOT / "tests" / "fixtures",
    }
    lines = [ln for ln in BOXES_CSV.read_text().splitlines() if not ln.startswith("#")]
    out: dict[Path, list[tuple[str, np.ndarray]]] = {}
    for row in csv.DictReader(lines):
        box = np.array([float(row[k]) for k in ("x1", "y1", "x2", "y2")], np.float32)
        out.setdefault(roots[row["source"]] / row["image"], []).append((row["label"], box))
    return out


def of_label(objects: Objects, label: str) -> tuple[np.ndarray, np.ndarray]:
    mask = np.array([CLASS_LABEL.get(n) == label for n in objects.class_names()], bool)
    mask = mask.reshape(-1)
    return objects.boxes[mask], 100.0 * objects.scores[mask]


def face_matches(
    faces: np.ndarray, boxes: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[int, int]:
    """(faces whose person was found, Person instances left unmatched) at a threshold."""
    order = [i for i in np.argsort(-scores) if scores[i] >= threshold]
    used: set[int] = set()
    for fx1, fy1, fx2, fy2 in faces:
        fw, fh = fx2 - fx1, fy2 - fy1
        for i in order:
            if i in used:
                continue
            x1, y1, x2, y2 = boxes[i]
            inter = max(0.0, min(x2, fx2) - max(x1, fx1)) * max(0.0, min(y2, fy2) - max(y1, fy1))
            if inter >= 0.7 * fw * fh and y2 - y1 >= 1.5 * fh and x2 - x1 <= 6 * fw:
                used.add(i)
                break
    return len(used), len(order) - len(used)


def match_iou(
    truth: np.ndarray, boxes: np.ndarray, scores: np.ndarray, iou: float = 0.5
) -> np.ndarray:
    """For each detection, best score first: whether it is a true positive (one-to-one)."""
    order = np.argsort(-scores, kind="stable")
    taken = np.zeros(len(truth), bool)
    tp = np.zeros(len(order), bool)
    if not len(truth):
        return tp
    ious = iou_matrix(boxes[order], truth)
    for k in range(len(order)):
        cand = np.where(~taken & (ious[k] >= iou))[0]
        if len(cand):
            taken[cand[np.argmax(ious[k][cand])]] = True
            tp[k] = True
    return tp


def average_precision(tp: np.ndarray, scores: np.ndarray, n_truth: int) -> float:
    """All-point interpolated AP of detections pooled over images."""
    order = np.argsort(-scores, kind="stable")
    hits = tp[order].astype(np.float64)
    recall = np.cumsum(hits) / max(1, n_truth)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))


def detect_all(
    run: Callable[[np.ndarray], Objects], images: dict[Path, np.ndarray], repeat: int
) -> tuple[dict[Path, Objects], float]:
    found: dict[Path, Objects] = {}
    times = []
    for _ in range(repeat):
        for path, rgb in images.items():
            t = time.perf_counter()
            found[path] = run(rgb)
            times.append(1000 * (time.perf_counter() - t))
    return found, statistics.median(times)


def report_faces(faces: dict[Path, np.ndarray], found: dict[Path, Objects]) -> None:
    total = sum(len(f) for f in faces.values())
    for threshold in THRESHOLDS:
        hit = extra = 0
        for path, boxes in faces.items():
            h, e = face_matches(boxes, *of_label(found[path], "Person"), threshold)
            hit, extra = hit + h, extra + e
        print(
            f"    MinConfidence {threshold:4.0f}: persons found {hit}/{total} "
            f"({100 * hit / total:.1f}%), unmatched Person instances {extra} "
            f"({extra / len(faces):.1f} per photo)"
        )


def at_default(
    truth: dict[Path, list[tuple[str, np.ndarray]]], found: dict[Path, Objects], label: str
) -> tuple[int, int, float]:
    """At DEFAULT_MIN: (labelled boxes found at IoU 0.5, instances matching none, mean IoU
    of each found box with the labelled box it overlaps most)."""
    hit = wrong = 0
    fits = []
    for path, items in truth.items():
        gt = np.array([b for lab, b in items if lab == label], np.float32).reshape(-1, 4)
        boxes, sc = of_label(found[path], label)
        keep = sc >= DEFAULT_MIN
        boxes, sc = boxes[keep], sc[keep]
        tp = match_iou(gt, boxes, sc)
        hit, wrong = hit + int(tp.sum()), wrong + int((~tp).sum())
        order = np.argsort(-sc, kind="stable")
        if len(gt) and tp.any():
            fits += list(iou_matrix(boxes[order][tp], gt).max(axis=1))
    return hit, wrong, float(np.mean(fits)) if fits else 0.0


def report_boxes(
    truth: dict[Path, list[tuple[str, np.ndarray]]], found: dict[Path, Objects]
) -> None:
    known = {CLASS_LABEL.get(n) for n in next(iter(found.values())).names} - {None}
    labels = sorted({lab for items in truth.values() for lab, _ in items} & known)
    aps = []
    for label in labels:
        tps, scores, n = [], [], 0
        for path, items in truth.items():
            gt = np.array([b for lab, b in items if lab == label], np.float32).reshape(-1, 4)
            boxes, sc = of_label(found[path], label)
            order = np.argsort(-sc, kind="stable")
            tps.append(match_iou(gt, boxes, sc))
            scores.append(sc[order])
            n += len(gt)
        ap = average_precision(np.concatenate(tps), np.concatenate(scores), n)
        aps.append(ap)
        hit, wrong, fit = at_default(truth, found, label)
        print(
            f"    AP50 {label:9s} {100 * ap:5.1f}  ({n} boxes); at MinConfidence "
            f"{DEFAULT_MIN:.0f}: {hit} found, mean IoU {fit:.2f}, {wrong} matching no "
            "labelled box"
        )
    print(f"    mAP50 over {len(labels)} classes: {100 * np.mean(aps):.1f}")
    for threshold in THRESHOLDS:
        hit = total = wrong = 0
        for path, items in truth.items():
            people = [b for lab, b in items if lab == "Person"]
            gt = np.array(
                [b for b in people if b[3] - b[1] > MIN_PERSON_HEIGHT], np.float32
            ).reshape(-1, 4)
            boxes, sc = of_label(found[path], "Person")
            keep = sc >= threshold
            hit += int(match_iou(gt, boxes[keep], sc[keep]).sum())
            total += len(gt)
            wrong += int(
                (
                    ~match_iou(np.array(people, np.float32).reshape(-1, 4), boxes[keep], sc[keep])
                ).sum()
            )
        print(
            f"    MinConfidence {threshold:4.0f}: persons taller than {MIN_PERSON_HEIGHT} px "
            f"found (IoU 0.5) {hit}/{total} ({100 * hit / max(1, total):.1f}%); Person "
            f"instances matching no labelled person {wrong}"
        )


def person_candidates(objects: Objects) -> Candidates:
    keep = np.array([n == PERSON for n in objects.class_names()], bool).reshape(-1)
    return Candidates(objects.boxes[keep], objects.scores[keep], np.ones(int(keep.sum()), np.int64))


def combination(
    pair: LabelDetectors, iou: float, vote: bool, openimages: bool
) -> Callable[[np.ndarray], Objects]:
    """DetectLabels' detection step with the person views' boxes fused at `iou`, their
    scores combined (`vote`) or the best one kept, and with `openimages` the OpenImages
    SSD's Person boxes fused in as one more voting view. (NMS_IOU, False, False) is the
    default before 2026-12-02; (PERSON_IOU, True, False) is oculi's now."""
    persons = ObjectDetector(pair.persons.model, pair.persons.names, iou, vote)

    def run(rgb: np.ndarray) -> Objects:
        objects = pair.objects(rgb, tiled=False)
        found = persons(rgb, tiled=True)
        if openimages:
            found = to_objects(
                fuse([person_candidates(found), person_candidates(objects)], iou, vote=True),
                found.names,
            )
        return with_class_from(objects, found, PERSON)

    return run


# DetectLabels before 2026-12-08: a label both the OpenImages SSD (part 0, with the
# SSDLite's persons) and NanoDet (part 1) find was reported by one of them only, raw scores.
OWNER: dict[str, int] = {
    PERSON: 0,
    "Bicycle": 1,
    "Car": 0,
    "Dog": 0,
    "Book": 0,
    "Bottle": 0,
    "Cat": 0,
    "Cattle": 0,
    "Chair": 0,
    "Cup": 0,
    "Laptop": 0,
    "Mouse": 0,
}


def merge(parts: Sequence[Objects], owner: dict[str, int]) -> Objects:
    """Several detectors' objects as one, their class names concatenated: a Rekognition
    label named in `owner` is kept only from the part it names (the better detector of
    that label), any other label from every part that finds it; most confident first."""
    names = tuple(n for p in parts for n in p.names)
    boxes, scores, classes = [], [], []
    base = 0
    for k, part in enumerate(parts):
        keep = np.array(
            [owner.get(CLASS_LABEL.get(n, ""), k) == k for n in part.class_names()], bool
        ).reshape(-1)
        boxes.append(part.boxes[keep].reshape(-1, 4))
        scores.append(part.scores[keep])
        classes.append(part.classes[keep] + base)
        base += len(part.names)
    s = np.concatenate(scores).astype(np.float32)
    order = np.argsort(-s, kind="stable")
    return Objects(
        np.concatenate(boxes)[order].astype(np.float32),
        s[order],
        np.concatenate(classes)[order].astype(np.int64),
        names,
    )


def owned(pair: LabelDetectors, owner: dict[str, int]) -> Callable[[np.ndarray], Objects]:
    """DetectLabels' detection step before 2026-12-08: the SSD's objects with the SSDLite's
    persons (tiled, voting), merged with NanoDet's by `owner`."""

    def run(rgb: np.ndarray) -> Objects:
        found = with_class_from(pair.objects(rgb, tiled=False), pair.persons(rgb), PERSON)
        return merge([found, pair.coco(rgb)], owner)

    return run


def both_find() -> list[str]:
    """Labels that the OpenImages SSD and NanoDet both have, Person aside."""
    coco = {CLASS_LABEL[n] for n in COCO_CLASSES}
    return sorted({lab for n, lab in CLASS_LABEL.items() if n[0].isupper()} & coco - {PERSON})


def owners(part: int) -> dict[str, int]:
    return {**{label: part for label in both_find()}, PERSON: 0}


VARIANTS = (
    (
        "previous default: person NMS at IoU 0.5, best view's score, SSDLite persons only",
        (NMS_IOU, False, False),
    ),
    (f"person boxes fused at IoU {PERSON_IOU}, best view's score", (PERSON_IOU, False, False)),
    (
        f"person boxes fused at IoU {PERSON_IOU}, views vote (the new default)",
        (PERSON_IOU, True, False),
    ),
    (
        f"person boxes fused at IoU {PERSON_IOU}, views vote, OpenImages SSD's Person boxes "
        "fused in as one more view (not adopted)",
        (PERSON_IOU, True, True),
    ),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEV_DATA)
    ap.add_argument("--debian", type=Path, help="darknet and opencv-doc unpacked here")
    ap.add_argument("--fetch", type=Path, help="download and unpack them into this folder")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    debian = fetch(args.fetch) if args.fetch else args.debian
    if debian is None:
        ap.error("give --fetch DIR or --debian DIR")
    if (args.data / "coco64_dev").is_dir():
        from bench import labels_eval  # it imports this module

        labels_eval.main(args.data, debian, args.threads, args.repeat)
        return
    pair = load_label_detectors(threads=args.threads)
    faces = labelled_faces(args.data / "dlib_faces_voc")
    truth = labelled_boxes(debian)
    face_images = {p: load(p) for p in faces}
    box_images = {p: load(p) for p in truth}
    print(
        f"threads={args.threads}; {len(faces)} VOC photos with "
        f"{sum(len(f) for f in faces.values())} labelled faces; {len(truth)} photos with "
        f"{sum(len(v) for v in truth.values())} hand-labelled boxes"
    )
    found_f, ms_f = detect_all(
        functools.partial(pair.coco, score_floor=FLOOR), face_images, args.repeat
    )
    found_b, ms_b = detect_all(
        functools.partial(pair.coco, score_floor=FLOOR), box_images, args.repeat
    )
    print(
        f"\nNanoDet-m 416 (COCO), whole image only: median {ms_f:.1f} ms per VOC photo, "
        f"{ms_b:.1f} ms per hand-labelled photo"
    )
    print("  persons of dlib's labelled faces (VOC group photos):")
    report_faces(faces, found_f)
    print("  hand-labelled boxes (bench/labels_boxes.csv):")
    report_boxes(truth, found_b)
    for tiled in (False, True):
        mode = "tiled (whole image + 4 crops)" if tiled else "whole image only"
        for name, detector in (("OpenImages SSD", pair.objects), ("SSDLite person", pair.persons)):
            run = functools.partial(detector, score_floor=FLOOR, tiled=tiled)
            found_f, ms_f = detect_all(run, face_images, args.repeat)
            found_b, ms_b = detect_all(run, box_images, args.repeat)
            print(
                f"\n{name}, {mode}: median {ms_f:.1f} ms per VOC photo (about 500x375), "
                f"{ms_b:.1f} ms per hand-labelled photo"
            )
            print("  persons of dlib's labelled faces (VOC group photos):")
            report_faces(faces, found_f)
            print("  hand-labelled boxes (bench/labels_boxes.csv):")
            report_boxes(truth, found_b)
    runs = [(name, combination(pair, *params)) for name, params in VARIANTS]
    runs.append(
        (
            "DetectLabels before NanoDet (OpenImages SSD on the whole image, Person "
            "from SSDLite tiled)",
            LabelDetectors(pair.objects, pair.persons),
        )
    )
    for part, source in ((0, "the OpenImages SSD"), (1, "NanoDet")):
        runs.append(
            (
                f"+ NanoDet on the whole image, labels both find ({', '.join(both_find())}"
                f") from {source}",
                owned(pair, owners(part)),
            )
        )
    runs.append(
        (
            "DetectLabels before 2026-12-08 (labels both find from the OpenImages SSD "
            f"but {', '.join(k for k, v in OWNER.items() if v == 1)} from NanoDet)",
            owned(pair, OWNER),
        )
    )
    runs.append(
        (
            "oculi's DetectLabels as shipped (every detector's boxes grouped per label, "
            "calibrated scores)",
            pair,
        )
    )
    base_f = base_b = 0.0
    for name, run in runs:
        found_f, ms_f = detect_all(run, face_images, args.repeat)
        found_b, ms_b = detect_all(run, box_images, args.repeat)
        base_f, base_b = base_f or ms_f, base_b or ms_b
        print(
            f"\n{name}: median {ms_f:.1f} ms per VOC photo ({ms_f / base_f:.2f}x the "
            f"previous default), {ms_b:.1f} ms per hand-labelled photo "
            f"({ms_b / base_b:.2f}x)"
        )
        print("  persons of dlib's labelled faces (VOC group photos):")
        report_faces(faces, found_f)
        print("  hand-labelled boxes (bench/labels_boxes.csv):")
        report_boxes(truth, found_b)


if __name__ == "__main__":
    main()
