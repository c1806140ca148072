"""DetectFaces on faces that fill the whole image: a face cut out of a photo and sent
large (a close-up), or small and grey as FER-2013's crops are. The detector alone misses
some of these and breaks others into pieces; the analyzer looks again with a grey border
around the image (PAD_RETRY, oculi.vision.close_ups).

The crops are cut here from real photos in tests/fixtures (see ATTRIBUTION.md), forehead
to chin around the face's mesh, as a user cutting a face out of a photo would.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from oculi.models.zoo import load_face_analyzer
from oculi.vision.attributes import ATTRIBUTES
from oculi.vision.attributes.align import CHIN, FOREHEAD
from oculi.vision.close_ups import looks_broken, whole_faces
from oculi.vision.decode import decode
from oculi.vision.faces import FaceAnalyzer
from oculi.vision.types import FaceDetections

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return load_face_analyzer()


def cut_face(analyzer: FaceAnalyzer, name: str, x: float) -> np.ndarray:
    """The square from forehead top to chin of the face whose box starts nearest `x`."""
    rgb = decode((FIXTURES / name).read_bytes()).rgb
    faces = analyzer.analyze(rgb)
    mesh = faces.mesh[int(np.argmin(np.abs(faces.boxes[:, 0] - x)))]
    top, chin = mesh[FOREHEAD, :2], mesh[CHIN, :2]
    half = float(np.linalg.norm(chin - top)) / 2.0
    x0, y0 = np.maximum(np.round((top + chin) / 2.0 - half), 0).astype(int)
    x1, y1 = np.round((top + chin) / 2.0 + half).astype(int)
    return rgb[y0:y1, x0:x1]


def png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def test_close_up_that_fills_the_frame_is_one_face_with_attributes(analyzer, client) -> None:
    # rose_leslie/img2.jpg: Rose Leslie, a woman of about 30, her face cut from forehead to
    # chin and sent at 1000 x 1000 px.
    crop = cut_face(analyzer, "people/train/rose_leslie/img2.jpg", 168)
    data = png(cv2.resize(crop, (1000, 1000), interpolation=cv2.INTER_CUBIC))
    assert not len(analyzer.detect(decode(data).rgb))  # the detector alone misses it
    details = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]
    assert len(details) == 1
    face = details[0]
    assert face["BoundingBox"]["Width"] > 0.7 and face["BoundingBox"]["Height"] > 0.7
    assert set(ATTRIBUTES) <= set(face)
    assert face["Gender"]["Value"] == "Female"
    assert face["AgeRange"]["Low"] <= 30 <= face["AgeRange"]["High"]
    assert len(face["Emotions"]) == 7


@pytest.mark.parametrize(
    ("name", "x", "gender"),
    [
        ("people/test/kit_with_rose.jpg", 259, "Male"),  # Kit Harington
        ("people/train/obama/obama2.jpg", 195, "Male"),  # Barack Obama
        ("people/train/biden/biden2.jpg", 411, "Male"),  # Joe Biden
    ],
)
def test_close_up_is_one_face_not_its_pieces(analyzer, client, name, x, gender) -> None:
    # On these close-ups the detector alone returns two or three boxes, each a part of the
    # one face (upper half, lower two thirds); DetectFaces answers the one face.
    crop = cut_face(analyzer, name, x)
    data = png(cv2.resize(crop, (1000, 1000), interpolation=cv2.INTER_CUBIC))
    assert len(analyzer.detect(decode(data).rgb)) > 1
    details = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]
    assert len(details) == 1
    assert details[0]["Gender"]["Value"] == gender
    assert details[0]["BoundingBox"]["Height"] > 0.5


def test_small_grey_crop_of_a_child_is_found(analyzer, client) -> None:
    # obama_and_biden.jpg: the girl of about 6 (right), cut forehead to chin, made grey
    # 48 x 48 (FER-2013's crops) and upscaled 4x as a user would send it.
    crop = cut_face(analyzer, "people/test/obama_and_biden.jpg", 1626)
    grey = cv2.resize(
        cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA
    )
    big = cv2.resize(grey, (192, 192), interpolation=cv2.INTER_CUBIC)
    data = png(cv2.cvtColor(big, cv2.COLOR_GRAY2RGB))
    assert not len(analyzer.detect(decode(data).rgb))
    details = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]
    assert len(details) == 1
    assert details[0]["AgeRange"]["Low"] <= 6


@pytest.mark.parametrize("name", ["labels/dog.jpg", "labels/giraffe.jpg", "labels/kite.jpg"])
def test_the_second_look_finds_no_face_where_there_is_none(analyzer, name) -> None:
    rgb = decode((FIXTURES / name).read_bytes()).rgb
    assert not len(analyzer.analyze(rgb))


def boxes(*rows: tuple[float, float, float, float]) -> FaceDetections:
    n = len(rows)
    return FaceDetections(
        boxes=np.array(rows, np.float32).reshape(n, 4),
        scores=np.full(n, 0.9, np.float32),
        keypoints=np.zeros((n, 5, 2), np.float32),
    )


def test_pieces_of_a_large_face_look_broken_and_a_group_does_not() -> None:
    # Upper half and lower two thirds of one face filling a 1000 px image.
    assert looks_broken(boxes((340, 0, 830, 470), (330, 310, 880, 880)), 1000, 1000)
    # Three small faces side by side, touching: a group photo.
    group = boxes((100, 100, 200, 220), (190, 100, 290, 220), (280, 100, 380, 220))
    assert not looks_broken(group, 1000, 1000)
    assert not looks_broken(boxes((100, 100, 900, 900)), 1000, 1000)


def test_whole_face_replaces_its_pieces_and_keeps_other_faces() -> None:
    found = boxes((340, 0, 830, 470), (330, 310, 880, 880), (900, 900, 990, 990))
    whole = boxes((80, 0, 870, 990))
    out = whole_faces(found, whole)
    assert sorted(map(tuple, out.boxes.tolist())) == [(80, 0, 870, 990), (900, 900, 990, 990)]
    # A found box that is the whole face (IoU >= 0.5) is kept as found, its pieces dropped.
    found = boxes((100, 50, 860, 980), (340, 0, 830, 470))
    out = whole_faces(found, whole)
    assert out.boxes.tolist() == [[100, 50, 860, 980]]
