"""DetectLabels' License Plate instances, through boto3, from the real plate finder and
label detectors on real photos; and the vehicle gate that decides when plates are read."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from oculi.service.label_plates import PLATE_CLASS, shows_vehicle, with_plates
from oculi.vision.decode import decode
from oculi.vision.labels import Objects
from tests.conftest import fixture_bytes

SKODA = "plates/skoda_5AU5341.png"  # a Skoda's rear, Czech plate 5AU 5341
PASSAT = "plates/passat_display_plate.jpg"  # a car with a dealer's plate: no number


def names(response: dict) -> dict[str, dict]:
    return {lab["Name"]: lab for lab in response["Labels"]}


def test_license_plate_instance_on_a_car(client) -> None:
    labels = names(client.detect_labels(Image={"Bytes": fixture_bytes(SKODA)}))
    plate = labels["License Plate"]
    (inst,) = plate["Instances"]
    box = inst["BoundingBox"]  # the same box as `oculi plates` (tests/test_plates.py)
    assert 0.55 < box["Left"] < 0.62 and 0.5 < box["Top"] < 0.6
    assert box["Width"] < 0.3 and box["Height"] < 0.15
    assert plate["Parents"] == [{"Name": "Transportation"}]
    assert plate["Categories"] == [{"Name": "Vehicles and Automotive"}]
    assert inst["Confidence"] >= 55 and "Car" in labels


def test_license_plate_in_dull_light(client) -> None:
    """The Skoda photo with its contrast cut to 40% about mid-grey (a dull day): the
    plate's print and background differ by about 50 grey levels, which the plate finder's
    contrast floor refused until it was set from openalpr_eu's dull plates."""
    rgb = decode(fixture_bytes(SKODA)).rgb.astype(np.float32)
    dull = (0.4 * rgb + 0.6 * 128).astype(np.uint8)
    ok, png = cv2.imencode(".png", cv2.cvtColor(dull, cv2.COLOR_RGB2BGR))
    assert ok
    labels = names(
        client.detect_labels(
            Image={"Bytes": png.tobytes()},
            Settings={"GeneralLabels": {"LabelInclusionFilters": ["License Plate"]}},
        )
    )
    (inst,) = labels["License Plate"]["Instances"]
    assert 0.55 < inst["BoundingBox"]["Left"] < 0.62


def test_no_plate_label_without_a_readable_plate(client) -> None:
    for photo in (PASSAT, "labels/dog.jpg", "two_people.jpg"):
        assert "License Plate" not in names(
            client.detect_labels(Image={"Bytes": fixture_bytes(photo)})
        ), photo


def test_plate_label_filters(client) -> None:
    image = {"Bytes": fixture_bytes(SKODA)}
    only = client.detect_labels(
        Image=image, Settings={"GeneralLabels": {"LabelInclusionFilters": ["License Plate"]}}
    )
    assert set(names(only)) == {"License Plate"}
    without = client.detect_labels(
        Image=image, Settings={"GeneralLabels": {"LabelExclusionFilters": ["License Plate"]}}
    )
    assert "License Plate" not in names(without) and "Car" in names(without)


def objects(classes: list[str], scores: list[float]) -> Objects:
    names = ("Person", "Car", "Vehicle", "Dog")
    return Objects(
        np.tile(np.array([[0, 0, 10, 10]], np.float32), (len(classes), 1)),
        np.array(scores, np.float32),
        np.array([names.index(c) for c in classes], np.int64),
        names,
    )


@pytest.mark.parametrize(
    ("classes", "scores", "expected"),
    [
        (["Car"], [0.31], True),
        (["Vehicle"], [0.9], True),
        (["Car"], [0.29], False),
        (["Person", "Dog"], [0.99, 0.99], False),
        ([], [], False),
    ],
)
def test_vehicle_gate(classes, scores, expected) -> None:
    assert shows_vehicle(objects(classes, scores)) is expected


def test_with_plates_adds_a_class_in_confidence_order() -> None:
    out = with_plates(
        objects(["Car", "Dog"], [0.9, 0.5]), np.array([[1, 2, 3, 4]], np.float32), np.array([0.7])
    )
    assert out.class_names() == ["Car", PLATE_CLASS, "Dog"]
    assert out.boxes[1].tolist() == [1, 2, 3, 4]
    again = with_plates(out, np.zeros((0, 4)), np.zeros(0))
    assert again.names == out.names and len(again) == 3
