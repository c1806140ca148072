"""DetectFaces: the faces in one image with the attributes asked for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oculi.vision.faces import MAX_FACES, FaceAnalyzer, Timings
from oculi.vision.types import FaceDetections

# Rekognition always returns the DEFAULT set (BoundingBox, Confidence, Landmarks, Pose,
# Quality); other attributes are added when asked for. oculi leaves out any attribute it
# has no measured model for (never a constant or a guess): see docs/faces.md.
MEASURED_ATTRIBUTES: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FaceResult:
    faces: FaceDetections
    width: int
    height: int
    attributes: frozenset[str]


def detect_faces(analyzer: FaceAnalyzer, rgb: np.ndarray, attributes: list[str] | None,
                 max_faces: int = MAX_FACES, timings: Timings | None = None) -> FaceResult:
    asked = frozenset(attributes or ["DEFAULT"])
    faces = analyzer.analyze(rgb, max_faces=max_faces, landmarks=True, timings=timings)
    h, w = rgb.shape[:2]
    return FaceResult(faces=faces, width=w, height=h, attributes=asked)
