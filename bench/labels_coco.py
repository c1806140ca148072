"""DetectLabels measured on labelled COCO photos (eval-dev's coco64_dev): what a caller sees.

The photos are split once, by file name (every other photo in name order): the first half
("fit") is where oculi's confidence calibration and fusion settings were chosen
(oculi/vision/label_calibration.py), the second ("report") is where the figures in the
docs come from. Each photo goes through DetectLabels' whole use case (the detectors, the
classifier, the merge) at MinConfidence 0, and is then read as a caller would read it:

- person recall: COCO person boxes (not crowd) at least 60 px tall, found by a Person
  instance at IoU >= 0.5 (one to one, best score first) with confidence >= 55, per height
  band;
- classes named: of the COCO classes present in a photo (any box), the share whose label
  DetectLabels returns at >= 55;
- precision at 55: of the labels returned at >= 55 that are one of the 80 COCO classes'
  labels, the share whose class is present (labels outside COCO's vocabulary, and the
  parents, are not judged);
- per class AP at IoU 0.5 and COCO's AP at IoU 0.50:0.95 (mean over 10 thresholds), from
  the Instances (all-point interpolation, boxes of every photo of the half pooled; crowd
  boxes are not counted as objects, and an instance lying mostly (>= 50% of its area)
  inside a crowd box of its class is ignored);
- milliseconds per photo (median).

COCO's photos come from its train2017 split, on which NanoDet was trained, so these figures
are optimistic for NanoDet's classes; bench/labels.py also measures photos no detector saw.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oculi.vision.label_taxonomy import CLASS_LABEL
from oculi.vision.labels import Label
from oculi.vision.nanodet import COCO_CLASSES
from oculi.vision.nms import iou_matrix

DEFAULT_MIN = 55.0
LOW_MIN = 10.0
MIN_PERSON = 60
PERSON_BANDS = ((60, 120), (120, 240), (240, 100_000))
IOUS = tuple(0.5 + 0.05 * k for k in range(10))
COCO_LABELS = {CLASS_LABEL[n] for n in COCO_CLASSES}


@dataclass(frozen=True)
class Truth:
    label: str  # the COCO class's Rekognition label
    box: np.ndarray  # x1 y1 x2 y2 pixels
    crowd: bool


@dataclass(frozen=True)
class Photo:
    path: Path
    truth: list[Truth]


def load_coco(folder: Path) -> list[Photo]:
    """Every photo of instances.json that has a file, in file-name order."""
    data = json.loads((folder / "instances.json").read_text())
    names = {c["id"]: CLASS_LABEL[c["name"]] for c in data["categories"]}
    truth: dict[int, list[Truth]] = {}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        box = np.array([x, y, x + w, y + h], np.float32)
        truth.setdefault(a["image_id"], []).append(
            Truth(names[a["category_id"]], box, bool(a["iscrowd"]))
        )
    photos = [
        Photo(folder / "images" / im["file_name"], truth.get(im["id"], []))
        for im in data["images"]
        if (folder / "images" / im["file_name"]).is_file()
    ]
    return sorted(photos, key=lambda p: p.path.name)


def split(photos: Sequence[Photo]) -> tuple[list[Photo], list[Photo]]:
    """(fit, report): every other photo in file-name order."""
    return list(photos[0::2]), list(photos[1::2])


def run_all(
    detect: Callable[[Path], list[Label]], photos: Sequence[Photo], repeat: int = 1
) -> tuple[dict[Path, list[Label]], float]:
    """Each photo's labels (MinConfidence 0) and the median ms per photo."""
    out: dict[Path, list[Label]] = {}
    times = []
    for _ in range(repeat):
        for p in photos:
            t = time.perf_counter()
            out[p.path] = detect(p.path)
            times.append(1000 * (time.perf_counter() - t))
    return out, statistics.median(times)


def instances(labels: list[Label], name: str) -> tuple[np.ndarray, np.ndarray]:
    for lab in labels:
        if lab.name == name:
            boxes = np.array([i.box for i in lab.instances], np.float32).reshape(-1, 4)
            return boxes, np.array([i.confidence for i in lab.instances], np.float32)
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)


