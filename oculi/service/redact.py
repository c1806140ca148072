"""Redaction use cases: blur or pixelate faces in images and videos.

Which faces: all of them, all except members of a collection (people who consented to be
shown), or only the members. Keeping members visible is the risky direction (a false
match leaves a bystander unblurred), so it uses the operator's identity floor (default 99),
raised with the collection's size (oculi.service.match_floor); blurring only members uses
the threshold given.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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
# Redaction finds faces with both detectors unless told otherwise (`oculi redact
# --detector`): bench/redact.py leaves the fewest faces uncovered that way, in photos and
# in video.
REDACTION_DETECTOR = "yunet+retinaface"
PIPELINE_DEPTH = 4  # video frames read ahead, detected ahead, and queued for encoding


@dataclass(frozen=True)
class RedactOptions:
    mode: Mode = "blur"
    which: Which = "all"
    collection: str | None = None
    threshold: float = 99.0
    margin: float = 0.5
    # Faces are looked for at these scales of the photo (oculi.vision.pyramid: x2 finds the
    # small faces at the back of a crowd) and kept from this raw network score: a doubtful
    # face is covered rather than left visible (bench/crowd.py, docs/privacy.md).
    scales: tuple[float, ...] = (1.0, 2.0)
    min_score: float = 0.3
    # Also cover every person the person detector finds (a head turned away, a face too
    # small or blurred to be found).
    persons: bool = False
    # Video frames: the same score and margin, at scale 1 only by default (an x2 pass on
    # every frame ran about 10x slower: bench/redact.py --video-settings, docs/privacy.md).
    video_scales: tuple[float, ...] = (1.0,)
    detect_every: int = 1
    # Video frames are detected at most this many pixels a side: faster, and YuNet finds
    # faces in soft, upscaled footage better at this scale than at 1280 px (bench/redact.py).
    video_detect_side: int = 960

    def __post_init__(self) -> None:
        if self.which != "all" and not self.collection:
            raise InvalidParameter(f"faces={self.which} needs a collection")
        if self.detect_every < 1:
            raise InvalidParameter("detect_every must be at least 1")
        if not all(x and all(1.0 <= v <= 4.0 for v in x) for x in (self.scales, self.video_scales)):
            raise InvalidParameter("scales must lie between 1 and 4")
        if not 0.05 <= self.min_score <= 1.0:
            raise InvalidParameter("min_score must lie between 0.05 and 1")
        if not 0.0 <= self.margin <= 1.0:
            raise InvalidParameter("margin must lie between 0 and 1")
        if self.persons and self.which != "all":
            raise InvalidParameter("persons=1 covers everyone: it goes with faces=all only")

    def describe(self, video: bool = False) -> str:
        """The detection settings (of videos if `video`), as the x-oculi-redaction header
        reports them."""
        scales = ",".join(f"{x:g}" for x in (self.video_scales if video else self.scales))
        return f"scales={scales}; min_score={self.min_score:g}; margin={self.margin:g}"


@dataclass(frozen=True)
class VideoStats:
    frames: int
    seconds_of_video: float
    seconds_taken: float
    boxes_redacted: int
    tracks: int


def _members(
    collections: Collections | None, opts: RedactOptions, rgb: np.ndarray, faces: FaceDetections
) -> np.ndarray:
    """Boolean per face: is it a member of opts.collection (match ≥ threshold)?"""
    if opts.which == "all" or not len(faces):
        return np.zeros(len(faces), bool)
    assert collections is not None and opts.collection is not None
    collections.describe(opts.collection)
    vecs = collections.embedder(rgb, faces)
    sized = opts.which == "except"  # a false match leaves a bystander's face uncovered
    return np.array(
        [
            bool(collections.search_vector(opts.collection, v, 1, opts.threshold, sized=sized))
            for v in vecs
        ]
    )


def _select(members: np.ndarray, which: Which) -> np.ndarray:
    if which == "all":
        return np.ones(len(members), bool)
    return ~members if which == "except" else members


def find_faces(
    analyzer: FaceAnalyzer,
    rgb: np.ndarray,
    opts: RedactOptions,
    check: Callable[[], None] | None = None,
) -> FaceDetections:
    """The faces redaction covers: every detector of `analyzer`, down to `opts.min_score`,
    at each of `opts.scales`; `check` runs between the passes' tiles (a time budget)."""
    return analyzer.detect(rgb, scales=opts.scales, check=check, min_score=opts.min_score)


