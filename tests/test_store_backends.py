"""The face store on SQLite and on a real PostgreSQL (same tests, same API), and the Qdrant
vector index against the exact one."""

from __future__ import annotations

import importlib.util
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oculi.errors import ResourceAlreadyExists
from oculi.store import faces as sql
from oculi.store.faces import FaceRecord, FaceStore, IdempotencyMismatch
from oculi.store.vectors import ExactIndex, VectorIndexes
from tests.pgserver import PgServer, find_bin, unavailable

DIM = 128


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    if importlib.util.find_spec("psycopg") is None:
        unavailable("psycopg not installed: pip install 'psycopg[binary,pool]'")
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        unavailable("no PostgreSQL server programs (initdb, pg_ctl): install postgresql")
    server = PgServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """An empty store: an SQLite file, or a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "faces.sqlite3"
    server: PgServer = request.getfixturevalue("pg")
    return server.new_database()


@pytest.fixture()
def store(location: str | Path) -> Iterator[FaceStore]:
    s = FaceStore(location)
    yield s
    s.close()


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def records(collection_id: str, n: int, seed: int = 0) -> tuple[list[FaceRecord], np.ndarray]:
    rng = np.random.default_rng(seed)
    recs = [
        FaceRecord(
            face_id=str(uuid.uuid4()),
            collection_id=collection_id,
            image_id=str(uuid.uuid4()),
            external_image_id=f"img{i}" if i % 2 else None,
            bbox={"Width": 0.25, "Height": 0.5, "Left": 0.125, "Top": 1 / 3},
            confidence=99.123456789,
            model_version="7.0",
            created=time.time(),
        )
        for i in range(n)
    ]
    return recs, unit(rng, n)


def ids_of(store: FaceStore, cid: str) -> list[str]:
    return [r.face_id for _, r in store.list_faces(cid, 0, 10_000)]


def in_threads(n: int, work: Callable[[int], None]) -> None:
    """Run work(0..n-1) in n threads started together; re-raise the first failure."""
    errors: list[Exception] = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except Exception as e:  # re-raised below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# collections and faces ----------------------------------------------------------------
def test_collections(store: FaceStore) -> None:
    for cid in ("b", "a", "c"):
        made = store.create_collection(cid, "7.0")
        assert made is not None and made.collection_id == cid and made.face_count == 0
    assert store.create_collection("a", "7.0") is None
    got = store.get_collection("a")
    assert got is not None and got.face_model_version == "7.0" and got.face_count == 0
    assert store.get_collection("zz") is None
    assert [c.collection_id for c in store.list_collections("", 2)] == ["a", "b"]
    assert [c.collection_id for c in store.list_collections("b", 10)] == ["c"]
    assert store.delete_collection("b") and not store.delete_collection("b")
    assert [c.collection_id for c in store.list_collections("", 10)] == ["a", "c"]


def test_faces_round_trip_and_deletions_hold(location: str | Path) -> None:
    store = FaceStore(location)
    store.create_collection("c", "7.0")
    recs, vecs = records("c", 7)
    assert store.add_faces("c", recs, vecs)
    assert not store.add_faces("missing", *records("missing", 1))
    assert store.get_collection("c").face_count == 7  # type: ignore[union-attr]
    page = store.list_faces("c", 0, 3)
    rest = store.list_faces("c", page[-1][0], 10)
    assert [r for _, r in page + rest] == recs  # every field back as written, in order
    wanted = [recs[5].face_id, recs[1].face_id]
    assert {r.face_id for _, r in store.list_faces("c", 0, 10, wanted)} == set(wanted)
    assert store.get_faces("c", wanted + ["nope"]) == {f: recs[i] for i, f in zip((5, 1), wanted)}
    assert np.array_equal(store.embedding("c", recs[3].face_id), vecs[3])
    assert store.embedding("c", "nope") is None
    ids, got = store.all_embeddings("c")
    assert ids == [r.face_id for r in recs] and np.array_equal(got, vecs)
    gone = [recs[0].face_id, recs[4].face_id]
    assert store.delete_faces("c", [*gone, gone[0], "nope"]) == (gone, [])
    store.close()
    reopened = FaceStore(location)  # a deletion, once acknowledged, holds
    assert ids_of(reopened, "c") == [r.face_id for r in recs if r.face_id not in gone]
    assert reopened.get_faces("c", gone) == {}
    assert reopened.delete_collection("c")
    assert reopened.all_embeddings("c")[0] == [] and ids_of(reopened, "c") == []
    reopened.close()


def test_users_and_association_helpers(store: FaceStore) -> None:
    store.create_collection("c", "7.0")
    recs, vecs = records("c", 3)
    store.add_faces("c", recs, vecs)
    f0, f1, f2 = (r.face_id for r in recs)

    def associate(db: Any) -> dict[str, Any]:
        assert sql.collection_exists(db, "c") and not sql.collection_exists(db, "x")
        sql.insert_user(db, "c", "u1")
        assert sql.user_exists(db, "c", "u1") and not sql.user_exists(db, "c", "u2")
        assert sql.face_owners(db, "c", [f0, f1, "nope"]) == {f0: None, f1: None}
        sql.set_face_user(db, "c", [f0, f1], "u1")
        vec = sql.embeddings_of(db, "c", [f1])
        assert list(vec) == [f1] and np.array_equal(vec[f1], vecs[1])
        assert store.user_embeddings("c", "u1").shape == (2, DIM)  # reads join the write
        return {"n": sql.user_face_count(db, "c", "u1")}

    assert store.run_idempotent("AssociateFaces", "c", None, "h", associate) == {"n": 2}
    assert store.list_users("c", "", 10) == [("u1", 2)]
    assert store.has_user("c", "u1") and store.user_count("c") == 1
    assert np.array_equal(store.user_embeddings("c", "u1"), vecs[:2])
    assert {r.face_id for _, r in store.list_faces("c", 0, 10, user_id="u1")} == {f0, f1}
    assert store.delete_faces("c", [f0, f2]) == ([f2], [(f0, "u1")])
    store.run_idempotent(
        "DeleteUser", "c", None, "h", lambda db: sql.delete_user(db, "c", "u1") or {}
    )
    assert not store.has_user("c", "u1") and store.user_count("c") == 0
    assert store.get_faces("c", [f0])[f0].user_id is None  # faces stay, unassociated
    assert store.user_embeddings("c", "u1").shape == (0, 0)


def test_idempotency(store: FaceStore) -> None:
    store.create_collection("c", "7.0")
    runs: list[str] = []

    def create_user(db: Any) -> dict[str, Any]:
        uid = f"u{len(runs)}"
        runs.append(uid)
        sql.insert_user(db, "c", uid)
        return {"UserId": uid}

    first = store.run_idempotent("CreateUser", "c", "tok", "h1", create_user)
    assert store.run_idempotent("CreateUser", "c", "tok", "h1", create_user) == first
    assert runs == ["u0"] and store.user_count("c") == 1
    with pytest.raises(IdempotencyMismatch):
        store.run_idempotent("CreateUser", "c", "tok", "h2", create_user)
    store.run_idempotent("DeleteUser", "c", "tok", "h2", create_user)  # tokens are per operation
    store.run_idempotent("CreateUser", "c", None, "h1", create_user)  # no token: no memory
    assert len(runs) == 3 and store.user_count("c") == 3

    def fails(db: Any) -> dict[str, Any]:
        sql.insert_user(db, "c", "half")
        raise ValueError("effect failed")

    with pytest.raises(ValueError):
        store.run_idempotent("CreateUser", "c", "tok2", "h", fails)
    assert not store.has_user("c", "half")  # rolled back, and the token not spent
    assert store.run_idempotent("CreateUser", "c", "tok2", "h", create_user) == {"UserId": "u3"}


def test_tokens_belong_to_their_collection_and_expire(store: FaceStore, monkeypatch) -> None:
    """A token is answered again only in its collection, within TOKEN_TTL_S, and not after
    the collection was deleted (it runs again in the re-created one), nor once a face its
    answer names was deleted."""
    store.create_collection("c", "7.0")
    store.create_collection("d", "7.0")
    runs: list[str] = []

    def effect(cid: str) -> Callable[[Any], dict[str, Any]]:
        def run(db: Any) -> dict[str, Any]:
            runs.append(cid)
            return {"in": cid}

        return run

    store.run_idempotent("CreateUser", "c", "tok", "h", effect("c"))
    store.run_idempotent("CreateUser", "c", "tok", "h", effect("c"))
    store.run_idempotent("CreateUser", "d", "tok", "h", effect("d"))  # another collection
    assert runs == ["c", "d"]
    assert store.delete_collection("c")
    store.create_collection("c", "7.0")
    store.run_idempotent("CreateUser", "c", "tok", "h", effect("c"))  # deleted with it
    assert runs == ["c", "d", "c"]
    later = time.time() + sql.TOKEN_TTL_S + 1
    monkeypatch.setattr(sql.time, "time", lambda: later)
    store.run_idempotent("CreateUser", "d", "tok", "h", effect("d"))  # expired
    assert runs == ["c", "d", "c", "d"]
    monkeypatch.undo()

    recs, vecs = records("d", 2)
    store.add_faces("d", recs, vecs)
    named = {"AssociatedFaces": [{"FaceId": recs[0].face_id}], "UnsuccessfulFaceAssociations": []}
    other = {"AssociatedFaces": [{"FaceId": recs[1].face_id}]}
    store.run_idempotent("AssociateFaces", "d", "t1", "h", lambda db: named)
    store.run_idempotent("AssociateFaces", "d", "t2", "h", lambda db: other)
    store.delete_faces("d", [recs[0].face_id])
    assert store.run_idempotent("AssociateFaces", "d", "t1", "h", lambda db: {"again": 1}) == {
        "again": 1
    }  # the answer naming the deleted face is gone
    assert store.run_idempotent("AssociateFaces", "d", "t2", "h", lambda db: {}) == other


# face counter, sequence numbers and the vector index over them, on both engines ------
def test_face_counter_kept_and_backfilled_for_an_old_database(location: str | Path) -> None:
    store = FaceStore(location)
    for cid in ("c", "d"):
        store.create_collection(cid, "7.0")
    recs, vecs = records("c", 9)
    store.add_faces("c", recs, vecs)
    store.delete_faces("c", [recs[0].face_id, recs[0].face_id, "nope"])
    store.add_faces("d", *records("d", 2, seed=1))
    assert [store.get_collection(c).face_count for c in "cd"] == [8, 2]  # type: ignore[union-attr]
    with store._backend.write() as db:  # a database made before the counter existed
        db.execute("DROP TABLE face_counts")
    store.close()
    reopened = FaceStore(location)
    assert [reopened.get_collection(c).face_count for c in "cd"] == [8, 2]  # type: ignore[union-attr]
    reopened.delete_collection("d")
    assert reopened.create_collection("d", "7.0") is not None
    assert reopened.get_collection("d").face_count == 0  # type: ignore[union-attr]
    reopened.close()


def test_sequence_numbers_and_rows_by_sequence(store: FaceStore) -> None:
    store.create_collection("c", "7.0")
    store.create_collection("other", "7.0")
    recs, vecs = records("c", 7)
    store.add_faces("c", recs, vecs)
    store.add_faces("other", *records("other", 3, seed=1))
    seqs = store.face_seqs("c")
    assert len(seqs) == 7 and list(seqs) == sorted(set(seqs.tolist()))
    by_id = store.seqs_of("c", [r.face_id for r in recs] + ["nope"])
    assert [by_id[r.face_id] for r in recs] == seqs.tolist()
    got, ids, emb = store.faces_after("c", int(seqs[2]), 3)
    assert got.tolist() == seqs[3:6].tolist() and ids == [r.face_id for r in recs[3:6]]
    assert np.array_equal(emb, vecs[3:6])
    got, ids, emb = store.faces_by_seq("c", np.concatenate([seqs[[6, 1]], [10**9]]))
    assert dict(zip(ids, got.tolist())) == {recs[6].face_id: seqs[6], recs[1].face_id: seqs[1]}
    assert store.faces_by_seq("other", seqs)[1] == []  # another collection's faces: none
    store.delete_faces("c", [recs[2].face_id])
    assert store.face_seqs("c").tolist() == np.delete(seqs, 2).tolist()


def test_ann_snapshot_caught_up_from_either_store(location: str | Path, tmp_path: Path) -> None:
    store = FaceStore(location)
    store.create_collection("c", "7.0")
    recs, vecs = records("c", 30)
    store.add_faces("c", recs, vecs)
    indexes = VectorIndexes(store, DIM, tmp_path / "ann", threshold=20)
    assert len(indexes.get("c")) == 30  # built from the store and saved
    more, more_vecs = records("c", 5, seed=3)
    store.add_faces("c", more, more_vecs)  # written while this index is not told
    store.delete_faces("c", [recs[0].face_id, recs[7].face_id])
    restarted = VectorIndexes(store, DIM, tmp_path / "ann", threshold=20).get("c")
    ids, held = store.all_embeddings("c")
    assert len(restarted) == len(ids) == 33
    for fid, v in zip(ids, held):
        assert restarted.search(v, 1)[0][0] == fid
    hits = {fid for fid, _ in restarted.search(vecs[0], 100)}
    assert recs[0].face_id not in hits and recs[7].face_id not in hits
    store.close()


# concurrency: several connections (as several server processes) --------------------
def test_concurrent_writers_lose_nothing(location: str | Path) -> None:
    stores = [FaceStore(location) for _ in range(3)]
    stores[0].create_collection("c", "7.0")
    kept: list[list[str]] = [[] for _ in range(8)]
    deleted: list[list[str]] = [[] for _ in range(8)]

    def work(t: int) -> None:
        s = stores[t % len(stores)]
        for i in range(15):
            recs, vecs = records("c", 1, seed=t * 100 + i)
            assert s.add_faces("c", recs, vecs)
            kept[t].append(recs[0].face_id)
            if i % 3 == 2:
                fid = kept[t].pop(0)
                assert s.delete_faces("c", [fid]) == ([fid], [])
                deleted[t].append(fid)
            s.list_faces("c", 0, 50)

    in_threads(8, work)
    for s in stores:
        s.close()
    fresh = FaceStore(location)
    alive = set(ids_of(fresh, "c"))
    assert alive == {f for ids in kept for f in ids}
    assert not alive & {f for ids in deleted for f in ids}
    assert fresh.get_collection("c").face_count == len(alive) == 8 * 10  # type: ignore[union-attr]
    fresh.close()


def test_check_then_act_holds_under_concurrency(location: str | Path) -> None:
    """Eight writers each try to give a user 5 more faces under a limit of 12 (the shape of
    AssociateFaces' 100-face rule): the limit holds, and each answer is what was done."""
    stores = [FaceStore(location) for _ in range(4)]
    stores[0].create_collection("c", "7.0")
    recs, vecs = records("c", 40)
    stores[0].add_faces("c", recs, vecs)
    stores[0].run_idempotent(
        "CreateUser", "c", None, "h", lambda db: sql.insert_user(db, "c", "u") or {}
    )
    answers: list[bool] = [False] * 8

    def work(t: int) -> None:
        mine = [r.face_id for r in recs[t * 5 : (t + 1) * 5]]

        def effect(db: Any) -> dict[str, Any]:
            if sql.user_face_count(db, "c", "u") + len(mine) > 12:
                return {"ok": False}
            sql.set_face_user(db, "c", mine, "u")
            return {"ok": True}

        answers[t] = stores[t % 4].run_idempotent("AssociateFaces", "c", f"t{t}", "h", effect)["ok"]

    in_threads(8, work)
    held = stores[0].list_faces("c", 0, 100, user_id="u")
    assert sum(answers) == 2 and len(held) == 10
    for s in stores:
        s.close()


def test_same_token_at_once_runs_the_effect_once(location: str | Path) -> None:
    stores = [FaceStore(location) for _ in range(4)]
    stores[0].create_collection("c", "7.0")
    answers: list[dict[str, Any]] = [{} for _ in range(8)]

    def work(t: int) -> None:
        def effect(db: Any) -> dict[str, Any]:
            sql.insert_user(db, "c", f"u{t}")
            return {"UserId": f"u{t}"}

        answers[t] = stores[t % 4].run_idempotent("CreateUser", "c", "same", "h", effect)

    in_threads(8, work)
    assert all(a == answers[0] for a in answers)
    assert stores[0].list_users("c", "", 10) == [(answers[0]["UserId"], 0)]
    for s in stores:
        s.close()


# Qdrant against the exact index ---------------------------------------------------
def test_qdrant_index_matches_exact() -> None:
    if importlib.util.find_spec("qdrant_client") is None:
        unavailable("qdrant-client not installed")
    from oculi.store import qdrant

    rng = np.random.default_rng(3)
    ids = [str(uuid.uuid4()) for _ in range(400)]
    vecs = unit(rng, 400)
    client = qdrant.open_qdrant(":memory:")
    exact, index = ExactIndex(DIM), qdrant.QdrantIndex(client, "t", DIM)
    for a in range(0, 400, 150):
        exact.add(ids[a : a + 150], vecs[a : a + 150])
        index.add(ids[a : a + 150], vecs[a : a + 150])
    gone = set(ids[::4])
    exact.remove(sorted(gone))
    index.remove(sorted(gone) + [str(uuid.uuid4())])
    assert len(index) == len(exact) == 300
    for j, q in enumerate(unit(rng, 10)):
        q = vecs[j] * 0.7 + q * 0.3  # near a stored face, deleted for j % 4 == 0
        q /= np.linalg.norm(q)  # embeddings are unit length; Qdrant normalises, exact doesn't
        for k, floor, skip in ((1, -1.0, None), (10, -1.0, ids[j]), (50, 0.1, None)):
            want, got = exact.search(q, k, floor, skip), index.search(q, k, floor, skip)
            assert [f for f, _ in got] == [f for f, _ in want]
            assert np.allclose([c for _, c in got], [c for _, c in want], atol=1e-5)
            assert not gone & {f for f, _ in got}
    client.close()


def test_qdrant_reopen_and_reconcile_with_store(tmp_path: Path) -> None:
    if importlib.util.find_spec("qdrant_client") is None:
        unavailable("qdrant-client not installed")
    from oculi.store import qdrant

    store = FaceStore(tmp_path / "faces.sqlite3")
    store.create_collection("c", "7.0")
    recs, vecs = records("c", 30)
    store.add_faces("c", recs[:20], vecs[:20])
    client = qdrant.open_qdrant(str(tmp_path / "qdrant"))
    indexes = qdrant.QdrantIndexes(client, store, DIM)
    assert len(indexes.get("c")) == 20  # filled from the store on first use
    client.close()
    # Reopened from its folder it holds the same points; faces the store committed or
    # deleted while Qdrant was away (a crash between the two writes) are put right.
    store.add_faces("c", recs[20:], vecs[20:])
    store.delete_faces("c", [recs[3].face_id])
    client = qdrant.open_qdrant(str(tmp_path / "qdrant"))
    assert client.count("oculi-c").count == 20
    indexes = qdrant.QdrantIndexes(client, store, DIM)
    index = indexes.get("c")
    assert index.ids() == {r.face_id for r in recs} - {recs[3].face_id}
    exact = ExactIndex(DIM)
    exact.add(*store.all_embeddings("c"))
    for q in vecs[[3, 10, 25]]:
        assert [f for f, _ in index.search(q, 5)] == [f for f, _ in exact.search(q, 5)]
    indexes.drop("c")
    assert not client.collection_exists("oculi-c")
    client.close()
    store.close()


# tags, celebrities, import ------------------------------------------------------------
def test_tags_and_celebrities_live_and_die_with_their_collection(store: FaceStore) -> None:
    from oculi.store.faces import Celebrity, TooManyTags

    assert store.create_collection("c", "7.0", {"team": "a"}) is not None
    assert store.tag_collection("c", {"team": "b", "env": ""}, 3)
    with pytest.raises(TooManyTags):
        store.tag_collection("c", {"x": "1", "y": "2"}, 3)  # nothing of it is kept
    assert store.collection_tags("c") == {"env": "", "team": "b"}
    assert store.untag_collection("c", ["env", "nope"])
    assert store.collection_tags("c") == {"team": "b"}
    assert store.collection_tags("zz") is None and not store.tag_collection("zz", {}, 3)
    store.run_idempotent(
        "CreateUser", "c", None, "", lambda db: sql.insert_user(db, "c", "Ann") or {}
    )
    ann = Celebrity("Ann", "Ann Example", ("https://example.org/ann",), "Female")
    assert store.set_celebrity("c", ann) and not store.set_celebrity("c", Celebrity("Bob", "B"))
    assert store.celebrities("c") == [ann] and store.celebrities("c", ["Bob"]) == []
    store.run_idempotent(
        "DeleteUser", "c", None, "", lambda db: sql.delete_user(db, "c", "Ann") or {}
    )
    assert store.celebrities("c") == []
    assert store.delete_collection("c")
    assert store.create_collection("c", "7.0") is not None
    assert store.collection_tags("c") == {}


def test_import_copy_in_the_same_store(store: FaceStore) -> None:
    from oculi.service.transfer import export_collection, import_collection, write_export
    from oculi.store.faces import Celebrity

    store.create_collection("src", "7.0", {"k": "v"})
    recs, vecs = records("src", 3)
    store.add_faces("src", recs, vecs)
    store.run_idempotent(
        "CreateUser", "src", None, "", lambda db: sql.insert_user(db, "src", "Ann") or {}
    )
    store.run_idempotent(
        "Associate",
        "src",
        None,
        "",
        lambda db: sql.set_face_user(db, "src", [recs[0].face_id], "Ann") or {},
    )
    store.set_celebrity("src", Celebrity("Ann", "Ann Example"))
    out = io.StringIO()
    write_export(export_collection(store, "src"), out)
    lines = out.getvalue().splitlines()
    with pytest.raises(ResourceAlreadyExists):
        import_collection(store, lines, "7.0")
    done = import_collection(store, lines, "7.0", rename="copy")
    assert done.faces == 3 and done.new_face_ids
    copied = {r.face_id: r for _, r in store.list_faces("copy", 0, 10)}
    assert len(copied) == 3 and not set(copied) & {r.face_id for r in recs}
    assert [r.user_id for r in copied.values()].count("Ann") == 1
    assert store.collection_tags("copy") == {"k": "v"}
    assert store.celebrities("copy") == [Celebrity("Ann", "Ann Example")]
    # A failure inside the transaction leaves nothing behind.
    last = json.loads(lines[-1])
    last["embedding"] = "AAAAAA=="  # one float: refused only when the faces are written
    bad = [*lines[:-1], json.dumps(last)]
    with pytest.raises(ValueError):
        import_collection(store, bad, "7.0", rename="half")
    assert store.get_collection("half") is None
