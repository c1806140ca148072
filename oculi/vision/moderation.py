"""Exposed and covered body parts with NudeNet's 320n detector (YOLOv8n) on onnxruntime.

The network sees the image padded at the right and bottom to a square and resized to
320 x 320 (RGB, 0..1). Each of its 2,100 anchors gives a box (centre x, centre y, width,
height in input pixels) and one sigmoid score per class; an anchor stands for its best
class, is kept above a score floor, and boxes are thinned by non-maximum suppression per
class. The class names are the model file's
own metadata. What the classes mean for moderation is the service's business
(oculi/service/moderation.py); this module only finds body parts.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from oculi.vision.nms import nms

Model = Callable[[np.ndarray], dict[str, np.ndarray]]

INPUT_SIZE = 320
SCORE_FLOOR = 0.05  # boxes below this are dropped before NMS (labels start at 5%)
NMS_IOU = 0.45


@dataclass(frozen=True)
class BodyParts:
    """N body parts: boxes (N, 4) float32 x1 y1 x2 y2 pixels, scores (N,) in [0, 1],
    classes (N,) int indices into `names`."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.boxes)

    def best(self, name: str) -> float:
        """The highest score of any part of class `name` (0 when there is none)."""
        mask = self.classes == self.names.index(name)
        return float(self.scores[mask].max()) if mask.any() else 0.0


def class_names(metadata: dict[str, str]) -> tuple[str, ...]:
    """Class names in index order from an Ultralytics ONNX file's `names` metadata (a
    Python dict literal, read without running it)."""
    names = ast.literal_eval(metadata["names"])
    return tuple(names[i] for i in range(len(names)))


def preprocess(rgb: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """RGB HxWx3 uint8 -> 1x3xSxS float32 in [0, 1], padded at right and bottom to a square;
    and the factor from input pixels back to image pixels."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.uint8)
    square[:h, :w] = rgb
    resized = cv2.resize(square, (size, size), interpolation=cv2.INTER_LINEAR)
    return (resized.astype(np.float32) / 255.0).transpose(2, 0, 1)[None], side / size


def decode(
    output: np.ndarray,
    factor: float,
    width: int,
    height: int,
    names: Sequence[str],
    score_floor: float = SCORE_FLOOR,
    iou: float = NMS_IOU,
) -> BodyParts:
    """One image's raw output (4 + classes, anchors) -> body parts in image pixels. Each
    anchor stands for its best class only (as Ultralytics predicts); NMS runs per class."""
    boxes_c, scores = output[:4].T, output[4:].T
    best = scores.argmax(axis=1)
    score = scores[np.arange(len(best)), best]
    idx = np.nonzero(score >= score_floor)[0]
    cx, cy, bw, bh = (boxes_c[idx] * factor).T
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
    kept = [
        idx_c[nms(boxes[idx_c], score[idx][idx_c], iou)]
        for idx_c in (np.nonzero(best[idx] == c)[0] for c in np.unique(best[idx]))
    ]
    keep = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return BodyParts(
        boxes[keep],
        score[idx][keep].astype(np.float32),
        best[idx][keep].astype(np.int64),
        tuple(names),
    )


class NudityDetector:
    """Find body parts (NudeNet's 18 classes) in an RGB image."""

    def __init__(self, model: Model, names: Sequence[str]) -> None:
        self.model = model
        self.names = tuple(names)

    def __call__(self, rgb: np.ndarray) -> BodyParts:
        h, w = rgb.shape[:2]
        x, factor = preprocess(rgb)
        output = next(iter(self.model(x).values()))[0]
        return decode(output, factor, w, h, self.names)
