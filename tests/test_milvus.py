"""The vector back-end on a real Milvus server (`--vector-url milvus://`): the engine against
exact search, deletions honoured at once, reconciliation with the store, and through boto3
the collection, search, delete and kill -9 tests the embedded engine passes. The server is
PyPI's `milvus` 2.3.5 standalone, started once for the suite (`milvus_url`, conftest.py);
each test works in collections of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from oculi.store.faces import FaceStore
from oculi.store.vectors import ExactIndex
from tests.conftest import FIXTURES, Server
from tests.test_store_backends import DIM, pg, records, unit  # noqa: F401  (pg: a fixture)
from tools.crash_test import COLLECTION
from tools.crash_test import main as crash_test

PEOPLE = FIXTURES / "people"


def test_url_and_ids_are_checked() -> None:
    pytest.importorskip("pymilvus")
    from oculi.store.milvus import id_list, parse_url

    assert parse_url("milvus://db.internal:19531") == ("http://db.internal:19531", "", 512)
    assert parse_url("milvus://u:p%40ss@h:1?ef=300") == ("http://h:1", "u:p@ss", 300)
    assert parse_url("milvus://h")[0] == "http://h:19530"
    for bad in ("http://h:1", "milvus://", "milvus://h:1?ef=0"):
        with pytest.raises(ValueError):
            parse_url(bad)
    assert id_list(["a-1", "B2"]) == '["a-1","B2"]'
    with pytest.raises(ValueError):
        id_list(['x" or id != "'])  # never spliced into an expression


@pytest.fixture()
def opened(milvus_url: str, tmp_path: Path) -> Iterator[tuple]:
    """(store, Milvus indexes, a fresh collection id), closed afterwards."""
    from oculi.store.milvus import open_indexes

    store = FaceStore(tmp_path / "faces.sqlite3")
    indexes = open_indexes(milvus_url, store, DIM)
    cid = f"c-{uuid.uuid4().hex[:8]}"
    store.create_collection(cid, "7.0")
    yield store, indexes, cid
    with indexes.lock:
        indexes.drop(cid)
    indexes.close()
    store.close()


def test_search_matches_exact_and_deletes_hold(opened: tuple) -> None:
    store, indexes, cid = opened
    recs, vecs = records(cid, 400)
    ids = [r.face_id for r in recs]
    exact = ExactIndex(DIM)
    with indexes.lock:
        index = indexes.get(cid)
        for a in range(0, 400, 150):
            store.add_faces(cid, recs[a : a + 150], vecs[a : a + 150])
            index.add(ids[a : a + 150], vecs[a : a + 150])
            exact.add(ids[a : a + 150], vecs[a : a + 150])
        gone = ids[::4]
        deleted, _ = store.delete_faces(cid, gone)
        index.remove(deleted + [str(uuid.uuid4())])  # an id Milvus never held: ignored
        exact.remove(deleted)
    assert sorted(deleted) == sorted(gone)
    assert len(index) == index.count() == len(exact) == 300  # the store's count and Milvus'
    rng = np.random.default_rng(5)
    for j, q in enumerate(unit(rng, 12)):
        q = vecs[j] * 0.7 + q * 0.3  # near a stored face, deleted for j % 4 == 0
        q /= np.linalg.norm(q)
        for k, floor, skip in ((1, -1.0, None), (10, -1.0, ids[j]), (50, 0.1, None)):
            want, got = exact.search(q, k, floor, skip), index.search(q, k, floor, skip)
            assert [f for f, _ in got] == [f for f, _ in want]
            assert np.allclose([c for _, c in got], [c for _, c in want], atol=1e-4)
            assert not set(gone) & {f for f, _ in got}


def test_a_deleted_face_is_never_returned_right_after_the_delete(
    opened: tuple, milvus_url: str
) -> None:
    """The failure Milvus' default consistency shows: a search right after a delete
    returned the deleted vector. Each face here is searched for by its own vector at once
    after its delete, and a new face at once after its add, by a second client too (as
    another oculi process would)."""
    from oculi.store.milvus import open_indexes

    store, indexes, cid = opened
    recs, vecs = records(cid, 40, seed=2)
    ids = [r.face_id for r in recs]
    other = open_indexes(milvus_url, store, DIM)
    try:
        with indexes.lock:
            index = indexes.get(cid)
            seen = other.get(cid)
            store.add_faces(cid, recs[:20], vecs[:20])
            index.add(ids[:20], vecs[:20])
            for i in range(20, 40):
                store.add_faces(cid, [recs[i]], vecs[i : i + 1])
                index.add([ids[i]], vecs[i : i + 1])
                assert seen.search(vecs[i], 1)[0][0] == ids[i]  # found at once, elsewhere
            for i in range(0, 40, 2):
                store.delete_faces(cid, [ids[i]])
                index.remove([ids[i]])
                for searcher in (index, seen):
                    hits = [f for f, _ in searcher.search(vecs[i], 5)]
                    assert len(hits) == 5 and ids[i] not in hits
    finally:
        other.close()


def test_reopened_engine_catches_up_with_the_store(opened: tuple, milvus_url: str) -> None:
    """Faces the store committed or deleted while Milvus was not told (a crash between the
    two writes) are put right when a process next opens the collection."""
    from oculi.store.milvus import open_indexes

    store, indexes, cid = opened
    recs, vecs = records(cid, 40, seed=3)
    store.add_faces(cid, recs[:30], vecs[:30])
    assert indexes.get(cid).count() == 30  # filled from the store on first use
    store.add_faces(cid, recs[30:], vecs[30:])  # written while Milvus was away
    store.delete_faces(cid, [recs[3].face_id, recs[31].face_id])
    restarted = open_indexes(milvus_url, store, DIM)
    try:
        index = restarted.get(cid)
        live = {r.face_id for r in recs} - {recs[3].face_id, recs[31].face_id}
        assert index.ids() == live and index.count() == 38
        for i, v in enumerate(vecs):
            hits = index.search(v, 1)
            assert (hits[0][0] == recs[i].face_id) == (recs[i].face_id in live)
    finally:
        restarted.close()


def found(c, query: str) -> set[str]:
    r = c.search_faces_by_image(
        CollectionId="people", Image={"Bytes": (PEOPLE / query).read_bytes()}
    )
    return {m["Face"]["FaceId"] for m in r["FaceMatches"]}


def test_collection_search_and_delete_through_boto3(tmp_path: Path, milvus_url: str) -> None:
    """Real photos, real models, vectors in Milvus: the people found, a deleted face never
    found again, before and after a restart, and a deleted collection's vectors dropped
    from Milvus with it."""
    from pymilvus import MilvusClient

    from oculi.store.milvus import PREFIX, parse_url
    from oculi.store.names import storage_name

    env = {"OCULI_VECTOR_URL": milvus_url}
    ids: dict[str, list[str]] = {}
    server = Server(tmp_path, env=env)
    try:
        c = server.client()
        c.create_collection(CollectionId="people")
        for path in sorted((PEOPLE / "train").glob("*/*")):
            r = c.index_faces(
                CollectionId="people",
                Image={"Bytes": path.read_bytes()},
                ExternalImageId=path.parent.name,
                MaxFaces=1,
            )
            ids.setdefault(path.parent.name, []).append(r["FaceRecords"][0]["Face"]["FaceId"])
        obama, biden = ids["obama"], ids["biden"]
        assert found(c, "test/obama1.jpg") == set(obama)
        assert found(c, "test/johnsnow_test1.jpg") == set(ids["kit_harington"])
        r = c.search_faces(CollectionId="people", FaceId=biden[0])
        assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [biden[1]]
        deleted = c.delete_faces(CollectionId="people", FaceIds=[obama[0]])["DeletedFaces"]
        assert deleted == [obama[0]]
        assert found(c, "test/obama1.jpg") == {obama[1]}  # honoured at once
    finally:
        server.stop()
    milvus = MilvusClient(uri=parse_url(milvus_url)[0])
    name = PREFIX + storage_name("people")
    try:
        held = milvus.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        assert held[0]["count(*)"] == 8  # the vectors live in Milvus, not in the data dir
        server = Server(tmp_path, env=env)
        try:
            c = server.client()
            assert found(c, "test/obama1.jpg") == {obama[1]}
            assert c.describe_collection(CollectionId="people")["FaceCount"] == 8
            c.delete_collection(CollectionId="people")
            assert not milvus.has_collection(name)
            c.create_collection(CollectionId="people")
            assert found(c, "test/obama1.jpg") == set()
            c.delete_collection(CollectionId="people")
        finally:
            server.stop()
    finally:
        milvus.close()


def test_kill_minus_nine_loses_nothing_acknowledged(
    tmp_path: Path, milvus_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tools/crash_test.py with the vectors in Milvus (the store in SQLite): after each
    kill -9 and restart, a search that returns every face returns exactly the stored ones
    (the embedded engine's run is tests/test_durability.py)."""
    from pymilvus import MilvusClient

    from oculi.store.milvus import PREFIX, parse_url
    from oculi.store.names import storage_name

    monkeypatch.setenv("OCULI_VECTOR_URL", milvus_url)  # the crash test's servers take it
    data = tmp_path / "data"
    data.mkdir()
    args = ["--cycles", "4", "--images", str(PEOPLE / "train"), "--data-dir", str(data)]
    try:
        assert crash_test(args) == 0
    finally:
        milvus = MilvusClient(uri=parse_url(milvus_url)[0])
        milvus.drop_collection(PREFIX + storage_name(COLLECTION))
        milvus.close()


