"""Privacy controls: the identity-match floor and the tamper-evident audit log."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

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
        env=clean_env(XDG_CONFIG_HOME=str(server.config_home)),
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
    # a change's intent is on disk before it runs; the outcome follows with its request id
    assert [(r["operation"], r.get("phase")) for r in mine] == [
        ("IndexFaces", "intent"),
        ("IndexFaces", None),
        ("SearchFaces", None),
        ("DeleteFaces", "intent"),
        ("DeleteFaces", None),
        ("SearchFaces", None),
        ("DeleteCollection", "intent"),
        ("DeleteCollection", None),
    ]
    assert mine[0]["request_id"] == mine[1]["request_id"] and mine[0]["outcome"] is None
    # no keys configured: the key the request names is a claim, not an identity
    assert all(
        r["access_key"] is None
        and r["claimed_access_key"] == "AKIDAUDITED"
        and r["source"] == "127.0.0.1"
        for r in mine
    )
    assert mine[1]["matches"] == 1 and mine[2]["threshold"] == 99  # the floor applied
    assert mine[3]["face_ids"] == mine[4]["face_ids"] == [fid]
    assert mine[5]["outcome"] == "ResourceNotFoundException"
    assert "CreateCollection" not in {r["operation"] for r in records}
    listed = audit(default_server, "list")
    assert "DeleteCollection" in listed.stdout
    assert "key=None claimed(unverified)=AKIDAUDITED" in listed.stdout
    assert audit(default_server, "verify").returncode == 0


def _tamper(server: Server, edit) -> subprocess.CompletedProcess:
    """Verify after `edit(lines, head)` returns the log's lines and head text, or None to
    delete the whole audit directory; then put everything back."""
    directory = server.data_dir / "audit"
    log, head = directory / "audit.jsonl", directory / "audit.head"
    original, original_head = log.read_text(), head.read_text()
    try:
        edited = edit(original.splitlines(keepends=True), original_head)
        if edited is None:
            shutil.rmtree(directory)
        else:
            log.write_text("".join(edited[0]))
            head.write_text(edited[1])
        return audit(server, "verify")
    finally:
        directory.mkdir(exist_ok=True)
        log.write_text(original)
        head.write_text(original_head)


def _canonical(rec: dict) -> str:
    return json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"


@pytest.mark.parametrize(
    "how",
    [
        "edit",
        "remove-middle",
        "remove-last",
        "remove-last-and-rewrite-head",
        "edit-last-and-rewrite-head",
        "duplicate-key",
        "delete-directory",
    ],
)
def test_audit_verify_detects_tampering(default_server, how) -> None:
    c = default_server.client()
    c.create_collection(CollectionId=f"t-{how}")
    for _ in range(2):
        c.index_faces(
            CollectionId=f"t-{how}",
            Image={"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()},
        )

    def edit(lines: list[str], head: str) -> tuple[list[str], str] | None:
        """What someone who can write the data directory, but not read the key, can do."""
        if how == "edit":
            rec = json.loads(lines[0])
            rec["outcome"] = "Edited"
            return [_canonical(rec), *lines[1:]], head
        if how == "remove-middle":
            return lines[:1] + lines[2:], head
        if how == "remove-last":
            return lines[:-1], head
        last = json.loads(lines[-1])
        if how == "remove-last-and-rewrite-head":
            before = json.loads(lines[-2])
            return lines[:-1], f"{before['seq']} {before['mac']} {head.split()[2]}\n"
        if how == "edit-last-and-rewrite-head":
            last["claimed_access_key"] = "SOMEONE-ELSE"
            body = {k: v for k, v in last.items() if k != "mac"}
            last["mac"] = hashlib.sha256(_canonical(body).strip().encode()).hexdigest()
            return [*lines[:-1], _canonical(last)], f"{last['seq']} {last['mac']} {'0' * 64}\n"
        if how == "duplicate-key":
            forged = lines[-1].replace(
                '"access_key":null', '"access_key":"AKADMIN","access_key":null'
            )
            assert forged != lines[-1]
            return [*lines[:-1], forged], head
        return None

    out = _tamper(default_server, edit)
    assert out.returncode == 1, out.stdout
    assert "FAILED" in out.stderr
    assert audit(default_server, "verify").returncode == 0  # restored


def test_unwritable_audit_log_refuses_identity_calls_before_any_change(tmp_path) -> None:
    """Issue 12, finding 5: with the audit log unwritable, IndexFaces answered 500 after
    committing, boto3 retried and the face was indexed three times; DeleteFaces deleted
    and answered 500. Now the intent record comes first: the call fails with
    InternalServerError before anything changes, so boto3's retries are harmless."""
    srv = Server(tmp_path)
    try:
        c = srv.client(config=Config(retries={"max_attempts": 3, "mode": "standard"}))
        c.create_collection(CollectionId="c")
        image = {"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()}
        fid = c.index_faces(CollectionId="c", Image=image)["FaceRecords"][0]["Face"]["FaceId"]
        log = srv.data_dir / "audit" / "audit.jsonl"
        kept = log.with_name("kept.jsonl")
        log.rename(kept)
        log.mkdir()  # opening the log now fails (EISDIR), as a full or read-only disk would
        try:
            for call in (
                lambda: c.index_faces(CollectionId="c", Image=image),
                lambda: c.delete_faces(CollectionId="c", FaceIds=[fid]),
                lambda: c.search_faces(CollectionId="c", FaceId=fid),
                lambda: c.delete_collection(CollectionId="c"),
            ):
                with pytest.raises(ClientError) as e:
                    call()
                err = e.value.response
                assert err["Error"]["Code"] == "InternalServerError"
                assert "audit log cannot be written" in err["Error"]["Message"]
                assert "nothing was changed" in err["Error"]["Message"]
                assert err["ResponseMetadata"]["RetryAttempts"] == 3  # retried, harmlessly
            assert [f["FaceId"] for f in c.list_faces(CollectionId="c")["Faces"]] == [fid]
        finally:
            log.rmdir()
            kept.rename(log)
        c.delete_faces(CollectionId="c", FaceIds=[fid])  # writable again: it works
        assert c.list_faces(CollectionId="c")["Faces"] == []
        v = audit(srv, "verify")
        assert v.returncode == 0, v.stderr
        assert "intent record and no outcome" not in v.stderr
    finally:
        srv.stop()


def test_server_refuses_to_start_on_a_deleted_audit_log(tmp_path) -> None:
    """Issue 12, findings 1 and 18: after the data directory lost its audit log, the
    server started a fresh one and verify said "OK: 0 records"."""
    srv = Server(tmp_path)
    srv.client().create_collection(CollectionId="c")
    srv.stop()
    shutil.rmtree(srv.data_dir / "audit")
    out = subprocess.run(
        [sys.executable, "-m", "oculi", "serve", "--port", "1", "--data-dir", str(srv.data_dir)],
        env=clean_env(XDG_CONFIG_HOME=str(srv.config_home)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "was deleted" in out.stderr, out.stderr
    v = audit(srv, "verify")
    assert v.returncode == 1 and "deleted" in v.stderr


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
        assert [r.get("phase") for r in expiry] == ["intent", None]  # intent first
        assert expiry[0]["request_id"] == expiry[1]["request_id"]
        assert expiry[0]["face_ids"] == expiry[1]["face_ids"] == [short["FaceId"]]
        assert expiry[1]["matches"] == 1 and expiry[1]["access_key"] == "oculi-retention"
        assert audit(srv, "verify").returncode == 0
    finally:
        srv.stop()


def test_full_disk_refuses_identity_calls_and_the_chain_survives(tmp_path) -> None:
    """A real full disk under the audit log (a 256 KiB tmpfs; skipped where mounting one is
    not allowed; tests/test_audit.py injects ENOSPC everywhere): identity calls fail before
    changing anything, and once there is room again the chain goes on and verifies."""
    audit_dir = tmp_path / "data" / "audit"
    audit_dir.mkdir(parents=True)
    mount = ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(audit_dir)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("needs permission to mount a tmpfs")
    srv = None
    try:
        srv = Server(tmp_path)
        c = srv.client(config=Config(retries={"max_attempts": 0}))
        c.create_collection(CollectionId="c")
        image = {"Bytes": (PEOPLE / "train/obama/obama.jpg").read_bytes()}
        fid = c.index_faces(CollectionId="c", Image=image)["FaceRecords"][0]["Face"]["FaceId"]
        filler = audit_dir / "filler"
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
        faces, indexed = {fid}, {fid}

        def stored() -> set[str]:
            return {f["FaceId"] for f in c.list_faces(CollectionId="c")["Faces"]}

        def until_refused(call) -> None:
            """Call until refused (the log's last page may still hold a few records): each
            call either took effect, audited, or was refused and changed nothing."""
            for _ in range(60):
                try:
                    call()
                except ClientError as e:
                    assert e.response["Error"]["Code"] == "InternalServerError"
                    assert "No space left on device" in e.response["Error"]["Message"]
                    assert stored() == faces
                    return
                assert stored() == faces
            pytest.fail("the disk never filled")

        def index() -> None:
            out = c.index_faces(CollectionId="c", Image=image)
            faces.update(f["Face"]["FaceId"] for f in out["FaceRecords"])
            indexed.update(faces)

        def delete() -> None:
            victim = min(faces)
            c.delete_faces(CollectionId="c", FaceIds=[victim])
            faces.discard(victim)

        until_refused(index)
        until_refused(delete)
        assert faces  # a refused delete left its face
        filler.unlink()
        c.delete_faces(CollectionId="c", FaceIds=sorted(faces))
        assert stored() == set()
        v = audit(srv, "verify")
        assert v.returncode == 0, v.stderr
        exported = [json.loads(line) for line in audit(srv, "export").stdout.splitlines()]
        ok = [r for r in exported if r["operation"] == "IndexFaces" and r["outcome"] == "OK"]
        assert sum(r["matches"] for r in ok) == len(indexed)  # every face indexed is audited
    finally:
        if srv is not None:
            srv.stop()
        subprocess.run(["umount", str(audit_dir)], check=True)
