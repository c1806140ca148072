"""Face attributes with the real models on real photos (tests/fixtures, see ATTRIBUTION.md).

Expected values are what a person sees in the photos (the same hand labels as
bench/face_attributes_labels.csv), not what the models happened to answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from oculi.models.zoo import load_face_analyzer
from oculi.vision.attributes import ATTRIBUTES, analyze_attributes
from oculi.vision.attributes.age_gender import (
    AGES,
    CHILD_AGE,
    age_interval,
    expected_age,
    male_confidence,
)
from oculi.vision.attributes.align import expression_crop
from oculi.vision.attributes.calibration import Logistic, fit_logistic
from oculi.vision.attributes.models import AttributeModels, load_attribute_models, models_for
from oculi.vision.decode import decode
from oculi.vision.faces import FaceAnalyzer
from oculi.vision.types import FaceDetections

FIXTURES = Path(__file__).parent / "fixtures"
ALL = set(ATTRIBUTES)


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return load_face_analyzer()


@pytest.fixture(scope="module")
def models() -> AttributeModels:
    return load_attribute_models(attributes=ATTRIBUTES)


def analyse(
    analyzer: FaceAnalyzer, models: Any, name: str, wanted: set[str] = ALL
) -> tuple[FaceDetections, dict[str, list[Any]]]:
    rgb = decode((FIXTURES / name).read_bytes()).rgb
    faces = analyzer.analyze(rgb)
    return faces, analyze_attributes(models, rgb, faces, wanted)


def face_at(faces: FaceDetections, x: float, y: float) -> int:
    """Index of the face whose box holds the point (x, y)."""
    b = faces.boxes
    inside = np.nonzero((b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3]))[0]
    assert len(inside) == 1, f"expected one face at ({x}, {y})"
    return int(inside[0])


def test_laughing_women_read_female_smiling_open_mouthed_happy(analyzer, models) -> None:
    # 2008_007676.jpg: seven young women laughing, mouths open (dlib's labelled faces).
    faces, out = analyse(analyzer, models, "2008_007676.jpg")
    centres = [(130, 160), (214, 132), (156, 100), (282, 147), (242, 77), (384, 149), (336, 136)]
    for x, y in centres:
        i = face_at(faces, x, y)
        assert out["Gender"][i]["Value"] == "Female"
        assert out["Smile"][i]["Value"] is True
        assert out["MouthOpen"][i]["Value"] is True
        assert out["Emotions"][i][0]["Type"] == "HAPPY"
        # Labelled about 22; on these 37-53 px faces the age network is unsure and the
        # range says so (some are 50-70 years wide), but every one starts young.
        assert out["AgeRange"][i]["Low"] <= 25


def test_calm_closed_mouthed_man_reads_so(analyzer, models) -> None:
    # two_people.jpg: Joe Biden (right), unsmiling, mouth closed, aged about 70.
    faces, out = analyse(analyzer, models, "two_people.jpg")
    i = face_at(faces, 860, 150)
    assert out["Gender"][i] == {"Value": "Male", "Confidence": out["Gender"][i]["Confidence"]}
    assert out["Gender"][i]["Confidence"] > 90
    assert out["Smile"][i]["Value"] is False
    assert out["MouthOpen"][i]["Value"] is False
    assert out["Emotions"][i][0]["Type"] != "HAPPY"
    assert out["AgeRange"][i]["High"] >= 65


def test_couple_reads_one_woman_smiling_one_man_not(analyzer, models) -> None:
    # kit_with_rose.jpg: Rose Leslie (left) smiling with open mouth, Kit Harington (right)
    # not smiling, mouth closed.
    faces, out = analyse(analyzer, models, "people/test/kit_with_rose.jpg")
    rose, kit = face_at(faces, 118, 160), face_at(faces, 304, 140)
    assert [out["Gender"][rose]["Value"], out["Gender"][kit]["Value"]] == ["Female", "Male"]
    assert [out["Smile"][rose]["Value"], out["Smile"][kit]["Value"]] == [True, False]
    assert out["MouthOpen"][kit]["Value"] is False


def test_answers_have_rekognition_shapes(analyzer, models) -> None:
    faces, out = analyse(analyzer, models, "2008_002079.jpg")
    assert set(out) == ALL
    for name in ATTRIBUTES:
        assert len(out[name]) == len(faces)
    for emotions in out["Emotions"]:
        types = [e["Type"] for e in emotions]
        assert set(types) == {"HAPPY", "SAD", "ANGRY", "DISGUSTED", "SURPRISED", "CALM", "FEAR"}
        confs = [e["Confidence"] for e in emotions]
        assert confs == sorted(confs, reverse=True)
        assert abs(sum(confs) - 100.0) < 0.5
    for name in ("Gender", "Smile", "MouthOpen"):
        for v in out[name]:
            assert set(v) == {"Value", "Confidence"} and 50.0 <= v["Confidence"] <= 100.0
    for r in out["AgeRange"]:
        assert set(r) == {"Low", "High"} and 0 <= r["Low"] < r["High"] <= 100


class Recording(dict):
    """A model mapping that records which models were asked for."""

    def __init__(self, inner: AttributeModels) -> None:
        super().__init__()
        self.inner = inner
        self.asked: list[str] = []

    def __getitem__(self, name: str) -> Callable[[Any], Any]:
        self.asked.append(name)
        return self.inner[name]


@pytest.mark.parametrize("wanted", [{"MouthOpen"}, {"Gender"}, {"Smile"}, {"AgeRange"}])
def test_only_the_models_an_attribute_needs_run(analyzer, models, wanted) -> None:
    rec = Recording(models)
    _, out = analyse(analyzer, rec, "two_people.jpg", wanted)
    assert set(out) == wanted
    assert sorted(set(rec.asked)) == sorted(models_for(wanted))


def test_no_faces_and_unknown_attributes() -> None:
    out = analyze_attributes(
        {}, np.zeros((8, 8, 3), np.uint8), FaceDetections.empty(), {"Smile", "Beard"}
    )
    assert out == {"Smile": []}


def test_loader_loads_only_what_is_asked(tmp_path) -> None:
    from oculi.models.fetch import default_model_dir

    models = load_attribute_models(default_model_dir(), attributes=["Gender"], auto_fetch=False)
    assert sorted(models._loaded) == ["age", "gender"]  # Gender's confidence reads the age
    with pytest.raises(KeyError):
        models["yunet"]


def peaked(*ages: int, spread: float = 1.5) -> np.ndarray:
    """Age distributions (one per age) peaked at `ages`, like the network's."""
    p = np.exp(-0.5 * ((AGES[None, :] - np.array(ages)[:, None]) / spread) ** 2)
    return p / p.sum(axis=1, keepdims=True)


