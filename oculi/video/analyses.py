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
from oculi.service.celebrities import Celebrities
from oculi.service.collections import Collections, Match
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import detect_faces
from oculi.service.labels import detect_labels, shared_label_detectors
from oculi.service.moderation import DEFAULT_MIN_CONFIDENCE as MODERATION_MIN_CONFIDENCE
from oculi.service.text import detect_text, shared_text_reader
from oculi.video import segments as seg
from oculi.video.decode import Frame, VideoInfo
from oculi.video.persons import PERSON_MIN_SCORE, PersonFaces, PersonFinder
from oculi.video.store import Row
from oculi.video.tracker import Tracklet, TwoStageTracker
from oculi.video.tracks import (
    CUT_CORRELATION,
    BestViews,
    Indexes,
    Segment,
    Segments,
    correlation,
    crop_view,
    is_cut,
    shot_signature,
    view_quality,
)
from oculi.vision.types import FaceDetections

TIMESTAMPS, SEGMENTS = "T", "S"  # result kinds kept per job
# Person detections at least PERSON_MIN_SCORE continue a track; PERSON_START start one.
PERSON_START = 0.6
# Least overlap of a detection with its track's expected box, and how long a lost track is
# kept; chosen on the first half of vtest.avi's frames (bench/video.py --tracking reports
# the second half).
TRACK_IOU = 0.1
MAX_GAP_S = 2.0
SEARCH_MAX_FACES = 10  # matches a face search reports per person


