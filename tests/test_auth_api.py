"""SigV4 on the wire: the server checks signatures when access keys are configured."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

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
    assert len(c.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})
               ["FaceDetails"]) == 1


def test_wrong_secret(auth_server) -> None:
    c = auth_server.client(KEY, "wrong")
    assert code_of(lambda: c.detect_faces(Image={"Bytes": b"x"})) == "InvalidSignatureException"


def test_unknown_key(auth_server) -> None:
    c = auth_server.client("AKIANOBODY", SECRET)
    assert code_of(lambda: c.detect_faces(Image={"Bytes": b"x"})) == \
        "UnrecognizedClientException"


def test_unsigned_request(auth_server) -> None:
    c = auth_server.client(config=Config(signature_version=UNSIGNED))
    assert code_of(lambda: c.detect_faces(Image={"Bytes": b"x"})) == \
        "MissingAuthenticationTokenException"


def test_refuses_public_bind_without_keys(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "oculi", "serve", "--host", "0.0.0.0",
                          "--port", "1", "--data-dir", str(tmp_path)],
                         env=clean_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "without access keys" in out.stderr


ADMIN = {"access_key_id": "AKADMIN", "secret_access_key": "admin-secret"}
READER = {"access_key_id": "AKREADER", "secret_access_key": "reader-secret",
          "allow": ["Describe*", "List*", "DetectFaces"], "collections": {"read": ["*"]}}
SEARCHER = {"access_key_id": "AKSEARCH", "secret_access_key": "search-secret",
            "collections": {"search": ["staff"], "read": ["staff"]}}


@pytest.fixture(scope="module")
def perm_server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tmp_path_factory.mktemp("perm"), keys=[ADMIN, READER, SEARCHER],
                 env={"OCULI_MATCH_FLOOR": "80"})
    yield srv
    srv.stop()


def as_key(srv: Server, spec: dict):
    return srv.client(spec["access_key_id"], spec["secret_access_key"])


def test_per_key_permissions(perm_server) -> None:
    admin, reader, searcher = (as_key(perm_server, k) for k in (ADMIN, READER, SEARCHER))
    for cid in ("staff", "other"):
        admin.create_collection(CollectionId=cid)
    assert reader.describe_collection(CollectionId="other")["FaceCount"] == 0
    assert len(reader.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})
               ["FaceDetails"]) == 1
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
    out = subprocess.run([sys.executable, "-m", "oculi", "audit", "export", "--data-dir",
                          str(perm_server.data_dir)], env=clean_env(), capture_output=True,
                         text=True, timeout=60)
    denials = [r for r in map(json.loads, out.stdout.splitlines())
               if r["outcome"] == "AccessDeniedException"]
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
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "oculi", "serve", "--port", str(port),
                             "--data-dir", str(tmp_path / "d"), "--tls-cert", str(cert),
                             "--tls-key", str(key)], env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=ctx,
                                       timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        c = boto3.client("rekognition", endpoint_url=f"https://127.0.0.1:{port}",
                         region_name="us-east-1", aws_access_key_id="a",
                         aws_secret_access_key="b", verify=str(cert))
        assert len(c.detect_faces(Image={"Bytes": fixture_bytes("obama-480p.jpg")})
                   ["FaceDetails"]) == 1
    finally:
        proc.terminate()
        proc.wait(10)
