"""A two-stage IoU tracker for video analysis (ByteTrack's association, without its Kalman
filter): confident detections are matched to the tracks first; tracks left over are then
matched to the less confident detections, so that a person the detector is unsure of for
a few frames keeps their track instead of starting a new one. A track is confirmed on its
second detection (a lone false detection never gets an index) and ends after `max_missed`
frames without one. Pure numpy; boxes are x1 y1 x2 y2 pixels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oculi.vision.nms import greedy_match


@dataclass
class Tracklet:
    track_id: int
    box: np.ndarray  # where it is expected in this frame
    last: np.ndarray  # where it was last detected
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    missed: int = 0
    hits: int = 1
    detection: int = -1  # this frame's detection it matched, -1 when it found none

    @property
    def confirmed(self) -> bool:
        return self.hits >= 2


@dataclass
class TwoStageTracker:
    high: float = 0.5  # a detection at least this confident may start a track
    low: float = 0.2  # less confident ones only continue tracks
    iou_high: float = 0.2
    iou_low: float = 0.3
    max_missed: int = 10
    tracks: list[Tracklet] = field(default_factory=list)
    _next_id: int = 1

    def reset(self) -> None:
        """End every track (a shot cut); ids keep counting up."""
        self.tracks = []

    def _match(
        self, tracks: list[Tracklet], boxes: np.ndarray, pick: np.ndarray, iou: float
    ) -> set[int]:
        """Match `tracks` to the detections `pick` (indices into `boxes`); return the
        detections used."""
        if not tracks or not len(pick):
            return set()
        used = set()
        for ti, k in greedy_match(np.stack([t.box for t in tracks]), boxes[pick], iou):
            t, di = tracks[ti], int(pick[k])
            step = (boxes[di] - t.last) / (t.missed + 1)
            t.velocity = 0.5 * t.velocity + 0.5 * step
            t.box, t.last = boxes[di].copy(), boxes[di].copy()
            t.missed, t.hits, t.detection = 0, t.hits + 1, di
            used.add(di)
        return used

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> list[Tracklet]:
        """One frame's detections (N, 4) and scores (N,); the tracks that matched one
        (confirmed or not: see Tracklet.confirmed), each with its `detection`."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        for t in self.tracks:
            t.box = t.box + t.velocity
            t.detection = -1
        high = np.nonzero(scores >= self.high)[0]
        low = np.nonzero((scores >= self.low) & (scores < self.high))[0]
        used = self._match(self.tracks, boxes, high, self.iou_high)
        left = [t for t in self.tracks if t.detection < 0]
        used |= self._match(left, boxes, low, self.iou_low)
        kept = []
        for t in self.tracks:
            if t.detection < 0:
                t.missed += 1
                t.velocity = t.velocity * 0.5
                if not t.confirmed or t.missed > self.max_missed:
                    continue
            kept.append(t)
        for di in high:
            if int(di) not in used:
                box = boxes[di].copy()
                kept.append(Tracklet(self._next_id, box, box.copy(), detection=int(di)))
                self._next_id += 1
        self.tracks = kept
        return [t for t in self.tracks if t.detection >= 0]
