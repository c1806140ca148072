"""A single-stage face detector: preprocess, run the network, decode, suppress overlaps,
then map the raw scores to calibrated confidences (oculi.vision.face_confidence).

YuNet and RetinaFace differ only in their preprocess and decode functions and their curve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from oculi.vision.attributes.calibration import Logistic
from oculi.vision.face_confidence import calibrated
from oculi.vision.nms import nms
from oculi.vision.types import FaceDetections

Model = Callable[[np.ndarray], dict[str, np.ndarray]]
Decode = Callable[[dict[str, np.ndarray], int, int, float], FaceDetections]


@dataclass(frozen=True)
class SingleStageDetector:
    """Detect faces on one image at its own scale (callers choose the scale).

    `score_threshold` and NMS act on the network's raw scores; the faces' scores are then
    `confidence`'s calibrated probabilities, and the raw ones stay in `extra["raw_score"]`
    (scores are left raw when `confidence` is None, as the bench that fits the curves
    needs them)."""

    model: Model
    preprocess: Callable[[np.ndarray], np.ndarray]
    decode: Decode
    score_threshold: float
    nms_threshold: float
    confidence: Logistic | None = None

    def __call__(self, rgb: np.ndarray) -> FaceDetections:
        h, w = rgb.shape[:2]
        faces = self.decode(self.model(self.preprocess(rgb)), h, w, self.score_threshold)
        if not len(faces):
            return faces
        faces = faces.take(nms(faces.boxes, faces.scores, self.nms_threshold))
        if self.confidence is None:
            return faces
        return faces.with_fields(
            scores=calibrated(faces.scores, self.confidence),
            extra={**faces.extra, "raw_score": faces.scores},
        )