def test_age_interval_is_narrow_for_a_baby_and_wider_for_adults() -> None:
    # As sure as the network is of a baby's age (most of the probability on one year),
    # and of adults' (spread over several).
    probs = np.concatenate([peaked(1, spread=0.5), peaked(35, 70, spread=3.0)])
    low, high = age_interval(probs)
    assert (low <= [1, 35, 70]).all() and (high >= [1, 35, 70]).all()
    width = high - low
    assert width[0] <= 8 and min(width[1:]) >= 2 * width[0]
    assert (low >= 0).all() and (high <= 100).all()


def test_age_interval_widens_when_the_network_is_unsure() -> None:
    low, high = age_interval(np.concatenate([peaked(30), peaked(30, spread=8.0)]))
    assert high[1] - low[1] > high[0] - low[0]


def test_gender_confidence_is_low_for_a_child_the_network_is_sure_of() -> None:
    # The same raw P(male) = 0.99: believable on an adult's face, a guess on a child's
    # (held-out UTKFace: 0.66 right under 13 years, docs/face-attributes.md).
    child, adult = peaked(4, 35)
    p = male_confidence(np.array([0.99, 0.99]), np.stack([child, adult]))
    assert expected_age(child[None])[0] < CHILD_AGE
    assert 0.5 < p[0] < 0.8 and p[1] > 0.9
    assert male_confidence(np.array([0.01]), child[None])[0] == pytest.approx(1 - p[0])


def test_expression_crop_shift_moves_towards_the_forehead() -> None:
    # A vertical ramp image: grey rises with y, so a crop moved up is darker.
    ramp = np.repeat(np.linspace(0, 255, 200)[:, None], 200, axis=1).astype(np.uint8)
    rgb = np.repeat(ramp[:, :, None], 3, axis=2)
    mesh = np.zeros((478, 3))
    mesh[:, :2] = 100.0
    mesh[10, :2], mesh[152, :2] = (100, 60), (100, 140)
    mesh[[33, 133], :2], mesh[[362, 263], :2] = (80, 90), (120, 90)
    still = expression_crop(rgb, mesh, 64, 1.0).mean()
    moved = expression_crop(rgb, mesh, 64, 1.0, 0.1).mean()
    assert moved < still - 5


