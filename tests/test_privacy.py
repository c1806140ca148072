"""Privacy controls: the identity-match floor and the tamper-evident audit log."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import FIXTURES, Server, clean_env

PEOPLE = FIXTURES / "people"


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory):
    """A server with the default floor (99)."""
    srv = Server(tmp_path_factory.mktemp("privacy"))
    yield srv
    srv.stop()


def audit(server: Server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oculi", "audit", *args, "--data-dir", str(server.data_dir)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_floor_raises_search_thresholds_and_says_so(default_server) -> None:
    c = default_server.client(key="AKIDAUDITED")
    c.create_collection(CollectionId="floor")
    for rel in ("train/obama/obama.jpg", "train/obama/obama2.jpg", "train/biden/biden.jpg"):
        c.index_faces(CollectionId="floor", Image={"Bytes": (PEOPLE / rel).read_bytes()})
    r = c.search_faces_by_image(
        CollectionId="floor",
        FaceMatchThreshold=10,
        Image={"Bytes": (PEOPLE / "test/obama1.jpg").read_bytes()},
    )
    notice = r["ResponseMetadata"]["HTTPHeaders"]["x-oculi-notice"]
    assert "raised to the operator's identity floor 99" in notice
    assert all(m["Similarity"] >= 99 for m in r["FaceMatches"])
    assert all(m["Face"]["FaceId"] for m in r["FaceMatches"])
    r = c.search_faces_by_image(
        CollectionId="floor",
        FaceMatchThreshold=99.5,
        Image={"Bytes": (PEOPLE / "test/obama1.jpg").read_bytes()},
    )
    assert "x-oculi-notice" not in r["ResponseMetadata"]["HTTPHeaders"]
    # CompareFaces still reports similarity, flagged.
    r = c.compare_faces(
        SourceImage={"Bytes": (PEOPLE / "test/obama1.jpg").read_bytes()},
        TargetImage={"Bytes": (PEOPLE / "train/biden/biden.jpg").read_bytes()},
        SimilarityThreshold=0,
    )
    assert len(r["FaceMatches"]) == 1
    assert "not identifications" in r["ResponseMetadata"]["HTTPHeaders"]["x-oculi-notice"]


def test_audit_records_identity_operations(default_server) -> None:
    c = default_server.client(key="AKIDAUDITED")
    c.create_collection(CollectionId="audited")
    r = c.index_faces(
        CollectionId="audited", Image={"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()}
    )
    fid = r["FaceRecords"][0]["Face"]["FaceId"]
    c.search_faces(CollectionId="audited", FaceId=fid)
    c.delete_faces(CollectionId="audited", FaceIds=[fid])
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.search_faces(CollectionId="no-such", FaceId=fid)
    c.delete_collection(CollectionId="audited")
    out = audit(default_server, "export")
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    mine = [r for r in records if r.get("collection") in ("audited", "no-such")]
    assert [r["operation"] for r in mine] == [
        "IndexFaces",
        "SearchFaces",
        "DeleteFaces",
        "SearchFaces",
        "DeleteCollection",
    ]
    assert all(r["access_key"] == "AKIDAUDITED" and r["source"] == "127.0.0.1" for r in mine)
    assert mine[0]["matches"] == 1 and mine[1]["threshold"] == 99  # the floor applied
    assert mine[2]["face_ids"] == [fid]
    assert mine[3]["outcome"] == "ResourceNotFoundException"
    assert "CreateCollection" not in {r["operation"] for r in records}
    listed = audit(default_server, "list")
    assert "DeleteCollection" in listed.stdout and "key=AKIDAUDITED" in listed.stdout
    assert audit(default_server, "verify").returncode == 0


def _tamper(server: Server, edit) -> subprocess.CompletedProcess:
    log = server.data_dir / "audit" / "audit.jsonl"
    original = log.read_text()
    lines = original.splitlines(keepends=True)
    try:
        log.write_text("".join(edit(lines)))
        return audit(server, "verify")
    finally:
        log.write_text(original)


@pytest.mark.parametrize("how", ["edit", "remove-middle", "remove-last"])
def test_audit_verify_detects_tampering(default_server, how) -> None:
    c = default_server.client()
    c.create_collection(CollectionId=f"t-{how}")
    for _ in range(2):
        c.index_faces(
            CollectionId=f"t-{how}",
            Image={"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()},
        )

    def edit(lines: list[str]) -> list[str]:
        if how == "edit":
            rec = json.loads(lines[0])
            rec["matches"] = 0 if rec.get("matches") else 5
            return [json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n", *lines[1:]]
        if how == "remove-middle":
            return lines[:1] + lines[2:]
        return lines[:-1]

    out = _tamper(default_server, edit)
    assert out.returncode == 1
    assert "FAILED" in out.stderr
    assert audit(default_server, "verify").returncode == 0  # restored


def test_retention_expires_faces_and_audits(tmp_path) -> None:
    """A collection with a retention of ~1 s loses its faces on the next sweep, through the
    DeleteFaces path (also faces a user holds), and the deletion is audited."""
    srv = Server(tmp_path, env={"OCULI_RETENTION_SWEEP_S": "0.5", "OCULI_MATCH_FLOOR": "80"})
    try:
        c = srv.client()
        c.create_collection(CollectionId="short")
        c.create_collection(CollectionId="kept")
        image = {"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()}
        short = c.index_faces(CollectionId="short", Image=image)["FaceRecords"][0]["Face"]
        c.create_user(CollectionId="short", UserId="u")
        c.associate_faces(CollectionId="short", UserId="u", FaceIds=[short["FaceId"]])
        c.index_faces(CollectionId="kept", Image=image)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "oculi",
                "retention",
                "set",
                "short",
                "--days",
                str(1 / 86400),
                "--data-dir",
                str(srv.data_dir),
            ],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "oculi",
                "retention",
                "set",
                "nope",
                "--days",
                "3",
                "--data-dir",
                str(srv.data_dir),
            ],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 1 and "no collection" in bad.stderr
        deadline = time.monotonic() + 30
        while c.list_faces(CollectionId="short")["Faces"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert c.list_faces(CollectionId="short")["Faces"] == []
        assert len(c.list_faces(CollectionId="kept")["Faces"]) == 1
        r = c.search_faces_by_image(
            CollectionId="short", Image={"Bytes": (PEOPLE / "test/obama1.jpg").read_bytes()}
        )
        assert r["FaceMatches"] == []
        records = [json.loads(line) for line in audit(srv, "export").stdout.splitlines()]
        expiry = [r for r in records if r["operation"] == "RetentionExpiry"]
        assert expiry and expiry[0]["face_ids"] == [short["FaceId"]]
        assert expiry[0]["access_key"] == "oculi-retention"
        assert audit(srv, "verify").returncode == 0
    finally:
        srv.stop()
