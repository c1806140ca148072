"""Objects with boxes from NanoDet-m 416 (COCO, 80 classes), converted from TF.js to ONNX.

The network sees the whole image stretched to 416 x 416 (no letterbox), BGR, each channel
less its ImageNet mean and divided by its deviation (NanoDet's own normalisation: mean
103.53, 116.28, 123.675 and std 57.375, 57.12, 58.395 in BGR order; on dog.jpg, eagle.jpg
and giraffe.jpg it scores 0.1-0.3 higher than with @vladmandic/human's RGB / 255). Its
input is NCHW. It has three levels, strides 8, 16 and 32 (52 x 52, 26 x 26 and 13 x 13
cells, row-major); each cell gives 80 class scores (already sigmoid) and, for each side
(left, top, right, bottom), 11 logits over distances 0..10 strides from the cell's centre
((column + 0.5) * stride, (row + 0.5) * stride): the distance is their softmax-weighted
mean (Generalized Focal Loss' integral, as NanoDet decodes it). Every class above the score
floor is kept and NMS runs per class.

Class names are COCO's 80, in its usual order (as the model's trainer and
@vladmandic/human's labels list them); their Rekognition names are in
oculi/vision/label_taxonomy.py.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from oculi.vision.labels import (
    NMS_IOU,
    SCORE_FLOOR,
    Candidates,
    Objects,
    fuse,
    to_objects,
)

Model = Callable[[np.ndarray], dict[str, np.ndarray]]

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
BINS = 11  # distance bins per side: 0..10 strides
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)

COCO_CLASSES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)


def preprocess(rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """RGB HxWx3 uint8 -> 1x3xSxS float32, BGR, normalised, stretched to a square."""
    h, w = rgb.shape[:2]
    shrink = h > size and w > size
    resized = cv2.resize(
        rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    bgr = resized[..., ::-1].astype(np.float32)
    return ((bgr - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)[None].copy()


def distances(logits: np.ndarray) -> np.ndarray:
    """(N, 4 * BINS) side logits -> (N, 4) distances in strides (softmax-weighted mean)."""
    x = logits.reshape(-1, 4, BINS).astype(np.float32)
    p = np.exp(x - x.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    return p @ np.arange(BINS, dtype=np.float32)


def level_boxes(
    cell: np.ndarray, side_logits: np.ndarray, stride: int, size: int = INPUT_SIZE
) -> np.ndarray:
    """Cells (N,) of one level (row-major) and their (N, 4 * BINS) side logits -> boxes
    x1 y1 x2 y2 in input pixels."""
    cells = size // stride
    cx = (cell % cells + 0.5) * stride
    cy = (cell // cells + 0.5) * stride
    d = distances(side_logits) * stride
    return np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1)


def candidates(
    scores: list[np.ndarray],
    sides: list[np.ndarray],
    width: int,
    height: int,
    score_floor: float = SCORE_FLOOR,
) -> Candidates:
    """Each level's (cells, 80) scores and (cells, 44) side logits, strides 8, 16, 32 ->
    every (cell, class) scoring at least `score_floor`, in pixels of a width x height
    image."""
    scale = np.float32([width, height, width, height]) / INPUT_SIZE
    boxes, kept, classes = [], [], []
    for s, side, stride in zip(scores, sides, STRIDES):
        cell, cls = np.nonzero(s >= score_floor)
        boxes.append(level_boxes(cell, side[cell], stride).reshape(-1, 4) * scale)
        kept.append(s[cell, cls])
        classes.append(cls)
    b = np.clip(np.concatenate(boxes), 0, [width, height, width, height]).astype(np.float32)
    return Candidates(
        b, np.concatenate(kept).astype(np.float32), np.concatenate(classes).astype(np.int64)
    )


class NanoDetector:
    """Find COCO objects in an RGB image with NanoDet-m's one 416 x 416 view of it."""

    def __init__(self, model: Model, iou: float = NMS_IOU) -> None:
        self.model = model
        self.iou = iou

    def __call__(self, rgb: np.ndarray, score_floor: float = SCORE_FLOOR) -> Objects:
        h, w = rgb.shape[:2]
        out = sorted(self.model(preprocess(rgb)).values(), key=lambda o: -o.shape[1])
        scores = [o[0] for o in out if o.shape[-1] == len(COCO_CLASSES)]
        sides = [o[0] for o in out if o.shape[-1] == 4 * BINS]
        return to_objects(
            fuse([candidates(scores, sides, w, h, score_floor)], self.iou), COCO_CLASSES
        )
