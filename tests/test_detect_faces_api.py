"""DetectFaces through unchanged AWS clients (boto3, the AWS CLI) against a real server."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message

import pytest
from PIL import Image

from oculi.api import spec
from oculi.vision.landmarks import LANDMARK_NAMES
from tests.conftest import REGION, clean_env, fixture_bytes


def raw_call(url: str, target: str | None, body: bytes) -> tuple[int, Message, dict]:
    """POST one JSON 1.1 request; returns status, headers (case-insensitive), body."""
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        headers["X-Amz-Target"] = target
    req = urllib.request.Request(url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def check_face_detail(face: dict) -> None:
    box = face["BoundingBox"]
    assert 0 <= box["Left"] < 1 and 0 <= box["Top"] < 1
    assert 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1
    assert [lm["Type"] for lm in face["Landmarks"]] == list(LANDMARK_NAMES)
    assert len(face["Landmarks"]) == 30
    lm = {d["Type"]: (d["X"], d["Y"]) for d in face["Landmarks"]}
    # Geometry of an upright face, in Rekognition's image-left/right naming.
    assert lm["eyeLeft"][0] < lm["nose"][0] < lm["eyeRight"][0]
    assert lm["mouthLeft"][0] < lm["mouthRight"][0]
    assert lm["eyeLeft"][1] < lm["nose"][1] < lm["mouthUp"][1] < lm["mouthDown"][1]
    assert lm["mouthDown"][1] < lm["chinBottom"][1]
    for name in ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"):
        x, y = lm[name]
        assert box["Left"] <= x <= box["Left"] + box["Width"]
        assert box["Top"] <= y <= box["Top"] + box["Height"]
    assert set(face["Pose"]) == {"Roll", "Yaw", "Pitch"}
    assert all(-90 <= v <= 90 for v in face["Pose"].values())
    assert 0 <= face["Quality"]["Brightness"] <= 100
    assert 0 <= face["Quality"]["Sharpness"] <= 100
    assert 50 <= face["Confidence"] <= 100


def test_two_people_boto3(client) -> None:
    r = client.detect_faces(
        Image={"Bytes": fixture_bytes("two_people.jpg")}, Attributes=["DEFAULT"]
    )
    faces = r["FaceDetails"]
    assert len(faces) == 2
    for f in faces:
        check_face_detail(f)
    lefts = sorted(f["BoundingBox"]["Left"] for f in faces)
    assert lefts[0] < 0.4 < lefts[1]  # one face on each side of the photo
    assert "OrientationCorrection" not in r  # always null for current face models
    assert r["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"
    assert r["ResponseMetadata"]["RequestId"]


def test_response_matches_service_model_exactly(server) -> None:
    body = json.dumps(
        {"Image": {"Bytes": base64.b64encode(fixture_bytes("obama-480p.jpg")).decode()}}
    ).encode()
    status, headers, doc = raw_call(server.url, "RekognitionService.DetectFaces", body)
    assert status == 200
    assert headers["x-amzn-RequestId"]
    out_shape = spec.operation("DetectFaces").output_shape
    spec.validate(out_shape, doc)  # unknown members or bad types raise
    assert len(doc["FaceDetails"]) == 1
    check_face_detail(doc["FaceDetails"][0])


def test_attributes_all_returns_measured_attributes_only(client) -> None:
    r = client.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")}, Attributes=["ALL"])
    (face,) = r["FaceDetails"]
    check_face_detail(face)
    assert face["Gender"]["Value"] == "Male" and face["Gender"]["Confidence"] > 50
    assert face["AgeRange"]["Low"] < face["AgeRange"]["High"]
    assert face["Smile"]["Value"] is True  # a broad smile in this portrait
    emotions = face["Emotions"]
    assert emotions[0]["Type"] == "HAPPY"
    assert sum(e["Confidence"] for e in emotions) == pytest.approx(100, abs=0.5)
    assert face["EyesOpen"]["Value"] is True  # eyes open, looking near the camera
    assert abs(face["EyeDirection"]["Yaw"]) < 30 and abs(face["EyeDirection"]["Pitch"]) < 30
    # Attributes without a measured model are left out, never guessed.
    for name in ("Eyeglasses", "Sunglasses", "Beard", "Mustache", "FaceOccluded"):
        assert name not in face


def test_single_attribute_adds_only_that_one(client) -> None:
    r = client.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")}, Attributes=["GENDER"])
    (face,) = r["FaceDetails"]
    assert "Gender" in face and "Emotions" not in face and "AgeRange" not in face
    check_face_detail(face)  # DEFAULT is always there


def test_small_faces_in_group_photos(client) -> None:
    # dlib's hand labels: 6 and 7 faces, 37-53 px wide.
    for name, labelled in (("2008_002079.jpg", 6), ("2008_007676.jpg", 7)):
        faces = client.detect_faces(Image={"Bytes": fixture_bytes(name)})["FaceDetails"]
        assert len(faces) >= labelled, name
        for f in faces:
            assert len(f["Landmarks"]) == 30


def test_faces_sorted_largest_first(client) -> None:
    faces = client.detect_faces(Image={"Bytes": fixture_bytes("2008_007676.jpg")})["FaceDetails"]
    areas = [f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"] for f in faces]
    assert areas == sorted(areas, reverse=True)


def test_exif_orientation_is_applied(client) -> None:
    """A JPEG stored sideways with EXIF orientation 6 gives the upright image's answer."""
    upright = Image.open(io.BytesIO(fixture_bytes("obama-480p.jpg")))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera would store
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=95, exif=exif)
    a = client.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})["FaceDetails"][0]
    b = client.detect_faces(Image={"Bytes": buf.getvalue()})["FaceDetails"][0]
    for k in ("Left", "Top", "Width", "Height"):
        assert a["BoundingBox"][k] == pytest.approx(b["BoundingBox"][k], abs=0.02)
    assert abs(b["Pose"]["Roll"]) < 15


