"""The exact vector index against a plain brute-force reference, and the per-collection
index that switches to a persisted AnnIndex above a threshold, against the face store."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from oculi.store.ann import AnnIndex
from oculi.store.faces import FaceRecord, FaceStore
from oculi.store.vectors import ExactIndex, VectorIndexes


def unit(rng: np.random.Generator, n: int, d: int = 128) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_add_remove_search_match_reference() -> None:
    rng = np.random.default_rng(0)
    vecs = unit(rng, 500)
    ids = [f"f{i}" for i in range(500)]
    index = ExactIndex(128)
    for a in range(0, 500, 37):  # many small adds exercise growth
        index.add(ids[a : a + 37], vecs[a : a + 37])
    gone = set(ids[::3])
    index.remove(sorted(gone) + ["never-added"])
    live = [i for i, fid in enumerate(ids) if fid not in gone]
    assert len(index) == len(live)
    for q in unit(rng, 20):
        got = index.search(q, 10)
        scores = vecs[live] @ q
        want = [ids[live[i]] for i in np.argsort(-scores)[:10]]
        assert [fid for fid, _ in got] == want
        assert all(fid not in gone for fid, _ in got)


def test_threshold_and_exclude() -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng, 10)
    index = ExactIndex(128)
    index.add([str(i) for i in range(10)], vecs)
    hits = index.search(vecs[3], 5, min_cosine=0.99)
    assert hits == [("3", index.search(vecs[3], 1)[0][1])]
    assert index.search(vecs[3], 5, min_cosine=0.99, exclude="3") == []
    assert len(index.search(vecs[3], 4, exclude="3")) == 4
    empty = ExactIndex(128)
    assert empty.search(vecs[0], 3) == []


def test_adding_an_existing_id_replaces_it() -> None:
    rng = np.random.default_rng(2)
    vecs = unit(rng, 4)
    index = ExactIndex(128)
    index.add(["a", "b", "c"], vecs[:3])
    index.add(["b"], vecs[3:])
    index.add(["c", "c"], vecs[[0, 1]])  # repeated within one call: the last one wins
    assert len(index) == 3
    hits = index.search(vecs[3], 10)
    assert sorted(fid for fid, _ in hits) == ["a", "b", "c"]
    assert hits[0] == ("b", pytest.approx(1.0, abs=1e-5))
    assert dict(index.search(vecs[1], 10))["c"] == pytest.approx(1.0, abs=1e-5)


# CollectionIndex: exact below the threshold, a persisted AnnIndex above it ---------------
def store_with(tmp_path: Path, n: int, seed: int = 0) -> tuple[FaceStore, list[str], np.ndarray]:
    store = FaceStore(tmp_path / "faces.sqlite3")
    store.create_collection("c", "7.0")
    vecs = unit(np.random.default_rng(seed), n)
    ids = add(store, vecs)
    return store, ids, vecs


def add(store: FaceStore, vecs: np.ndarray) -> list[str]:
    recs = [
        FaceRecord(
            face_id=str(uuid.uuid4()),
            collection_id="c",
            image_id="i",
            external_image_id=None,
            bbox={},
            confidence=99.0,
            model_version="7.0",
            created=0.0,
        )
        for _ in vecs
    ]
    assert store.add_faces("c", recs, vecs)
    return [r.face_id for r in recs]


def add_through(indexes: VectorIndexes, store: FaceStore, vecs: np.ndarray) -> list[str]:
    """Add as Collections.index_faces does: store first, then the index, under the lock."""
    with indexes.lock:
        index = indexes.get("c")
        ids = add(store, vecs)
        index.add(ids, vecs)
    return ids


def delete_through(indexes: VectorIndexes, store: FaceStore, ids: list[str]) -> None:
    with indexes.lock:
        deleted, _ = store.delete_faces("c", ids)
        indexes.get("c").remove(deleted)


def assert_matches_store(indexes: VectorIndexes, store: FaceStore) -> None:
    """Every stored face is its own best match (and the only one at cosine ~1); nothing else
    is held."""
    ids, vecs = store.all_embeddings("c")
    index = indexes.get("c")
    assert len(index) == len(ids)
    for fid, v in zip(ids, vecs):
        assert index.search(v, 1)[0][0] == fid


def test_collection_switches_to_ann_and_snapshot_is_caught_up(tmp_path: Path) -> None:
    store, ids, vecs = store_with(tmp_path, 30)
    snap_dir = tmp_path / "ann"
    indexes = VectorIndexes(store, 128, snap_dir, threshold=40)
    assert len(indexes.get("c")) == 30 and not snap_dir.exists()  # exact, nothing saved
    rng = np.random.default_rng(5)
    ids += add_through(indexes, store, unit(rng, 15))  # crosses 40: built, saved
    path = indexes.snapshot_path("c")
    assert path is not None and path.exists()
    saved = path.read_bytes()
    assert_matches_store(indexes, store)
    # Adds after the snapshot (fewer than the threshold) are not saved at once ...
    ids += add_through(indexes, store, unit(rng, 6))
    assert path.read_bytes() == saved
    # ... but a deletion removes the snapshot, which holds the deleted faces' FaceIds and
    # float16 embeddings; a clean stop writes it again.
    gone = ids[:10:2] + ids[35:38]
    delete_through(indexes, store, gone)
    assert not path.exists()
    for fid in gone:
        assert all(
            h != fid for h, _ in indexes.get("c").search(store.all_embeddings("c")[1][0], 100)
        )
    indexes.close()
    saved = path.read_bytes()
    assert not any(fid.encode() in saved for fid in gone)
    # Faces written to the store while no index was in memory (a crash between the store's
    # commit and the index update, or between two snapshots) are caught up on load.
    late = add(store, unit(rng, 4))
    restarted = VectorIndexes(store, 128, snap_dir, threshold=40)
    assert_matches_store(restarted, store)
    assert path.read_bytes() == saved  # loaded, not rebuilt (4 changes < threshold)
    assert late[0] in {h for h, _ in restarted.get("c").search(vecs[0], 1000)}
    store.delete_faces("c", ids[20:22])  # deleted while no index was in memory
    again = VectorIndexes(store, 128, snap_dir, threshold=40)
    assert_matches_store(again, store)
    for fid in gone + ids[20:22]:
        assert fid not in {h for h, _ in again.get("c").search(vecs[0], 1000)}
    assert not path.exists()  # loaded, caught up, and removed: it held deleted faces


def test_snapshot_rewritten_after_enough_changes_and_torn_file_rebuilt(tmp_path: Path) -> None:
    store, _, _ = store_with(tmp_path, 12)
    snap_dir = tmp_path / "ann"
    indexes = VectorIndexes(store, 128, snap_dir, threshold=10)
    indexes.get("c")
    path = indexes.snapshot_path("c")
    assert path is not None and path.exists()  # more than 10 at first use: built and saved
    first = path.read_bytes()
    add_through(indexes, store, unit(np.random.default_rng(7), 10))  # 10 changes: saved
    assert path.read_bytes() != first
    path.write_bytes(path.read_bytes()[:-100])  # torn (cannot happen through save: proof)
    (snap_dir / "c.ann.tmp-999").write_bytes(b"partial")  # a save killed midway
    restarted = VectorIndexes(store, 128, snap_dir, threshold=10)
    assert not (snap_dir / "c.ann.tmp-999").exists()
    assert_matches_store(restarted, store)  # rebuilt from the store
    with restarted.lock:
        restarted.drop("c")
    assert not path.exists()


def test_collection_below_threshold_drops_stale_snapshot(tmp_path: Path) -> None:
    store, ids, _ = store_with(tmp_path, 12)
    snap_dir = tmp_path / "ann"
    VectorIndexes(store, 128, snap_dir, threshold=10).get("c")
    store.delete_faces("c", ids[:5])
    restarted = VectorIndexes(store, 128, snap_dir, threshold=10)
    assert_matches_store(restarted, store)
    assert not any(snap_dir.iterdir())


def test_snapshot_resplit_when_scan_threads_change(tmp_path: Path) -> None:
    store, _, _ = store_with(tmp_path, 12)
    snap_dir = tmp_path / "ann"
    first = VectorIndexes(store, 128, snap_dir, threshold=10, shards=1)
    first.get("c")
    path = first.snapshot_path("c")
    assert path is not None
    assert AnnIndex.load(path).shards == 1
    restarted = VectorIndexes(store, 128, snap_dir, threshold=10, shards=2)
    assert_matches_store(restarted, store)
    assert AnnIndex.load(path).shards == 2  # re-split on load and saved so