def redact_image(
    analyzer: FaceAnalyzer,
    collections: Collections | None,
    rgb: np.ndarray,
    opts: RedactOptions,
    check: Callable[[], None] | None = None,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The redacted image and the face boxes covered (x1 y1 x2 y2 pixels); `extra` boxes
    (persons) are covered too."""
    faces = find_faces(analyzer, rgb, opts, check)
    chosen = faces.boxes[_select(_members(collections, opts, rgb, faces), opts.which)]
    cover = chosen if extra is None else np.concatenate([chosen, extra.reshape(-1, 4)])
    return redact(rgb, cover, opts.mode, opts.margin), chosen


class VideoFaces:
    """Which face boxes to cover in each frame of a video, in order.

    Detection runs on every `opts.detect_every`-th frame (and on the last one); the frames
    between are held back until the next detection, then covered, track by track, with the
    box enclosing the track's boxes on the detected frames before and after them: a face
    moving between the two stays inside it, and a face first found on the later frame is
    covered on the held frames too. Each new track is decided once (member of the collection
    or not). Another source of boxes (plates) can sit beside it."""

    def __init__(
        self, analyzer: FaceAnalyzer, collections: Collections | None, opts: RedactOptions
    ) -> None:
        self.analyzer, self.collections, self.opts = (
            analyzer.lowered(opts.min_score),
            collections,
            opts,
        )
        self.side = min(analyzer.max_side, opts.video_detect_side)
        self.tracker = IouTracker()
        self.decided: dict[int, bool] = {}  # track id -> redact?
        self.held: list[np.ndarray] = []  # frames waiting for the next detection
        self.before: dict[int, np.ndarray] = {}  # track id -> box covered at the last one
        self.frames = 0

    def detects(self, index: int) -> bool:
        """Whether frame `index` (from 0) is one that detection runs on."""
        return index % self.opts.detect_every == 0

    def detect(self, bgr: np.ndarray) -> FaceDetections:
        """The faces in one BGR frame, in its pixels: no state, so frames can be detected
        ahead, several at once, in other threads."""
        # Scale down in BGR, then turn the small copy to RGB: two full-frame copies fewer
        # per frame than converting first.
        small, factor = resize_for_detection(bgr, self.side, self.analyzer.min_side)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        return rescale(self.analyzer.detect(rgb, scales=self.opts.video_scales), factor)

    def push(
        self, bgr: np.ndarray, found: FaceDetections | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Feed the next frame (with `detect(bgr)` when it was computed ahead); answer the
        frames whose boxes are now known, in order, each with its (N, 4) x1 y1 x2 y2 boxes
        to cover (none while a frame is held back)."""
        self.frames += 1
        if not self.detects(self.frames - 1):
            self.held.append(bgr)
            return []
        return self._release(bgr, self.detect(bgr) if found is None else found)

    def flush(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The frames still held at the end of the video, the last one detected."""
        if not self.held:
            return []
        last = self.held.pop()
        return self._release(last, self.detect(last))

    def _release(
        self, bgr: np.ndarray, faces: FaceDetections
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Track the detected frame `bgr`; answer the held frames and it, with their boxes."""
        after = self._cover(bgr, faces)
        between = _boxes(
            [_enclose(self.before.get(i), after.get(i)) for i in self.before.keys() | after.keys()]
        )
        ready = [(frame, between) for frame in self.held]
        ready.append((bgr, _boxes(list(after.values()))))
        self.held, self.before = [], after
        return ready

    def _cover(self, bgr: np.ndarray, faces: FaceDetections) -> dict[int, np.ndarray]:
        """Track this frame's faces; the boxes of the live tracks to cover, by track id."""
        opts = self.opts
        tracks = self.tracker.update(faces.boxes)
        fresh = [t for t in tracks if t.detection >= 0 and t.track_id not in self.decided]
        if fresh:
            seen = faces.take(np.array([t.detection for t in fresh]))
            rgb = np.ascontiguousarray(bgr[:, :, ::-1]) if opts.which != "all" else bgr
            flags = _select(_members(self.collections, opts, rgb, seen), opts.which)
            self.decided.update((t.track_id, bool(f)) for t, f in zip(fresh, flags))
        return {
            t.track_id: t.box for t in tracks if self.decided.get(t.track_id, opts.which != "only")
        }


def _enclose(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    """The box enclosing two x1 y1 x2 y2 boxes, either of which may be missing."""
    if a is None or b is None:
        box = a if b is None else b
        assert box is not None
        return box
    return np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])])


