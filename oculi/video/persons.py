"""Persons in analysed video frames, for person tracking: the SSDLite person detector, run
tiled (the whole frame and four overlapping crops, as DetectLabels runs it) only where a
frame needs it, and the faces of the persons found.

Tiling finds the people too small for the detector's 300 x 300 view of the whole frame, at
five runs a frame. In a video the tracker knows where people are: a frame is tiled in
full once every KEY_S seconds of video, on its first frame and after a shot cut (key
frames); in between, the whole frame is seen, and a tile only where a track (a person
seen before, confirmed or not) expects its person and is small enough for a tile. A
person too small for the whole view who enters between key frames is found at the next
key frame, at most KEY_S late. bench/video.py measures what this loses against tiling every
frame (docs/video.md: on the held-out half of vtest.avi's crowd of small pedestrians 4.2
views a frame and 99.4% of the tracked rows kept; on the 720p performance clip 1.71 views
a frame and every row kept).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import cv2
import numpy as np

from oculi.api.face_detail import face_details
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import FaceResult
from oculi.service.labels import PERSON, shared_label_detectors
from oculi.video.tracks import face_in_person
from oculi.vision.faces import MAX_FACES
from oculi.vision.labels import SCORE_FLOOR, Candidates, Objects, tiles

# Person detections at least this confident are reported (and continue a track).
PERSON_MIN_SCORE = 0.1
# Every view is run at least once per KEY_S seconds of video.
KEY_S = 2.0
# Between key frames, a frame is still, and its persons are those of the last frame the
# detector saw, when less than MOTION_SHARE of its pixels changed by more than MOTION_LEVEL
# grey levels since that frame (on a blurred grey copy MOTION_WIDTH pixels wide).
MOTION_WIDTH = 160
MOTION_LEVEL = 24
MOTION_SHARE = 0.0003
# Faces are looked for this share of a person box's height around its upper half.
FACE_MARGIN = 0.25


class ViewDetector(Protocol):
    """oculi.vision.labels.ObjectDetector's views: the whole image (0) and its tiles."""

    names: tuple[str, ...]

    def view(self, rgb: np.ndarray, k: int, score_floor: float = SCORE_FLOOR) -> Candidates: ...

    def fused(self, views: list[Candidates]) -> Objects: ...


