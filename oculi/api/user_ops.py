"""Rekognition's user operations: CreateUser, DeleteUser, ListUsers, AssociateFaces,
DisassociateFaces, SearchUsers, SearchUsersByImage."""

from __future__ import annotations

from typing import Any

from oculi.api.collection_ops import DEFAULT_THRESHOLD, page_token, read_page_token
from oculi.api.face_detail import face_details
from oculi.service.collections import quality_reasons
from oculi.service.context import ServiceContext
from oculi.service.image_source import load_image
from oculi.service.users import UserMatch

DEFAULT_MAX_USERS = 100


def _user_matches(matches: list[UserMatch]) -> list[dict[str, Any]]:
    return [
        {"Similarity": m.similarity, "User": {"UserId": m.user_id, "UserStatus": "ACTIVE"}}
        for m in matches
    ]


def create_user(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return ctx.users().create(p)


def delete_user(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return ctx.users().delete(p)


def list_users(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    after = read_page_token(p.get("NextToken"), str) or ""
    limit = p.get("MaxResults", DEFAULT_MAX_USERS)
    page = ctx.users().list(p["CollectionId"], after, limit + 1)
    out: dict[str, Any] = {"Users": [{"UserId": u, "UserStatus": s} for u, s in page[:limit]]}
    if len(page) > limit:
        out["NextToken"] = page_token(page[limit - 1][0])
    return out


def associate_faces(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return ctx.users().associate(p)


def disassociate_faces(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return ctx.users().disassociate(p)


def search_users(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    users = ctx.users()
    matches = users.search(
        p["CollectionId"],
        p.get("UserId"),
        p.get("FaceId"),
        p.get("UserMatchThreshold", DEFAULT_THRESHOLD),
        p.get("MaxUsers", DEFAULT_MAX_USERS),
    )
    out: dict[str, Any] = {
        "UserMatches": _user_matches(matches),
        "FaceModelVersion": users.cols.model_version,
    }
    if "FaceId" in p:
        out["SearchedFace"] = {"FaceId": p["FaceId"]}
    if "UserId" in p:
        out["SearchedUser"] = {"UserId": p["UserId"]}
    return out


def search_users_by_image(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    users = ctx.users()
    users.cols.describe(p["CollectionId"])
    image = load_image(p["Image"], ctx.s3)
    qf = p.get("QualityFilter", "NONE")
    searched, others, matches = users.search_by_image(
        p["CollectionId"],
        image.rgb,
        p.get("UserMatchThreshold", DEFAULT_THRESHOLD),
        p.get("MaxUsers", DEFAULT_MAX_USERS),
        qf,
    )
    (detail,) = face_details(searched)
    reasons = quality_reasons(others.faces, qf)
    return {
        "UserMatches": _user_matches(matches),
        "FaceModelVersion": users.cols.model_version,
        "SearchedFace": {"FaceDetail": detail},
        "UnsearchedFaces": [
            {"FaceDetails": d, "Reasons": ["FACE_NOT_LARGEST", *r]}
            for d, r in zip(face_details(others), reasons)
        ],
    }
