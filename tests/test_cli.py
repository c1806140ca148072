"""The command line: detect-faces prints DetectFaces' JSON and draws; plates says when
there is none; models lists; no third-party start-up noise on stderr."""

from __future__ import annotations

import json

from PIL import Image

from oculi.models.catalogue import CATALOGUE
from tests.conftest import FIXTURES, oculi_cli

run = oculi_cli


def test_detect_faces_prints_json_and_draws(tmp_path, client) -> None:
    out_img = tmp_path / "drawn.jpg"
    r = run("detect-faces", str(FIXTURES / "two_people.jpg"), "--draw", str(out_img), "--json")
    assert r.returncode == 0, r.stderr
    faces = json.loads(r.stdout)["FaceDetails"]
    assert len(faces) == 2 and len(faces[0]["Landmarks"]) == 30
    # Same answer as the server gives (same models, same code path).
    served = client.detect_faces(Image={"Bytes": (FIXTURES / "two_people.jpg").read_bytes()})[
        "FaceDetails"
    ]
    for a, b in zip(faces, served, strict=True):
        assert a["BoundingBox"] == b["BoundingBox"]
    with Image.open(out_img) as im, Image.open(FIXTURES / "two_people.jpg") as src:
        assert im.size == src.size


def test_detect_faces_draw_prints_a_summary_and_nothing_on_stderr(tmp_path) -> None:
    """With --draw (and no --json) one line says what was drawn; stderr stays empty: no
    `INFO: Created TensorFlow Lite XNNPACK delegate` from LiteRT's C++ runtime."""
    out_img = tmp_path / "drawn.jpg"
    r = run("detect-faces", str(FIXTURES / "two_people.jpg"), "--draw", str(out_img))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"2 face(s) drawn -> {out_img}\n"
    assert r.stderr == ""
    assert out_img.is_file()


def test_plates_says_when_it_finds_none() -> None:
    r = run("plates", str(FIXTURES / "two_people.jpg"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("no licence plate found in ")


def test_detect_faces_bad_file(tmp_path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    r = run("detect-faces", str(bad))
    assert r.returncode == 1
    assert "InvalidImageFormatException" in r.stderr


def test_models_lists_catalogue_with_licences() -> None:
    r = run("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(rows) == set(CATALOGUE)
    for name, row in rows.items():
        spec = CATALOGUE[name]
        assert row["sha256"] == spec.member_sha256 and row["licence"]
        assert row["source"] == f"{spec.carrier.package}=={spec.carrier.version}"
        assert row["installed"] is True
