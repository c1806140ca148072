"""Rekognition's FaceDetail attributes beyond DEFAULT, as pure functions over a decoded
image and its `FaceDetections` (with mesh).

`analyze_attributes(models, rgb, faces, wanted)` returns, per Rekognition attribute name,
one JSON value per face, exactly as Rekognition spells it (None where a face has no
estimate: it is left out of that face's answer). Only the models an asked-for attribute
needs are run. Attributes without a measured method (Eyeglasses, Sunglasses, Beard,
Mustache, FaceOccluded, and the emotion CONFUSED) are not produced at all: see
docs/face-attributes.md for the reasons and the measured accuracy of what is produced.

Confidences are probabilities x 100 that were checked against labels: Gender goes through
a curve fitted on half of UTKFace and checked on the other (bench/attributes_eval.py,
`age_gender`), Emotions are the network's own probabilities, Smile, MouthOpen and
EyesOpen go through logistic curves fitted on hand labels (bench/face_attributes.py,
`calibration`). AgeRange is a conformal interval fitted on half of UTKFace.
EyeDirection has no Confidence: no ground-truth gaze was available to calibrate one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from oculi.vision.attributes.age_gender import (
    age_interval,
    age_probabilities,
    male_confidence,
    male_probability,
)
from oculi.vision.attributes.align import face_canvas
from oculi.vision.attributes.calibration import Logistic, binary_answer
from oculi.vision.attributes.emotion import CLASSES, emotion_probabilities
from oculi.vision.attributes.gaze import eye_direction
from oculi.vision.attributes.geometry import eye_opening, mouth_opening
from oculi.vision.types import FaceDetections

# Which catalogue models each attribute runs (none: read off the mesh).
MODELS_FOR: dict[str, tuple[str, ...]] = {
    "AgeRange": ("age",),
    "Gender": ("gender", "age"),
    "Emotions": ("emotion",),
    "Smile": ("emotion",),
    "MouthOpen": (),
    "EyesOpen": (),
    "EyeDirection": (),
}
ATTRIBUTES = tuple(MODELS_FOR)

# Smile: P(smile) from the logit of the emotion network's P(happy) (refitted with
# `python bench/face_attributes.py --fit` after the emotion network began reading the
# mirror image too).
SMILE = Logistic(slope=0.8632, bias=0.5259)
# MouthOpen: P(open) from the inner-lip gap / mouth width.
MOUTH_OPEN = Logistic(slope=32.608, bias=-2.4496)
# EyesOpen: P(open) from the eyelid gap / eye width.
EYES_OPEN = Logistic(slope=25.7131, bias=-2.1785)

ModelSource = Mapping[str, Callable[[np.ndarray], Any]]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1.0 - 1e-6)
    return np.log(p / (1.0 - p))


def raw_scores(
    models: ModelSource, rgb: np.ndarray, faces: FaceDetections, wanted: set[str]
) -> dict[str, np.ndarray]:
    """The uncalibrated per-face outputs the asked-for attributes are built from:
    'age' (N, 81), 'male' (N,), 'emotion' (N, 7), 'mouth' (N,), 'eyes' (N,),
    'gaze' (N, 2) yaw and pitch in degrees."""
    if faces.mesh is None:
        raise ValueError("attributes need the face mesh (run the DEFAULT analysis first)")
    mesh = faces.mesh
    out: dict[str, np.ndarray] = {}
    if "MouthOpen" in wanted:
        out["mouth"] = mouth_opening(mesh)
    if "EyesOpen" in wanted:
        out["eyes"] = eye_opening(mesh)
    if "EyeDirection" in wanted:
        out["gaze"] = eye_direction(mesh)
    if not wanted & {"AgeRange", "Gender", "Emotions", "Smile"}:
        return out
    canvases = [face_canvas(rgb, m) for m in mesh]
    if wanted & {"AgeRange", "Gender"}:
        out["age"] = age_probabilities(models["age"], canvases)
    if "Gender" in wanted:
        out["male"] = male_probability(models["gender"], canvases)
    if wanted & {"Emotions", "Smile"}:
        out["emotion"] = emotion_probabilities(models["emotion"], canvases)
    return out


def _binary(p: np.ndarray) -> list[dict[str, Any]]:
    value, conf = binary_answer(p)
    return [{"Value": bool(v), "Confidence": float(c)} for v, c in zip(value, conf)]


def format_attributes(raw: dict[str, np.ndarray], wanted: set[str]) -> dict[str, list[Any]]:
    """Rekognition JSON values, per attribute, one per face, from `raw_scores`."""
    out: dict[str, list[Any]] = {}
    if "AgeRange" in wanted:
        low, high = age_interval(raw["age"])
        out["AgeRange"] = [{"Low": int(lo), "High": int(hi)} for lo, hi in zip(low, high)]
    if "Gender" in wanted:
        p = male_confidence(raw["male"], raw["age"])
        out["Gender"] = [
            {
                "Value": "Male" if m >= 0.5 else "Female",
                "Confidence": float(max(m, 1.0 - m) * 100.0),
            }
            for m in p
        ]
    if "Emotions" in wanted:
        out["Emotions"] = [
            [
                {"Type": CLASSES[k], "Confidence": float(row[k] * 100.0)}
                for k in np.argsort(-row, kind="stable")
            ]
            for row in raw["emotion"]
        ]
    if "Smile" in wanted:
        out["Smile"] = _binary(SMILE(_logit(raw["emotion"][:, CLASSES.index("HAPPY")])))
    if "MouthOpen" in wanted:
        out["MouthOpen"] = _binary(MOUTH_OPEN(raw["mouth"]))
    if "EyesOpen" in wanted:
        out["EyesOpen"] = _binary(EYES_OPEN(raw["eyes"]))
    if "EyeDirection" in wanted:
        out["EyeDirection"] = [
            None if np.isnan(yaw) else {"Yaw": float(yaw), "Pitch": float(pitch)}
            for yaw, pitch in raw["gaze"]
        ]
    return out


def analyze_attributes(
    models: ModelSource, rgb: np.ndarray, faces: FaceDetections, wanted: set[str]
) -> dict[str, list[Any]]:
    """Per asked-for attribute (names in ATTRIBUTES; others are ignored), the list of
    Rekognition JSON values, one per face in `faces` order."""
    wanted = set(wanted) & set(ATTRIBUTES)
    if not wanted or not len(faces):
        return {name: [] for name in wanted}
    return format_attributes(raw_scores(models, rgb, faces, wanted), wanted)
