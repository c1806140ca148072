"""DetectFaces: the faces in one image with the attributes asked for."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from oculi.vision.attributes import ATTRIBUTES, ModelSource, analyze_attributes
from oculi.vision.faces import MAX_FACES, FaceAnalyzer, Timings
from oculi.vision.types import FaceDetections

# Rekognition always returns the DEFAULT set (BoundingBox, Confidence, Landmarks, Pose,
# Quality); other attributes are added when asked for. oculi returns those it has a
# measured method for and leaves the rest out (never a constant or a guess): see
# docs/face-attributes.md.
ATTRIBUTE_NAMES: dict[str, str] = {
    "AGE_RANGE": "AgeRange",
    "GENDER": "Gender",
    "EMOTIONS": "Emotions",
    "SMILE": "Smile",
    "MOUTH_OPEN": "MouthOpen",
    "EYES_OPEN": "EyesOpen",
    "EYE_DIRECTION": "EyeDirection",
    "EYEGLASSES": "Eyeglasses",
    "SUNGLASSES": "Sunglasses",
    "BEARD": "Beard",
    "MUSTACHE": "Mustache",
    "FACE_OCCLUDED": "FaceOccluded",
}


@dataclass(frozen=True)
class FaceResult:
    faces: FaceDetections
    width: int
    height: int
    attributes: frozenset[str]
    details: dict[str, list[Any]] = field(default_factory=dict)


def wanted_attributes(asked: frozenset[str]) -> set[str]:
    """FaceDetail field names to compute for Rekognition attribute names `asked`."""
    if "ALL" in asked:
        return set(ATTRIBUTES)
    return {ATTRIBUTE_NAMES[a] for a in asked if a in ATTRIBUTE_NAMES} & set(ATTRIBUTES)


def with_attributes(
    result: FaceResult,
    rgb: np.ndarray,
    asked: frozenset[str],
    models: ModelSource | None,
    timings: Timings | None = None,
) -> FaceResult:
    """`result` with the FaceDetail attributes `asked` for (Rekognition names) added."""
    wanted = wanted_attributes(asked)
    if not wanted or not len(result.faces):
        return replace(result, attributes=asked)
    if models is None:
        raise RuntimeError("attribute models were not loaded")
    t = time.perf_counter()
    details = analyze_attributes(models, rgb, result.faces, wanted)
    if timings:
        timings.add("attributes", t)
    return replace(result, attributes=asked, details=details)


def detect_faces(
    analyzer: FaceAnalyzer,
    rgb: np.ndarray,
    attributes: list[str] | None,
    attribute_models: ModelSource | None = None,
    max_faces: int = MAX_FACES,
    timings: Timings | None = None,
    crowd: Callable[[], FaceAnalyzer] | None = None,
) -> FaceResult:
    """The `max_faces` largest faces with the `attributes` asked for; with `crowd` (loads
    an analyzer with both detectors), photos where a small face is found are searched again
    for the small faces of a crowd (FaceAnalyzer.detect_in_crowds)."""
    asked = frozenset(attributes or ["DEFAULT"])
    faces = analyzer.analyze(rgb, max_faces=max_faces, landmarks=True, timings=timings, crowd=crowd)
    h, w = rgb.shape[:2]
    result = FaceResult(faces=faces, width=w, height=h, attributes=asked)
    return with_attributes(result, rgb, asked, attribute_models, timings)
