"""MediaPipe's blendshape model (catalogue entry face_blendshapes) on the face mesh, real
model, real photos (tests/fixtures, see ATTRIBUTION.md).

No attribute uses it (bench/face_attributes.py measured it against the mesh geometry and
it did not win: docs/face-attributes.md); these tests check that it is fed as MediaPipe
feeds it, so that the measurement is a fair one.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import default_model_dir, fetch, verified_path
from oculi.models.runtime import TfliteModel
from oculi.models.zoo import load_face_analyzer
from oculi.vision.attributes.blendshapes import NAMES, blendshape_scores, named
from oculi.vision.decode import decode
from oculi.vision.faces import FaceAnalyzer
from oculi.vision.types import FaceDetections
from tests.conftest import FIXTURES
from tests.test_face_attributes import face_at

Model = Callable[[np.ndarray], list[np.ndarray]]


@pytest.fixture(scope="module")
def model() -> Model:
    fetch(["face_blendshapes"])
    return TfliteModel(verified_path(CATALOGUE["face_blendshapes"], default_model_dir()), 1)


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return load_face_analyzer()


def faces_of(analyzer: FaceAnalyzer, name: str) -> FaceDetections:
    return analyzer.analyze(decode((FIXTURES / name).read_bytes()).rgb)


def test_mediapipe_landmarks_give_mediapipe_scores(model) -> None:
    # MediaPipe's own FaceLandmarker on two_people.jpg: its landmarks, fed through oculi,
    # must give the blendshape scores MediaPipe itself gave for them (point subset, order
    # and scale as MediaPipe's graph has them).
    doc = json.loads((FIXTURES / "mediapipe_blendshapes.json").read_text())
    assert len(doc["faces"]) == 2
    for face in doc["faces"]:
        xy = np.array(face["landmarks"], np.float32)
        mesh = np.concatenate([xy, np.zeros((len(xy), 1), np.float32)], axis=1)[None]
        want = np.array([face["blendshapes"][n] for n in NAMES])
        np.testing.assert_allclose(blendshape_scores(model, mesh)[0], want, atol=1e-3)


def test_scores_do_not_depend_on_where_or_how_big_the_face_is(model, analyzer) -> None:
    mesh = faces_of(analyzer, "two_people.jpg").mesh
    moved = mesh * np.float32(2.5) + np.float32(300.0)
    np.testing.assert_allclose(
        blendshape_scores(model, moved), blendshape_scores(model, mesh), atol=1e-4
    )


def test_closed_mouths_have_no_jaw_open(model, analyzer) -> None:
    # two_people.jpg: both men with their mouths closed (hand labels).
    scores = blendshape_scores(model, faces_of(analyzer, "two_people.jpg").mesh)
    assert scores.shape == (2, 52)
    assert (named(scores, "jawOpen") < 0.05).all()


def test_shut_eyes_blink_more_than_open_ones(model, analyzer) -> None:
    # 2008_007676.jpg: two laughing women with their eyes shut, two with open eyes
    # (the same faces as tests/test_eyes.py).
    faces = faces_of(analyzer, "2008_007676.jpg")
    blink = named(blendshape_scores(model, faces.mesh), "eyeBlinkLeft", "eyeBlinkRight")
    blink = blink.mean(axis=1)
    for x, y in ((214, 132), (242, 77)):
        assert blink[face_at(faces, x, y)] > 0.5
    for x, y in ((130, 160), (384, 149)):
        assert blink[face_at(faces, x, y)] < 0.3


def test_no_faces_no_scores(model) -> None:
    assert blendshape_scores(model, np.zeros((0, 478, 3), np.float32)).shape == (0, 52)
