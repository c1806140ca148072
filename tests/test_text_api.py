"""DetectText through boto3 against a real server: real models on real photos."""

from __future__ import annotations

import base64
import json

import boto3
import numpy as np
import pytest

from oculi.api import spec
from oculi.service.text import inside_polygon
from oculi.vision.text import ctc_greedy, db_boxes, split_words
from tests.conftest import REGION, fixture_bytes
from tests.test_detect_faces_api import raw_call

SIGN = "text/scenetext01.jpg"  # a street sign: NOTICE / DOUBLE / PARKING / PROHIBITED / ...
PARAGRAPH = "text/imageTextN.png"  # 13 lines of book text, about 150 words


@pytest.fixture(scope="module")
def sign(client) -> dict:
    return client.detect_text(Image={"Bytes": fixture_bytes(SIGN)})


def lines_of(response: dict) -> list[str]:
    return [d["DetectedText"] for d in response["TextDetections"] if d["Type"] == "LINE"]


def words_of(response: dict) -> list[dict]:
    return [d for d in response["TextDetections"] if d["Type"] == "WORD"]


def test_sign_is_read(sign) -> None:
    assert lines_of(sign)[:5] == ["NOTICE", "DOUBLE", "PARKING", "PROHIBITED", "AT ALL TIMES"]
    assert [w["DetectedText"] for w in words_of(sign)][:7] == [
        "NOTICE",
        "DOUBLE",
        "PARKING",
        "PROHIBITED",
        "AT",
        "ALL",
        "TIMES",
    ]
    assert sign["TextModelVersion"]


def test_lines_first_then_words_linked_to_their_line(sign) -> None:
    dets = sign["TextDetections"]
    lines = [d for d in dets if d["Type"] == "LINE"]
    assert dets[: len(lines)] == lines  # every LINE before every WORD
    assert [d["Id"] for d in dets] == list(range(len(dets)))
    by_id = {d["Id"]: d for d in lines}
    for line in lines:
        assert "ParentId" not in line
        children = [w["DetectedText"] for w in words_of(sign) if w["ParentId"] == line["Id"]]
        assert " ".join(children) == line["DetectedText"]
    for w in words_of(sign):
        parent = by_id[w["ParentId"]]["Geometry"]["BoundingBox"]
        box = w["Geometry"]["BoundingBox"]
        assert parent["Left"] - 1e-6 <= box["Left"]
        assert box["Left"] + box["Width"] <= parent["Left"] + parent["Width"] + 1e-6


def test_geometry_is_in_ratios_and_on_the_sign(sign) -> None:
    for d in sign["TextDetections"]:
        assert 50 <= d["Confidence"] <= 100
        box = d["Geometry"]["BoundingBox"]
        poly = d["Geometry"]["Polygon"]
        assert len(poly) == 4
        assert 0 <= box["Left"] and box["Left"] + box["Width"] <= 1
        assert 0 <= box["Top"] and box["Top"] + box["Height"] <= 1
        xs, ys = [p["X"] for p in poly], [p["Y"] for p in poly]
        assert min(xs) == pytest.approx(box["Left"]) and min(ys) == pytest.approx(box["Top"])
        assert poly[0]["X"] < poly[1]["X"] and poly[0]["Y"] < poly[3]["Y"]  # reading order
    notice = sign["TextDetections"][0]["Geometry"]["BoundingBox"]
    # The sign sits in the top middle of the 800x600 photo (x 265-440, y 20-265 px).
    assert 0.30 < notice["Left"] < 0.40 and 0.02 < notice["Top"] < 0.10


def test_response_matches_service_model_exactly(server) -> None:
    body = json.dumps({"Image": {"Bytes": base64.b64encode(fixture_bytes(SIGN)).decode()}})
    status, _, doc = raw_call(server.url, "RekognitionService.DetectText", body.encode())
    assert status == 200
    spec.validate(spec.operation("DetectText").output_shape, doc)


def test_word_filter_min_size_and_confidence(client, sign) -> None:
    words = words_of(sign)
    heights = sorted(w["Geometry"]["BoundingBox"]["Height"] for w in words)
    cut = (heights[0] + heights[1]) / 2  # drops the smallest word ("Post" on the news box)
    r = client.detect_text(
        Image={"Bytes": fixture_bytes(SIGN)}, Filters={"WordFilter": {"MinBoundingBoxHeight": cut}}
    )
    kept = words_of(r)
    assert len(kept) == len(words) - 1
    assert all(w["Geometry"]["BoundingBox"]["Height"] >= cut for w in kept)

    widths = sorted(w["Geometry"]["BoundingBox"]["Width"] for w in words)
    cut = (widths[2] + widths[3]) / 2
    r = client.detect_text(
        Image={"Bytes": fixture_bytes(SIGN)}, Filters={"WordFilter": {"MinBoundingBoxWidth": cut}}
    )
    assert len(words_of(r)) == len(words) - 3
    assert "AT" not in [w["DetectedText"] for w in words_of(r)]
    # A line keeps the words that pass: "AT ALL TIMES" loses "AT" (and perhaps "ALL").
    assert all("AT " not in line for line in lines_of(r))

    confidences = sorted(w["Confidence"] for w in words)
    cut = (confidences[0] + confidences[1]) / 2
    r = client.detect_text(
        Image={"Bytes": fixture_bytes(SIGN)}, Filters={"WordFilter": {"MinConfidence": cut}}
    )
    assert len(words_of(r)) == len(words) - 1
    assert min(w["Confidence"] for w in words_of(r)) >= cut


