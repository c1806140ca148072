"""Rekognition's collection and matching operations: JSON in, use case, JSON out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from oculi.api.face_detail import face_details
from oculi.errors import InvalidPaginationToken, InvalidParameter
from oculi.models.face_versions import model_name
from oculi.service.collections import Match
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import with_attributes
from oculi.service.image_source import load_image, read_image
from oculi.service.tags import check_tags, collection_arn
from oculi.store.faces import Collection, FaceRecord

DEFAULT_MAX_RESULTS = 1000
DEFAULT_THRESHOLD = 80.0
COMPARED_LANDMARKS = ("eyeLeft", "eyeRight", "mouthLeft", "mouthRight", "nose")
# ComparedFace carries Emotions and Smile; both come from one small network (about 5 ms a
# face, bench/face_attributes.py), so CompareFaces computes them for the target's faces.
COMPARED_ATTRIBUTES = frozenset({"EMOTIONS", "SMILE"})


def page_token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def page_size(p: dict[str, Any]) -> int:
    """ListCollections' and ListFaces' MaxResults (default 1000). botocore's model allows 0
    (its PageSize shape has min 0), but Rekognition answers InvalidParameterException for
    it, and so does oculi: a page of nothing would hand a paginator the token it sent."""
    limit = int(p.get("MaxResults", DEFAULT_MAX_RESULTS))
    if limit < 1:
        raise InvalidParameter(
            f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1"
        )
    return limit


def read_page_token(token: str | None, kind: type) -> Any:
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidPaginationToken("Invalid pagination token") from None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidPaginationToken("Invalid pagination token")
    # The value becomes an SQL parameter: SQLite integers are 64-bit, text is UTF-8.
    if isinstance(value, int) and not 0 <= value < 2**63:
        raise InvalidPaginationToken("Invalid pagination token")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidPaginationToken("Invalid pagination token") from None
    return value


def _face(r: FaceRecord) -> dict[str, Any]:
    face: dict[str, Any] = {
        "FaceId": r.face_id,
        "BoundingBox": r.bbox,
        "ImageId": r.image_id,
        "Confidence": r.confidence,
        "IndexFacesModelVersion": r.model_version,
    }
    if r.external_image_id is not None:
        face["ExternalImageId"] = r.external_image_id
    if r.user_id is not None:
        face["UserId"] = r.user_id
    return face


def _matches(matches: list[Match]) -> list[dict[str, Any]]:
    return [{"Similarity": m.similarity, "Face": _face(m.record)} for m in matches]


def face_model_header(answer: dict[str, Any]) -> dict[str, str]:
    """`x-oculi-face-model`: oculi's name for an answer's FaceModelVersion number."""
    name = model_name(str(answer.get("FaceModelVersion", "")))
    return {"x-oculi-face-model": name} if name else {}


def create_collection(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    tags = p.get("Tags") or {}
    check_tags(tags)
    c = ctx.collections().create(p["CollectionId"], tags)
    return {
        "StatusCode": 200,
        "CollectionArn": collection_arn(ctx.settings, c.collection_id),
        "FaceModelVersion": c.face_model_version,
    }


def describe_collection(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    c = ctx.collections().describe(p["CollectionId"])
    return {
        "FaceCount": c.face_count,
        "FaceModelVersion": c.face_model_version,
        "CollectionARN": collection_arn(ctx.settings, c.collection_id),
        "CreationTimestamp": c.created,
        "UserCount": ctx.collections().store.user_count(c.collection_id),
    }


def list_collections(
    ctx: ServiceContext, p: dict[str, Any], visible: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """A page of collections; with `visible`, only those it accepts (the caller's key may
    read), the pages filled from as many of the store's pages as that takes."""
    after = read_page_token(p.get("NextToken"), str) or ""
    limit = page_size(p)
    page: list[Collection] = []
    while len(page) <= limit:
        batch = ctx.collections().list(after, limit + 1)
        page += [c for c in batch if visible is None or visible(c.collection_id)]
        if len(batch) <= limit:
            break
        after = batch[-1].collection_id
    out: dict[str, Any] = {
        "CollectionIds": [c.collection_id for c in page[:limit]],
        "FaceModelVersions": [c.face_model_version for c in page[:limit]],
    }
    if len(page) > limit:
        out["NextToken"] = page_token(page[limit - 1].collection_id)
    return out