def tile_for(box: np.ndarray, grid: list[tuple[int, int, int, int]]) -> int:
    """The tile (index into `grid`, from 1) that holds `box` whole with its centre nearest
    the box's, or 0 when none does (a box too large for any tile: the whole view's)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    best, best_d = 0, math.inf
    for k, (tx0, ty0, tx1, ty1) in enumerate(grid[1:], start=1):
        if tx0 <= x1 and ty0 <= y1 and x2 <= tx1 and y2 <= ty1:
            d = math.hypot((tx0 + tx1) / 2 - cx, (ty0 + ty1) / 2 - cy)
            if d < best_d:
                best, best_d = k, d
    return best


def tiles_needed(expected: np.ndarray, grid: list[tuple[int, int, int, int]]) -> list[int]:
    """The tiles (indexes into `grid`) that hold the tracks expected at `expected` (N, 4):
    those small enough for a tile (`tile_for`)."""
    boxes = np.asarray(expected, np.float32).reshape(-1, 4)
    return sorted({tile_for(box, grid) for box in boxes} - {0})


def motion_copy(rgb: np.ndarray) -> np.ndarray:
    """The small blurred grey copy of a frame that `moved` compares."""
    h, w = rgb.shape[:2]
    size = (MOTION_WIDTH, max(1, round(h * MOTION_WIDTH / w)))
    grey = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return cv2.GaussianBlur(grey, (3, 3), 0)


def moved(before: np.ndarray, after: np.ndarray) -> bool:
    """Whether anything moved between two `motion_copy`s."""
    changed = cv2.absdiff(before, after) > MOTION_LEVEL
    return float(changed.mean()) >= MOTION_SHARE


class PersonFinder:
    """Person boxes (N, 4) pixels and scores (N,) of each analysed frame of one video, at
    PERSON_MIN_SCORE or more, tiling as the module says; between key frames a still frame
    (`moved`) gets the last frame's persons again, and `fresh` is False. `views_run` counts
    detector runs. `key_s` 0 runs every view on every frame; `gate` False detects in still
    frames too."""

    def __init__(
        self, detector: ViewDetector, rate: float, key_s: float = KEY_S, gate: bool = True
    ) -> None:
        self.detector = detector
        self.person = detector.names.index(PERSON)
        self.key_every = max(1, math.ceil(key_s * rate))
        self.since_key = 0
        self.views_run = 0
        self.gate = gate
        self.fresh = True
        self.seen: np.ndarray | None = None  # motion_copy of the last frame detected in
        self.last: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 4), np.float32), np.zeros(0))

    @classmethod
    def of(cls, ctx: ServiceContext, rate: float) -> PersonFinder:
        s = ctx.settings
        return cls(shared_label_detectors(s.model_dir, ctx.threads, s.device).persons, rate)

    def __call__(
        self, rgb: np.ndarray, expected: np.ndarray, cut: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """This frame's persons; `expected` the boxes where the live tracks expect their
        person in it, `cut` whether it starts a new shot."""
        h, w = rgb.shape[:2]
        grid = tiles(w, h)
        key = cut or self.since_key % self.key_every == 0
        self.since_key = 1 if key else self.since_key + 1
        now = motion_copy(rgb) if self.gate and self.key_every > 1 else None
        self.fresh = key or self.seen is None or now is None or moved(self.seen, now)
        if not self.fresh:
            return self.last
        self.seen = now
        run = range(len(grid)) if key else [0, *tiles_needed(expected, grid)]
        parts = [self.detector.view(rgb, k) for k in run]
        self.views_run += len(parts)
        found = self.detector.fused(parts)
        keep = (found.classes == self.person) & (found.scores >= PERSON_MIN_SCORE)
        self.last = found.boxes[keep], found.scores[keep]
        return self.last


def face_region(persons: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The rectangle (x0 y0 x1 y1 pixels) around the upper halves of the person boxes
    (N >= 1, 4), widened by FACE_MARGIN of each box's height: every face whose centre is
    in an upper half (face_in_person) lies in it whole, unless larger than the margin."""
    b = np.asarray(persons, np.float32).reshape(-1, 4)
    m = FACE_MARGIN * (b[:, 3] - b[:, 1])
    x0, y0 = np.min(b[:, 0] - m), np.min(b[:, 1] - m)
    x1, y1 = np.max(b[:, 2] + m), np.max((b[:, 1] + b[:, 3]) / 2 + m)
    return (
        max(0, int(x0)),
        max(0, int(y0)),
        min(width, int(math.ceil(x1))),
        min(height, int(math.ceil(y1))),
    )


def person_faces(
    ctx: ServiceContext, rgb: np.ndarray, persons: np.ndarray
) -> list[dict[str, Any] | None]:
    """For each person box (N, 4), the FaceDetail (DEFAULT attributes) of the largest face
    whose centre is in the upper half of the box, or None. Faces are looked for around the
    persons' upper halves only (`face_region`), at the scale the whole frame would be
    seen at, and only the faces chosen get their mesh, pose and quality."""
    if not len(persons):
        return []
    h, w = rgb.shape[:2]
    analyzer = ctx.face_analyzer()
    faces = analyzer.detect_in(rgb, face_region(persons, w, h))
    faces = faces.take(np.arange(min(len(faces), MAX_FACES)))
    which = [face_in_person(box, faces.boxes) for box in persons]
    chosen = sorted({f for f in which if f >= 0})
    if not chosen:
        return [None] * len(which)
    described = analyzer.describe(rgb, faces.take(np.asarray(chosen)))
    details = face_details(FaceResult(described, w, h, frozenset({"DEFAULT"})))
    at = {f: details[i] for i, f in enumerate(chosen)}
    return [at.get(f) for f in which]


class PersonFaces:
    """`person_faces` for the detections of a PersonFinder's frames: on a still frame (the
    finder's persons given again), the faces found for the same detections are too."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.known: dict[int, dict[str, Any] | None] = {}

    def __call__(
        self, rgb: np.ndarray, boxes: np.ndarray, detections: list[int], fresh: bool
    ) -> list[dict[str, Any] | None]:
        """The face of each of `detections` (indexes into `boxes`, this frame's persons)."""
        if fresh:
            self.known = {}
        need = [d for d in detections if d not in self.known]
        if need:
            self.known.update(zip(need, person_faces(self.ctx, rgb, boxes[need])))
        return [self.known[d] for d in detections]
