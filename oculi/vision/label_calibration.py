"""One confidence per object from several detectors, calibrated on labelled photos.

DetectLabels runs three detectors: the OpenImages SSD (23 classes, whole image), the
SSDLite person detector (whole image and four crops, its views voting) and NanoDet (80
COCO classes, whole image). Their raw scores mean different things: NanoDet's
Generalized-Focal-Loss scores run low (a clear horse 0.49), the SSD calls every four-legged
animal it sees a Dog, and a person both the SSDLite and NanoDet see is surer than one only
one of them sees. So, for each label, the boxes of every detector that has the label are
grouped (most confident first, each box taking in the others' boxes of that label
overlapping it by more than GROUP_IOU), and the group's confidence is a logistic
regression on the logit of each detector's best score in the group (a detector that has
the label but no box there counts as FLOOR, the detectors' own score floor), on the best
of those logits (one detector very sure counts on its own: an SSDLite 0.87 is not pulled
under 55 by NanoDet's 0.19) and on the log of the box's side relative to the image's
(small boxes are less often right):

    p = sigmoid(bias + sum_k w_k * logit(s_k) + top * max_k logit(s_k) + size * log(side))

Each weight set is fitted on the first half of eval-dev's coco64_dev (every other photo by
name: `python -m bench.labels_fit --data ../shared/dev-data/eval-dev` prints them): the
target is whether the group's box overlaps a labelled box of that class at IoU >= 0.5. So p
estimates how often such a box is right, and a label at MinConfidence 55 is right more
often than not even at the threshold, and far more often above it. COCO's photos are from
NanoDet's training split, so NanoDet's weight is likely too high for other photos
(docs/labels.md). A group keeps the box of its most confident member (raw score). Labels
only the OpenImages SSD has (Footwear, Table, Monitor...: none in COCO, so nothing to fit
on) keep its raw score. Then one object gets one name (`one_name_each`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from oculi.vision.label_taxonomy import CLASS_LABEL, ancestors
from oculi.vision.labels import MAX_DETECTIONS, Objects
from oculi.vision.nms import iou_matrix

GROUP_IOU = 0.5
CROSS_IOU = 0.7
FLOOR = 0.05
# Objects calibrated under this are dropped: most of NanoDet's boxes at its 5% floor land
# far below it, and carrying them costs time in `one_name_each`, not recall.
CALIBRATED_FLOOR = 0.01
PERSON = "Person"


@dataclass(frozen=True)
class Calibration:
    """Logistic weights on each part's logit (0 for a part not used), on the best of
    those logits (`top`), on the log of the box's side relative to the image's (`size`;
    sqrt of the area shares) and a bias."""

    weights: tuple[float, ...]
    top: float
    size: float
    bias: float

    def __call__(self, best: np.ndarray, side: np.ndarray) -> np.ndarray:
        """(N, parts) best raw score per part and (N,) relative box sides -> (N,)
        calibrated probability."""
        s = np.clip(best.astype(np.float64), FLOOR, 1.0 - 1e-6)
        logit = np.log(s / (1.0 - s))
        z = self.bias + logit @ np.asarray(self.weights, np.float64) + self.top * logit.max(axis=1)
        return 1.0 / (1.0 + np.exp(-(z + self.size * np.log(side))))


def relative_side(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """sqrt(box area / image area), at least 1e-3."""
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return np.maximum(1e-3, np.sqrt(area / max(1, width * height)))


# Fitted by bench/labels_fit.py on coco64_dev's fit half (parts: OpenImages SSD, SSDLite
# persons on the whole image, SSDLite persons in the four crops voting, NanoDet). Person:
# all four; the labels both the SSD and NanoDet have; the labels only NanoDet has.
PERSON_CALIBRATION = Calibration((0.31, -0.11, 0.56, 0.54), 1.25, 0.01, 2.04)
SHARED_CALIBRATION = Calibration((0.39, 0.0, 0.0, 0.46), 1.30, 0.19, 0.80)
COCO_CALIBRATION = Calibration((0.0, 0.0, 0.0, 2.44), 0.0, 0.10, 0.91)


@dataclass(frozen=True)
class Groups:
    """The groups of one label: boxes (N, 4), best raw score per part (N, parts), and the
    part and class index of each group's most confident member."""

    boxes: np.ndarray
    best: np.ndarray
    part: np.ndarray
    cls: np.ndarray


