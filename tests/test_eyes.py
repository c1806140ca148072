"""EyesOpen and EyeDirection with the real face mesh on real photos (tests/fixtures).

Expected values are what a person sees in the photos (the hand labels of
bench/face_attributes_labels.csv), not what the code happened to answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from oculi.api.face_detail import face_details
from oculi.models.zoo import load_face_analyzer
from oculi.service.detect_faces import FaceResult
from oculi.vision.attributes import analyze_attributes
from oculi.vision.attributes.gaze import eye_direction
from oculi.vision.attributes.geometry import eye_opening
from oculi.vision.attributes.models import load_attribute_models
from oculi.vision.decode import decode
from oculi.vision.faces import FaceAnalyzer
from tests.conftest import FIXTURES, fixture_bytes
from tests.test_face_attributes import Recording, analyse, face_at

EYES = {"EyesOpen", "EyeDirection"}


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return load_face_analyzer()


def test_laughing_women_with_shut_eyes_read_closed(analyzer) -> None:
    # 2008_007676.jpg: of seven laughing women, two have their eyes shut (centres at
    # (214, 132) and (242, 77)); two others look on with open eyes.
    faces, out = analyse(analyzer, {}, "2008_007676.jpg", EYES)
    for x, y in ((214, 132), (242, 77)):
        assert out["EyesOpen"][face_at(faces, x, y)]["Value"] is False
    for x, y in ((130, 160), (384, 149)):
        answer = out["EyesOpen"][face_at(faces, x, y)]
        assert answer["Value"] is True and answer["Confidence"] > 90


def test_open_eyes_read_open(analyzer) -> None:
    faces, out = analyse(analyzer, {}, "two_people.jpg", EYES)
    assert len(faces) == 2
    assert all(v["Value"] is True and v["Confidence"] > 90 for v in out["EyesOpen"])


def test_sideways_glance_and_its_mirror_image(analyzer) -> None:
    # obama2.jpg: the head turned slightly toward the image's right, the eyes turned
    # well toward its left. The mirrored photo must give the opposite yaw, the same pitch.
    name = "people/train/obama/obama2.jpg"
    rgb = decode((FIXTURES / name).read_bytes()).rgb
    answers = []
    for image in (rgb, np.ascontiguousarray(rgb[:, ::-1])):
        faces = analyzer.analyze(image)
        assert len(faces) == 1
        answers.append(analyze_attributes({}, image, faces, EYES)["EyeDirection"][0])
    plain, mirrored = answers
    assert set(plain) == {"Yaw", "Pitch"}  # no Confidence: nothing to calibrate it on
    assert plain["Yaw"] < -25 and mirrored["Yaw"] > 25
    assert abs(plain["Yaw"] + mirrored["Yaw"]) < 6
    assert abs(plain["Pitch"] - mirrored["Pitch"]) < 3


def test_eyes_looking_at_the_camera_turn_against_the_head(analyzer) -> None:
    # kit_with_rose.jpg: both look into the camera; their eyes' direction relative to the
    # head is about the head's yaw, negated (the eyes turn back toward the camera; the
    # bench finds 90% of the faces labelled as looking at the camera within 12.5 degrees).
    faces, out = analyse(analyzer, {}, "people/test/kit_with_rose.jpg", EYES)
    for i, gaze in enumerate(out["EyeDirection"]):
        assert abs(gaze["Yaw"] + float(faces.pose[i][1])) < 15


def test_eye_attributes_run_no_model(analyzer) -> None:
    models = load_attribute_models(attributes=(), auto_fetch=False)
    rec = Recording(models)
    _, out = analyse(analyzer, rec, "two_people.jpg", EYES)
    assert set(out) == EYES and rec.asked == [] and models._loaded == {}


def test_missed_iris_gives_no_eye_direction() -> None:
    mesh = np.zeros((1, 478, 3))
    mesh[0, [33, 133, 362, 263], 0] = [0.0, 30.0, 50.0, 80.0]
    mesh[0, 468, :2] = (15.0, 0.0)  # centred in its eye
    mesh[0, 473, :2] = (400.0, 0.0)  # far outside its eye
    assert np.isnan(eye_direction(mesh)).all()
    mesh[0, 473, :2] = (65.0, 0.0)
    assert not np.isnan(eye_direction(mesh)).any()


def test_eye_opening_is_scale_free() -> None:
    mesh = np.random.default_rng(0).normal(size=(1, 478, 3)) * 10
    assert eye_opening(mesh * 3.0)[0] == pytest.approx(eye_opening(mesh)[0])


def test_detect_faces_boto3_eyes(client) -> None:
    image = {"Bytes": fixture_bytes("two_people.jpg")}
    (face, _) = client.detect_faces(Image=image, Attributes=["EYES_OPEN"])["FaceDetails"]
    assert face["EyesOpen"]["Value"] is True
    assert "EyeDirection" not in face and "Gender" not in face
    faces = client.detect_faces(Image=image, Attributes=["EYE_DIRECTION"])["FaceDetails"]
    for f in faces:
        assert set(f["EyeDirection"]) == {"Yaw", "Pitch"} and "EyesOpen" not in f
        assert all(-90 <= v <= 90 for v in f["EyeDirection"].values())
    for f in client.detect_faces(Image=image, Attributes=["ALL"])["FaceDetails"]:
        assert {"EyesOpen", "EyeDirection", "MouthOpen", "Gender"} <= set(f)


def test_face_without_an_estimate_leaves_the_field_out(analyzer) -> None:
    rgb = decode((FIXTURES / "two_people.jpg").read_bytes()).rgb
    faces = analyzer.analyze(rgb)
    result = FaceResult(
        faces=faces,
        width=rgb.shape[1],
        height=rgb.shape[0],
        attributes=frozenset({"EYE_DIRECTION"}),
        details={"EyeDirection": [None, {"Yaw": 1.0, "Pitch": 2.0}]},
    )
    first, second = face_details(result)
    assert "EyeDirection" not in first
    assert second["EyeDirection"] == {"Yaw": 1.0, "Pitch": 2.0}
