"""Rekognition operations oculi serves: name -> handler(context, validated params)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oculi.api import collection_ops as c
from oculi.api import user_ops as u
from oculi.api.face_detail import face_details
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import detect_faces
from oculi.service.image_source import load_image

Handler = Callable[[ServiceContext, dict[str, Any]], dict[str, Any]]


def detect_faces_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    image = load_image(params["Image"], ctx.s3)
    result = detect_faces(ctx.face_analyzer(), image.rgb, params.get("Attributes"))
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
}
