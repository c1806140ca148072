"""Rekognition's celebrity operations: RecognizeCelebrities, GetCelebrityInfo."""

from __future__ import annotations

from typing import Any

from oculi.api.collection_ops import COMPARED_ATTRIBUTES, compared_face
from oculi.api.face_detail import face_details
from oculi.service.celebrities import Celebrities
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import with_attributes
from oculi.service.image_source import load_image
from oculi.store.faces import Celebrity


def _celebrities(ctx: ServiceContext) -> Celebrities:
    s = ctx.settings
    return Celebrities(ctx.collections(), s.celebrity_collection, s.match_floor)


def _facts(c: Celebrity) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": c.name, "Urls": list(c.urls)}
    if c.known_gender is not None:
        out["KnownGender"] = {"Type": c.known_gender}
    return out


def recognize_celebrities(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    image = load_image(p["Image"], ctx.s3)
    result, who = _celebrities(ctx).recognize(image.rgb)
    details = face_details(
        with_attributes(result, image.rgb, COMPARED_ATTRIBUTES, ctx.attribute_models())
    )
    recognized, unrecognized = [], []
    for detail, r in zip(details, who):
        face = compared_face(detail)
        if r is None:
            unrecognized.append(face)
            continue
        recognized.append(
            {
                **_facts(r.celebrity),
                "Id": r.celebrity.user_id,
                "Face": face,
                "MatchConfidence": r.match_confidence,
            }
        )
    return {"CelebrityFaces": recognized, "UnrecognizedFaces": unrecognized}


def get_celebrity_info(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return _facts(_celebrities(ctx).info(p["Id"]))
