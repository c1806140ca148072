"""A small IoU tracker that keeps boxes alive through frames where detection misses them.

Each detection is matched greedily (highest IoU first) to an existing track; unmatched
tracks coast at their last velocity for up to `max_missed` frames. Redaction uses every
live track, so a face the detector misses for a few frames stays covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oculi.vision.nms import greedy_match


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    missed: int = 0
    hits: int = 1
    detection: int = -1  # index of this frame's detection it matched, -1 when coasting


@dataclass
class IouTracker:
    iou_threshold: float = 0.2
    max_missed: int = 15
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, boxes: np.ndarray) -> list[Track]:
        """Feed one frame's detections (N, 4); return the live tracks (matched or coasting)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.predict()
        for t in self.tracks:
            t.detection = -1
        matched_t: set[int] = set()
        matched_d: set[int] = set()
        if self.tracks:
            for ti, di in greedy_match(
                np.stack([t.box for t in self.tracks]), boxes, self.iou_threshold
            ):
                t = self.tracks[ti]
                t.velocity = 0.5 * t.velocity + 0.5 * (boxes[di] - (t.box - t.velocity))
                t.box, t.missed, t.hits = boxes[di].copy(), 0, t.hits + 1
                t.detection = di
                matched_t.add(ti)
                matched_d.add(di)
        for ti, t in enumerate(self.tracks):
            if ti not in matched_t:
                t.missed += 1
                t.velocity *= 0.5
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for di in range(len(boxes)):
            if di not in matched_d:
                self.tracks.append(Track(self._next_id, boxes[di].copy(), detection=di))
                self._next_id += 1
        return list(self.tracks)

    def predict(self) -> list[Track]:
        """Move every track by its velocity (a frame without detection, not a miss)."""
        for t in self.tracks:
            t.box = t.box + t.velocity
        return list(self.tracks)

    @property
    def tracks_started(self) -> int:
        return self._next_id - 1