def test_regions_of_interest_keep_words_more_than_half_inside(client, sign) -> None:
    top_of_sign = {"Left": 0.3, "Top": 0.0, "Width": 0.3, "Height": 0.2}
    r = client.detect_text(
        Image={"Bytes": fixture_bytes(SIGN)},
        Filters={"RegionsOfInterest": [{"BoundingBox": top_of_sign}]},
    )
    assert lines_of(r) == ["NOTICE", "DOUBLE"]
    # The same region as a polygon.
    square = [
        {"X": 0.3, "Y": 0.0},
        {"X": 0.6, "Y": 0.0},
        {"X": 0.6, "Y": 0.2},
        {"X": 0.3, "Y": 0.2},
    ]
    r2 = client.detect_text(
        Image={"Bytes": fixture_bytes(SIGN)}, Filters={"RegionsOfInterest": [{"Polygon": square}]}
    )
    assert lines_of(r2) == ["NOTICE", "DOUBLE"]
    # Two regions: either one keeps a word. A region cutting "AT ALL TIMES" at x=0.41
    # keeps "AT" (wholly inside) and drops "TIMES" (wholly outside).
    left = {"Left": 0.0, "Top": 0.3, "Width": 0.41, "Height": 0.2}
    r3 = client.detect_text(
        Image={"Bytes": fixture_bytes(SIGN)},
        Filters={"RegionsOfInterest": [{"BoundingBox": top_of_sign}, {"BoundingBox": left}]},
    )
    texts = [w["DetectedText"] for w in words_of(r3)]
    assert texts[:3] == ["NOTICE", "DOUBLE", "AT"] and "TIMES" not in texts
    empty = {"Left": 0.0, "Top": 0.6, "Width": 0.2, "Height": 0.2}
    r4 = client.detect_text(
        Image={"Bytes": fixture_bytes(SIGN)},
        Filters={"RegionsOfInterest": [{"BoundingBox": empty}]},
    )
    assert r4["TextDetections"] == []


def test_at_most_100_words(client) -> None:
    r = client.detect_text(Image={"Bytes": fixture_bytes(PARAGRAPH)})
    words = words_of(r)
    assert len(words) == 100
    lines = lines_of(r)
    assert lines[0] == "technical details are too complex to cover in the book itself."
    assert lines[1].startswith("In teaching our courses, we have found it useful")
    assert sum(len(line.split()) for line in lines) == 100


def test_s3_object(client, moto_s3) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.put_object(Bucket="photos", Key="sign.jpg", Body=fixture_bytes(SIGN))
    r = client.detect_text(Image={"S3Object": {"Bucket": "photos", "Name": "sign.jpg"}})
    assert "PROHIBITED" in lines_of(r)


def test_no_text(client) -> None:
    r = client.detect_text(Image={"Bytes": fixture_bytes("obama-480p.jpg")})
    assert r["TextDetections"] == []


def test_errors(client) -> None:
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_text(Image={"Bytes": b"this is not an image"})
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.detect_text(
            Image={"Bytes": fixture_bytes(SIGN)}, Filters={"RegionsOfInterest": [{}]}
        )
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.detect_text(
            Image={"Bytes": fixture_bytes(SIGN)},
            Filters={
                "RegionsOfInterest": [{"Polygon": [{"X": 0.1, "Y": 0.1}, {"X": 0.2, "Y": 0.2}]}]
            },
        )
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.detect_text(
            Image={"Bytes": fixture_bytes(SIGN)}, Filters={"WordFilter": {"MinConfidence": 101}}
        )


def test_ctc_greedy_collapses_repeats_and_blanks() -> None:
    charset = ["a", "b", " "]
    steps = [1, 1, 0, 1, 2, 2, 3, 2, 0]  # a a _ a b b ␠ b _  ->  "aab b"
    probs = np.full((len(steps), 4), 0.01, np.float32)
    probs[np.arange(len(steps)), steps] = 0.97
    reading = ctc_greedy(probs, charset)
    assert "".join(reading.chars) == "aab b"
    assert list(reading.times) == [0, 3, 4, 6, 7]
    quad = np.array([[0, 0], [90, 0], [90, 10], [0, 10]], np.float32)
    words = split_words(reading, quad, used=1.0)
    assert [w.text for w in words] == ["aab", "b"]
    assert words[0].quad[0, 0] == 0 and words[1].quad[1, 0] == 90
    assert words[0].quad[1, 0] <= words[1].quad[0, 0]  # they do not overlap


def test_db_boxes_unclip_a_rectangle() -> None:
    prob = np.zeros((100, 200), np.float32)
    prob[40:60, 50:150] = 0.9  # a 100 x 20 text kernel
    boxes, scores = db_boxes(prob, unclip_ratio=1.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(0.9, abs=0.1)
    grow = 100 * 20 * 1.5 / (2 * 120)  # area * ratio / perimeter, on every side
    (x0, y0), (x1, y1) = boxes[0].min(0), boxes[0].max(0)
    assert x1 - x0 == pytest.approx(100 + 2 * grow, abs=3)
    assert y1 - y0 == pytest.approx(20 + 2 * grow, abs=3)
    assert tuple(boxes[0][0]) == (x0, y0)  # top-left first


def test_inside_polygon_even_odd() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float64)
    pts = np.array([[5, 5], [15, 5], [-1, -1], [9.9, 0.1]], np.float64)
    assert list(inside_polygon(pts, square)) == [True, False, False, True]
