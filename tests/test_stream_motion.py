"""Motion gating (oculi/streams/motion.py) on the real clip's frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from oculi.streams.motion import MotionGate
from tests.stream_servers import CLIP


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(CLIP))
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


def _jpeg_again(rgb: np.ndarray, quality: int) -> np.ndarray:
    data = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def test_still_scene_is_skipped_and_change_is_analysed(frames: list[np.ndarray]) -> None:
    gate = MotionGate()
    first = frames[0]
    assert gate.should_analyse(first, 0)
    # the same picture through lossy compression again: noise, not motion
    assert not gate.should_analyse(_jpeg_again(first, 50), 200)
    assert gate.changed_share(_jpeg_again(first, 50)) < 0.002
    # an object the size of a person far off (60 x 60 px of 640 x 360) comes in
    moved = first.copy()
    moved[150:210, 300:360] = 255 - moved[150:210, 300:360]
    assert gate.should_analyse(moved, 400)
    # the cut to the audience (frame 220)
    assert gate.should_analyse(frames[220], 600)
    # a scene still for max_still_ms is analysed again all the same
    assert not gate.should_analyse(frames[220], 5000)
    assert gate.should_analyse(frames[220], 5600)


def test_slow_change_adds_up_against_the_last_analysed_frame(frames: list[np.ndarray]) -> None:
    """Each step alone is under the threshold; against the last analysed frame they add up."""
    gate = MotionGate(max_still_ms=10**9)
    base = frames[0].copy()
    assert gate.should_analyse(base, 0)
    analysed = []
    for step in range(1, 13):  # an inverted band growing 4 px a step
        shifted = base.copy()
        band = shifted[100 : 100 + 4 * step, 200:330]
        shifted[100 : 100 + 4 * step, 200:330] = 255 - band
        analysed.append(gate.should_analyse(shifted, step * 200))
    assert not analysed[0] and any(analysed)
