"""Kept images (serve --keep-images) and `oculi reindex`: re-embedding after a model change,
and deletion that removes the kept images with the faces."""

from __future__ import annotations

import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from oculi.service.context import ANN_DIR, IMAGES_DIR
from oculi.store.faces import FaceRecord, FaceStore
from oculi.store.names import storage_name
from oculi.vision.embed import DIM, FaceEmbedder
from tests.conftest import FIXTURES, Server, oculi_cli
from tests.test_store_backends import location, pg, records, unit  # noqa: F401

PEOPLE = FIXTURES / "people"
KEEP = ["--keep-images"]
# a tiny ANN threshold: the collection is searched through a saved ANN snapshot
ENV = {"OCULI_MATCH_FLOOR": "80", "OCULI_ANN_THRESHOLD": "2"}


cli = oculi_cli


def photo(rel: str) -> bytes:
    return (PEOPLE / rel).read_bytes()


def kept_folder(data_dir: Path, collection: str) -> Path:
    return data_dir / IMAGES_DIR / storage_name(collection)


def snapshot(data_dir: Path, collection: str) -> Path:
    return data_dir / ANN_DIR / f"{storage_name(collection)}.ann"


def kept(data_dir: Path, collection: str) -> set[str]:
    folder = kept_folder(data_dir, collection)
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def best_match(server: Server, collection: str, rel: str) -> list[str]:
    r = server.client().search_faces_by_image(CollectionId=collection, Image={"Bytes": photo(rel)})
    return [m["Face"]["FaceId"] for m in r["FaceMatches"]]


def test_reindex_after_model_change_restores_search_with_same_face_ids(tmp_path) -> None:
    srv = Server(tmp_path, env=ENV, args=KEEP)
    try:
        c = srv.client()
        c.create_collection(CollectionId="team")
        ids, images = {}, {}
        for rel in (
            "train/obama/obama.jpg",
            "train/biden/biden.jpg",
            "train/kit_harington/john1.jpeg",
            "train/rose_leslie/img1.jpg",
        ):
            face = c.index_faces(
                CollectionId="team", Image={"Bytes": photo(rel)}, ExternalImageId=rel.split("/")[1]
            )["FaceRecords"][0]["Face"]
            ids[rel.split("/")[1]] = face["FaceId"]
            images[face["ImageId"]] = photo(rel)
        c.create_user(CollectionId="team", UserId="barack")
        c.associate_faces(CollectionId="team", UserId="barack", FaceIds=[ids["obama"]])
        assert best_match(srv, "team", "test/obama1.jpg")[0] == ids["obama"]
    finally:
        srv.stop()
    assert kept(srv.data_dir, "team") == set(images)
    for image_id, data in images.items():  # the request's bytes, as sent, owner-only
        path = kept_folder(srv.data_dir, "team") / image_id
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # A model change: every stored embedding becomes another model's (random unit vectors),
    # and one face has no kept image (indexed before --keep-images was on).
    rng = np.random.default_rng(7)
    store = FaceStore(srv.data_dir / "faces.sqlite3")
    old = rng.normal(size=(len(ids), DIM)).astype(np.float32)
    old /= np.linalg.norm(old, axis=1, keepdims=True)
    assert store.set_embeddings("team", dict(zip(ids.values(), old)), "old-model") == 4
    orphan = FaceRecord(
        face_id=str(uuid.uuid4()),
        collection_id="team",
        image_id=str(uuid.uuid4()),
        external_image_id="lost",
        bbox={"Width": 0.2, "Height": 0.2, "Left": 0.1, "Top": 0.1},
        confidence=99.0,
        model_version="old-model",
        created=time.time(),
    )
    assert store.add_faces("team", [orphan], old[:1])
    assert store.set_face_model_version("team", "old-model")
    store.close()
    snapshot(srv.data_dir, "team").unlink()

    # A server on the old embeddings writes its ANN snapshot of them and matches nobody.
    srv = Server(tmp_path, env=ENV, args=KEEP)
    try:
        assert best_match(srv, "team", "test/obama1.jpg") == []
    finally:
        srv.stop()
    assert snapshot(srv.data_dir, "team").exists()

    out = cli("reindex", "team", "--data-dir", str(srv.data_dir), env=ENV)
    assert out.returncode == 0, out.stderr
    assert "5 faces, 4 kept images; 4 re-embedded" in out.stdout
    assert "1 without a kept image; 0 not found again" in out.stdout
    assert f"without a kept image: {orphan.face_id}" in out.stdout
    assert "FaceModelVersion unchanged" in out.stdout
    store = FaceStore(srv.data_dir / "faces.sqlite3")
    try:
        faces = store.get_faces("team", [*ids.values(), orphan.face_id])
        assert {f.model_version for fid, f in faces.items() if fid != orphan.face_id} == {
            FaceEmbedder.version
        }
        assert faces[orphan.face_id].model_version == "old-model"
        assert store.get_collection("team").face_model_version == "old-model"
    finally:
        store.close()

    out = cli("reindex", "team", "--data-dir", str(srv.data_dir), "--drop-unmatched", env=ENV)
    assert out.returncode == 0, out.stderr
    assert "dropped 1 unmatched faces" in out.stdout
    assert f"FaceModelVersion: {FaceEmbedder.version}" in out.stdout

    srv = Server(tmp_path, env=ENV, args=KEEP)
    try:
        c = srv.client()
        assert best_match(srv, "team", "test/obama1.jpg")[0] == ids["obama"]
        assert best_match(srv, "team", "test/johnsnow_test1.jpg")[0] == ids["kit_harington"]
        listed = {f["FaceId"]: f for f in c.list_faces(CollectionId="team")["Faces"]}
        assert set(listed) == set(ids.values())
        assert listed[ids["obama"]]["UserId"] == "barack"
        assert listed[ids["biden"]]["ExternalImageId"] == "biden"
        assert (
            c.describe_collection(CollectionId="team")["FaceModelVersion"] == FaceEmbedder.version
        )
    finally:
        srv.stop()


