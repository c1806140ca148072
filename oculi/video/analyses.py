"""What each stored-video job finds in its sampled frames, as Rekognition's Get* result
items: faces (GetFaceDetection), tracked persons (GetPersonTracking), labels by timestamp
and by segment (GetLabelDetection), and tracked faces searched in a collection
(GetFaceSearch: each face track is searched with its best views once it ends, not frame by
frame)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np

from oculi.api.collection_ops import _matches
from oculi.api.face_detail import face_details
from oculi.api.labels_ops import bounding_box, label_json
from oculi.api.moderation_ops import moderation_labels
from oculi.api.text_ops import text_detections
from oculi.audit import event_for
from oculi.service.collections import Match
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import detect_faces
from oculi.service.labels import detect_labels, shared_label_detectors
from oculi.service.moderation import DEFAULT_MIN_CONFIDENCE as MODERATION_MIN_CONFIDENCE
from oculi.service.text import detect_text, shared_text_reader
from oculi.video.decode import Frame, VideoInfo
from oculi.video.store import Row
from oculi.video.tracks import (
    BestViews,
    Indexes,
    Segment,
    Segments,
    crop_view,
    face_in_person,
    is_cut,
    shot_signature,
    view_quality,
)
from oculi.vision.labels import Objects
from oculi.vision.track import IouTracker, Track
from oculi.vision.types import FaceDetections

TIMESTAMPS, SEGMENTS = "T", "S"  # result kinds kept per job
PERSON_MIN_SCORE = 0.5
# Trackers keep a lost box this long before its person gets a new index; a shot cut ends
# every track at once (tracks.is_cut).
MAX_GAP_S = 2.0
# Least overlap of a box with its track's last box (moved on at the track's velocity).
PERSON_IOU = 0.2
FACE_IOU = 0.1


class ShotTracker:
    """An IouTracker whose tracks all end at a shot cut, and that keeps a lost box for
    MAX_GAP_S seconds of video whatever the sampling rate."""

    def __init__(self, rate: float, iou_threshold: float) -> None:
        self.tracker = IouTracker(
            iou_threshold=iou_threshold, max_missed=max(1, math.ceil(MAX_GAP_S * rate))
        )
        self.signature: np.ndarray | None = None

    def update(self, rgb: np.ndarray, boxes: np.ndarray) -> list[Track]:
        signature = shot_signature(rgb)
        if is_cut(self.signature, signature):
            self.tracker.tracks = []
        self.signature = signature
        return self.tracker.update(boxes)


class Output(Protocol):
    job_id: str

    def add(self, kind: str, row: Row) -> None: ...

    def set_matches(self, matches: dict[int, list[dict[str, Any]]]) -> None: ...


Analysis = Callable[[ServiceContext, dict[str, Any], Iterable[Frame], VideoInfo, Output], None]


def _faces(
    ctx: ServiceContext, rgb: np.ndarray, attributes: list[str] | None
) -> tuple[FaceDetections, list[dict[str, Any]]]:
    result = detect_faces(ctx.face_analyzer(), rgb, attributes, ctx.attribute_models())
    return result.faces, face_details(result)


def face_detection(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    attributes = [params.get("FaceAttributes", "DEFAULT")]
    for frame in frames:
        _, details = _faces(ctx, frame.rgb, attributes)
        for d in details:
            out.add(
                TIMESTAMPS,
                Row(frame.timestamp_ms, 0, "", {"Timestamp": frame.timestamp_ms, "Face": d}),
            )


def persons_in(ctx: ServiceContext, rgb: np.ndarray) -> np.ndarray:
    """Person boxes (N, 4) pixels from the SSDLite person detector, tiled as DetectLabels
    runs it, at PERSON_MIN_SCORE."""
    s = ctx.settings
    found: Objects = shared_label_detectors(s.model_dir, ctx.threads, s.device).persons(rgb)
    keep = (np.asarray(found.class_names()) == "Person") & (found.scores >= PERSON_MIN_SCORE)
    return found.boxes[keep] if len(found) else np.zeros((0, 4), np.float32)


def person_tracking(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    tracker, index = ShotTracker(ctx.settings.video_fps, PERSON_IOU), Indexes()
    for frame in frames:
        h, w = frame.rgb.shape[:2]
        boxes = persons_in(ctx, frame.rgb)
        tracks = [t for t in tracker.update(frame.rgb, boxes) if t.detection >= 0]
        if not tracks:
            continue
        faces, details = _faces(ctx, frame.rgb, None)
        for t in sorted(tracks, key=lambda t: index(t.track_id)):
            box = boxes[t.detection]
            person: dict[str, Any] = {
                "Index": index(t.track_id),
                "BoundingBox": bounding_box(box, w, h),
            }
            f = face_in_person(box, faces.boxes)
            if f >= 0:
                person["Face"] = details[f]
            out.add(
                TIMESTAMPS,
                Row(
                    frame.timestamp_ms,
                    person["Index"],
                    "",
                    {"Timestamp": frame.timestamp_ms, "Person": person},
                ),
            )


def label_detection(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    s = ctx.settings
    detector = shared_label_detectors(s.model_dir, ctx.threads, s.device)
    asked = {k: params[k] for k in ("MinConfidence", "Settings") if k in params}
    segments = Segments(gap_ms=int(round(2 * 1000 / s.video_fps)))

    def emit(done: list[Segment]) -> None:
        for row in _segment_rows("Label", done):
            out.add(SEGMENTS, row)

    for frame in frames:
        h, w = frame.rgb.shape[:2]
        emit(segments.close_before(frame.timestamp_ms))
        for label in detect_labels(detector, frame.rgb, asked).labels:
            item = label_json(label, w, h, None)
            body = {"Timestamp": frame.timestamp_ms, "Label": item}
            out.add(TIMESTAMPS, Row(frame.timestamp_ms, 0, label.name, body))
            emit(segments.see(frame.timestamp_ms, {**item, "Instances": []}))
    emit(segments.close_all())


def _segment_rows(field: str, done: list[Segment]) -> list[Row]:
    """Closed segments as SEGMENTS rows of a Get*'s `field` (Label, ModerationLabel)."""
    return [
        Row(
            seg.start,
            0,
            seg.label["Name"],
            {
                "Timestamp": seg.start,
                field: seg.label,
                "StartTimestampMillis": seg.start,
                "EndTimestampMillis": seg.last,
                "DurationMillis": seg.last - seg.start,
            },
        )
        for seg in done
    ]


