"""The data directory under attack and after deletion (issue 12): no caller's string names
a file, a deletion leaves no copy of the face on disk, one process writes a data directory,
and ClientRequestTokens die with their collection."""

from __future__ import annotations

import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError

from oculi.service.context import ANN_DIR, IMAGES_DIR
from oculi.store.names import storage_name
from tests.conftest import FIXTURES, Server, oculi_cli

PEOPLE = FIXTURES / "people"
KEEP = ["--keep-images"]


def photo(rel: str) -> bytes:
    return (PEOPLE / rel).read_bytes()


cli = oculi_cli


def refused(call, **params) -> None:
    with pytest.raises(ClientError) as e:
        call(**params)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException", params
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_only_dot_collection_ids_refused_and_nothing_named_after_an_id(tmp_path) -> None:
    """`..` once named the data directory (DeleteCollection wiped it) and `.` every
    collection's kept images: both are refused by every operation, and no file or folder
    carries a collection id."""
    srv = Server(tmp_path, args=KEEP)
    try:
        c = srv.client()
        c.create_collection(CollectionId="a")
        face = c.index_faces(CollectionId="a", Image={"Bytes": photo("train/obama/obama.jpg")})
        fid = face["FaceRecords"][0]["Face"]["FaceId"]
        image = {"Bytes": photo("train/obama/obama.jpg")}
        for cid in (".", "..", "..."):
            refused(c.create_collection, CollectionId=cid)
            refused(c.describe_collection, CollectionId=cid)
            refused(c.delete_collection, CollectionId=cid)
            refused(c.list_faces, CollectionId=cid)
            refused(c.delete_faces, CollectionId=cid, FaceIds=[fid])
            refused(c.index_faces, CollectionId=cid, Image=image)
            refused(c.search_faces, CollectionId=cid, FaceId=fid)
            refused(c.create_user, CollectionId=cid, UserId="u")
            refused(c.list_users, CollectionId=cid)
        c.create_collection(CollectionId=".a.")  # dots among other characters are fine
        c.delete_collection(CollectionId=".a.")
        assert [f["FaceId"] for f in c.list_faces(CollectionId="a")["Faces"]] == [fid]
        assert (srv.data_dir / "faces.sqlite3").exists()
        folder = srv.data_dir / IMAGES_DIR / storage_name("a")
        assert len(list(folder.iterdir())) == 1
        assert "a" not in {p.name for p in srv.data_dir.rglob("*")}
        # MaxResults 0: the model's PageSize allows it, Rekognition refuses it.
        refused(c.list_faces, CollectionId="a", MaxResults=0)
        refused(c.list_collections, MaxResults=0)
        assert len(c.list_faces(CollectionId="a", MaxResults=1)["Faces"]) == 1
    finally:
        srv.stop()


def test_legacy_layout_moved_at_start(tmp_path) -> None:
    """A data directory laid out by collection id (`images/<id>/`, `ann/<id>.ann`) is moved
    to storage names at start: a live collection keeps its images and snapshot; what a
    deleted collection left is removed; the old folders go."""
    env = {"OCULI_ANN_THRESHOLD": "1", "OCULI_MATCH_FLOOR": "80"}
    srv = Server(tmp_path, args=KEEP, env=env)
    try:
        c = srv.client()
        c.create_collection(CollectionId="team")
        for rel in ("train/obama/obama.jpg", "train/biden/biden.jpg"):
            c.index_faces(CollectionId="team", Image={"Bytes": photo(rel)})
    finally:
        srv.stop()
    data = srv.data_dir
    new_images, new_snap = data / IMAGES_DIR / storage_name("team"), data / ANN_DIR
    images = sorted(p.name for p in new_images.iterdir())
    assert len(images) == 2
    (data / "images").mkdir()
    new_images.rename(data / "images" / "team")
    (data / "ann").mkdir()
    (new_snap / f"{storage_name('team')}.ann").rename(data / "ann" / "team.ann")
    shutil.rmtree(data / IMAGES_DIR)
    shutil.rmtree(new_snap)
    (data / "images" / "deleted").mkdir()
    (data / "images" / "deleted" / str(uuid.uuid4())).write_bytes(photo("train/obama/obama.jpg"))
    (data / "ann" / "deleted.ann").write_bytes(b"a deleted collection's faces")

    srv = Server(tmp_path, args=KEEP, env=env)
    try:
        assert not (data / "images").exists() and not (data / "ann").exists()
        assert sorted(p.name for p in new_images.iterdir()) == images
        assert [p.name for p in new_snap.iterdir()] == [f"{storage_name('team')}.ann"]
        c = srv.client()
        r = c.search_faces_by_image(
            CollectionId="team", Image={"Bytes": photo("test/obama1.jpg")}, MaxFaces=1
        )
        assert len(r["FaceMatches"]) == 1
        c.delete_collection(CollectionId="team")
        assert not new_images.exists() and not any(new_snap.iterdir())
    finally:
        srv.stop()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _traces(root: Path, secrets: dict[str, bytes], skip_audit: set[str]) -> list[str]:
    """'<name> in <file>' for every secret found in any file's raw bytes (the audit log
    records the FaceIds of deletions by design: `skip_audit` names those secrets)."""
    found = []
    for f in _files(root):
        raw = f.read_bytes()
        for name, secret in secrets.items():
            if name in skip_audit and "audit" in f.relative_to(root).parts:
                continue
            if secret in raw:
                found.append(f"{name} in {f.relative_to(root)}")
    return found