def test_kept_images_go_with_their_last_face(tmp_path) -> None:
    srv = Server(tmp_path, args=KEEP)
    try:
        c = srv.client()
        c.create_collection(CollectionId="c")
        pair = c.index_faces(CollectionId="c", Image={"Bytes": photo("test/obama_and_biden.jpg")})
        several = [r["Face"]["FaceId"] for r in pair["FaceRecords"]]
        assert len(several) >= 2
        pair_image = pair["FaceRecords"][0]["Face"]["ImageId"]
        single = c.index_faces(CollectionId="c", Image={"Bytes": photo("train/biden/biden.jpg")})
        single_image = single["FaceRecords"][0]["Face"]["ImageId"]
        faceless = c.index_faces(
            CollectionId="c", Image={"Bytes": (FIXTURES / "labels" / "dog.jpg").read_bytes()}
        )
        assert faceless["FaceRecords"] == []
        assert kept(srv.data_dir, "c") == {pair_image, single_image}

        c.delete_faces(CollectionId="c", FaceIds=several[:-1])
        assert kept(srv.data_dir, "c") == {pair_image, single_image}  # one face left
        c.delete_faces(CollectionId="c", FaceIds=several[-1:])
        assert kept(srv.data_dir, "c") == {single_image}
    finally:
        srv.stop()

    # A crash between a deletion's commit and the unlink: a file without faces, a write
    # cut short, and the folder of a collection that no longer exists.
    folder = kept_folder(srv.data_dir, "c")
    orphan = str(uuid.uuid4())
    (folder / orphan).write_bytes(photo("train/obama/obama.jpg"))
    (folder / f"{uuid.uuid4()}.tmp-abc").write_bytes(b"partial")
    gone = kept_folder(srv.data_dir, "deleted-collection")
    gone.mkdir()
    (gone / str(uuid.uuid4())).write_bytes(photo("train/obama/obama.jpg"))

    srv = Server(tmp_path, args=KEEP)
    try:
        assert kept(srv.data_dir, "c") == {single_image}
        assert not gone.exists()
    finally:
        srv.stop()

    # Retention expiry goes through the same deletion.
    out = cli("retention", "set", "c", "--days", "0.00001", "--data-dir", str(srv.data_dir))
    assert out.returncode == 0, out.stderr
    srv = Server(tmp_path, args=KEEP, env={"OCULI_RETENTION_SWEEP_S": "0.5"})
    try:
        deadline = time.monotonic() + 60
        while srv.client().list_faces(CollectionId="c")["Faces"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert srv.client().list_faces(CollectionId="c")["Faces"] == []
        assert kept(srv.data_dir, "c") == set()

        c = srv.client()  # DeleteCollection takes the collection's images with it
        c.create_collection(CollectionId="d")
        c.index_faces(CollectionId="d", Image={"Bytes": photo("train/obama/obama.jpg")})
        assert len(kept(srv.data_dir, "d")) == 1
        c.delete_collection(CollectionId="d")
        assert not kept_folder(srv.data_dir, "d").exists()
    finally:
        srv.stop()


def test_images_are_not_kept_by_default(tmp_path) -> None:
    srv = Server(tmp_path)
    try:
        c = srv.client()
        c.create_collection(CollectionId="c")
        r = c.index_faces(CollectionId="c", Image={"Bytes": photo("train/obama/obama.jpg")})
        assert len(r["FaceRecords"]) == 1
        images = srv.data_dir / IMAGES_DIR
        assert not images.exists() or not any(images.rglob("*"))
    finally:
        srv.stop()


@pytest.fixture()
def any_store(location: str | Path) -> Iterator[FaceStore]:  # noqa: F811 (pytest fixture)
    s = FaceStore(location)
    yield s
    s.close()


def test_store_reembeds_in_place_on_both_backends(any_store: FaceStore) -> None:
    """The store calls reindex and the image sweep use, on SQLite and PostgreSQL."""
    store = any_store
    assert store.create_collection("c", "7.0")
    recs, vecs = records("c", 3)
    shared = replace(recs[1], image_id=recs[0].image_id)  # two faces of one image
    assert store.add_faces("c", [recs[0], shared, recs[2]], vecs)
    gone = str(uuid.uuid4())
    assert store.images_with_faces("c", [recs[0].image_id, recs[2].image_id, gone]) == {
        recs[0].image_id,
        recs[2].image_id,
    }
    assert [r.face_id for r in store.faces_of_image("c", recs[0].image_id)] == [
        recs[0].face_id,
        shared.face_id,
    ]
    seqs = store.seqs_of("c", [r.face_id for r in recs])
    new = unit(np.random.default_rng(1), 2)
    assert store.set_embeddings("c", {recs[0].face_id: new[0], "nobody": new[1]}, "8.0") == 1
    assert np.allclose(store.embedding("c", recs[0].face_id), new[0])
    assert np.allclose(store.embedding("c", shared.face_id), vecs[1])
    assert store.seqs_of("c", [r.face_id for r in recs]) == seqs  # same faces, same order
    assert not store.set_face_model_version("c", "8.0")  # two faces are still 7.0
    assert store.get_collection("c").face_model_version == "7.0"
    store.set_embeddings("c", {shared.face_id: new[1], recs[2].face_id: new[1]}, "8.0")
    assert store.set_face_model_version("c", "8.0")
    assert store.get_collection("c").face_model_version == "8.0"
    assert {f.model_version for f in store.get_faces("c", list(seqs)).values()} == {"8.0"}
