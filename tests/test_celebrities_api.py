"""RecognizeCelebrities and GetCelebrityInfo: from the operator's celebrity collection
(enrolled with `oculi celebrities add`), through boto3 against real servers."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import FIXTURES, Server, oculi_cli
from tests.shapes import WireAnswers

PEOPLE = FIXTURES / "people"
OBAMA_URLS = ["https://en.wikipedia.org/wiki/Barack_Obama", "https://www.obama.org"]


cli = oculi_cli


def photo(rel: str) -> bytes:
    return (PEOPLE / rel).read_bytes()


@pytest.fixture(scope="module")
def celebrity_server(tmp_path_factory: pytest.TempPathFactory):
    """A server (default identity floor, 99) whose celebrity collection holds Barack Obama
    (id BarackObama, two photos) and Joe Biden (a random id, one photo)."""
    tmp = tmp_path_factory.mktemp("celebs")
    data = str(tmp / "data")
    common = ["--collection", "celebs", "--data-dir", data]
    obama = [str(PEOPLE / "train/obama/obama.jpg"), str(PEOPLE / "train/obama/obama2.jpg")]
    out = cli("celebrities", "add", *obama, *common, "--id", "BarackObama",
              "--name", "Barack Obama", "--gender", "Male",
              "--url", OBAMA_URLS[0], "--url", OBAMA_URLS[1])  # fmt: skip
    assert out.returncode == 0 and "2 faces enrolled" in out.stdout, out.stderr
    out = cli("celebrities", "add", str(PEOPLE / "train/biden/biden.jpg"), *common,
              "--name", "Joe Biden")  # fmt: skip
    assert out.returncode == 0, out.stderr
    biden_id = out.stdout.split("\t")[0]
    listed = cli("celebrities", "list", *common)
    assert listed.returncode == 0 and "BarackObama\tBarack Obama\tMale\t2 faces" in listed.stdout
    srv = Server(tmp, args=["--celebrity-collection", "celebs"])
    srv.biden_id = biden_id
    yield srv
    srv.stop()


def test_recognizes_the_enrolled_and_no_one_else(celebrity_server) -> None:
    c = celebrity_server.client()
    wire = WireAnswers(c)
    r = c.recognize_celebrities(Image={"Bytes": photo("test/obama_and_biden.jpg")})
    named = {f["Name"]: f for f in r["CelebrityFaces"]}
    assert set(named) == {"Barack Obama", "Joe Biden"}, r
    obama = named["Barack Obama"]
    assert obama["Id"] == "BarackObama" and obama["Urls"] == OBAMA_URLS
    assert obama["KnownGender"] == {"Type": "Male"}
    assert obama["MatchConfidence"] >= 99.0  # the identity floor
    assert 0 < obama["Face"]["BoundingBox"]["Width"] < 1 and obama["Face"]["Confidence"] > 50
    assert {lm["Type"] for lm in obama["Face"]["Landmarks"]} == {
        "eyeLeft", "eyeRight", "mouthLeft", "mouthRight", "nose"
    }  # fmt: skip
    assert "KnownGender" not in named["Joe Biden"]
    assert named["Joe Biden"]["Id"] == celebrity_server.biden_id
    # Every face DetectFaces finds is answered, named or not (a third, small face here).
    found = c.detect_faces(Image={"Bytes": photo("test/obama_and_biden.jpg")})["FaceDetails"]
    assert len(r["CelebrityFaces"]) + len(r["UnrecognizedFaces"]) == len(found)
    # People not enrolled are faces, never names.
    r = c.recognize_celebrities(Image={"Bytes": photo("test/kit_with_rose.jpg")})
    assert r["CelebrityFaces"] == [] and len(r["UnrecognizedFaces"]) == 2
    info = c.get_celebrity_info(Id="BarackObama")
    assert info["Name"] == "Barack Obama" and info["Urls"] == OBAMA_URLS
    assert info["KnownGender"] == {"Type": "Male"}
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_celebrity_info(Id="NoSuchPerson")
    assert set(wire.check()) >= {"RecognizeCelebrities", "GetCelebrityInfo"}


def test_recognition_is_audited(celebrity_server) -> None:
    c = celebrity_server.client()
    c.recognize_celebrities(Image={"Bytes": photo("test/obama1.jpg")})
    log = celebrity_server.data_dir / "audit" / "audit.jsonl"
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["operation"] == "RecognizeCelebrities" and last["matches"] == 1


def test_removed_celebrity_is_not_named(tmp_path) -> None:
    data = str(tmp_path / "data")
    common = ["--collection", "celebs", "--data-dir", data]
    out = cli("celebrities", "add", str(PEOPLE / "train/obama/obama.jpg"), *common,
              "--id", "Obama", "--name", "Barack Obama")  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = cli("celebrities", "remove", *common, "--id", "Obama")
    assert out.returncode == 0 and "removed with its 1 faces" in out.stdout, out.stderr
    srv = Server(tmp_path, env={"OCULI_CELEBRITY_COLLECTION": "celebs"})
    try:
        c = srv.client()
        r = c.recognize_celebrities(Image={"Bytes": photo("test/obama1.jpg")})
        assert r["CelebrityFaces"] == [] and len(r["UnrecognizedFaces"]) == 1
        assert c.list_faces(CollectionId="celebs")["Faces"] == []
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.get_celebrity_info(Id="Obama")
    finally:
        srv.stop()


def test_without_a_celebrity_collection_every_face_is_unrecognized(client) -> None:
    """The shared test server names no celebrity collection: faces come back, names never."""
    wire = WireAnswers(client)
    r = client.recognize_celebrities(Image={"Bytes": photo("test/obama_and_biden.jpg")})
    assert r["CelebrityFaces"] == [] and len(r["UnrecognizedFaces"]) == 3
    face = r["UnrecognizedFaces"][0]
    assert set(face) >= {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}
    r = client.recognize_celebrities(Image={"Bytes": (FIXTURES / "labels/dog.jpg").read_bytes()})
    assert r == {
        "CelebrityFaces": [],
        "UnrecognizedFaces": [],
        "ResponseMetadata": r["ResponseMetadata"],
    }
    with pytest.raises(ClientError) as e:
        client.get_celebrity_info(Id="BarackObama")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.get_celebrity_info(Id="not-alphanumeric!")
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.recognize_celebrities(Image={"Bytes": b"not an image"})
    assert wire.check() == ["RecognizeCelebrities"]


def test_enrolment_waits_for_a_running_server(tmp_path) -> None:
    """add and remove write the collection's vector index, as `oculi import` does: not
    while a server holds the data directory (its index would go stale); list only reads."""
    srv = Server(tmp_path)
    try:
        common = ["--collection", "celebs", "--data-dir", str(srv.data_dir)]
        out = cli("celebrities", "add", str(PEOPLE / "train/obama/obama.jpg"), *common,
                  "--name", "Barack Obama")  # fmt: skip
        assert out.returncode == 1 and "in use by another oculi process" in out.stderr
        out = cli("celebrities", "remove", *common, "--id", "Obama")
        assert out.returncode == 1 and "in use by another oculi process" in out.stderr
        assert cli("celebrities", "list", *common).returncode == 0
    finally:
        srv.stop()
