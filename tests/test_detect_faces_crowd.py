"""DetectFaces in crowds, through boto3: the small faces of a crowd are found by the crowd
search (FaceAnalyzer.detect_in_crowds), and ordinary photos get the single pass's answer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from oculi.models.zoo import load_face_analyzer
from oculi.vision.decode import decode
from oculi.vision.faces import CROWD_SEARCH, FaceAnalyzer
from oculi.vision.nms import iou_matrix
from oculi.vision.types import FaceDetections
from tests.conftest import fixture_bytes
from tests.crowd_mosaic import crowd

# One or two large faces each: the crowd search must leave their answer as it was.
ORDINARY = ("two_people.jpg", "obama-480p.jpg", "people/test/kit_with_rose.jpg")


@pytest.fixture(scope="module")
def single() -> FaceAnalyzer:
    """DetectFaces' single pass as before the crowd search (the server's default YuNet)."""
    return load_face_analyzer(detector="yunet", threads=2)


def boxes_of(response: dict, width: int, height: int) -> np.ndarray:
    """DetectFaces' boxes in pixels, x1 y1 x2 y2."""
    out = [
        [
            b["Left"] * width,
            b["Top"] * height,
            (b["Left"] + b["Width"]) * width,
            (b["Top"] + b["Height"]) * height,
        ]
        for b in (f["BoundingBox"] for f in response["FaceDetails"])
    ]
    return np.array(out, np.float32).reshape(-1, 4)


def found(labelled: np.ndarray, boxes: np.ndarray) -> int:
    """Labelled faces with a box at IoU >= 0.5 (bench/crowd.py's criterion)."""
    return int((iou_matrix(labelled, boxes).max(axis=1, initial=0) >= 0.5).sum())


def test_small_faces_of_a_crowd_are_found(client, single) -> None:
    # 12 group photos scaled by 1/3: 81 hand-labelled faces 12-18 pixels high.
    rgb, labelled = crowd(columns=4, rows=3)
    ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    h, w = rgb.shape[:2]
    boxes = boxes_of(client.detect_faces(Image={"Bytes": png.tobytes()}), w, h)
    before = single.detect(rgb).boxes
    assert found(labelled, boxes) >= 0.9 * len(labelled), found(labelled, boxes)
    assert found(labelled, boxes) >= found(labelled, before) + 5, found(labelled, before)
    # Few boxes where no face is labelled (the photos have some unlabelled faces, in the
    # background and on posters, that count here too).
    unlabelled = (iou_matrix(boxes, labelled).max(axis=1, initial=0) < 0.3).sum()
    assert unlabelled <= 6, unlabelled
    assert len(boxes) <= 100


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_photos_keep_the_single_pass(client, single, name) -> None:
    data = fixture_bytes(name)
    rgb = decode(data).rgb
    h, w = rgb.shape[:2]
    before = single.detect(rgb)
    assert 1 <= len(before) <= 2
    assert not CROWD_SEARCH.needed(before, 1.0)  # large faces: no second look
    boxes = boxes_of(client.detect_faces(Image={"Bytes": data}), w, h)
    assert len(boxes) == len(before)
    assert np.abs(boxes - before.boxes).max() < 1.0


def test_tiny_faces_need_a_higher_score() -> None:
    faces = FaceDetections(
        boxes=np.array([[0, 0, 10, 12], [0, 0, 10, 12], [0, 0, 20, 20]], np.float32),
        scores=np.array([0.9, 0.9, 0.4], np.float32),
        keypoints=np.zeros((3, 5, 2), np.float32),
        extra={"raw_score": np.array([0.8, 0.6, 0.5], np.float32)},
    )
    kept = CROWD_SEARCH.kept(faces, 1.0)
    assert kept.extra["raw_score"].tolist() == pytest.approx([0.8, 0.5])
    # Heights are judged in the image sized for detection: 12 px seen at 2x are 24 px.
    assert len(CROWD_SEARCH.kept(faces, 2.0)) == 3
    assert CROWD_SEARCH.needed(faces, 1.0) and not CROWD_SEARCH.needed(faces, 4.0)