class ShotTracker:
    """A TwoStageTracker whose tracks all end at a shot cut (tracks.is_cut) and that keeps
    a lost track for MAX_GAP_S seconds of video whatever the sampling rate."""

    def __init__(self, rate: float, start_score: float) -> None:
        self.tracker = TwoStageTracker(
            high=start_score,
            low=min(start_score, PERSON_MIN_SCORE),
            iou_high=TRACK_IOU,
            max_missed=max(1, math.ceil(MAX_GAP_S * rate)),
        )
        self.signature: np.ndarray | None = None

    def update(self, rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> list[Tracklet]:
        self.new_frame(rgb)
        return self.tracker.update(boxes, scores)

    def new_frame(self, rgb: np.ndarray) -> bool:
        """Note the next frame before its detections (`match`): whether it starts a new
        shot, and so ended every track."""
        signature = shot_signature(rgb)
        cut = is_cut(self.signature, signature)
        if cut:
            self.tracker.reset()
        self.signature = signature
        return cut

    def match(self, boxes: np.ndarray, scores: np.ndarray) -> list[Tracklet]:
        """The frame's detections, after `new_frame`."""
        return self.tracker.update(boxes, scores)

    def expected(self) -> np.ndarray:
        """Where each live track expects its object in the next frame, (N, 4)."""
        boxes = [t.box + t.velocity for t in self.tracker.tracks]
        return np.asarray(boxes, np.float32).reshape(-1, 4)

    @property
    def live(self) -> set[int]:
        return {t.track_id for t in self.tracker.tracks}


class Held:
    """What a track found before it was confirmed, given back when it is: its first
    frame is reported with the index it gets on its second."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[int, dict[str, Any]]] = {}

    def __call__(
        self, matched: list[Tracklet], ts: int, found: dict[int, dict[str, Any]]
    ) -> list[tuple[Tracklet, int, dict[str, Any]]]:
        """(track, timestamp, what it found) for every confirmed track of this frame,
        with what it found before confirmation first; unconfirmed tracks are held."""
        ready = []
        for t in matched:
            if not t.confirmed:
                self.rows[t.track_id] = (ts, found[t.track_id])
                continue
            if t.track_id in self.rows:
                ready.append((t, *self.rows.pop(t.track_id)))
            ready.append((t, ts, found[t.track_id]))
        ids = {t.track_id for t in matched}
        self.rows = {k: v for k, v in self.rows.items() if k in ids}
        return ready


class Output(Protocol):
    job_id: str

    def add(self, kind: str, row: Row) -> None: ...

    def set_matches(self, matches: dict[int, list[dict[str, Any]]], names: dict[int, str]) -> None:
        """Per Person.Index: what it matched, and the name its rows sort by (SortBy ID)."""


Analysis = Callable[[ServiceContext, dict[str, Any], Iterable[Frame], VideoInfo, Output], None]


def _faces(
    ctx: ServiceContext, frame: Frame, attributes: list[str] | None
) -> tuple[FaceDetections, list[dict[str, Any]]]:
    """The frame's faces and their FaceDetails, computed once per frame and attributes
    however many analyses ask (oculi.video.fanout runs them side by side)."""
    asked = sorted(attributes or ["DEFAULT"])

    def compute() -> tuple[FaceDetections, list[dict[str, Any]]]:
        result = detect_faces(ctx.face_analyzer(), frame.rgb, asked, ctx.attribute_models())
        return result.faces, face_details(result)

    return frame.once(("faces", *asked), compute)


def face_detection(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    attributes = [params.get("FaceAttributes", "DEFAULT")]
    for frame in frames:
        _, details = _faces(ctx, frame, attributes)
        for d in details:
            out.add(
                TIMESTAMPS,
                Row(frame.timestamp_ms, 0, "", {"Timestamp": frame.timestamp_ms, "Face": d}),
            )


def person_tracking(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    rate = ctx.settings.video_fps
    tracker, index, held = ShotTracker(rate, PERSON_START), Indexes(), Held()
    finder, faces_of = PersonFinder.of(ctx, rate), PersonFaces(ctx)
    for frame in frames:
        h, w = frame.rgb.shape[:2]
        cut = tracker.new_frame(frame.rgb)
        boxes, scores = finder(frame.rgb, tracker.expected(), cut)
        matched = tracker.match(boxes, scores)
        if not matched:
            continue
        faces = faces_of(frame.rgb, boxes, [t.detection for t in matched], finder.fresh)
        found: dict[int, dict[str, Any]] = {}
        for t, face in zip(matched, faces):
            person: dict[str, Any] = {"BoundingBox": bounding_box(boxes[t.detection], w, h)}
            if face is not None:
                person["Face"] = face
            found[t.track_id] = person
        for t, ts, person in held(matched, frame.timestamp_ms, found):
            idx = index(t.track_id)
            body = {"Timestamp": ts, "Person": {"Index": idx, **person}}
            out.add(TIMESTAMPS, Row(ts, idx, "", body))


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


def _face_tracks(
    ctx: ServiceContext,
    frames: Iterable[Frame],
    out: Output,
    identify: Callable[[list[np.ndarray]], tuple[str, Any] | None],
) -> dict[int, tuple[str, Any]]:
    """Track the faces, write each confirmed track's frames (Person {Index, Face}), and
    identify each track once it ends with the embeddings of its best views: `identify`
    gives a name to sort by and what to report, or None. Returns them by Person.Index."""
    cols = ctx.collections()
    tracker, index, best, held = (
        ShotTracker(ctx.settings.video_fps, 0.0),  # every face the detector keeps
        Indexes(),
        BestViews(),
        Held(),
    )
    known: dict[int, tuple[str, Any]] = {}
    confirmed: set[int] = set()

    def end(track_id: int) -> None:
        views = best.pop(track_id)
        if track_id not in confirmed:
            return
        queries = []
        for v in views:
            faces = FaceDetections(
                boxes=np.zeros((1, 4), np.float32),
                scores=np.ones((1,), np.float32),
                keypoints=v.keypoints[None],
            )
            queries.append(cols.embedder(v.crop, faces)[0])
        who = identify(queries)
        if who is not None:
            known[index(track_id)] = who

    for frame in frames:
        faces, details = _faces(ctx, frame, None)
        matched = tracker.update(frame.rgb, faces.boxes, faces.scores)
        for t in matched:
            d = t.detection
            yaw = float(faces.pose[d][1]) if faces.pose is not None else 0.0
            sharp = float(faces.quality[d][1]) if faces.quality is not None else 50.0
            box = faces.boxes[d]
            q = view_quality(float(faces.scores[d]), float(box[2] - box[0]), yaw, sharp)
            if best.worth(t.track_id, q):
                best.offer(t.track_id, crop_view(frame.rgb, box, faces.keypoints[d], q))
        found = {t.track_id: details[t.detection] for t in matched}
        for t, ts, face in held(matched, frame.timestamp_ms, found):
            confirmed.add(t.track_id)
            idx = index(t.track_id)
            body = {"Timestamp": ts, "Person": {"Index": idx, "Face": face}}
            out.add(TIMESTAMPS, Row(ts, idx, "", body))
        for track_id in [k for k in best.views if k not in tracker.live]:
            end(track_id)
    for track_id in list(best.views):
        end(track_id)
    return known


def search_views(
    cols: Collections, collection: str, queries: list[np.ndarray], threshold: float
) -> list[Match]:
    """The faces of `collection` that any of one person's views (embeddings) matches at
    `threshold` (raised to what the collection's size needs), each at its best Similarity,
    most similar first."""
    found: dict[str, Match] = {}
    for query in queries:
        for m in cols.search_vector(collection, query, SEARCH_MAX_FACES, threshold):
            face_id = m.record.face_id
            if face_id not in found or m.similarity > found[face_id].similarity:
                found[face_id] = m
    return sorted(found.values(), key=lambda m: -m.similarity)


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

    def search(queries: list[np.ndarray]) -> tuple[str, Any] | None:
        ranked = search_views(cols, collection, queries, threshold)
        if not ranked:
            return None
        return ranked[0].record.face_id, _matches(ranked)

    known = _face_tracks(ctx, frames, out, search)
    matches = {idx: ms for idx, (_, ms) in known.items()}
    out.set_matches(matches, {})
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


def celebrity_recognition(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    """RecognizeCelebrities per face track: a track is the celebrity its best view's
    nearest celebrity face belongs to, at the identity floor (oculi.service.celebrities)."""
    s = ctx.settings
    celebrities = Celebrities(ctx.collections(), s.celebrity_collection, s.match_floor)

    def recognize(queries: list[np.ndarray]) -> tuple[str, Any] | None:
        best = None
        for query in queries:
            r = celebrities.identify(query)
            if r is not None and (best is None or r.match_confidence > best.match_confidence):
                best = r
        if best is None:
            return None
        c = best.celebrity
        facts: dict[str, Any] = {"Name": c.name, "Urls": list(c.urls), "Id": c.user_id}
        if c.known_gender is not None:
            facts["KnownGender"] = {"Type": c.known_gender}
        facts["Confidence"] = best.match_confidence
        return c.user_id, [facts]

    known = _face_tracks(ctx, frames, out, recognize)
    out.set_matches(
        {idx: facts for idx, (_, facts) in known.items()},
        {idx: name for idx, (name, _) in known.items()},
    )
    event = event_for(
        "CelebrityRecognitionJob",
        {"CollectionId": s.celebrity_collection},
        {"Celebrities": list(known)},
        None,
        None,
        None,
        out.job_id,
    )
    ids = sorted({name for name, _ in known.values()})
    ctx.audit().append({**event, "celebrity_ids": ids})


def segment_detection(
    ctx: ServiceContext,
    params: dict[str, Any],
    frames: Iterable[Frame],
    info: VideoInfo,
    out: Output,
) -> None:
    """Shots and black-frame runs (oculi.video.segments), on every frame (EVERY_FRAME)."""
    types = set(params["SegmentTypes"])
    filters = params.get("Filters") or {}
    shot_min = (filters.get("ShotFilter") or {}).get("MinSegmentConfidence", 50.0)
    cue = filters.get("TechnicalCueFilter") or {}
    cue_min = cue.get("MinSegmentConfidence", 50.0)
    black = cue.get("BlackFrame") or {}
    max_pixel = black.get("MaxPixelThreshold", seg.DEFAULT_MAX_PIXEL)
    coverage = black.get("MinCoveragePercentage", seg.DEFAULT_COVERAGE)
    fps = info.fps if info.fps > 0 else 25.0
    shots = 0

    def emit_shot(span: seg.Span) -> None:
        nonlocal shots
        if span.confidence >= shot_min:
            detail = {"Index": shots, "Confidence": span.confidence}
            body = seg.segment("SHOT", span, fps, detail)
            out.add(TIMESTAMPS, Row(body["StartTimestampMillis"], 0, "SHOT", body))
            shots += 1

    def emit_black(run: seg.Span, frames_in_run: int) -> None:
        confidence = run.confidence / frames_in_run
        if confidence >= cue_min:
            detail = {"Type": "BlackFrames", "Confidence": confidence}
            body = seg.segment("TECHNICAL_CUE", run, fps, detail)
            out.add(TIMESTAMPS, Row(body["StartTimestampMillis"], 1, "TECHNICAL_CUE", body))

    shot: seg.Span | None = None
    run: seg.Span | None = None
    signature: np.ndarray | None = None
    last = -1
    for frame in frames:
        i = frame.index
        if "SHOT" in types:
            now = shot_signature(frame.rgb)
            if shot is None or signature is None:
                shot = seg.Span(i, i, 100.0)
            elif (c := correlation(signature, now)) < CUT_CORRELATION:
                shot.end = last
                emit_shot(shot)
                shot = seg.Span(i, i, seg.cut_confidence(c))
            signature = now
        if "TECHNICAL_CUE" in types:
            share = seg.black_share(frame.rgb, max_pixel)
            if share >= coverage:
                if run is None:
                    run, in_run = seg.Span(i, i, 0.0), 0
                run.end, run.confidence, in_run = i, run.confidence + share, in_run + 1
            elif run is not None:
                emit_black(run, in_run)
                run = None
        last = i
    if shot is not None:
        shot.end = last
        emit_shot(shot)
    if run is not None:
        emit_black(run, in_run)


# Analyses that look at every frame, not OCULI_VIDEO_FPS of them a second.
EVERY_FRAME = frozenset({"SegmentDetection"})

ANALYSES: dict[str, Analysis] = {
    "FaceDetection": face_detection,
    "PersonTracking": person_tracking,
    "LabelDetection": label_detection,
    "FaceSearch": face_search,
    "TextDetection": text_detection,
    "ContentModeration": content_moderation,
    "SegmentDetection": segment_detection,
    "CelebrityRecognition": celebrity_recognition,
}