def _boxes(boxes: list[np.ndarray]) -> np.ndarray:
    return np.array(boxes, np.float32).reshape(-1, 4)


def redact_video(
    analyzer: FaceAnalyzer,
    collections: Collections | None,
    src: Path,
    dst: Path,
    opts: RedactOptions,
    progress: Callable[[int, int], None] | None = None,
    detectors: int = 1,
) -> VideoStats:
    """Redact every frame of `src` into `dst` (MP4, same size and frame rate). Faces are
    tracked so that a frame where detection misses a face still covers it.

    Decoding, detection, the choice of boxes (tracking, the collection check) and
    redaction + encoding run as a pipeline (OpenCV and onnxruntime release the GIL).
    Detection runs on up to `detectors` frames at once, ahead of tracking: with one
    inference thread per model in `analyzer` and one detector per core, this is faster
    than one detection at a time on all the cores (bench/redact.py, docs/privacy.md).
    Tracking takes the frames in order, so the boxes are the same either way."""
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise InvalidParameter(f"cannot open video {src}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    writer: cv2.VideoWriter | None = None
    faces = VideoFaces(analyzer, collections, opts)
    frames = boxes_out = 0
    started = time.perf_counter()

    def write(bgr: np.ndarray, cover: np.ndarray) -> None:
        assert writer is not None
        # Redaction does not care about channel order: cover the BGR frame directly.
        writer.write(redact(bgr, cover, opts.mode, opts.margin))

    writes: deque[Future[None]] = deque()

    def emit(bgr: np.ndarray, cover: np.ndarray) -> None:
        nonlocal frames, boxes_out
        writes.append(encoder.submit(write, bgr, cover))
        if len(writes) > PIPELINE_DEPTH:
            writes.popleft().result()
        frames += 1
        boxes_out += len(cover)
        if progress:
            progress(frames, total)

    # Frames read, each with its detection running ahead (None: a frame not detected).
    ahead: deque[tuple[np.ndarray, Future[FaceDetections] | None]] = deque()

    def track() -> None:
        bgr, found = ahead.popleft()
        for frame, cover in faces.push(bgr, None if found is None else found.result()):
            emit(frame, cover)

    try:
        with (
            ThreadPoolExecutor(1) as reader,
            ThreadPoolExecutor(detectors) as detector,
            ThreadPoolExecutor(1) as encoder,
        ):
            reads = deque(reader.submit(cap.read) for _ in range(PIPELINE_DEPTH))
            index = 0
            while True:
                ok, bgr = reads.popleft().result()
                if not ok:
                    break
                reads.append(reader.submit(cap.read))
                if writer is None:
                    h, w = bgr.shape[:2]
                    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                    if not writer.isOpened():
                        raise InvalidParameter(f"cannot write video {dst}")
                ahead.append(
                    (bgr, detector.submit(faces.detect, bgr) if faces.detects(index) else None)
                )
                index += 1
                if len(ahead) > PIPELINE_DEPTH:
                    track()
            while ahead:
                track()
            for frame, cover in faces.flush():
                emit(frame, cover)
            for pending in writes:
                pending.result()
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise InvalidParameter(f"{src} has no readable video frames")
    return VideoStats(
        frames=frames,
        seconds_of_video=frames / fps,
        seconds_taken=time.perf_counter() - started,
        boxes_redacted=boxes_out,
        tracks=faces.tracker.tracks_started,
    )
