"""Licence plates: the plate filters on hand-made text lines, the whole pipeline on real
photos, the CLI and the native endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message

import numpy as np
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from oculi.service.plates import detect_plates, plate_boxes
from oculi.service.text import load_text_reader
from oculi.vision.decode import decode
from oculi.vision.plates import find_plates, group_rows, plate_text
from oculi.vision.text import TextLine
from tests.conftest import FIXTURES, Server, clean_env

SKODA = FIXTURES / "plates" / "skoda_5AU5341.png"


@pytest.fixture(scope="module")
def reader():
    return load_text_reader(threads=1)


def line(text: str, x0: float, y0: float, x1: float, y1: float, conf: float = 0.99) -> TextLine:
    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    return TextLine(text=text, confidence=conf, quad=quad, words=())


def plate_image() -> np.ndarray:
    """A grey image with dark strokes on a light patch at (100..200, 50..80), so that the
    contrast filter sees print on a plate there."""
    rgb = np.full((200, 300, 3), 90, np.uint8)
    rgb[50:81, 100:201] = 235
    rgb[58:73, 105:195:6] = 20
    return rgb


@pytest.mark.parametrize(
    "reading, expected",
    [
        ("51F-869.88", "51F86988"),
        ("5AU5341", "5AU5341"),
        ("MH12S H5901", "MH12SH5901"),
        ("51A·775.29", "51A77529"),
        ("Passat", None),  # lower case
        ("2874", None),
        ("123456", None),  # no letter
        ("NOTICE", None),
        ("PARKING", None),  # no digit
        ("6:00-9:00", None),  # no letter once the colons are taken as separators
        ("RK:906AJ", "RK906AJ"),  # a Slovak coat of arms between the groups reads as ":"
        ("W=053011", "W053011"),
        ("BB-135B0", "BB135BO"),  # a 0 after a letter, ending the group, is an O
        ("RK:708A1", "RK708AI"),
        ("AB-1O5-CD", "AB105CD"),  # an O between digits is a 0
        ("1B8 0338", "1B80338"),  # a group's first character stays: Czech plates open so
        ("BA·3020Z", "BA3020Z"),  # a 0 between a digit and a letter stays as read
        ("5AU-53:41;", None),  # a character plates do not print
        ("5AU5341²", None),  # nor a digit outside 0-9
        ("AB1", None),
        ("AB12345678901", None),  # too short, too long
    ],
)
def test_plate_text(reading: str, expected: str | None) -> None:
    assert plate_text(reading) == expected


def test_two_rows_are_joined_and_other_lines_are_not() -> None:
    lines = [
        line("59-K1", 110, 50, 160, 64),
        line("844.46", 105, 66, 170, 80),
        line("SALE 50", 20, 150, 120, 170),
    ]
    assert group_rows(lines) == [(0, 1), (2,)]
    plates = find_plates(plate_image(), lines)
    assert [p.text for p in plates] == ["59K184446"]
    x0, y0, x1, y1 = plates[0].box
    assert x0 < 105 and y0 < 50 and x1 > 170 and y1 > 80  # the rows, grown


def test_filters_reject_unlikely_plates() -> None:
    rgb = plate_image()
    assert find_plates(rgb, [line("51F-869.88", 105, 55, 195, 76)])  # the control
    assert not find_plates(rgb, [line("51F-869.88", 105, 55, 195, 76, conf=0.6)])
    assert not find_plates(rgb, [line("51F-869.88", 105, 55, 125, 76)])  # too narrow
    assert not find_plates(rgb, [line("51F-869.88", 10, 100, 90, 120)])  # flat grey: no print


def test_reads_a_real_plate(reader) -> None:
    rgb = decode(SKODA.read_bytes()).rgb
    plates = detect_plates(reader, rgb)
    assert [p.text for p in plates] == ["5AU5341"]
    x0, y0, x1, y1 = plates[0].box
    assert 290 <= x0 <= 320 and 170 <= y0 <= 195 and 380 <= x1 <= 400 and 205 <= y1 <= 225


@pytest.mark.parametrize(
    "name",
    [
        "plates/passat_display_plate.jpg",  # a dealer's display plate: no registration number
        "text/scenetext01.jpg",
        "moderation/person.jpg",
        "two_people.jpg",
        "2008_002079.jpg",
    ],
)
def test_no_plate_where_there_is_none(reader, name: str) -> None:
    assert detect_plates(reader, decode((FIXTURES / name).read_bytes()).rgb) == []


def test_cli_plates(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "oculi", "plates", str(SKODA), "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [p["Text"] for p in out["Plates"]] == ["5AU5341"]
    assert out["Plates"][0]["Confidence"] > 80
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    r = subprocess.run(
        [sys.executable, "-m", "oculi", "plates", str(bad)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert r.returncode == 1 and "InvalidImageFormatException" in r.stderr


def test_http_plates_endpoint(server) -> None:
    req = urllib.request.Request(
        server.url + "/oculi/plates", data=SKODA.read_bytes(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        out = json.loads(r.read())
        assert r.headers["x-amzn-RequestId"]
    assert [p["Text"] for p in out["Plates"]] == ["5AU5341"]
    box = out["Plates"][0]["BoundingBox"]
    assert 0.55 < box["Left"] < 0.62 and 0.5 < box["Top"] < 0.6
    req = urllib.request.Request(server.url + "/oculi/plates", data=b"junk", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 400
    assert json.loads(e.value.read())["__type"] == "InvalidImageFormatException"


def test_http_plates_fine_flag(server) -> None:
    body = SKODA.read_bytes()
    req = urllib.request.Request(server.url + "/oculi/plates?fine=1", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=300) as r:
        assert [p["Text"] for p in json.loads(r.read())["Plates"]] == ["5AU5341"]
    req = urllib.request.Request(server.url + "/oculi/plates?fine=maybe", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 400
    assert json.loads(e.value.read())["__type"] == "InvalidParameterException"


def test_cli_redact_plates(tmp_path, reader) -> None:
    dst = tmp_path / "out.png"
    r = subprocess.run(
        [sys.executable, "-m", "oculi", "redact", str(SKODA), "-o", str(dst), "--plates"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "1 plate(s) redacted" in r.stdout
    before, after = decode(SKODA.read_bytes()).rgb, decode(dst.read_bytes()).rgb
    assert detect_plates(reader, after, fine=True) == []
    x0, y0, x1, y1 = detect_plates(reader, before)[0].box
    changed = np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 0
    assert changed[y0:y1, x0:x1].mean() > 0.95  # the whole plate box is covered
    assert changed.mean() < 0.1  # and little else
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "oculi",
            "redact",
            str(tmp_path / "v.mp4"),
            "-o",
            str(tmp_path / "o.mp4"),
            "--plates",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert r.returncode == 1 and "images only" in r.stderr


def test_http_plates_endpoint_checks_keys(tmp_path) -> None:
    """With keys configured, the endpoint answers only SigV4-signed requests."""
    srv = Server(tmp_path, keys={"AKIAPLATES": "secret"})
    try:

        def post(key: str, secret: str) -> tuple[int, dict]:
            req = AWSRequest(method="POST", url=srv.url + "/oculi/plates", data=SKODA.read_bytes())
            SigV4Auth(Credentials(key, secret), "oculi", "us-east-1").add_auth(req)
            http = urllib.request.Request(
                req.url, data=req.body, headers=dict(req.headers), method="POST"
            )
            try:
                with urllib.request.urlopen(http, timeout=300) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        status, doc = post("AKIAPLATES", "secret")
        assert status == 200 and [p["Text"] for p in doc["Plates"]] == ["5AU5341"]
        status, doc = post("AKIAPLATES", "wrong")
        assert (status, doc["__type"]) == (403, "InvalidSignatureException")
    finally:
        srv.stop()


def test_http_redact_plates(tmp_path, reader) -> None:
    """POST /oculi/redact?plates=1, signed: the plate read in the photo is covered, every
    other pixel is as sent (PNG in, PNG out, no face in the photo); bad flags and videos
    with plates are refused with InvalidParameterException."""
    srv = Server(tmp_path, keys={"AKIAREDACT": "secret"})
    try:

        def post(query: str, body: bytes) -> tuple[int, Message, bytes]:
            req = AWSRequest(method="POST", url=f"{srv.url}/oculi/redact?{query}", data=body)
            SigV4Auth(Credentials("AKIAREDACT", "secret"), "oculi", "us-east-1").add_auth(req)
            http = urllib.request.Request(
                req.url, data=req.body, headers=dict(req.headers), method="POST"
            )
            try:
                with urllib.request.urlopen(http, timeout=300) as r:
                    return r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers, e.read()

        body = SKODA.read_bytes()
        before = decode(body).rgb
        status, headers, data = post("mode=pixelate&plates=1", body)
        assert status == 200, data
        assert headers["Content-Type"] == "image/png"
        assert (headers["x-oculi-faces-redacted"], headers["x-oculi-plates-redacted"]) == ("0", "1")
        after = decode(data).rgb
        changed = np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 0
        [(x0, y0, x1, y1)] = plate_boxes(reader, before).astype(int)
        assert changed[y0:y1, x0:x1].mean() > 0.95  # the whole plate box is covered
        dx, dy = (x1 - x0) // 4 + 1, (y1 - y0) // 4 + 1  # the 25% margin, rounded up
        changed[y0 - dy : y1 + dy, x0 - dx : x1 + dx] = False
        assert not changed.any()  # nothing outside the plate and its margin
        status, headers, data = post("mode=pixelate", body)  # plates are opt-in
        assert status == 200 and "x-oculi-plates-redacted" not in headers
        assert np.array_equal(decode(data).rgb, before)
        status, _, data = post("plates=maybe", body)
        assert (status, json.loads(data)["__type"]) == (400, "InvalidParameterException")
        video = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(64)
        status, _, data = post("plates=1", video)
        error = json.loads(data)
        assert (status, error["__type"]) == (400, "InvalidParameterException")
        assert "images only" in error["Message"]
        status, _, data = post("plates=0", video)  # not a plate question: not an image
        assert (status, json.loads(data)["__type"]) == (400, "InvalidImageFormatException")
    finally:
        srv.stop()
