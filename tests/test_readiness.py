"""`oculi serve` has every model on disk and loaded before it listens; /ready says so; a
model that cannot be fetched is a start-up error, never a failed request later."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import default_model_dir
from tests.conftest import FIXTURES, Server, clean_env, free_port


def _ready(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url + "/ready", timeout=10) as r:
        return r.status, json.loads(r.read())


def test_default_server_loads_every_model_before_it_listens(tmp_path) -> None:
    """A default server answers every kind of request after its model folder is gone:
    all it needs was loaded before it listened (the first DetectLabels once waited 15.9 s
    for downloads inside the request)."""
    models = tmp_path / "models"
    models.mkdir()
    for path in default_model_dir().iterdir():
        if path.is_file():
            (models / path.name).symlink_to(path)
    srv = Server(tmp_path / "srv", env={"OCULI_MODEL_DIR": str(models)}, lazy_models=False)
    try:
        assert _ready(srv.url) == (200, {"service": "oculi", "status": "ready", "models": "loaded"})
        shutil.rmtree(models)
        rek = srv.client()
        people = (FIXTURES / "two_people.jpg").read_bytes()
        faces = rek.detect_faces(Image={"Bytes": people}, Attributes=["ALL"])["FaceDetails"]
        assert len(faces) == 2 and "Emotions" in faces[0]
        dog = (FIXTURES / "labels" / "dog.jpg").read_bytes()
        assert "Dog" in [lb["Name"] for lb in rek.detect_labels(Image={"Bytes": dog})["Labels"]]
        assert rek.detect_text(Image={"Bytes": people})["TextModelVersion"]
        assert rek.detect_protective_equipment(Image={"Bytes": people})["Persons"]
        assert rek.detect_moderation_labels(Image={"Bytes": dog})["ModerationModelVersion"]
        rek.create_collection(CollectionId="c")
        assert rek.index_faces(CollectionId="c", Image={"Bytes": people})["FaceRecords"]
        req = urllib.request.Request(srv.url + "/oculi/redact", data=people, method="POST")
        with urllib.request.urlopen(req, timeout=120) as r:
            assert int(r.headers["x-oculi-faces-redacted"]) >= 2
    finally:
        srv.stop()
    log = Path(srv.log.name).read_text()
    assert "loading models" in log and "face redaction" in log
    assert "nudity" not in log  # the opt-in AGPL model: never loaded unless asked for


def test_lazy_server_is_ready_at_once(server) -> None:
    """The test servers start with --lazy-models: ready, models loaded on first use."""
    assert _ready(server.url) == (
        200,
        {"service": "oculi", "status": "ready", "models": "on first use"},
    )


def test_model_that_cannot_be_fetched_stops_the_start(tmp_path) -> None:
    """No models on disk and no way to fetch them (an empty offline wheelhouse): the
    server says which package it could not get and how to install offline, exits 1, and
    never listens."""
    empty = tmp_path / "wheelhouse"
    empty.mkdir()
    port = free_port()
    env = clean_env(OCULI_MODEL_DIR=str(tmp_path / "models"), OCULI_WHEELHOUSE=str(empty))
    done = subprocess.run(
        [sys.executable, "-m", "oculi", "serve", "--port", str(port)]
        + ["--data-dir", str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    first = CATALOGUE["yunet"].carrier
    assert done.returncode == 1, done.stderr
    assert f"{first.package}=={first.version}" in done.stderr
    assert "OCULI_WHEELHOUSE" in done.stderr and "Traceback" not in done.stderr
    assert "serving Rekognition" not in done.stderr