def part_labels(part: Objects) -> np.ndarray:
    """Each object's Rekognition label ('' for a class without one)."""
    return np.array([CLASS_LABEL.get(n, "") for n in part.class_names()], dtype=object)


def group(parts: Sequence[Objects], label: str, labels: Sequence[np.ndarray] = ()) -> Groups:
    """Every part's boxes of `label`, grouped across parts at GROUP_IOU (`labels`: each
    part's `part_labels`, computed here when not given)."""
    labels = labels or [part_labels(p) for p in parts]
    boxes, scores, part, cls = [], [], [], []
    for k, p in enumerate(parts):
        mask = (labels[k] == label).astype(bool).reshape(-1)
        boxes.append(p.boxes[mask].reshape(-1, 4))
        scores.append(p.scores[mask])
        part.append(np.full(int(mask.sum()), k))
        cls.append(p.classes[mask])
    b = np.concatenate(boxes).astype(np.float32)
    s = np.concatenate(scores).astype(np.float32)
    pt, cl = np.concatenate(part), np.concatenate(cls)
    order = np.argsort(-s, kind="stable")
    ious = iou_matrix(b[order], b[order])
    left = np.ones(len(order), bool)
    keep, best = [], []
    for i in range(len(order)):
        if not left[i]:
            continue
        members = order[left & (ious[i] > GROUP_IOU)]
        left &= ious[i] <= GROUP_IOU
        left[i] = False
        row = np.zeros(len(parts), np.float32)
        np.maximum.at(row, pt[members], s[members])
        keep.append(order[i])
        best.append(row)
    at = np.asarray(keep, np.int64)
    return Groups(b[at], np.asarray(best, np.float32).reshape(-1, len(parts)), pt[at], cl[at])


def has_label(part: Objects, label: str) -> bool:
    return any(CLASS_LABEL.get(n) == label for n in part.names)


def calibration(parts: Sequence[Objects], label: str) -> Calibration | None:
    """The weights for a label, from which parts can name it (None: keep the raw score)."""
    if label == PERSON:
        return PERSON_CALIBRATION
    ssd, coco = has_label(parts[0], label), has_label(parts[-1], label)
    if ssd and coco:
        return SHARED_CALIBRATION
    return COCO_CALIBRATION if coco else None


def fuse_detectors(parts: Sequence[Objects], width: int, height: int) -> Objects:
    """The parts' objects (OpenImages SSD, SSDLite persons, NanoDet) as one, each object's
    score calibrated across the parts that name its label; class indices into the parts'
    names concatenated; most confident first."""
    names = tuple(n for p in parts for n in p.names)
    base = np.cumsum([0] + [len(p.names) for p in parts])
    per_part = [part_labels(p) for p in parts]
    labels = sorted({lab for each in per_part for lab in each if lab})
    boxes, scores, classes = [], [], []
    for label in labels:
        g = group(parts, label, per_part)
        cal = calibration(parts, label)
        side = relative_side(g.boxes, width, height)
        scores.append(g.best.max(axis=1) if cal is None else cal(g.best, side))
        boxes.append(g.boxes)
        classes.append(base[g.part] + g.cls)
    if not labels:
        return Objects(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), names
        )
    s = np.concatenate(scores).astype(np.float32)
    sure = s >= CALIBRATED_FLOOR
    s = s[sure]
    b = np.concatenate(boxes).astype(np.float32)[sure]
    c = np.concatenate(classes).astype(np.int64)[sure]
    order = one_name_each(b, s, [CLASS_LABEL[names[k]] for k in c])[:MAX_DETECTIONS]
    return Objects(b[order], s[order], c[order], names)


def one_name_each(boxes: np.ndarray, scores: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Indices of the objects to keep, most confident first: an object overlapping a more
    confident one of another label by more than CROSS_IOU is the same thing named twice
    (NanoDet's horse and cow on one horse, the SSD's Cattle or Dog on it: the SSD has no
    Horse) and is dropped, unless one label is the other's ancestor (Car in a Vehicle)."""
    order = np.argsort(-scores, kind="stable")
    ious = iou_matrix(boxes[order], boxes[order]) > CROSS_IOU
    keep: list[int] = []
    for i, k in enumerate(order):
        lab = labels[k]
        if not any(
            labels[order[j]] != lab
            and lab not in ancestors(labels[order[j]])
            and labels[order[j]] not in ancestors(lab)
            for j in np.asarray(keep, np.int64)[ious[i, keep]]
        ):
            keep.append(i)
    return order[np.asarray(keep, np.int64)]