def test_png_input(client) -> None:
    buf = io.BytesIO()
    Image.open(io.BytesIO(fixture_bytes("obama-480p.jpg"))).save(buf, format="PNG")
    faces = client.detect_faces(Image={"Bytes": buf.getvalue()})["FaceDetails"]
    assert len(faces) == 1


def test_no_face(client) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 140, 200)).save(buf, format="JPEG")
    assert client.detect_faces(Image={"Bytes": buf.getvalue()})["FaceDetails"] == []


def test_endpoint_from_environment_variable(server, tmp_path) -> None:
    """AWS_ENDPOINT_URL_REKOGNITION and no code change."""
    code = (
        "import boto3,sys; c=boto3.client('rekognition'); "
        "r=c.detect_faces(Image={'Bytes': open(sys.argv[1],'rb').read()}); "
        "print(len(r['FaceDetails']))"
    )
    env = clean_env(
        AWS_ENDPOINT_URL_REKOGNITION=server.url,
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
        AWS_DEFAULT_REGION=REGION,
    )
    path = tmp_path / "p.jpg"
    path.write_bytes(fixture_bytes("two_people.jpg"))
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"


def test_aws_cli(server, tmp_path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(fixture_bytes("two_people.jpg"))
    env = clean_env(
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    aws = [sys.executable, "-m", "awscli"]
    out = subprocess.run(
        aws
        + [
            "--endpoint-url",
            server.url,
            "rekognition",
            "detect-faces",
            "--image-bytes",
            f"fileb://{path}",
            "--attributes",
            "DEFAULT",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    faces = json.loads(out.stdout)["FaceDetails"]
    assert len(faces) == 2
    # An error through the CLI: exit code 254 and the modelled exception name.
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    out = subprocess.run(
        aws
        + [
            "--endpoint-url",
            server.url,
            "rekognition",
            "detect-faces",
            "--image-bytes",
            f"fileb://{bad}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "InvalidImageFormatException" in out.stderr


def test_s3_object(client) -> None:
    r = client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "two_people.jpg"}})
    assert len(r["FaceDetails"]) == 2


@pytest.mark.parametrize(
    "s3",
    [
        {"Bucket": "photos", "Name": "missing.jpg"},
        {"Bucket": "no-such-bucket", "Name": "two_people.jpg"},
    ],
)
def test_s3_missing_object_or_bucket(client, s3) -> None:
    with pytest.raises(client.exceptions.InvalidS3ObjectException):
        client.detect_faces(Image={"S3Object": s3})


def test_s3_object_too_large(client) -> None:
    with pytest.raises(client.exceptions.ImageTooLargeException):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "big.jpg"}})