@pytest.mark.parametrize(
    ("name", "emotion"), [("rose_smiling_48.png", "HAPPY"), ("kit_calm_48.png", "CALM")]
)
def test_fer_style_crop_upscaled_reads_its_expression(analyzer, models, name, emotion) -> None:
    # A 48x48 grey face crop (FER-2013's framing), upscaled 4x as a user would send it.
    grey = decode((FIXTURES / "fer_style" / name).read_bytes()).rgb
    rgb = np.ascontiguousarray(cv2.resize(grey, (192, 192), interpolation=cv2.INTER_CUBIC))
    faces = analyzer.analyze(rgb)
    assert len(faces) == 1
    out = analyze_attributes(models, rgb, faces, {"Emotions"})
    assert out["Emotions"][0][0]["Type"] == emotion


def test_child_in_a_photo_gets_a_young_range_and_an_unsure_gender(analyzer, models) -> None:
    # obama_and_biden.jpg: a girl of about 6 (hand label, bench/face_attributes_labels.csv)
    # in a 150 px face; the network reads her older than she is and cannot tell her gender
    # for sure.
    faces, out = analyse(analyzer, models, "people/test/obama_and_biden.jpg")
    i = face_at(faces, 1702, 1134)
    assert out["AgeRange"][i]["Low"] <= 10
    assert out["Gender"][i]["Confidence"] < 80


def test_fit_logistic_recovers_a_known_curve() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 2.0, 4000)
    truth = Logistic(slope=1.5, bias=-0.5)
    y = rng.random(4000) < truth(x)
    fit = fit_logistic(x, y)
    assert abs(fit.slope - 1.5) < 0.2 and abs(fit.bias + 0.5) < 0.15


def test_fit_logistic_recovers_a_known_curve_over_two_scores() -> None:
    rng = np.random.default_rng(2)
    x = np.stack([rng.normal(0.0, 2.0, 6000), rng.normal(3.0, 0.5, 6000)], axis=1)
    truth = Logistic(slope=(1.5, -2.0), bias=5.0)
    y = rng.random(6000) < truth(x)
    fit = fit_logistic(x, y)
    assert isinstance(fit.slope, tuple) and len(fit.slope) == 2
    assert abs(fit.slope[0] - 1.5) < 0.2 and abs(fit.slope[1] + 2.0) < 0.3
    assert abs(fit.bias - 5.0) < 1.0
    np.testing.assert_allclose(fit(x), truth(x), atol=0.05)


def test_compare_faces_returns_emotions_and_smile(client) -> None:
    # botocore's ComparedFace carries Emotions and Smile: the same answers as DetectFaces
    # gives for the same faces. obama_and_biden.jpg: Biden (leftmost) smiles broadly.
    people = FIXTURES / "people" / "test"
    target = {"Bytes": (people / "obama_and_biden.jpg").read_bytes()}
    r = client.compare_faces(
        SourceImage={"Bytes": (people / "obama1.jpg").read_bytes()},
        TargetImage=target,
        SimilarityThreshold=0,
    )
    faces = sorted((m["Face"] for m in r["FaceMatches"]), key=lambda f: f["BoundingBox"]["Left"])
    detected = sorted(
        client.detect_faces(Image=target, Attributes=["SMILE", "EMOTIONS"])["FaceDetails"],
        key=lambda f: f["BoundingBox"]["Left"],
    )
    assert len(faces) == len(detected) == 3
    assert faces[0]["Smile"]["Value"] is True
    assert faces[0]["Emotions"][0]["Type"] == "HAPPY"
    for compared, face in zip(faces, detected):
        assert compared["Smile"] == face["Smile"]
        assert compared["Emotions"] == face["Emotions"]


def test_index_faces_all_returns_every_measured_attribute(client) -> None:
    cid = "attributes-all"
    client.create_collection(CollectionId=cid)
    try:
        r = client.index_faces(
            CollectionId=cid,
            DetectionAttributes=["ALL"],
            Image={"Bytes": (FIXTURES / "two_people.jpg").read_bytes()},
        )
        assert len(r["FaceRecords"]) == 2
        for rec in r["FaceRecords"]:
            assert set(ATTRIBUTES) <= set(rec["FaceDetail"])
    finally:
        client.delete_collection(CollectionId=cid)