def test_two_servers_sharing_postgresql_and_milvus(
    tmp_path: Path, milvus_url: str, request: pytest.FixtureRequest
) -> None:
    """Two oculi servers, one PostgreSQL store and one Milvus: a face indexed through one
    is found through the other at once, and a face deleted through one is never returned
    by the other."""
    import psycopg

    server_pg = request.getfixturevalue("pg")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    env = {
        "OCULI_STORE_URL": f"{server_pg.url.rsplit('/', 1)[0]}/{name}",
        "OCULI_VECTOR_URL": milvus_url,
    }
    cid = f"two-{uuid.uuid4().hex[:8]}"
    a, b = Server(tmp_path / "a", env=env), Server(tmp_path / "b", env=env)

    def similar(c, face_id: str) -> set[str]:  # no model runs: Milvus answers at once
        r = c.search_faces(CollectionId=cid, FaceId=face_id)
        return {m["Face"]["FaceId"] for m in r["FaceMatches"]}

    try:
        ca, cb = a.client(), b.client()
        ca.create_collection(CollectionId=cid)
        photos = sorted((PEOPLE / "train" / "obama").glob("*"))
        faces = [
            ca.index_faces(CollectionId=cid, Image={"Bytes": p.read_bytes()}, MaxFaces=1)[
                "FaceRecords"
            ][0]["Face"]["FaceId"]
            for p in photos
        ]
        assert similar(cb, faces[0]) == {faces[1]}  # indexed through a, found through b
        for _ in range(3):  # again, with no time between the write and the search
            again = ca.index_faces(
                CollectionId=cid, Image={"Bytes": photos[1].read_bytes()}, MaxFaces=1
            )["FaceRecords"][0]["Face"]["FaceId"]
            assert again in similar(cb, faces[0])
            assert cb.delete_faces(CollectionId=cid, FaceIds=[again])["DeletedFaces"] == [again]
            assert again not in similar(ca, faces[0])  # deleted through b, gone through a
        query = {"Bytes": (PEOPLE / "test" / "obama1.jpg").read_bytes()}
        r = cb.search_faces_by_image(CollectionId=cid, Image=query)
        assert {m["Face"]["FaceId"] for m in r["FaceMatches"]} == set(faces)
        cb.delete_collection(CollectionId=cid)
    finally:
        a.stop()
        b.stop()
