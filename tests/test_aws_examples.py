"""AWS's own Python image example for Rekognition (awsdocs/aws-doc-sdk-examples,
python/example_code/rekognition: rekognition_image_detection.py's usage demo and the
wrapper classes of rekognition_objects.py) must run against oculi to its end.

This test is written for oculi, not copied: it makes the demo's sequence of boto3 calls
with the demo's parameters, on local photos in place of the demo's, and reads every
response field the demo and its wrappers read, the way they read it (`.get` with
defaults, then `box["Left"]`-style indexing where the demo draws boxes and polygons).
The demo's images: a street scene (DetectFaces with Attributes ALL, then DetectLabels
with MaxLabels 100), a celebrity photo (RecognizeCelebrities), one face compared against
a group photo (CompareFaces, SimilarityThreshold 80), an S3 object for
DetectModerationLabels, a book page (DetectText). The server runs with the default
identity floor and a celebrity collection, as an operator would set it up
(docs/celebrities.md); every answer is also checked against botocore's output shapes.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import boto3
import pytest

from tests.conftest import FIXTURES, REGION, Server, clean_env
from tests.shapes import WireAnswers

PEOPLE = FIXTURES / "people"
FLAGS = ("Smile", "Eyeglasses", "Sunglasses", "Gender", "Beard", "Mustache", "EyesOpen",
         "MouthOpen")  # fmt: skip


def draw_box(box: dict[str, float]) -> None:
    """What the demo's show_bounding_boxes does with a box: index its four ratios."""
    for k in ("Left", "Top", "Width", "Height"):
        assert 0.0 <= float(box[k]) <= 1.0 + 1e-6, box


def read_face(face: dict[str, Any]) -> dict[str, Any]:
    """The fields the example's face wrapper reads from a FaceDetail or ComparedFace."""
    out: dict[str, Any] = {
        k: face.get(k)
        for k in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality", "FaceId", "ImageId")
    }
    age = face.get("AgeRange")
    out["age"] = (age.get("Low"), age.get("High")) if age is not None else None
    for name in FLAGS:
        out[name] = face.get(name, {}).get("Value")
    out["emotions"] = [
        e.get("Type") for e in face.get("Emotions", []) if e.get("Confidence", 0) > 50
    ]
    return out


def read_celebrity(celebrity: dict[str, Any]) -> dict[str, Any]:
    """The fields the example's celebrity wrapper reads (its face through read_face)."""
    return {
        "urls": celebrity.get("Urls"),
        "name": celebrity.get("Name"),
        "id": celebrity.get("Id"),
        "face": read_face(celebrity.get("Face")),  # the demo calls .get on it: must be there
        "confidence": celebrity.get("MatchConfidence"),
        "box": celebrity.get("BoundingBox"),
    }


@pytest.fixture(scope="module")
def example_server(tmp_path_factory: pytest.TempPathFactory, moto_s3: str):
    tmp = tmp_path_factory.mktemp("aws-example")
    enrol = subprocess.run(
        [sys.executable, "-m", "oculi", "celebrities", "add",
         str(PEOPLE / "train/obama/obama.jpg"), str(PEOPLE / "train/obama/obama2.jpg"),
         "--collection", "celebrities", "--name", "Barack Obama", "--gender", "Male",
         "--url", "https://en.wikipedia.org/wiki/Barack_Obama",
         "--data-dir", str(tmp / "data")],
        env=clean_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert enrol.returncode == 0, enrol.stderr
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name=REGION,
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket="console-sample-images-pdx")
    s3.put_object(
        Bucket="console-sample-images-pdx",
        Key="yoga_swimwear.jpg",
        Body=(FIXTURES / "moderation/person.jpg").read_bytes(),
    )
    srv = Server(
        tmp,
        env={
            "AWS_ENDPOINT_URL_S3": moto_s3,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "OCULI_CELEBRITY_COLLECTION": "celebrities",
        },
    )
    yield srv
    srv.stop()


def test_image_detection_usage_demo(example_server) -> None:
    client = example_server.client()
    wire = WireAnswers(client)
    street = {"Bytes": (FIXTURES / "2008_007676.jpg").read_bytes()}

    # Faces in the street scene, all attributes; the demo prints the first three.
    faces = [
        read_face(f) for f in client.detect_faces(Image=street, Attributes=["ALL"])["FaceDetails"]
    ]
    assert len(faces) >= 3
    for face in faces:
        draw_box(face["BoundingBox"])
        assert face["age"] is not None and face["Gender"] in ("Male", "Female")
        assert face["Pose"] is not None and face["Quality"] is not None

    # Labels of the same scene; boxes drawn for the labels that have instances.
    labels = client.detect_labels(Image=street, MaxLabels=100)["Labels"]
    assert labels and len(labels) <= 100
    names = [label.get("Name") for label in labels]
    assert "Person" in names
    boxed = 0
    for label in labels:
        assert isinstance(label.get("Confidence"), float) and isinstance(label.get("Parents"), list)
        for inst in label.get("Instances") or []:
            draw_box(inst["BoundingBox"])
            boxed += 1
    assert boxed

    # Celebrities: named from the operator's collection, the rest as plain faces.
    celebrity_photo = {"Bytes": (PEOPLE / "test/obama_and_biden.jpg").read_bytes()}
    r = client.recognize_celebrities(Image=celebrity_photo)
    celebs = [read_celebrity(c) for c in r["CelebrityFaces"]]
    others = [read_face(f) for f in r["UnrecognizedFaces"]]
    assert [c["name"] for c in celebs] == ["Barack Obama"] and celebs[0]["urls"]
    assert celebs[0]["confidence"] >= 99 and others
    for c in celebs:
        draw_box(c["face"]["BoundingBox"])

    # One face against a group: matches and the rest.
    girl = {"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()}
    group = {"Bytes": (PEOPLE / "test/obama_and_biden.jpg").read_bytes()}
    r = client.compare_faces(SourceImage=girl, TargetImage=group, SimilarityThreshold=80)
    matches = [read_face(m["Face"]) for m in r["FaceMatches"]]
    unmatches = [read_face(f) for f in r["UnmatchedFaces"]]
    assert len(matches) == 1 and len(unmatches) == 2
    for m in matches:
        draw_box(m["BoundingBox"])

    # Moderation labels of an S3 object (an ordinary photo here: no label may be reported).
    r = client.detect_moderation_labels(
        Image={"S3Object": {"Bucket": "console-sample-images-pdx", "Name": "yoga_swimwear.jpg"}}
    )
    assert [
        (m.get("Name"), m.get("Confidence"), m.get("ParentName")) for m in r["ModerationLabels"]
    ] == []

    # Text of a book page; the demo draws every detection's polygon.
    texts = client.detect_text(Image={"Bytes": (FIXTURES / "text/imageTextN.png").read_bytes()})
    detections = texts["TextDetections"]
    assert len(detections) > 7
    for t in detections:
        assert t.get("DetectedText") and t.get("Type") in ("LINE", "WORD")
        assert isinstance(t.get("Id"), int) and isinstance(t.get("Confidence"), float)
        assert t.get("Type") == "LINE" or isinstance(t.get("ParentId"), int)
        for point in t.get("Geometry")["Polygon"]:
            assert 0 <= point["X"] <= 1 and 0 <= point["Y"] <= 1

    assert wire.check() == [
        "CompareFaces",
        "DetectFaces",
        "DetectLabels",
        "DetectModerationLabels",
        "DetectText",
        "RecognizeCelebrities",
    ]
