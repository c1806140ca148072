"""The live view's latest frame (oculi.streams.liveview): downscaled, encoded on request,
replaced by the next; a FaceSearch frame's faces named after their best match."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import FIXTURES

from oculi.streams.liveview import MAX_WIDTH, LatestFrame, face_boxes


def test_the_latest_frame_is_downscaled_and_replaced() -> None:
    rgb = cv2.cvtColor(cv2.imread(str(FIXTURES / "two_people.jpg")), cv2.COLOR_BGR2RGB)
    latest = LatestFrame()
    assert latest.get() is None
    box = {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}
    latest.put(rgb, 1500, [{"Label": "PERSON", "Confidence": 90.0, "BoundingBox": box}])
    jpeg, meta = latest.get() or (b"", {})
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == meta["Width"] == MAX_WIDTH
    assert image.shape[0] == meta["Height"] == round(rgb.shape[0] * MAX_WIDTH / rgb.shape[1])
    assert meta["PositionMs"] == 1500 and meta["Detections"][0]["BoundingBox"] == box
    assert (latest.get() or (b"", {}))[0] is jpeg  # encoded once a frame
    small = rgb[:100, :200]
    latest.put(small, 2000, [])
    jpeg, meta = latest.get() or (b"", {})
    assert (meta["Width"], meta["Height"], meta["PositionMs"]) == (200, 100, 2000)
    assert meta["Detections"] == []


def test_faces_are_named_after_their_best_match() -> None:
    box = {"Left": 0.1, "Top": 0.1, "Width": 0.2, "Height": 0.2}
    faces = [
        {
            "DetectedFace": {"BoundingBox": box, "Confidence": 99.0},
            "MatchedFaces": [
                {"Similarity": 97.5, "Face": {"FaceId": "f1", "ExternalImageId": "ana"}},
                {"Similarity": 91.0, "Face": {"FaceId": "f2"}},
            ],
        },
        {"DetectedFace": {"BoundingBox": box, "Confidence": 95.0}, "MatchedFaces": []},
    ]
    named, unknown = face_boxes(faces)
    assert (named["Label"], named["Name"], named["Similarity"]) == ("FACE", "ana", 97.5)
    assert unknown["Label"] == "FACE" and "Name" not in unknown
