"""A single-stage face detector: preprocess, run the network, decode, suppress overlaps.

YuNet and RetinaFace differ only in their preprocess and decode functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oculi.vision.nms import nms
from oculi.vision.types import FaceDetections

Model = Callable[[np.ndarray], dict[str, np.ndarray]]
Decode = Callable[[dict[str, np.ndarray], int, int, float], FaceDetections]


class SingleStageDetector:
    """Detect faces on one image at its own scale (callers choose the scale)."""

    def __init__(
        self,
        model: Model,
        preprocess: Callable[[np.ndarray], np.ndarray],
        decode: Decode,
        score_threshold: float,
        nms_threshold: float,
    ) -> None:
        self.model = model
        self.preprocess = preprocess
        self.decode = decode
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def __call__(self, rgb: np.ndarray) -> FaceDetections:
        h, w = rgb.shape[:2]
        faces = self.decode(self.model(self.preprocess(rgb)), h, w, self.score_threshold)
        if not len(faces):
            return faces
        return faces.take(nms(faces.boxes, faces.scores, self.nms_threshold))
