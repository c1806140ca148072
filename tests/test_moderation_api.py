"""DetectModerationLabels through boto3 against a real server.

No explicit image is (or may be) part of this repository: real photos check that ordinary
content gives no label, and the mapping onto Rekognition's taxonomy is checked on
synthetic detector output. The classifier's labels are checked on a real photo of a wine
bottle and a glass of red wine (moderation/wine.jpg), on a default server (no opt-in) and
on the opted-in one.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from oculi.api import spec
from oculi.service.moderation import PARENT, level, moderation_labels, nudity_scores, rolled_up
from oculi.service.moderation_imagenet import CLASS_LABEL, imagenet_scores
from oculi.vision.moderation import BodyParts, decode
from tests.conftest import Server, fixture_bytes
from tests.test_detect_faces_api import raw_call

ORDINARY = [
    "two_people.jpg",
    "obama-480p.jpg",
    "2008_002079.jpg",
    "2008_007676.jpg",
    "text/scenetext01.jpg",
    "moderation/person.jpg",
]
# A woman with a dog and a horse: the detector's strongest evidence of any supported label
# here is a weak "Exposed Buttocks or Anus" (about 25%), below the default 50.
WEAK = "moderation/person.jpg"
# A wine bottle and a glass of red wine (a crop of a CC-BY-4.0 photo): the classifier puts
# about 61% on beer bottle, beer glass, wine bottle and red wine together.
WINE = "moderation/wine.jpg"
ALCOHOL = [("Alcohol", "", 1), ("Alcoholic Beverages", "Alcohol", 2)]
NAMES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_photos_give_no_labels(client, name) -> None:
    r = client.detect_moderation_labels(Image={"Bytes": fixture_bytes(name)})
    assert r["ModerationLabels"] == []
    assert r["ModerationModelVersion"]


def test_min_confidence_bounds(client) -> None:
    image = {"Bytes": fixture_bytes(WEAK)}
    everything = client.detect_moderation_labels(Image=image, MinConfidence=0)["ModerationLabels"]
    assert [(lab["Name"], lab["ParentName"], lab["TaxonomyLevel"]) for lab in everything] == [
        ("Explicit", "", 1),
        ("Explicit Nudity", "Explicit", 2),
        ("Exposed Buttocks or Anus", "Explicit Nudity", 3),
    ]
    weak = everything[0]["Confidence"]
    assert 10 < weak < 40
    assert all(lab["Confidence"] == weak for lab in everything)  # a parent's is its child's
    at = client.detect_moderation_labels(Image=image, MinConfidence=weak - 1)
    assert len(at["ModerationLabels"]) == 3
    above = client.detect_moderation_labels(Image=image, MinConfidence=weak + 1)
    assert above["ModerationLabels"] == []
    assert client.detect_moderation_labels(Image=image)["ModerationLabels"] == []  # 50
    for bad in (100.5, 1000):
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.detect_moderation_labels(Image=image, MinConfidence=bad)


def test_response_matches_service_model_exactly(server) -> None:
    body = json.dumps(
        {
            "Image": {"Bytes": base64.b64encode(fixture_bytes("two_people.jpg")).decode()},
            "MinConfidence": 0,
        }
    )
    status, _, doc = raw_call(
        server.url, "RekognitionService.DetectModerationLabels", body.encode()
    )
    assert status == 200
    spec.validate(spec.operation("DetectModerationLabels").output_shape, doc)


def test_errors(client) -> None:
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_moderation_labels(Image={"Bytes": b"GIF89a not a jpeg"})
    arn = "arn:aws:rekognition:us-east-1:000000000000:project/mod/version/v1/1"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.detect_moderation_labels(
            Image={"Bytes": fixture_bytes("two_people.jpg")}, ProjectVersion=arn
        )


def parts(**scores: float) -> BodyParts:
    names = list(scores)
    return BodyParts(
        boxes=np.zeros((len(names), 4), np.float32),
        scores=np.array(list(scores.values()), np.float32),
        classes=np.array([NAMES.index(n) for n in names]),
        names=NAMES,
    )


def test_taxonomy_mapping() -> None:
    labels = moderation_labels(
        parts(
            FEMALE_BREAST_EXPOSED=0.9,
            BUTTOCKS_EXPOSED=0.6,
            MALE_BREAST_EXPOSED=0.7,
            FEMALE_BREAST_COVERED=0.99,
            FACE_FEMALE=0.95,
            BELLY_EXPOSED=0.8,
        )
    )
    got = [(lab.name, lab.parent, lab.level, round(lab.confidence)) for lab in labels]
    assert got == [
        ("Explicit", "", 1, 90),
        ("Explicit Nudity", "Explicit", 2, 90),
        ("Exposed Female Nipple", "Explicit Nudity", 3, 90),
        ("Non-Explicit Nudity of Intimate parts and Kissing", "", 1, 70),
        ("Non-Explicit Nudity", "Non-Explicit Nudity of Intimate parts and Kissing", 2, 70),
        ("Exposed Male Nipple", "Non-Explicit Nudity", 3, 70),
        ("Exposed Buttocks or Anus", "Explicit Nudity", 3, 60),
    ]
    # Covered parts, faces and bellies are not moderation evidence on their own.
    assert moderation_labels(parts(FEMALE_BREAST_COVERED=0.99, FACE_MALE=0.9)) == []
    # Default MinConfidence 50.
    assert moderation_labels(parts(ANUS_EXPOSED=0.49)) == []
    assert [lab.name for lab in moderation_labels(parts(ANUS_EXPOSED=0.49), 40)] == [
        "Explicit",
        "Explicit Nudity",
        "Exposed Buttocks or Anus",
    ]


def test_decode_keeps_each_anchors_best_class_in_image_pixels() -> None:
    out = np.zeros((4 + len(NAMES), 3), np.float32)
    out[:4, 0] = [100, 100, 40, 20]  # centre 100,100, 40 x 20 input pixels
    out[4 + NAMES.index("FACE_MALE"), 0] = 0.8
    out[4 + NAMES.index("FACE_FEMALE"), 0] = 0.3  # not its best class: dropped
    out[:4, 1] = [101, 100, 40, 20]  # overlaps anchor 0, same class, weaker: suppressed
    out[4 + NAMES.index("FACE_MALE"), 1] = 0.6
    out[:4, 2] = [300, 300, 10, 10]
    out[4 + NAMES.index("FEET_EXPOSED"), 2] = 0.01  # below the score floor
    found = decode(out, factor=2.0, width=1000, height=800, names=NAMES)
    assert len(found) == 1
    assert found.names[found.classes[0]] == "FACE_MALE"
    assert found.scores[0] == pytest.approx(0.8)
    assert list(found.boxes[0]) == [160, 180, 240, 220]
    assert found.best("FACE_FEMALE") == 0.0


def shape(labels: list[dict]) -> list[tuple[str, str, int]]:
    return [(lab["Name"], lab["ParentName"], lab["TaxonomyLevel"]) for lab in labels]


def test_opted_in_server_gives_classifier_and_nudity_labels(client) -> None:
    r = client.detect_moderation_labels(Image={"Bytes": fixture_bytes(WINE)})
    assert shape(r["ModerationLabels"]) == ALCOHOL
    assert r["ModerationModelVersion"] == "oculi-efficientnet-lite2-imagenet+nudenet-320n"


def test_default_server_gives_the_classifier_labels_only(tmp_path) -> None:
    """AGPL weights are never a default: without OCULI_ENABLE_AGPL_MODELS=1 the nudity
    detector never runs, and the answer holds the ImageNet classifier's labels alone."""
    srv = Server(tmp_path)
    try:
        c = srv.client()
        r = c.detect_moderation_labels(Image={"Bytes": fixture_bytes(WINE)})
        assert r["ModerationModelVersion"] == "oculi-efficientnet-lite2-imagenet"
        assert shape(r["ModerationLabels"]) == ALCOHOL
        confidences = [lab["Confidence"] for lab in r["ModerationLabels"]]
        assert confidences[0] == confidences[1]  # a parent's is its child's
        assert 55 < confidences[0] < 70
        higher = c.detect_moderation_labels(
            Image={"Bytes": fixture_bytes(WINE)}, MinConfidence=confidences[0] + 1
        )
        assert higher["ModerationLabels"] == []
        for name in ("two_people.jpg", "2008_007676.jpg"):
            r = c.detect_moderation_labels(Image={"Bytes": fixture_bytes(name)})
            assert r["ModerationLabels"] == []
        # The opted-in server finds a weak "Exposed Buttocks or Anus" here (above); this
        # one runs no nudity model, so nothing comes back at any MinConfidence.
        weak = c.detect_moderation_labels(Image={"Bytes": fixture_bytes(WEAK)}, MinConfidence=0)
        assert weak["ModerationLabels"] == []
        for bad in (100.5, 1000):
            with pytest.raises(c.exceptions.InvalidParameterException):
                c.detect_moderation_labels(Image={"Bytes": fixture_bytes(WINE)}, MinConfidence=bad)
    finally:
        srv.stop()