def delete_collection(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    ctx.collections().delete(p["CollectionId"])
    return {"StatusCode": 200}


def index_faces(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    cols = ctx.collections()
    cols.describe(p["CollectionId"])  # a missing collection fails before any analysis
    data, image = read_image(p["Image"], ctx.s3)
    done = cols.index_faces(
        p["CollectionId"],
        image.rgb,
        p.get("ExternalImageId"),
        p.get("MaxFaces"),
        p.get("QualityFilter", "AUTO"),
        data,
    )
    asked = frozenset(p.get("DetectionAttributes") or ["DEFAULT"])
    details = face_details(with_attributes(done.result, image.rgb, asked, ctx.attribute_models()))
    return {
        "FaceRecords": [{"Face": _face(r), "FaceDetail": details[i]} for i, r in done.records],
        "FaceModelVersion": cols.model_version,
        "UnindexedFaces": [
            {"Reasons": reasons, "FaceDetail": details[i]} for i, reasons in done.unindexed
        ],
    }


def list_faces(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    after = read_page_token(p.get("NextToken"), int) or 0
    limit = page_size(p)
    cols = ctx.collections()
    rows = cols.list_faces(p["CollectionId"], after, limit + 1, p.get("FaceIds"), p.get("UserId"))
    out: dict[str, Any] = {
        "Faces": [_face(r) for _, r in rows[:limit]],
        "FaceModelVersion": cols.model_version,
    }
    if len(rows) > limit:
        out["NextToken"] = page_token(rows[limit - 1][0])
    return out


def delete_faces(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    deleted, held = ctx.collections().delete_faces(p["CollectionId"], p["FaceIds"])
    held_by = dict(held)
    missing = [f for f in dict.fromkeys(p["FaceIds"]) if f not in deleted and f not in held_by]
    return {
        "DeletedFaces": deleted,
        "UnsuccessfulFaceDeletions": [
            {"FaceId": f, "UserId": u, "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}
            for f, u in held
        ]
        + [{"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]} for f in missing],
    }


def search_faces(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    cols = ctx.collections()
    matches = cols.search_faces(
        p["CollectionId"],
        p["FaceId"],
        p.get("MaxFaces", 80),
        p.get("FaceMatchThreshold", DEFAULT_THRESHOLD),
    )
    return {
        "SearchedFaceId": p["FaceId"],
        "FaceMatches": _matches(matches),
        "FaceModelVersion": cols.model_version,
    }


def search_faces_by_image(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    cols = ctx.collections()
    cols.describe(p["CollectionId"])
    image = load_image(p["Image"], ctx.s3)
    searched, matches = cols.search_faces_by_image(
        p["CollectionId"],
        image.rgb,
        p.get("MaxFaces", 80),
        p.get("FaceMatchThreshold", DEFAULT_THRESHOLD),
        p.get("QualityFilter", "NONE"),
    )
    (detail,) = face_details(searched)
    return {
        "SearchedFaceBoundingBox": detail["BoundingBox"],
        "SearchedFaceConfidence": detail["Confidence"],
        "FaceMatches": _matches(matches),
        "FaceModelVersion": cols.model_version,
    }


def compared_face(detail: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: detail[k]
        for k in ("BoundingBox", "Confidence", "Pose", "Quality", "Emotions", "Smile")
        if k in detail
    }
    out["Landmarks"] = [
        lm for lm in detail.get("Landmarks", []) if lm["Type"] in COMPARED_LANDMARKS
    ]
    return out


def compare_faces(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    source = load_image(p["SourceImage"], ctx.s3)
    target = load_image(p["TargetImage"], ctx.s3)
    threshold = p.get("SimilarityThreshold", DEFAULT_THRESHOLD)
    src, tgt, sims = ctx.collections().compare(
        source.rgb, target.rgb, p.get("QualityFilter", "NONE")
    )
    (src_detail,) = face_details(src)
    details = face_details(
        with_attributes(tgt, target.rgb, COMPARED_ATTRIBUTES, ctx.attribute_models())
    )
    order = sorted(range(len(details)), key=lambda i: -float(sims[i]))
    return {
        "SourceImageFace": {
            "BoundingBox": src_detail["BoundingBox"],
            "Confidence": src_detail["Confidence"],
        },
        "FaceMatches": [
            {"Similarity": float(sims[i]), "Face": compared_face(details[i])}
            for i in order
            if sims[i] >= threshold
        ],
        "UnmatchedFaces": [compared_face(details[i]) for i in order if sims[i] < threshold],
    }
