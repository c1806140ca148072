"""Rekognition operations oculi serves: name -> handler(context, validated params)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oculi.api import celebrity_ops as celeb
from oculi.api import collection_ops as c
from oculi.api import tag_ops as t
from oculi.api import user_ops as u
from oculi.api.face_detail import face_details
from oculi.api.labels_ops import detect_labels_op
from oculi.api.moderation_ops import detect_moderation_labels_op
from oculi.api.ppe_ops import detect_protective_equipment_op
from oculi.api.text_ops import detect_text_op
from oculi.api.video_ops import VIDEO_HANDLERS
from oculi.errors import ResourceNotFound
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import detect_faces
from oculi.service.image_source import load_image
from oculi.service.match_floor import (
    STRANGERS_PER_SEARCH,
    size_floor,
    size_notice,
    size_statement,
)
from oculi.streams.ops import HANDLERS as STREAM_HANDLERS
from oculi.vision.similarity import false_match_rate

Handler = Callable[[ServiceContext, dict[str, Any]], dict[str, Any]]

# Identity searches whose threshold the operator's match floor raises, and their defaults.
FLOORED: dict[str, tuple[str, float]] = {
    "SearchFaces": ("FaceMatchThreshold", 80.0),
    "SearchFacesByImage": ("FaceMatchThreshold", 80.0),
    "SearchUsers": ("UserMatchThreshold", 80.0),
    "SearchUsersByImage": ("UserMatchThreshold", 80.0),
    "StartFaceSearch": ("FaceMatchThreshold", 80.0),
}


def apply_match_floor(
    operation: str,
    params: dict[str, Any],
    floor: float,
    faces: int | None = None,
    strangers: float = STRANGERS_PER_SEARCH,
) -> str | None:
    """Raise a search's threshold to the operator's floor, and further to what a collection
    of `faces` faces needs to keep `strangers` expected false matches per search
    (oculi.service.match_floor); return the notice to send back (an
    `x-oculi-notice` header) when it did, or when CompareFaces reports similarities below
    the floor; for DescribeCollection, what a match in a collection of `faces` means."""
    if operation == "CompareFaces":
        threshold = params.get("SimilarityThreshold", 80.0)
        if threshold < floor:
            return (
                f"CompareFaces matches below {floor:g} are similarity scores, not "
                "identifications: the operator's identity floor is "
                f"{floor:g} (OCULI_MATCH_FLOOR); two photos of different people reach "
                f"Similarity {threshold:g} at a rate of {false_match_rate(threshold):.1e} "
                "per comparison"
            )
        return None
    if operation == "DescribeCollection":
        return None if faces is None else size_statement(faces, floor, strangers)
    if operation not in FLOORED:
        return None
    name, default = FLOORED[operation]
    asked = params.get(name, default)
    needed = size_floor(faces, strangers) if faces else 0.0
    if asked >= max(floor, needed):
        return None
    params[name] = max(floor, needed)
    if needed > floor:
        return size_notice(name, asked, needed, faces or 0, floor, strangers)
    return (
        f"{name} {asked:g} raised to the operator's identity floor {floor:g} "
        "(OCULI_MATCH_FLOOR): lower thresholds give known false matches"
    )


def searched_faces(ctx: ServiceContext, operation: str, params: dict[str, Any]) -> int | None:
    """The faces a floored search compares its query with (DescribeCollection: the
    collection's faces); None for other operations or when the collection does not exist
    (the call itself then says so)."""
    if operation not in FLOORED and operation != "DescribeCollection":
        return None
    try:
        return ctx.collections().describe(params["CollectionId"]).face_count
    except ResourceNotFound:
        return None


def detect_faces_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    image = load_image(params["Image"], ctx.s3)
    result = detect_faces(
        ctx.face_analyzer(),
        image.rgb,
        params.get("Attributes"),
        ctx.attribute_models(),
        crowd=ctx.redaction_analyzer,
    )
    return {"FaceDetails": face_details(result)}


HANDLERS: dict[str, Handler] = {
    "DetectFaces": detect_faces_op,
    "CompareFaces": c.compare_faces,
    "CreateCollection": c.create_collection,
    "DescribeCollection": c.describe_collection,
    "ListCollections": c.list_collections,
    "DeleteCollection": c.delete_collection,
    "IndexFaces": c.index_faces,
    "ListFaces": c.list_faces,
    "DeleteFaces": c.delete_faces,
    "SearchFaces": c.search_faces,
    "SearchFacesByImage": c.search_faces_by_image,
    "CreateUser": u.create_user,
    "DeleteUser": u.delete_user,
    "ListUsers": u.list_users,
    "AssociateFaces": u.associate_faces,
    "DisassociateFaces": u.disassociate_faces,
    "SearchUsers": u.search_users,
    "SearchUsersByImage": u.search_users_by_image,
    "DetectText": detect_text_op,
    "DetectModerationLabels": detect_moderation_labels_op,
    "DetectLabels": detect_labels_op,
    "DetectProtectiveEquipment": detect_protective_equipment_op,
    "TagResource": t.tag_resource,
    "UntagResource": t.untag_resource,
    "ListTagsForResource": t.list_tags_for_resource,
    "RecognizeCelebrities": celeb.recognize_celebrities,
    "GetCelebrityInfo": celeb.get_celebrity_info,
    **VIDEO_HANDLERS,
    **STREAM_HANDLERS,
}
