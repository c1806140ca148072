"""Rekognition's DetectProtectiveEquipment: JSON in, use case, Persons and Summary out.

Each person's BodyParts hold only FACE (when a face was seen), and its
EquipmentDetections only FACE_COVER, when the classifier finds the face covered; the
equipment's own BoundingBox is left out (the classifier does not locate the cover). HEAD,
LEFT_HAND, RIGHT_HAND, HEAD_COVER and HAND_COVER have no model in oculi: see
oculi/service/ppe.py and docs/ppe.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oculi.service.context import ServiceContext
from oculi.service.image_source import load_image
from oculi.service.labels import shared_label_detectors
from oculi.service.ppe import (
    MODEL_VERSION,
    Person,
    detect_protective_equipment,
    person_finder,
    shared_face_cover_classifier,
    summarize,
)


def bounding_box(box: np.ndarray, width: int, height: int) -> dict[str, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {
        "Width": (x2 - x1) / width,
        "Height": (y2 - y1) / height,
        "Left": x1 / width,
        "Top": y1 / height,
    }


def person_json(person: Person, width: int, height: int) -> dict[str, Any]:
    parts = []
    if person.face is not None:
        face: dict[str, Any] = {
            "Name": "FACE",
            "Confidence": 100.0 * person.face.score,
            "EquipmentDetections": [],
        }
        p = 100.0 * person.face.covered
        if person.face.is_covered:
            face["EquipmentDetections"].append(
                {
                    "Confidence": p,
                    "Type": "FACE_COVER",
                    "CoversBodyPart": {"Confidence": p, "Value": True},
                }
            )
        parts.append(face)
    out: dict[str, Any] = {"BodyParts": parts, "Confidence": 100.0 * person.score, "Id": person.id}
    if person.box is not None:
        out["BoundingBox"] = bounding_box(person.box, width, height)
    return out


def detect_protective_equipment_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    image = load_image(params["Image"], ctx.s3)
    s = ctx.settings
    classifier = shared_face_cover_classifier(s.model_dir, ctx.threads, s.device)
    find_persons = person_finder(shared_label_detectors(s.model_dir, ctx.threads, s.device).persons)
    persons = detect_protective_equipment(ctx.face_analyzer(), classifier, image.rgb, find_persons)
    height, width = image.rgb.shape[:2]
    out: dict[str, Any] = {
        "ProtectiveEquipmentModelVersion": MODEL_VERSION,
        "Persons": [person_json(p, width, height) for p in persons],
    }
    asked = params.get("SummarizationAttributes")
    if asked is not None:
        summary = summarize(persons, asked["RequiredEquipmentTypes"], asked["MinConfidence"])
        out["Summary"] = {
            "PersonsWithRequiredEquipment": summary.with_required,
            "PersonsWithoutRequiredEquipment": summary.without_required,
            "PersonsIndeterminate": summary.indeterminate,
        }
    return out