@pytest.mark.parametrize("threshold", ["10000", "1"], ids=["exact", "ann"])
def test_deleted_faces_leave_no_copy_in_the_data_dir(tmp_path, threshold) -> None:
    """After DeleteFaces, DeleteCollection and retention expiry, neither the FaceId, nor
    the ExternalImageId, nor the embedding (float32 as stored, float16 as the ANN index
    keeps it) is in any file of the data directory: at once, and after a clean stop."""
    env = {
        "OCULI_ANN_THRESHOLD": threshold,
        "OCULI_RETENTION_SWEEP_S": "0.5",
        "OCULI_MATCH_FLOOR": "80",
    }
    srv = Server(tmp_path, args=KEEP, env=env)
    try:
        c = srv.client()
        ext: dict[str, str] = {}
        photos = sorted((PEOPLE / "train").glob("*/*"))[:8]  # each face in one place only
        for n, cid in enumerate(("del-faces", "del-coll", "expire", "stay")):
            c.create_collection(CollectionId=cid)
            for path in photos[2 * n : 2 * n + 2]:
                tag = f"ext-{uuid.uuid4().hex}"
                r = c.index_faces(
                    CollectionId=cid,
                    Image={"Bytes": path.read_bytes()},
                    ExternalImageId=tag,
                    MaxFaces=1,
                )
                ext[r["FaceRecords"][0]["Face"]["FaceId"]] = tag
            c.search_faces_by_image(CollectionId=cid, Image={"Bytes": photo("test/obama1.jpg")})
        db = sqlite3.connect(f"file:{srv.data_dir / 'faces.sqlite3'}?mode=ro", uri=True)
        rows = db.execute("SELECT face_id, collection_id, embedding FROM faces").fetchall()
        db.close()
        doomed = {fid: emb for fid, cid, emb in rows if cid != "stay"}
        kept = {fid: emb for fid, cid, emb in rows if cid == "stay"}
        assert len(doomed) == 6 and len(kept) == 2
        assert len({emb for _, _, emb in rows}) == 8
        # tokened answers that name a face: kept with the token, dropped with the face
        victim = next(f["FaceId"] for f in c.list_faces(CollectionId="del-faces")["Faces"])
        c.create_user(CollectionId="del-faces", UserId="u")
        c.associate_faces(CollectionId="del-faces", UserId="u", FaceIds=[victim])
        c.disassociate_faces(CollectionId="del-faces", UserId="u", FaceIds=[victim])
        gone = c.delete_faces(CollectionId="del-faces", FaceIds=list(ext))["DeletedFaces"]
        assert len(gone) == 2, (gone, ext)
        c.delete_collection(CollectionId="del-coll")
        out = cli(
            "retention", "set", "expire", "--days", "0.00001", "--data-dir", str(srv.data_dir)
        )
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 60
        while c.list_faces(CollectionId="expire")["Faces"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert c.list_faces(CollectionId="expire")["Faces"] == []
        time.sleep(1)  # the sweep's scrub follows its deletion

        secrets: dict[str, bytes] = {}
        for fid, emb in doomed.items():
            secrets[f"FaceId {fid}"] = fid.encode()
            secrets[f"ExternalImageId {ext[fid]}"] = ext[fid].encode()
            secrets[f"float32 of {fid}"] = emb
            secrets[f"float16 of {fid}"] = (
                np.frombuffer(emb, np.float32).astype(np.float16).tobytes()
            )
        face_ids = {name for name in secrets if name.startswith("FaceId")}
        assert _traces(srv.data_dir, secrets, face_ids) == []
        kept_secrets = {fid: fid.encode() for fid in kept}
        assert len(_traces(srv.data_dir, kept_secrets, set())) >= 2  # the check can find
    finally:
        srv.stop()
    assert srv.proc.returncode == 0
    assert _traces(srv.data_dir, secrets, face_ids) == []
    assert not (srv.data_dir / "faces.sqlite3-wal").exists()  # closed: checkpointed, removed
    if threshold == "1":  # the live collection's snapshot was written at the clean stop
        assert (srv.data_dir / ANN_DIR / f"{storage_name('stay')}.ann").exists()


def test_second_server_and_writing_commands_refused_while_one_runs(tmp_path) -> None:
    srv = Server(tmp_path)
    try:
        data = str(srv.data_dir)
        second = cli("serve", "--data-dir", data, "--port", "1")
        assert second.returncode == 2
        assert "in use by another oculi process" in second.stderr, second.stderr
        for args in (["import", str(tmp_path / "x.jsonl")], ["reindex", "c"]):
            out = cli(*args, "--data-dir", data)
            assert out.returncode == 2 and "in use" in out.stderr, out.stderr
        assert cli("retention", "list", "--data-dir", data).returncode == 0  # store-only
        srv.client().create_collection(CollectionId="c")  # the first one still serves
    finally:
        srv.stop()
    srv = Server(tmp_path)  # free again once it stopped
    srv.stop()


def test_client_request_token_dies_with_its_collection(client) -> None:
    """CreateUser replayed with the same token after the collection was deleted and made
    again creates the user (the old answer went with the old collection)."""
    client.create_collection(CollectionId="tokens")
    client.create_user(CollectionId="tokens", UserId="u1", ClientRequestToken="tok-1")
    client.create_user(CollectionId="tokens", UserId="u1", ClientRequestToken="tok-1")  # retry
    client.delete_collection(CollectionId="tokens")
    client.create_collection(CollectionId="tokens")
    try:
        client.create_user(CollectionId="tokens", UserId="u1", ClientRequestToken="tok-1")
        users = client.list_users(CollectionId="tokens")["Users"]
        assert [u["UserId"] for u in users] == ["u1"]
    finally:
        client.delete_collection(CollectionId="tokens")
