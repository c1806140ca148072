"""SigV4 on the wire: the server checks signatures when access keys are configured."""

from __future__ import annotations

import subprocess
import sys

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Server, clean_env, fixture_bytes

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