def text_detection(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    s = ctx.settings
    reader = shared_text_reader(s.model_dir, ctx.threads, s.device)
    for frame in frames:
        h, w = frame.rgb.shape[:2]
        lines = detect_text(reader, frame.rgb, params.get("Filters"))
        for d in text_detections(lines, w, h):
            body = {"Timestamp": frame.timestamp_ms, "TextDetection": d}
            out.add(TIMESTAMPS, Row(frame.timestamp_ms, 0, "", body))


def content_moderation(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    min_confidence = params.get("MinConfidence", MODERATION_MIN_CONFIDENCE)
    segments = Segments(gap_ms=int(round(2 * 1000 / ctx.settings.video_fps)))

    def emit(done: list[Segment]) -> None:
        for row in _segment_rows("ModerationLabel", done):
            out.add(SEGMENTS, row)

    for frame in frames:
        emit(segments.close_before(frame.timestamp_ms))
        for label in moderation_labels(ctx, frame.rgb, min_confidence):
            body = {"Timestamp": frame.timestamp_ms, "ModerationLabel": label}
            out.add(TIMESTAMPS, Row(frame.timestamp_ms, 0, label["Name"], body))
            emit(segments.see(frame.timestamp_ms, label))
    emit(segments.close_all())


def face_search(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    cols = ctx.collections()
    collection = params["CollectionId"]
    threshold = float(params.get("FaceMatchThreshold", 80.0))
    tracker = ShotTracker(ctx.settings.video_fps, FACE_IOU)
    index, best = Indexes(), BestViews()
    matches: dict[int, list[dict[str, Any]]] = {}

    def search(idx: int) -> None:
        views = best.pop(idx)
        found: dict[str, Match] = {}
        for v in views:
            faces = FaceDetections(
                boxes=np.zeros((1, 4), np.float32),
                scores=np.ones((1,), np.float32),
                keypoints=v.keypoints[None],
            )
            query = cols.embedder(v.crop, faces)[0]
            for m in cols.search_vector(collection, query, 10, threshold):
                if (
                    m.record.face_id not in found
                    or m.similarity > found[m.record.face_id].similarity
                ):
                    found[m.record.face_id] = m
        if found:
            matches[idx] = _matches(sorted(found.values(), key=lambda m: -m.similarity))

    for frame in frames:
        faces, details = _faces(ctx, frame.rgb, None)
        live = tracker.update(frame.rgb, faces.boxes)
        for t in live:
            if t.detection < 0:
                continue
            d, idx = t.detection, index(t.track_id)
            out.add(
                TIMESTAMPS,
                Row(
                    frame.timestamp_ms,
                    idx,
                    "",
                    {"Timestamp": frame.timestamp_ms, "Person": {"Index": idx, "Face": details[d]}},
                ),
            )
            yaw = float(faces.pose[d][1]) if faces.pose is not None else 0.0
            sharp = float(faces.quality[d][1]) if faces.quality is not None else 50.0
            box = faces.boxes[d]
            q = view_quality(float(faces.scores[d]), float(box[2] - box[0]), yaw, sharp)
            if best.worth(idx, q):
                best.offer(idx, crop_view(frame.rgb, box, faces.keypoints[d], q))
        alive = {index(t.track_id) for t in live}
        for idx in [i for i in best.views if i not in alive]:
            search(idx)
    for idx in list(best.views):
        search(idx)
    out.set_matches(matches)
    found = sorted({m["Face"]["FaceId"] for ms in matches.values() for m in ms})
    event = event_for(
        "FaceSearchJob",
        {"CollectionId": collection, "FaceMatchThreshold": threshold},
        {"Matches": found},
        None,
        None,
        None,
        out.job_id,
    )
    ctx.audit().append({**event, "face_ids": found, "persons_matched": len(matches)})


ANALYSES: dict[str, Analysis] = {
    "FaceDetection": face_detection,
    "PersonTracking": person_tracking,
    "LabelDetection": label_detection,
    "FaceSearch": face_search,
    "TextDetection": text_detection,
    "ContentModeration": content_moderation,
}
