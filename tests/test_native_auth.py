"""The native endpoints and S3Object reads under per-key permissions: rights as the
Rekognition operations that tell as much, the identity floor, the audit, per-key buckets;
ListCollections filtered by read rights."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import FIXTURES, REGION, Server

FACES = (FIXTURES / "two_people.jpg").read_bytes()
SKODA = (FIXTURES / "plates" / "skoda_5AU5341.png").read_bytes()
KEYS = [
    {"access_key_id": "ADMIN", "secret_access_key": "s"},
    {"access_key_id": "DETECT", "secret_access_key": "s", "allow": ["DetectFaces"]},
    {
        "access_key_id": "NOSEARCH",
        "secret_access_key": "s",
        "collections": {"read": ["*"], "write": ["*"]},
    },
    {
        "access_key_id": "AONLY",
        "secret_access_key": "s",
        "collections": {"read": ["a*"], "write": ["a*"], "search": ["a*"]},
    },
    {"access_key_id": "OLD", "secret_access_key": "s", "expires": "2020-01-01T00:00:00Z"},
    {"access_key_id": "S3OK", "secret_access_key": "s", "s3_buckets": ["photos"]},
]


def post(srv: Server, path: str, body: bytes, key: str) -> tuple[int, Message, bytes]:
    req = AWSRequest(method="POST", url=srv.url + path, data=body)
    SigV4Auth(Credentials(key, "s"), "oculi", REGION).add_auth(req)
    http = urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(http, timeout=300) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def error_type(answer: tuple[int, Message, bytes]) -> str:
    status, _, data = answer
    assert status == 400, (status, data)
    return json.loads(data)["__type"]


def audit_records(srv: Server) -> list[dict]:
    path = srv.data_dir / "audit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, moto_s3: str):
    srv = Server(
        tmp_path_factory.mktemp("native-auth"),
        keys=KEYS,
        env={
            "AWS_ENDPOINT_URL_S3": moto_s3,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    )
    admin = srv.client("ADMIN", "s")
    for collection in ("a1", "b1"):
        admin.create_collection(CollectionId=collection)
    yield srv
    srv.stop()


def test_redact_against_a_collection_needs_search_rights_on_it(keyed: Server) -> None:
    """A key that may only detect faces, one without search rights, and one limited to
    collections a* are all refused a membership question about b1, and about a collection
    that does not exist (AccessDenied before any look-up); each refusal is audited."""
    query = "/oculi/redact?faces=only&collection=b1&threshold=0"
    for key in ("DETECT", "NOSEARCH", "AONLY"):
        assert error_type(post(keyed, query, FACES, key)) == "AccessDeniedException", key
    missing = "/oculi/redact?faces=except&collection=nosuch"
    assert error_type(post(keyed, missing, FACES, "AONLY")) == "AccessDeniedException"
    assert error_type(post(keyed, missing, FACES, "ADMIN")) == "ResourceNotFoundException"
    denied = [
        (r["access_key"], r["collection"])
        for r in audit_records(keyed)
        if r["operation"] == "Redact" and r["outcome"] == "AccessDeniedException"
    ]
    assert denied == [("DETECT", "b1"), ("NOSEARCH", "b1"), ("AONLY", "b1"), ("AONLY", "nosuch")]


def test_redact_obeys_the_floor_and_is_audited(keyed: Server) -> None:
    status, headers, data = post(
        keyed, "/oculi/redact?faces=only&collection=b1&threshold=0", FACES, "ADMIN"
    )
    assert status == 200, data
    assert "raised to the operator's identity floor 99" in headers["x-oculi-notice"]
    record = audit_records(keyed)[-1]
    assert (record["operation"], record["collection"], record["threshold"]) == ("Redact", "b1", 99)
    assert (record["access_key"], record["outcome"]) == ("ADMIN", "OK")
    # Covering every face tells what DetectFaces tells: a DetectFaces key may.
    status, headers, _ = post(keyed, "/oculi/redact?mode=fill", FACES, "DETECT")
    # The two faces, and what redaction's low threshold covers besides (bench/crowd.py).
    assert status == 200 and int(headers["x-oculi-faces-redacted"]) >= 2
    # Covering persons tells what DetectLabels tells: a DetectFaces key may not.
    assert error_type(post(keyed, "/oculi/redact?persons=1", FACES, "DETECT")) == (
        "AccessDeniedException"
    )
    assert audit_records(keyed)[-1]["operation"] == "Redact"


def test_plates_need_detect_text_rights_and_expired_keys_are_audited(keyed: Server) -> None:
    assert error_type(post(keyed, "/oculi/plates", SKODA, "DETECT")) == "AccessDeniedException"
    assert error_type(post(keyed, "/oculi/redact?plates=1", SKODA, "DETECT")) == (
        "AccessDeniedException"
    )
    assert error_type(post(keyed, "/oculi/plates", SKODA, "OLD")) == "ExpiredTokenException"
    last = audit_records(keyed)[-1]
    assert (last["operation"], last["access_key"], last["outcome"]) == (
        "Plates",
        "OLD",
        "ExpiredTokenException",
    )
    status, _, data = post(keyed, "/oculi/plates", SKODA, "NOSEARCH")
    assert status == 200 and [p["Text"] for p in json.loads(data)["Plates"]] == ["5AU5341"]
    last = audit_records(keyed)[-1]
    assert (last["operation"], last["access_key"], last["matches"]) == ("Plates", "NOSEARCH", 1)


def test_list_collections_shows_only_what_the_key_may_read(keyed: Server) -> None:
    assert keyed.client("AONLY", "s").list_collections()["CollectionIds"] == ["a1"]
    page = keyed.client("AONLY", "s").list_collections(MaxResults=1)
    assert page["CollectionIds"] == ["a1"] and "NextToken" not in page
    assert keyed.client("ADMIN", "s").list_collections()["CollectionIds"] == ["a1", "b1"]


def s3_image(bucket: str, name: str) -> dict:
    return {"S3Object": {"Bucket": bucket, "Name": name}}


def test_s3_reads_need_the_bucket_in_the_key_and_are_audited(keyed: Server) -> None:
    def refused(key: str, image: dict) -> str:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            keyed.client(key, "s").detect_faces(Image=image)
        return e.value.response["Error"]["Code"]

    # A key without s3_buckets reads no bucket; S3OK only "photos".
    assert refused("ADMIN", s3_image("photos", "two_people.jpg")) == "AccessDeniedException"
    assert refused("S3OK", s3_image("private", "two_people.jpg")) == "AccessDeniedException"
    for name in ("public/../two_people.jpg", "./two_people.jpg", "a\\..\\two_people.jpg"):
        assert refused("S3OK", s3_image("photos", name)) == "InvalidS3ObjectException", name
    faces = keyed.client("S3OK", "s").detect_faces(Image=s3_image("photos", "two_people.jpg"))
    assert len(faces["FaceDetails"]) == 2
    last = audit_records(keyed)[-1]
    assert (last["operation"], last["access_key"], last["outcome"]) == ("DetectFaces", "S3OK", "OK")
    assert last["s3"] == [{"bucket": "photos", "key": "two_people.jpg", "version": None}]
    denied = [r for r in audit_records(keyed) if r["outcome"] == "AccessDeniedException"]
    assert {"bucket": "private", "key": "two_people.jpg", "version": None} in [
        s for r in denied for s in r.get("s3", [])
    ]


@pytest.mark.parametrize("bucket", ["..", "a..b", "ab", ".photos", "photos/x", "-photos"])
def test_odd_bucket_names_are_refused_before_any_read(bucket: str) -> None:
    from oculi.errors import InvalidS3Object
    from oculi.service.image_source import check_s3_object

    with pytest.raises(InvalidS3Object):
        check_s3_object({"Bucket": bucket, "Name": "x.jpg"})
    check_s3_object({"Bucket": "photos", "Name": "a..b/x.jpg"})  # ".." inside a name is one


def test_keys_file_refuses_a_bucket_list_that_is_not_a_list(tmp_path: Path) -> None:
    from oculi.settings import KeysError, load_keys

    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps({"keys": [{"access_key_id": "K", "secret_access_key": "s", "s3_buckets": "*"}]})
    )
    with pytest.raises(KeysError, match="s3_buckets"):
        load_keys(path)
