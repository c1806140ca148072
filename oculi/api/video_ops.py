"""Rekognition's stored-video operations: Start* records a job and answers its JobId at
once (the job runs in oculi.video.jobs' pool); Get* answers the job's status, its video's
metadata and a page of its results, ordered as asked and stable across pages."""

from __future__ import annotations

import time
from typing import Any

from oculi.api.collection_ops import page_token, read_page_token
from oculi.errors import InvalidPaginationToken, ResourceNotFound
from oculi.models.catalogue import opted_in
from oculi.service.context import ServiceContext
from oculi.service.labels import MODEL_VERSION
from oculi.service.moderation import model_version as moderation_model_version
from oculi.service.text import MODEL_VERSION as TEXT_MODEL_VERSION
from oculi.video.analyses import SEGMENTS, TIMESTAMPS
from oculi.video.segments import CUE_MODEL, SHOT_MODEL
from oculi.video.store import SUCCEEDED

MAX_RESULTS = 1000  # a larger MaxResults gets 1000 (as AWS)
TOKEN_TTL_S = 24 * 3600


def _start(api: str) -> Any:
    def start(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
        if "CollectionId" in p:  # a missing collection fails now, not in the job
            ctx.collections().describe(p["CollectionId"])
        return {"JobId": ctx.video_jobs().start(api, p)}

    start.__name__ = f"start_{api}"
    return start


def with_job_collection(ctx: ServiceContext, name: str, p: dict[str, Any]) -> dict[str, Any]:
    """The parameters a call is authorized on: GetFaceSearch's with its job's CollectionId,
    so that reading who a search found needs search rights on that collection, as starting
    it did (an unknown JobId: the parameters as given; the handler answers it)."""
    if name != "GetFaceSearch":
        return p
    try:
        job = ctx.video_jobs().store.get(p["JobId"], "FaceSearch")
    except ResourceNotFound:
        return p
    return {**p, "CollectionId": job.request["CollectionId"]}


def _offset(token: str | None, job_id: str, kind: str, sort: str) -> int:
    """Where a NextToken continues: it must come from a page of the same job, kind and
    order, less than 24 hours ago."""
    if not token:
        return 0
    value = read_page_token(token, dict)
    try:
        ok = (value["j"], value["k"], value["s"]) == (job_id, kind, sort)
        offset, issued = int(value["o"]), float(value["t"])
    except (KeyError, TypeError, ValueError):
        raise InvalidPaginationToken("Invalid pagination token") from None
    if not ok or offset < 0 or not time.time() - TOKEN_TTL_S <= issued <= time.time() + 60:
        raise InvalidPaginationToken("Invalid or expired pagination token")
    return offset


def _get(
    ctx: ServiceContext,
    p: dict[str, Any],
    api: str,
    field: str,
    kind: str = TIMESTAMPS,
    sort: str = "TIMESTAMP",
    matched: bool = False,
) -> dict[str, Any]:
    jobs = ctx.video_jobs()
    job = jobs.store.get(p["JobId"], api)
    out: dict[str, Any] = {"JobStatus": job.status, "JobId": job.job_id, field: []}
    if job.message:
        out["StatusMessage"] = job.message
    if job.metadata:
        out["VideoMetadata"] = job.metadata
    out["Video"] = job.request["Video"]
    if "JobTag" in job.request:
        out["JobTag"] = job.request["JobTag"]
    offset = _offset(p.get("NextToken"), job.job_id, kind, sort)
    if job.status != SUCCEEDED:
        return out
    limit = min(p.get("MaxResults", MAX_RESULTS), MAX_RESULTS)
    rows = jobs.store.page(job.job_id, kind, sort, offset, limit + 1, matched)
    for row, matches in rows[:limit]:
        item = dict(row.body)
        if matched:
            item["FaceMatches"] = matches
        out[field].append(item)
    if len(rows) > limit:
        out["NextToken"] = page_token(
            {"j": job.job_id, "k": kind, "s": sort, "o": offset + limit, "t": time.time()}
        )
    return out


def get_face_detection(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, p, "FaceDetection", "Faces")


def get_person_tracking(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, p, "PersonTracking", "Persons", sort=p.get("SortBy", "TIMESTAMP"))


def get_face_search(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, p, "FaceSearch", "Persons", sort=p.get("SortBy", "TIMESTAMP"), matched=True)


def get_label_detection(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    sort = p.get("SortBy", "TIMESTAMP")
    aggregate = p.get("AggregateBy", "TIMESTAMPS")
    kind = SEGMENTS if aggregate == "SEGMENTS" else TIMESTAMPS
    out = _get(ctx, p, "LabelDetection", "Labels", kind=kind, sort=sort)
    out["LabelModelVersion"] = MODEL_VERSION
    out["GetRequestMetadata"] = {"SortBy": sort, "AggregateBy": aggregate}
    return out


def get_text_detection(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    out = _get(ctx, p, "TextDetection", "TextDetections")
    out["TextModelVersion"] = TEXT_MODEL_VERSION
    return out


def get_content_moderation(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    sort = p.get("SortBy", "TIMESTAMP")
    aggregate = p.get("AggregateBy", "TIMESTAMPS")
    kind = SEGMENTS if aggregate == "SEGMENTS" else TIMESTAMPS
    out = _get(ctx, p, "ContentModeration", "ModerationLabels", kind=kind, sort=sort)
    out["ModerationModelVersion"] = moderation_model_version(opted_in())
    out["GetRequestMetadata"] = {"SortBy": sort, "AggregateBy": aggregate}
    return out


def get_celebrity_recognition(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    sort = "NAME" if p.get("SortBy") == "ID" else "TIMESTAMP"  # rows are named by celebrity id
    out = _get(ctx, p, "CelebrityRecognition", "Celebrities", sort=sort, matched=True)
    celebrities = []
    for item in out["Celebrities"]:
        face = item["Person"]["Face"]
        (facts,) = item["FaceMatches"]
        celebrity = {**facts, "BoundingBox": face["BoundingBox"], "Face": face}
        celebrities.append({"Timestamp": item["Timestamp"], "Celebrity": celebrity})
    out["Celebrities"] = celebrities
    return out


def get_segment_detection(ctx: ServiceContext, p: dict[str, Any]) -> dict[str, Any]:
    out = _get(ctx, p, "SegmentDetection", "Segments")
    out["VideoMetadata"] = [out["VideoMetadata"]] if "VideoMetadata" in out else []
    out["AudioMetadata"] = []  # audio is not read
    job = ctx.video_jobs().store.get(p["JobId"], "SegmentDetection")
    models = {"SHOT": SHOT_MODEL, "TECHNICAL_CUE": CUE_MODEL}
    out["SelectedSegmentTypes"] = [
        {"Type": t, "ModelVersion": models[t]} for t in dict.fromkeys(job.request["SegmentTypes"])
    ]
    return out


VIDEO_HANDLERS = {
    "StartFaceDetection": _start("FaceDetection"),
    "GetFaceDetection": get_face_detection,
    "StartPersonTracking": _start("PersonTracking"),
    "GetPersonTracking": get_person_tracking,
    "StartLabelDetection": _start("LabelDetection"),
    "GetLabelDetection": get_label_detection,
    "StartFaceSearch": _start("FaceSearch"),
    "GetFaceSearch": get_face_search,
    "StartTextDetection": _start("TextDetection"),
    "GetTextDetection": get_text_detection,
    "StartContentModeration": _start("ContentModeration"),
    "GetContentModeration": get_content_moderation,
    "StartSegmentDetection": _start("SegmentDetection"),
    "GetSegmentDetection": get_segment_detection,
    "StartCelebrityRecognition": _start("CelebrityRecognition"),
    "GetCelebrityRecognition": get_celebrity_recognition,
}
