"""DetectProtectiveEquipment through boto3 against a real server, on real photos.

No photo of a masked face ships with any registry package found, so the covered path is
checked on real photos with a flat light-blue cover painted over each face from the nose
to the chin: a stand-in that shows the whole chain answers FACE_COVER, not a measure of
accuracy (docs/ppe.md).
"""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest

from oculi.api import spec
from oculi.service.ppe import MAX_PERSONS, Person, match_persons, summarize
from oculi.service.ppe import Face as CoveredFace
from oculi.vision.decode import decode
from oculi.vision.types import FaceDetections
from tests.conftest import fixture_bytes
from tests.test_detect_faces_api import raw_call

UNMASKED = {"two_people.jpg": 2, "obama-480p.jpg": 1, "2008_007676.jpg": 7}


def paint_covers(name: str) -> bytes:
    """The fixture as JPEG with a light-blue cover painted from mid-nose to the chin of
    each face found by oculi's face detector."""
    from oculi.models.zoo import load_face_analyzer

    rgb = decode(fixture_bytes(name)).rgb.copy()
    faces = load_face_analyzer().detect(rgb)
    for (x1, _, x2, y2), kp in zip(faces.boxes, faces.keypoints):
        w = x2 - x1
        eyes = kp[:2, 1].mean()
        top = eyes + 0.45 * (kp[2, 1] - eyes)
        pts = np.array(
            [
                [x1 + 0.05 * w, top],
                [x2 - 0.05 * w, top],
                [x2 - 0.08 * w, y2 - 0.1 * w],
                [(x1 + x2) / 2, y2],
                [x1 + 0.08 * w, y2 - 0.1 * w],
            ],
            np.int32,
        )
        cv2.fillPoly(rgb, [pts], (170, 205, 235))
    ok, jpg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return jpg.tobytes()


def face_part(person: dict) -> dict:
    (part,) = person["BodyParts"]
    assert part["Name"] == "FACE"
    return part


def split(persons: list[dict]) -> tuple[list[int], list[int]]:
    """Ids of the persons with a face seen, and of those without (a person box in which
    no face was found: a back, a head turned away, or a second box on the same body)."""
    with_face = [p["Id"] for p in persons if p["BodyParts"]]
    return with_face, [p["Id"] for p in persons if not p["BodyParts"]]


@pytest.mark.parametrize(("name", "count"), UNMASKED.items())
def test_unmasked_faces_have_no_face_cover(client, name, count) -> None:
    r = client.detect_protective_equipment(
        Image={"Bytes": fixture_bytes(name)},
        SummarizationAttributes={"MinConfidence": 80, "RequiredEquipmentTypes": ["FACE_COVER"]},
    )
    persons = r["Persons"]
    assert [p["Id"] for p in persons] == list(range(len(persons)))
    faced, faceless = split(persons)
    assert len(faced) == count
    for p in persons:
        if p["BodyParts"]:
            part = face_part(p)
            assert part["Confidence"] > 50
            assert part["EquipmentDetections"] == []
    s = r["Summary"]
    assert s["PersonsWithRequiredEquipment"] == []
    assert sorted(s["PersonsWithoutRequiredEquipment"] + s["PersonsIndeterminate"]) == list(
        range(len(persons))
    )
    assert set(faceless) <= set(s["PersonsIndeterminate"])
    # A person box found with less than 80% confidence leaves its person undecided.
    assert len(s["PersonsWithoutRequiredEquipment"]) >= count - 1
    assert r["ProtectiveEquipmentModelVersion"]


def test_painted_covers_are_reported(client) -> None:
    image = {"Bytes": paint_covers("two_people.jpg")}
    r = client.detect_protective_equipment(
        Image=image,
        SummarizationAttributes={"MinConfidence": 50, "RequiredEquipmentTypes": ["FACE_COVER"]},
    )
    faced, faceless = split(r["Persons"])
    assert len(faced) == 2
    covers = []
    for p in r["Persons"]:
        if p["Id"] in faced:
            (cover,) = face_part(p)["EquipmentDetections"]
            assert cover["Type"] == "FACE_COVER"
            assert cover["Confidence"] > 50
            assert cover["CoversBodyPart"] == {"Value": True, "Confidence": cover["Confidence"]}
            covers.append(cover["Confidence"])
    assert r["Summary"]["PersonsWithRequiredEquipment"] == faced
    assert r["Summary"]["PersonsIndeterminate"] == faceless
    # Asking for more certainty than the classifier has makes a person indeterminate.
    strict = client.detect_protective_equipment(
        Image=image,
        SummarizationAttributes={
            "MinConfidence": min(100.0, min(covers) + 0.01),
            "RequiredEquipmentTypes": ["FACE_COVER"],
        },
    )
    assert len(strict["Summary"]["PersonsIndeterminate"]) > len(faceless)


def test_head_and_hand_cover_are_never_guessed(client) -> None:
    image = {"Bytes": fixture_bytes("two_people.jpg")}
    for required in (["HEAD_COVER"], ["HAND_COVER"], ["HEAD_COVER", "HAND_COVER"]):
        r = client.detect_protective_equipment(
            Image=image,
            SummarizationAttributes={"MinConfidence": 0, "RequiredEquipmentTypes": required},
        )
        every = [p["Id"] for p in r["Persons"]]
        assert len(every) >= 2
        assert r["Summary"] == {
            "PersonsWithRequiredEquipment": [],
            "PersonsWithoutRequiredEquipment": [],
            "PersonsIndeterminate": every,
        }
        assert {part["Name"] for p in r["Persons"] for part in p["BodyParts"]} == {"FACE"}
    # A person surely without a face cover lacks the set, whatever else is unknown.
    r = client.detect_protective_equipment(
        Image=image,
        SummarizationAttributes={
            "MinConfidence": 80,
            "RequiredEquipmentTypes": ["FACE_COVER", "HEAD_COVER"],
        },
    )
    assert r["Summary"]["PersonsWithoutRequiredEquipment"] == split(r["Persons"])[0]


