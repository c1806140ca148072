"""The keys file is checked strictly: anything unexpected stops the server from starting,
with a message naming the field (a string where a list belongs once granted every
operation)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from oculi.permissions import authorize
from oculi.settings import KeysError, load_keys
from tests.conftest import clean_env

GOOD = {"access_key_id": "AKGOOD", "secret_access_key": "secret"}


def keys_file(tmp_path, doc) -> object:
    path = tmp_path / "keys.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def refusal(tmp_path, doc) -> str:
    with pytest.raises(KeysError) as caught:
        load_keys(keys_file(tmp_path, doc))
    return str(caught.value)


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"allow": "Detect*"}, "keys[0].allow"),  # the finding: '*' among its letters
        ({"allow": ["DetectFaces", 3]}, "keys[0].allow[1]"),
        ({"allow": [""]}, "keys[0].allow[0]"),
        ({"allow": None}, "keys[0].allow"),
        ({"collections": {"read": "staff"}}, "keys[0].collections.read"),
        ({"collections": ["read"]}, "keys[0].collections"),
        ({"collections": {"delete": ["*"]}}, "keys[0].collections"),
        ({"s3_buckets": "photos"}, "keys[0].s3_buckets"),
        ({"s3_buckets": [" "]}, "keys[0].s3_buckets[0]"),
        ({"expires": 20270131}, "keys[0].expires"),
        ({"expires": "2027-01-31T00:00:00"}, "keys[0].expires"),
        ({"expires": "soon"}, "keys[0].expires"),
        ({"secret_access_key": ""}, "keys[0].secret_access_key"),
        ({"secret_access_key": ["x"]}, "keys[0].secret_access_key"),
        ({"access_key_id": 12}, "keys[0].access_key_id"),
        ({"access_key_id": "AK/1"}, "keys[0].access_key_id"),
        ({"Allow": ["*"]}, "'Allow'"),  # unknown field (a typo would otherwise allow all)
    ],
)
def test_bad_field_is_refused_by_name(tmp_path, entry, named) -> None:
    assert named in refusal(tmp_path, {"keys": [{**GOOD, **entry}]})


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ([GOOD], '"keys"'),
        ({"keys": GOOD}, '"keys"'),
        ({"keys": []}, '"keys"'),  # an empty file would silently turn authentication off
        ({"keys": [GOOD], "extra": 1}, '"keys"'),
        ({"keys": [GOOD, {**GOOD, "secret_access_key": "other"}]}, "appears twice"),
        ({"keys": ["AKGOOD"]}, "keys[0]"),
        ({"keys": [{"secret_access_key": "x"}]}, "access_key_id"),
        (
            '{"keys": [{"access_key_id": "A", "secret_access_key": "x", "allow": ["*"], '
            '"allow": ["DetectFaces"]}]}',
            "given twice",
        ),
        ("{", "keys.json"),
    ],
)
def test_bad_document_is_refused(tmp_path, doc, named) -> None:
    assert named in refusal(tmp_path, doc)


def test_env_key_may_not_shadow_a_file_key(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OCULI_ACCESS_KEY_ID", "AKGOOD")
    monkeypatch.setenv("OCULI_SECRET_ACCESS_KEY", "other")
    assert "also in keys file" in refusal(tmp_path, {"keys": [GOOD]})


def test_good_file_is_read(tmp_path) -> None:
    entry = {
        **GOOD,
        "allow": ["Detect*"],
        "collections": {"read": ["*"], "search": ["staff"]},
        "expires": "2999-01-01T00:00:00Z",
        "s3_buckets": ["photos"],
    }
    spec = load_keys(keys_file(tmp_path, {"keys": [entry]}))["AKGOOD"]
    assert spec.allow == ("Detect*",)
    assert spec.collections == {"read": ("*",), "search": ("staff",)}
    assert spec.s3_buckets == ("photos",)
    authorize(spec, "DetectLabels", {})
    with pytest.raises(Exception, match="not allowed"):
        authorize(spec, "DeleteCollection", {"CollectionId": "staff"})


def test_serve_refuses_to_start(tmp_path) -> None:
    path = keys_file(tmp_path, {"keys": [{**GOOD, "allow": "Detect*"}]})
    out = subprocess.run(
        [sys.executable, "-m", "oculi", "serve", "--port", "1", "--keys-file", str(path)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "keys[0].allow must be a list of non-empty strings" in out.stderr
