"""Track bookkeeping for video: Rekognition's person indexes, faces inside person boxes,
the best views of a face track kept for search, and label segments. Pure functions and
small state holders; the tracker itself is oculi.vision.track.IouTracker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Indexes:
    """Tracker ids -> Person.Index, numbered from 0 in order of first appearance."""

    _of: dict[int, int] = field(default_factory=dict)

    def __call__(self, track_id: int) -> int:
        return self._of.setdefault(track_id, len(self._of))

    def __len__(self) -> int:
        return len(self._of)


def face_in_person(person: np.ndarray, faces: np.ndarray) -> int:
    """The index of the largest face whose centre lies in the upper half of the person box
    (x1 y1 x2 y2 pixels), or -1."""
    best, best_area = -1, 0.0
    x1, y1, x2, y2 = (float(v) for v in person)
    for i, (fx1, fy1, fx2, fy2) in enumerate(np.asarray(faces, np.float32).reshape(-1, 4)):
        cx, cy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
        area = float((fx2 - fx1) * (fy2 - fy1))
        if x1 <= cx <= x2 and y1 <= cy <= (y1 + y2) / 2 and area > best_area:
            best, best_area = i, area
    return best


def view_quality(score: float, width_px: float, yaw: float, sharpness: float) -> float:
    """How good a face view is to search with: confident, large (up to 112 px, the
    embedder's input), frontal and sharp views first."""
    size = min(1.0, width_px / 112.0)
    frontal = max(0.0, float(np.cos(np.radians(min(abs(yaw), 90.0)))))
    return score * size * frontal * (0.5 + sharpness / 200.0)


@dataclass
class View:
    quality: float
    crop: np.ndarray  # RGB around the face
    keypoints: np.ndarray  # (5, 2) in the crop's pixels


def crop_view(rgb: np.ndarray, box: np.ndarray, keypoints: np.ndarray, quality: float) -> View:
    """The face's surroundings (its box widened by its size each way), copied, with the
    keypoints moved into the crop; enough for the embedder's alignment."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    cx1, cy1 = max(0, int(x1 - bw)), max(0, int(y1 - bh))
    cx2, cy2 = min(w, int(x2 + bw) + 1), min(h, int(y2 + bh) + 1)
    crop = np.ascontiguousarray(rgb[cy1:cy2, cx1:cx2])
    return View(quality, crop, np.asarray(keypoints, np.float32) - np.float32([cx1, cy1]))


@dataclass
class BestViews:
    """The `keep` best views of each track."""

    keep: int = 3
    views: dict[int, list[View]] = field(default_factory=dict)

    def worth(self, idx: int, quality: float) -> bool:
        kept = self.views.get(idx, [])
        return len(kept) < self.keep or quality > kept[-1].quality

    def offer(self, idx: int, view: View) -> None:
        kept = self.views.setdefault(idx, [])
        kept.append(view)
        kept.sort(key=lambda v: -v.quality)
        del kept[self.keep :]

    def pop(self, idx: int) -> list[View]:
        return self.views.pop(idx, [])


@dataclass
class Segment:
    start: int
    last: int
    label: dict[str, Any]


@dataclass
class Segments:
    """Label segments: a label seen at timestamps no more than `gap_ms` apart is one
    segment, reported with the highest confidence seen in it."""

    gap_ms: int
    open: dict[str, Segment] = field(default_factory=dict)

    def see(self, ts: int, label: dict[str, Any]) -> list[Segment]:
        """Record a label at `ts`; return the segment of the same name it closed, if any."""
        name = label["Name"]
        seg = self.open.get(name)
        closed = []
        if seg is not None and ts - seg.last > self.gap_ms:
            closed.append(self.open.pop(name))
            seg = None
        if seg is None:
            self.open[name] = Segment(ts, ts, label)
        else:
            seg.last = ts
            if label["Confidence"] > seg.label["Confidence"]:
                seg.label = label
        return closed

    def close_before(self, ts: int) -> list[Segment]:
        """Close the segments last seen more than `gap_ms` before `ts`."""
        done = [n for n, s in self.open.items() if ts - s.last > self.gap_ms]
        return [self.open.pop(n) for n in done]

    def close_all(self) -> list[Segment]:
        done = list(self.open.values())
        self.open.clear()
        return done


# Consecutive sampled frames whose colour histograms correlate less than this are a shot
# cut: on tests/fixtures/video/short_hamilton_clip.mp4 its three cuts measure 0.36-0.62 and
# every other pair 0.88 or more, at 2 and at 5 analysed frames a second; frame by frame the
# cuts measure 0.42-0.68 and every other pair 0.9 or more (a thin margin on the first cut,
# measured on this one clip only).
CUT_CORRELATION = 0.7


def shot_signature(rgb: np.ndarray) -> np.ndarray:
    """A frame's hue-saturation histogram (16 x 8 bins, normalised), from a 64 x 36 copy."""
    import cv2

    small = cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, None).flatten()


def correlation(before: np.ndarray, after: np.ndarray) -> float:
    """How alike two frames' signatures are: 1 the same colours, 0 or less unrelated."""
    import cv2

    return float(cv2.compareHist(before, after, cv2.HISTCMP_CORREL))


def is_cut(before: np.ndarray | None, after: np.ndarray) -> bool:
    """Whether two frames' signatures are on either side of a shot cut."""
    return before is not None and correlation(before, after) < CUT_CORRELATION
