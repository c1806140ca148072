"""RetinaFace decoding on synthetic network outputs (no model file needed)."""

from __future__ import annotations

import math

import numpy as np

from oculi.vision.face_confidence import RETINAFACE, calibrated
from oculi.vision.retinaface import RetinaFace, anchors, decode, preprocess

# A 64x64 input has 8x8, 4x4 and 2x2 cells at strides 8, 16 and 32, two anchors each.
N_64 = (64 + 16 + 4) * 2
# Stride 16, row 1, column 2, first size (64 px): centre (40, 24).
ANCHOR = 8 * 8 * 2 + (1 * 4 + 2) * 2


def background(n: int) -> dict[str, np.ndarray]:
    conf = np.zeros((1, n, 2), np.float32)
    conf[..., 0], conf[..., 1] = 0.99, 0.01
    return {
        "loc": np.zeros((1, n, 4), np.float32),
        "conf": conf,
        "landmarks": np.zeros((1, n, 10), np.float32),
    }


def one_face() -> dict[str, np.ndarray]:
    out = background(N_64)
    out["conf"][0, ANCHOR] = (0.05, 0.95)
    out["loc"][0, ANCHOR] = (0.5, -0.25, math.log(0.75) / 0.2, math.log(0.5) / 0.2)
    out["landmarks"][0, ANCHOR] = (-1, -0.5, 1, -0.5, 0, 0, -0.75, 1, 0.75, 1)
    return out


def test_anchor_layout() -> None:
    a = anchors(64, 64)
    assert a.shape == (N_64, 4)
    np.testing.assert_allclose(a[ANCHOR], (40, 24, 64, 64))
    np.testing.assert_allclose(a[ANCHOR + 1], (40, 24, 128, 128))
    np.testing.assert_allclose(a[0], (4, 4, 16, 16))
    np.testing.assert_allclose(a[1], (4, 4, 32, 32))
    np.testing.assert_allclose(a[-1], (48, 48, 512, 512))
    # Sizes that are not multiples of 32 get ceil(size / stride) cells per stride.
    assert len(anchors(33, 50)) == (5 * 7 + 3 * 4 + 2 * 2) * 2


def test_decode_one_anchor() -> None:
    faces = decode(one_face(), 64, 64, score_threshold=0.5)
    assert len(faces) == 1
    # Centre (40, 24) + (0.5, -0.25) * 0.1 * 64 = (43.2, 22.4); size 64 * (0.75, 0.5).
    # Keypoints: (40, 24) + offset * 0.1 * 64.
    np.testing.assert_allclose(faces.boxes[0], (19.2, 6.4, 67.2, 38.4), atol=1e-4)
    np.testing.assert_allclose(faces.scores, [0.95])
    expected = [(33.6, 20.8), (46.4, 20.8), (40.0, 24.0), (35.2, 30.4), (44.8, 30.4)]
    np.testing.assert_allclose(faces.keypoints[0], expected, atol=1e-4)
    assert faces.boxes.dtype == faces.scores.dtype == faces.keypoints.dtype == np.float32


def test_decode_below_threshold_is_empty() -> None:
    faces = decode(background(N_64), 64, 64, score_threshold=0.5)
    assert len(faces) == 0
    assert faces.boxes.shape == (0, 4) and faces.keypoints.shape == (0, 5, 2)
    assert len(decode(one_face(), 64, 64, score_threshold=0.96)) == 0


def test_detector_runs_nms_and_preprocess() -> None:
    out = one_face()
    # A weaker duplicate on the 128 px anchor of the same cell, decoded to the box
    # (18, 4, 70, 40) around the first one (IoU 0.82): suppressed by NMS.
    dup = ANCHOR + 1
    out["conf"][0, dup] = (0.2, 0.8)
    out["loc"][0, dup] = (4 / 12.8, -2 / 12.8, math.log(52 / 128) / 0.2, math.log(36 / 128) / 0.2)
    seen: list[np.ndarray] = []

    def model(x: np.ndarray) -> dict[str, np.ndarray]:
        seen.append(x)
        return out

    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200  # red
    faces = RetinaFace(model, score_threshold=0.6, nms_threshold=0.4)(rgb)
    # NMS ran on the raw scores; the face reports its calibrated confidence.
    assert len(faces) == 1 and faces.extra["raw_score"][0] == np.float32(0.95)
    assert faces.scores[0] == calibrated(np.float32([0.95]), RETINAFACE)[0]
    blob = seen[0]
    assert blob.shape == (1, 3, 64, 64) and blob.dtype == np.float32
    # BGR order, mean subtracted: blue 0 - 104, green 0 - 117, red 200 - 123.
    np.testing.assert_allclose(blob[0, :, 0, 0], (-104, -117, 77))
    assert preprocess(np.zeros((33, 50, 3), np.uint8)).shape == (1, 3, 33, 50)
