"""Motion gating: analyse a live frame only when it differs enough from the last analysed
one (or when the scene has been still for a while), so that still scenes cost next to
nothing and more streams fit on one machine.

The comparison is on a small blurred grey copy (160 x 90), so sensor noise and compression
artefacts do not count as motion: a pixel counts as changed when its grey level moved by
more than `pixel_delta`, and the frame is analysed when more than `min_changed` of the
pixels changed.
"""

from __future__ import annotations

import cv2
import numpy as np

_SIZE = (160, 90)


def _small_grey(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(cv2.resize(rgb, _SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return cv2.GaussianBlur(grey, (5, 5), 0)


class MotionGate:
    """`should_analyse(rgb, position_ms)` is True for the first frame, for a frame whose
    changed share of pixels (against the last analysed frame) is over `min_changed`, and at
    least every `max_still_ms` of stream time; the last analysed frame is kept as the
    reference only when True, so a slow change adds up until it is analysed."""

    def __init__(
        self, *, min_changed: float = 0.01, pixel_delta: int = 20, max_still_ms: int = 5000
    ) -> None:
        self.min_changed = min_changed
        self.pixel_delta = pixel_delta
        self.max_still_ms = max_still_ms
        self._reference: np.ndarray | None = None
        self._reference_ms = 0

    def _changed(self, small: np.ndarray) -> float:
        if self._reference is None:
            return 1.0
        diff = cv2.absdiff(small, self._reference)
        return float(np.count_nonzero(diff > self.pixel_delta)) / diff.size

    def changed_share(self, rgb: np.ndarray) -> float:
        """The share of pixels changed since the last analysed frame (1.0 before the first)."""
        return self._changed(_small_grey(rgb))

    def should_analyse(self, rgb: np.ndarray, position_ms: int) -> bool:
        small = _small_grey(rgb)
        still_for = position_ms - self._reference_ms
        if self._changed(small) <= self.min_changed and still_for < self.max_still_ms:
            return False
        self._reference = small
        self._reference_ms = position_ms
        return True
