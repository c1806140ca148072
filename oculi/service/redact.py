"""Redaction use cases: blur or pixelate faces in images and videos.

Which faces: all of them, all except members of a collection (people who consented to be
shown), or only the members. Keeping members visible is the risky direction (a false
match leaves a bystander unblurred), so it uses the operator's identity floor (default 99);
blurring only members uses the threshold given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from oculi.errors import InvalidParameter
from oculi.service.collections import Collections
from oculi.vision.faces import FaceAnalyzer, rescale, resize_for_detection
from oculi.vision.redact import Mode, redact
from oculi.vision.track import IouTracker
from oculi.vision.types import FaceDetections

Which = Literal["all", "except", "only"]


@dataclass(frozen=True)
class RedactOptions:
    mode: Mode = "blur"
    which: Which = "all"
    collection: str | None = None
    threshold: float = 99.0
    margin: float = 0.25
    detect_every: int = 1
    # Video frames are detected at most this many pixels a side: faster, and YuNet finds
    # faces in soft, upscaled footage better at this scale than at 1280 px (bench/redact.py).
    video_detect_side: int = 960

    def __post_init__(self) -> None:
        if self.which != "all" and not self.collection:
            raise InvalidParameter(f"faces={self.which} needs a collection")
        if self.detect_every < 1:
            raise InvalidParameter("detect_every must be at least 1")


@dataclass(frozen=True)
class VideoStats:
    frames: int
    seconds_of_video: float
    seconds_taken: float
    boxes_redacted: int
    tracks: int


def _members(collections: Collections | None, opts: RedactOptions, rgb: np.ndarray,
             faces: FaceDetections) -> np.ndarray:
    """Boolean per face: is it a member of opts.collection (match ≥ threshold)?"""
    if opts.which == "all" or not len(faces):
        return np.zeros(len(faces), bool)
    assert collections is not None and opts.collection is not None
    collections.describe(opts.collection)
    vecs = collections.embedder(rgb, faces)
    return np.array([bool(collections.search_vector(opts.collection, v, 1, opts.threshold))
                     for v in vecs])


def _select(members: np.ndarray, which: Which) -> np.ndarray:
    if which == "all":
        return np.ones(len(members), bool)
    return ~members if which == "except" else members


def redact_image(analyzer: FaceAnalyzer, collections: Collections | None, rgb: np.ndarray,
                 opts: RedactOptions) -> tuple[np.ndarray, int]:
    """The redacted image and the number of faces covered."""
    faces = analyzer.detect(rgb)
    chosen = faces.boxes[_select(_members(collections, opts, rgb, faces), opts.which)]
    return redact(rgb, chosen, opts.mode, opts.margin), len(chosen)


def redact_video(analyzer: FaceAnalyzer, collections: Collections | None, src: Path,
                 dst: Path, opts: RedactOptions,
                 progress: Callable[[int, int], None] | None = None) -> VideoStats:
    """Redact every frame of `src` into `dst` (MP4, same size and frame rate). Faces are
    tracked so that a frame where detection misses a face still covers it."""
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise InvalidParameter(f"cannot open video {src}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    writer: cv2.VideoWriter | None = None
    side = min(analyzer.max_side, opts.video_detect_side)
    tracker = IouTracker()
    decided: dict[int, bool] = {}  # track id -> redact?
    frames = boxes_out = 0
    started = time.perf_counter()
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = bgr.shape[:2]
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise InvalidParameter(f"cannot write video {dst}")
            if frames % opts.detect_every == 0:
                # Scale down in BGR, then turn the small copy to RGB: two full-frame
                # copies fewer per frame than converting first.
                small, factor = resize_for_detection(bgr, side, analyzer.min_side)
                faces = rescale(analyzer.detect(np.ascontiguousarray(small[:, :, ::-1])),
                                factor)
                tracks = tracker.update(faces.boxes)
                fresh = [t for t in tracks if t.detection >= 0 and t.track_id not in decided]
                if fresh:
                    seen = faces.take(np.array([t.detection for t in fresh]))
                    rgb = np.ascontiguousarray(bgr[:, :, ::-1]) if opts.which != "all" else bgr
                    flags = _select(_members(collections, opts, rgb, seen), opts.which)
                    decided.update((t.track_id, bool(f)) for t, f in zip(fresh, flags))
            else:
                tracks = tracker.predict()
            cover = [t.box for t in tracks if decided.get(t.track_id, opts.which != "only")]
            # Redaction does not care about channel order: cover the BGR frame directly.
            writer.write(redact(bgr, np.array(cover).reshape(-1, 4), opts.mode, opts.margin))
            frames += 1
            boxes_out += len(cover)
            if progress:
                progress(frames, total)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise InvalidParameter(f"{src} has no readable video frames")
    return VideoStats(frames=frames, seconds_of_video=frames / fps,
                      seconds_taken=time.perf_counter() - started, boxes_redacted=boxes_out,
                      tracks=tracker.tracks_started)