def matches(truth: np.ndarray, boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Per detection in descending score order: the truth index it matches (one to one,
    the best-overlapping free one at >= iou), or -1."""
    order = np.argsort(-scores, kind="stable")
    out = np.full(len(order), -1)
    if not len(truth) or not len(order):
        return out
    ious = iou_matrix(boxes[order], truth)
    taken = np.zeros(len(truth), bool)
    for k in range(len(order)):
        cand = np.nonzero(~taken & (ious[k] >= iou))[0]
        if len(cand):
            j = cand[np.argmax(ious[k][cand])]
            taken[j] = True
            out[k] = j
    return out


def inside_share(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Per box: the largest share of its area inside any of `regions`."""
    if not len(regions) or not len(boxes):
        return np.zeros(len(boxes))
    x1 = np.maximum(boxes[:, None, 0], regions[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], regions[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], regions[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], regions[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = np.maximum(1e-6, (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    return (inter / area[:, None]).max(axis=1)


def average_precision(tp: np.ndarray, scores: np.ndarray, n_truth: int) -> float:
    """All-point interpolated AP of detections pooled over photos."""
    if not n_truth:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = tp[order].astype(np.float64)
    recall = np.cumsum(hits) / n_truth
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))


def class_ap(
    photos: Sequence[Photo], found: dict[Path, list[Label]], label: str
) -> tuple[float, float, int]:
    """(AP50, AP50-95, labelled boxes) of one label over the photos."""
    aps = []
    n = 0
    for iou in IOUS:
        tps, scores = [], []
        n = 0
        for p in photos:
            gt = np.array([t.box for t in p.truth if t.label == label and not t.crowd])
            gt = gt.reshape(-1, 4)
            crowd = np.array([t.box for t in p.truth if t.label == label and t.crowd])
            boxes, sc = instances(found[p.path], label)
            keep = inside_share(boxes, crowd.reshape(-1, 4)) < 0.5
            boxes, sc = boxes[keep], sc[keep]
            tps.append(matches(gt, boxes, sc, iou) >= 0)
            scores.append(np.sort(sc)[::-1])
            n += len(gt)
        aps.append(average_precision(np.concatenate(tps), np.concatenate(scores), n))
    return aps[0], float(np.mean(aps)), n


def person_recall(
    photos: Sequence[Photo], found: dict[Path, list[Label]], band: tuple[int, int]
) -> tuple[int, int]:
    """(found, labelled) persons of the height band at DEFAULT_MIN, IoU 0.5."""
    hit = total = 0
    for p in photos:
        people = [t.box for t in p.truth if t.label == "Person" and not t.crowd]
        gt = np.array(people, np.float32).reshape(-1, 4)
        tall = (gt[:, 3] - gt[:, 1] >= band[0]) & (gt[:, 3] - gt[:, 1] < band[1])
        boxes, sc = instances(found[p.path], "Person")
        keep = sc >= DEFAULT_MIN
        m = matches(gt, boxes[keep], sc[keep], 0.5)
        hit += int(tall[m[m >= 0]].sum())
        total += int(tall.sum())
    return hit, total


def named(
    photos: Sequence[Photo], found: dict[Path, list[Label]], threshold: float = DEFAULT_MIN
) -> tuple[int, int, int]:
    """(classes present and named at `threshold`, classes present, COCO labels returned at
    `threshold`): the first over the second is the share named, over the third the
    precision."""
    hit = present_n = returned_n = 0
    for p in photos:
        present = {t.label for t in p.truth}
        said = {
            lab.name
            for lab in found[p.path]
            if lab.confidence >= threshold and lab.name in COCO_LABELS
        }
        hit += len(present & said)
        present_n += len(present)
        returned_n += len(said)
    return hit, present_n, returned_n


def report(
    name: str, photos: Sequence[Photo], found: dict[Path, list[Label]], ms: float, per_class: bool
) -> None:
    """Print the measures of one half."""
    print(f"  {name}: {len(photos)} photos, median {ms:.1f} ms per photo")
    hit_all = total_all = 0
    for band in PERSON_BANDS:
        hit, total = person_recall(photos, found, band)
        hit_all, total_all = hit_all + hit, total_all + total
        top = "+" if band[1] >= 100_000 else f"-{band[1]}"
        print(
            f"    persons {band[0]}{top} px tall: {hit}/{total} found ({hit / max(1, total):.3f})"
        )
    print(
        f"    persons >= {MIN_PERSON} px: {hit_all}/{total_all} found at MinConfidence "
        f"{DEFAULT_MIN:.0f}, IoU 0.5 ({hit_all / max(1, total_all):.3f})"
    )
    hit, present, returned = named(photos, found)
    print(
        f"    COCO classes present named at {DEFAULT_MIN:.0f}: {hit}/{present} "
        f"({hit / max(1, present):.3f}); COCO labels returned at {DEFAULT_MIN:.0f} that are "
        f"present: {hit}/{returned} (precision {hit / max(1, returned):.3f})"
    )
    hit, present, returned = named(photos, found, LOW_MIN)
    print(
        f"    at MinConfidence {LOW_MIN:.0f}: {hit}/{present} named, precision "
        f"{hit / max(1, returned):.3f} (what the models find at all)"
    )
    rows = []
    for label in sorted({t.label for p in photos for t in p.truth}):
        ap50, ap, n = class_ap(photos, found, label)
        if n:
            rows.append((label, ap50, ap, n))
    if per_class:
        for label, ap50, ap, n in rows:
            print(f"      {label:16s} AP50 {100 * ap50:5.1f}  AP50-95 {100 * ap:5.1f}  ({n} boxes)")
    print(
        f"    mAP50 {100 * np.mean([r[1] for r in rows]):.1f}, mAP50-95 "
        f"{100 * np.mean([r[2] for r in rows]):.1f} over {len(rows)} classes with boxes"
    )