def test_person_box_from_the_person_detector(client) -> None:
    """moderation/person.jpg: a woman seen from the side (no face found) with a dog and a
    horse: DetectLabels' Person box is the person, with no body part to judge."""
    r = client.detect_protective_equipment(
        Image={"Bytes": fixture_bytes("moderation/person.jpg")},
        SummarizationAttributes={"MinConfidence": 50, "RequiredEquipmentTypes": ["FACE_COVER"]},
    )
    persons = r["Persons"]
    assert persons and all(p["BodyParts"] == [] for p in persons)
    box = persons[0]["BoundingBox"]  # the most confident person: the whole woman
    assert 0 <= box["Left"] < box["Left"] + box["Width"] <= 1.0001
    assert box["Height"] > 0.3
    assert r["Summary"]["PersonsIndeterminate"] == [p["Id"] for p in persons]


def test_no_summary_unless_asked(client) -> None:
    r = client.detect_protective_equipment(Image={"Bytes": fixture_bytes("obama-480p.jpg")})
    assert "Summary" not in r
    assert len(r["Persons"]) == 1


def test_at_most_15_persons(client) -> None:
    """Three group photos side by side hold more than 15 faces."""
    rows = [
        decode(fixture_bytes(n)).rgb
        for n in ("2008_007676.jpg", "2008_002079.jpg", "2008_007676.jpg")
    ]
    h = min(r.shape[0] for r in rows)
    mosaic = np.concatenate([r[:h] for r in rows], axis=1)
    ok, jpg = cv2.imencode(".jpg", mosaic[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    r = client.detect_protective_equipment(Image={"Bytes": jpg.tobytes()})
    assert [p["Id"] for p in r["Persons"]] == list(range(MAX_PERSONS))


def test_response_matches_service_model_exactly(server) -> None:
    body = json.dumps(
        {
            "Image": {"Bytes": base64.b64encode(paint_covers("two_people.jpg")).decode()},
            "SummarizationAttributes": {
                "MinConfidence": 50,
                "RequiredEquipmentTypes": ["FACE_COVER"],
            },
        }
    )
    status, _, doc = raw_call(
        server.url, "RekognitionService.DetectProtectiveEquipment", body.encode()
    )
    assert status == 200
    spec.validate(spec.operation("DetectProtectiveEquipment").output_shape, doc)


def test_errors(client) -> None:
    image = {"Bytes": fixture_bytes("two_people.jpg")}
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_protective_equipment(Image={"Bytes": b"GIF89a not a jpeg"})
    for bad in (
        {"MinConfidence": 101, "RequiredEquipmentTypes": ["FACE_COVER"]},
        {"MinConfidence": 50, "RequiredEquipmentTypes": ["GLOVES"]},
    ):
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.detect_protective_equipment(Image=image, SummarizationAttributes=bad)


def faces_at(*boxes: tuple[float, float, float, float]) -> FaceDetections:
    n = len(boxes)
    return FaceDetections(
        boxes=np.array(boxes, np.float32).reshape(n, 4),
        scores=np.full(n, 0.9, np.float32),
        keypoints=np.zeros((n, 5, 2), np.float32),
    )


def test_faces_are_matched_to_the_person_that_holds_them() -> None:
    persons = np.array([[0, 0, 100, 300], [200, 0, 300, 300]], np.float32)
    scores = np.array([0.6, 0.9], np.float32)
    # One face in each person's upper half, one on the first person's legs, one outside.
    faces = faces_at((30, 20, 70, 60), (230, 30, 270, 70), (30, 250, 70, 290), (400, 20, 440, 60))
    got = match_persons(persons, scores, faces)
    assert [(m.score, m.face) for m in got] == [
        (pytest.approx(0.9), 1),
        (pytest.approx(0.6), 0),
        (pytest.approx(0.9), 2),
        (pytest.approx(0.9), 3),
    ]
    assert got[2].box is None and got[3].box is None


def test_summary_rules() -> None:
    def person(i: int, covered: float | None, face_score: float = 0.9) -> Person:
        face = None if covered is None else CoveredFace(np.zeros(4), face_score, covered)
        return Person(i, None, 0.9, face)

    # Covered, bare, unsure, no face seen, a face found with 70% confidence only.
    people = [
        person(0, 0.97),
        person(1, 0.02),
        person(2, 0.6),
        person(3, None),
        person(4, 0.01, face_score=0.7),
    ]
    s = summarize(people, ["FACE_COVER"], 80)
    assert (s.with_required, s.without_required, s.indeterminate) == ([0], [1], [2, 3, 4])
    s = summarize(people, ["FACE_COVER"], 50)
    assert (s.with_required, s.without_required, s.indeterminate) == ([0, 2], [1, 4], [3])
    # Below 50 counts as 50, as in Rekognition.
    assert summarize(people, ["FACE_COVER"], 0) == s
