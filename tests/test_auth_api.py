"""SigV4 on the wire: the server checks signatures when access keys are configured."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from oculi.settings import KeysError, load_keys
from tests.conftest import Server, clean_env, fixture_bytes, free_port

KEY, SECRET = "AKIAOCULITEST0000001", "s3cr3t/with+chars"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tmp_path_factory.mktemp("auth"), keys={KEY: SECRET})
    yield srv
    srv.stop()


def code_of(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_signed_request_accepted(auth_server) -> None:
    c = auth_server.client(KEY, SECRET)
    assert len(c.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})["FaceDetails"]) == 1


def test_wrong_secret(auth_server) -> None:
    c = auth_server.client(KEY, "wrong")
    assert code_of(lambda: c.detect_faces(Image={"Bytes": b"x"})) == "InvalidSignatureException"


def test_unknown_key(auth_server) -> None:
    c = auth_server.client("AKIANOBODY", SECRET)
    assert code_of(lambda: c.detect_faces(Image={"Bytes": b"x"})) == "UnrecognizedClientException"


def test_unsigned_request(auth_server) -> None:
    c = auth_server.client(config=Config(signature_version=UNSIGNED))
    assert (
        code_of(lambda: c.detect_faces(Image={"Bytes": b"x"}))
        == "MissingAuthenticationTokenException"
    )


def test_refuses_public_bind_without_keys(tmp_path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "oculi",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "1",
            "--data-dir",
            str(tmp_path),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "without access keys" in out.stderr


ADMIN = {"access_key_id": "AKADMIN", "secret_access_key": "admin-secret"}
READER = {
    "access_key_id": "AKREADER",
    "secret_access_key": "reader-secret",
    "allow": ["Describe*", "List*", "DetectFaces"],
    "collections": {"read": ["*"]},
}
SEARCHER = {
    "access_key_id": "AKSEARCH",
    "secret_access_key": "search-secret",
    "collections": {"search": ["staff"], "read": ["staff"]},
}


@pytest.fixture(scope="module")
def perm_server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(
        tmp_path_factory.mktemp("perm"),
        keys=[ADMIN, READER, SEARCHER],
        env={"OCULI_MATCH_FLOOR": "80"},
    )
    yield srv
    srv.stop()


def as_key(srv: Server, spec: dict):
    return srv.client(spec["access_key_id"], spec["secret_access_key"])


def test_per_key_permissions(perm_server) -> None:
    admin, reader, searcher = (as_key(perm_server, k) for k in (ADMIN, READER, SEARCHER))
    for cid in ("staff", "other"):
        admin.create_collection(CollectionId=cid)
    assert reader.describe_collection(CollectionId="other")["FaceCount"] == 0
    assert (
        len(reader.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})["FaceDetails"])
        == 1
    )
    photo = {"Bytes": fixture_bytes("obama-480p.jpg")}
    denied = [
        lambda: reader.create_collection(CollectionId="mine"),  # operation not allowed
        lambda: reader.search_faces_by_image(CollectionId="staff", Image=photo),
        lambda: searcher.search_faces_by_image(CollectionId="other", Image=photo),  # collection
        lambda: searcher.index_faces(CollectionId="staff", Image=photo),  # no write access
    ]
    for call in denied:
        assert code_of(call) == "AccessDeniedException"
    assert searcher.search_faces_by_image(CollectionId="staff", Image=photo)["FaceMatches"] == []
    out = subprocess.run(
        [sys.executable, "-m", "oculi", "audit", "export", "--data-dir", str(perm_server.data_dir)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    denials = [
        r
        for r in map(json.loads, out.stdout.splitlines())
        if r["outcome"] == "AccessDeniedException"
    ]
    assert len(denials) == 4
    assert {r["access_key"] for r in denials} == {"AKREADER", "AKSEARCH"}


def test_overload_answers_throttling(tmp_path) -> None:
    """At 1 worker and 1 queued request, a burst gets ThrottlingException, never a 500 or a
    timeout; every request either succeeds or is throttled."""
    srv = Server(tmp_path, args=["--workers", "1", "--queue-per-worker", "1"])
    try:
        c = srv.client(config=Config(retries={"max_attempts": 0}))
        image = {"Bytes": fixture_bytes("two_people.jpg")}
        outcomes: list[str] = []

        def call() -> None:
            try:
                c.detect_faces(Image=image)
                outcomes.append("ok")
            except ClientError as e:
                outcomes.append(e.response["Error"]["Code"])

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(outcomes) <= {"ok", "ThrottlingException"}
        assert "ThrottlingException" in outcomes and "ok" in outcomes
        # With the SDK's own retries on, throttled calls go through.
        patient = srv.client(config=Config(retries={"max_attempts": 10, "mode": "standard"}))
        assert len(patient.detect_faces(Image=image)["FaceDetails"]) == 2
    finally:
        srv.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls(tmp_path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oculi",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "d"),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/health", context=ctx, timeout=1
                ).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        c = boto3.client(
            "rekognition",
            endpoint_url=f"https://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
            verify=str(cert),
        )
        assert (
            len(c.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})["FaceDetails"])
            == 1
        )
    finally:
        proc.terminate()
        proc.wait(10)


# ---- key expiry ----------------------------------------------------------------------------

EXPIRED_KEY = {
    "access_key_id": "AKEXPIRED",
    "secret_access_key": "old",
    "expires": "2020-01-01T00:00:00Z",
}
LASTING_KEY = {
    "access_key_id": "AKLASTING",
    "secret_access_key": "new",
    "expires": "2999-01-01T00:00:00+00:00",
}
SOON_S = 10.0  # the short-lived key expires this long after the server is started
# (its test runs first: it needs no model)


@pytest.fixture(scope="module")
def expiry_server(tmp_path_factory: pytest.TempPathFactory):
    soon = datetime.now(timezone.utc) + timedelta(seconds=SOON_S)
    keys = [
        EXPIRED_KEY,
        LASTING_KEY,
        {"access_key_id": "AKSOON", "secret_access_key": "soon", "expires": soon.isoformat()},
    ]
    srv = Server(tmp_path_factory.mktemp("expiry"), keys=keys)
    yield srv, soon
    srv.stop()


def test_key_expires_while_server_runs(expiry_server) -> None:
    """Expiry is checked on every request, not when the keys file is read."""
    srv, soon = expiry_server
    client = srv.client("AKSOON", "soon")
    assert client.list_collections()["CollectionIds"] == []
    time.sleep(max(0.0, (soon - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    assert code_of(client.list_collections) == "ExpiredTokenException"


def test_expired_key_refused_and_audited(expiry_server) -> None:
    srv, _ = expiry_server
    photo = {"Bytes": fixture_bytes("obama-480p.jpg")}
    assert len(as_key(srv, LASTING_KEY).detect_faces(Image=photo)["FaceDetails"]) == 1
    with pytest.raises(ClientError) as e:
        as_key(srv, EXPIRED_KEY).detect_faces(Image=photo)
    meta = e.value.response["ResponseMetadata"]
    assert e.value.response["Error"]["Code"] == "ExpiredTokenException"
    assert (meta["HTTPStatusCode"], meta["RetryAttempts"]) == (400, 0)
    out = subprocess.run(
        [sys.executable, "-m", "oculi", "audit", "export", "--data-dir", str(srv.data_dir)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused = [
        r
        for r in map(json.loads, out.stdout.splitlines())
        if r["outcome"] == "ExpiredTokenException"
    ]
    assert ("AKEXPIRED", "DetectFaces") in [(r["access_key"], r["operation"]) for r in refused]
    assert "AKLASTING" not in {r["access_key"] for r in refused}


def signed_redact(srv: Server, key: dict) -> tuple[int, dict]:
    """POST a photo to the native redact endpoint, signed by `key` for service `oculi`."""
    req = AWSRequest(
        method="POST", url=srv.url + "/oculi/redact", data=fixture_bytes("obama-480p.jpg")
    )
    SigV4Auth(
        Credentials(key["access_key_id"], key["secret_access_key"]), "oculi", "us-east-1"
    ).add_auth(req)
    http = urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(http, timeout=60) as r:
            return r.status, {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_expired_key_refused_on_redact_endpoint(expiry_server) -> None:
    srv, _ = expiry_server
    status, doc = signed_redact(srv, EXPIRED_KEY)
    assert (status, doc["__type"]) == (400, "ExpiredTokenException")


@pytest.mark.parametrize("expires", ["2027-01-31T00:00:00", "next tuesday", 20270131])
def test_expiry_must_be_iso_8601_with_offset(tmp_path, expires) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"keys": [{**EXPIRED_KEY, "expires": expires}]}))
    with pytest.raises(KeysError):
        load_keys(keys_file)