def test_classifier_classes_map_into_the_taxonomy() -> None:
    assert {level(label) for label in CLASS_LABEL.values()} == {1, 2, 3}
    probs = np.zeros(1000)
    probs[[764, 763]] = 0.30, 0.25  # rifle, revolver
    probs[907] = 0.04  # wine bottle: under the 5% floor
    probs[445] = 0.90  # bikini: not counted
    scores = imagenet_scores(probs)
    assert scores == pytest.approx({"Weapons": 55.0})
    got = [(lab.name, lab.parent, lab.level, round(lab.confidence)) for lab in rolled_up(scores)]
    assert got == [("Violence", "", 1, 55), ("Weapons", "Violence", 2, 55)]
    probs[720], probs[800] = 0.6, 0.2  # pill bottle, slot
    got = [
        (lab.name, lab.level, round(lab.confidence)) for lab in rolled_up(imagenet_scores(probs))
    ]
    assert got == [
        ("Drugs & Tobacco", 1, 60),
        ("Products", 2, 60),
        ("Pills", 3, 60),
        ("Violence", 1, 55),
        ("Weapons", 2, 55),
    ]  # Gambling at 20 is under the default 50
    both = imagenet_scores(probs) | nudity_scores(parts(FEMALE_BREAST_EXPOSED=0.7))
    assert [lab.name for lab in rolled_up(both, 58)] == [
        "Explicit",
        "Explicit Nudity",
        "Exposed Female Nipple",
        "Drugs & Tobacco",
        "Products",
        "Pills",
    ]
    assert all(label in PARENT for label in CLASS_LABEL.values())
