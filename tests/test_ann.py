"""AnnIndex against ExactIndex on face-like vectors: recall, deletes, semantics, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oculi.store import ann
from oculi.store.ann import AnnIndex
from oculi.store.vectors import ExactIndex

DIM = 128


def face_like(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Identities (centres on the sphere sharing a mean direction) with 1-8 noisy faces each,
    within-identity cosine 0.5-0.8; queries are fresh faces of enrolled identities."""
    rng = np.random.default_rng(seed)
    std = (np.arange(DIM) + 1.0) ** -0.25
    std /= np.sqrt((std**2).sum())
    mean = rng.standard_normal(DIM)
    centres = rng.standard_normal((n, DIM)) * std + 0.33 * mean / np.linalg.norm(mean)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = np.sqrt(1 / rng.uniform(0.5, 0.8, n) - 1)
    owner = np.repeat(np.arange(n), rng.integers(1, 9, n))[:n]

    def draw(o: np.ndarray) -> np.ndarray:
        x = centres[o] + spread[o, None] * rng.standard_normal((len(o), DIM)) * std
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return draw(owner), draw(rng.integers(0, owner[-1] + 1, queries))


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, np.ndarray]:
    vecs, queries = face_like(20_000, 300)
    return [f"face-{i}" for i in range(len(vecs))], vecs, queries


def build(ids: list[str], vecs: np.ndarray, **kw) -> tuple[AnnIndex, ExactIndex]:
    index, exact = AnnIndex(DIM, **kw), ExactIndex(DIM)
    for a in range(0, len(ids), 3000):  # several adds: training happens part-way
        index.add(ids[a : a + 3000], vecs[a : a + 3000])
    exact.add(ids, vecs)
    return index, exact


def same_hits(
    got: list[tuple[str, float]],
    want: list[tuple[str, float]],
    vec_of: dict[str, np.ndarray],
    query: np.ndarray,
) -> bool:
    """The same hits up to float16 rounding: the i-th hit of each has the same cosine, to
    1e-3, by its own score and by the float32 vectors (near-ties may swap ids)."""
    return len(got) == len(want) and all(
        abs(gc - wc) < 1e-3 and abs(float(vec_of[g] @ query) - wc) < 1e-3
        for (g, gc), (_, wc) in zip(got, want)
    )


def test_recall_at_1_against_exact(data) -> None:
    ids, vecs, queries = data
    index, exact = build(ids, vecs)
    assert len(index) == len(exact) == len(ids)
    hits = [index.search(q, 1)[0][0] == exact.search(q, 1)[0][0] for q in queries]
    assert np.mean(hits) >= 0.99


def test_semantics_match_exact_search(data, monkeypatch) -> None:
    ids, vecs, queries = data
    # Re-ranking every row makes AnnIndex exact, so any difference is one of semantics.
    monkeypatch.setattr(ann, "TRAIN_MIN", 2000)
    index, exact = build(ids[:4000], vecs[:4000], candidates=4000, probe=1.0)
    assert index._pq is not None
    small, small_exact = build(ids[:500], vecs[:500])  # below TRAIN_MIN: the exact path
    assert small._pq is None
    vec_of = dict(zip(ids, vecs))
    for ann_index, ref in ((index, exact), (small, small_exact)):
        for q in queries[:15]:
            scores = [c for _, c in ref.search(q, 30)]
            # thresholds between two scores, clear of float16 rounding
            cuts = [(a + b) / 2 for a, b in zip(scores, scores[1:]) if a - b > 4e-3][:3]
            for cut in [-1.0, *cuts, 1.5]:
                assert same_hits(ann_index.search(q, 10, cut), ref.search(q, 10, cut), vec_of, q)
            top = ref.search(q, 1)[0][0]
            for excl in (top, "not-there", None):
                got = ann_index.search(q, 5, exclude=excl)
                assert same_hits(got, ref.search(q, 5, exclude=excl), vec_of, q)
                assert excl not in {f for f, _ in got}
        everything = ann_index.search(queries[0], 10**6)  # k past the size: every face
        assert all(a >= b for (_, a), (_, b) in zip(everything, everything[1:]))
        assert {f for f, _ in everything} == {f for f, _ in ref.search(queries[0], 10**6)}
        assert len(everything) == len(ref)
        assert ann_index.search(vecs[0], 0) == []
    assert AnnIndex(DIM).search(queries[0], 3) == []


def test_removed_ids_never_returned_and_k_filled(data) -> None:
    ids, vecs, queries = data
    index, exact = build(ids, vecs, candidates=64)
    q = queries[0]
    # the 300 nearest faces of q, so the quantised scan's first candidates are all dead
    near = [f for f, _ in exact.search(q, 300)]
    gone = set(near) | set(ids[::10])
    assert len(gone) < ann.REBUILD_FRACTION * len(ids)  # tombstones, not a rebuild
    index.remove(sorted(gone) + ["never-added"])
    exact.remove(sorted(gone))
    assert len(index) == len(exact)
    for query in [q, *queries[1:100]]:
        got = index.search(query, 20)
        assert len(got) == 20
        assert not gone & {f for f, _ in got}


def test_rebuild_after_many_deletes(data) -> None:
    ids, vecs, queries = data
    index, exact = build(ids, vecs)
    gone = ids[::5] + ids[1::5]  # 40%: past REBUILD_FRACTION, leaving > TRAIN_MIN faces
    index.remove(gone)
    exact.remove(gone)
    assert len(index._ids) == len(index) == len(ids) - len(gone)  # compacted
    assert index._pq is not None and index._trained_rows == len(index)  # retrained
    hits = [index.search(q, 1)[0][0] == exact.search(q, 1)[0][0] for q in queries[:100]]
    assert np.mean(hits) >= 0.99
    dead = set(gone)
    assert not any(f in dead for q in queries[:50] for f, _ in index.search(q, 10))
    # removed ids can come back, and re-adding a live id replaces it
    index.add(gone[:5], vecs[[ids.index(f) for f in gone[:5]]])
    index.add([ids[2]], vecs[2:3])
    got = [f for f, _ in index.search(vecs[2], 10)]
    assert got[0] == ids[2] and got.count(ids[2]) == 1
    assert index.search(vecs[0], 1)[0][0] == ids[0]
    index.remove(list(index._rows))
    assert len(index) == 0 and index.search(queries[0], 5) == []


def test_save_load_round_trip(data, tmp_path) -> None:
    ids, vecs, queries = data
    for n in (500, len(ids)):  # exact path and quantised path
        index, _ = build(ids[:n], vecs[:n])
        index.remove(ids[:n:9])  # tombstones are compacted away by save
        path = tmp_path / f"index-{n}.ann"
        index.save(path)
        index.save(path)  # overwriting is atomic
        assert sorted(p.name for p in tmp_path.iterdir() if str(n) in p.name) == [path.name]
        loaded = AnnIndex.load(path)
        assert len(loaded) == len(index)
        for q in queries[:100]:
            assert loaded.search(q, 10) == index.search(q, 10)
            assert loaded.search(q, 3, 0.3, ids[1]) == index.search(q, 3, 0.3, ids[1])
        loaded.add(["new"], queries[:1])  # still a working index
        assert loaded.search(queries[0], 1)[0][0] == "new"
    (tmp_path / "junk").write_bytes(b"not an index")
    with pytest.raises(ValueError):
        AnnIndex.load(tmp_path / "junk")


def test_save_writes_no_removed_face(data, tmp_path) -> None:
    """A removed face's id, float16 vector and rows are not in the saved file (exact and
    quantised paths), and the compacted index answers as before."""
    ids, vecs, queries = data
    for n in (500, len(ids)):
        index, _ = build(ids[:n], vecs[:n])
        gone = [ids[n - 5], ids[n - 3]]  # no other id starts with theirs
        index.remove(gone)
        before = [index.search(q, 10) for q in queries[:50]]
        path = tmp_path / f"index-{n}.ann"
        index.save(path)
        raw = path.read_bytes()
        for fid in gone:
            i = ids.index(fid)
            assert fid.encode() not in raw
            assert vecs[i].astype(np.float16).tobytes() not in raw
        assert vecs[8].astype(np.float16).tobytes() in raw  # a live face is there
        assert [index.search(q, 10) for q in queries[:50]] == before
        assert [AnnIndex.load(path).search(q, 10) for q in queries[:50]] == before
    emptied, _ = build(ids[:3], vecs[:3])
    emptied.remove(ids[:3])  # every face deleted: an empty file, loaded as an empty index
    emptied.save(tmp_path / "empty.ann")
    assert len(AnnIndex.load(tmp_path / "empty.ann")) == 0


def test_sequence_numbers_follow_rows_through_rebuild_and_save(data, tmp_path) -> None:
    ids, vecs, _ = data
    n = ann.TRAIN_MIN + 1000
    index = AnnIndex(DIM)
    seqs = np.arange(n, dtype=np.int64) * 3 + 7
    for a in range(0, n, 4000):
        index.add(ids[a : min(a + 4000, n)], vecs[a : min(a + 4000, n)], seqs[a : a + 4000])
    index.remove(ids[: n // 3])  # past REBUILD_FRACTION: compacted
    index.add([ids[n - 1]], vecs[:1], np.array([10**12]))  # replaced: the new seq holds
    want = dict(zip(ids[n // 3 : n - 1], seqs[n // 3 : n - 1].tolist())) | {ids[n - 1]: 10**12}
    got_ids, got_seqs = index.live()
    assert dict(zip(got_ids, got_seqs.tolist())) == want
    index.save(tmp_path / "s.ann")
    got_ids, got_seqs = AnnIndex.load(tmp_path / "s.ann").live()
    assert dict(zip(got_ids, got_seqs.tolist())) == want


def test_sharded_scan_finds_what_one_shard_does(data, tmp_path) -> None:
    ids, vecs, queries = data
    one, exact = build(ids, vecs)
    three, _ = build(ids, vecs, shards=3)  # rows split 3 ways, added in uneven batches
    three.remove(ids[::50])
    one.remove(ids[::50])
    exact.remove(ids[::50])
    vec_of = dict(zip(ids, vecs))
    hits = [three.search(q, 10) for q in queries]
    assert np.mean([h[0][0] == exact.search(q, 1)[0][0] for h, q in zip(hits, queries)]) >= 0.99
    gone = set(ids[::50])
    for q, h in zip(queries[:100], hits):
        # Same codebooks; each shard's best include the global best that it holds, so the
        # re-ranked candidates are a superset: the i-th hit is never worse.
        assert all(c3 >= c1 - 1e-6 for (_, c3), (_, c1) in zip(h, one.search(q, 10)))
        assert all(abs(float(vec_of[fid] @ q) - c) < 1e-3 for fid, c in h)
        assert not {fid for fid, _ in h} & gone
    three.save(tmp_path / "three.ann")
    loaded = AnnIndex.load(tmp_path / "three.ann")
    assert loaded.shards == 3
    for q in queries[:50]:
        assert loaded.search(q, 10) == three.search(q, 10)
    # Re-split with the trained codebooks kept: the same scan as an index built that way.
    loaded.reshard(1)
    assert loaded.shards == 1
    for q in queries[:50]:
        assert loaded.search(q, 10) == one.search(q, 10)
    one.reshard(3)
    for q in queries[:50]:
        assert one.search(q, 10) == three.search(q, 10)


@pytest.fixture
def ivf(monkeypatch) -> None:
    """The inverted file at test scale: made when the index first holds 8,000 faces."""
    monkeypatch.setattr(ann, "TRAIN_MIN", 2000)
    monkeypatch.setattr(ann, "IVF_MIN", 8000)


def test_inverted_file_made_at_its_size_deterministically(data, ivf, tmp_path) -> None:
    ids, vecs, queries = data
    small, _ = build(ids[:7000], vecs[:7000], lists=16)
    assert small._pq is not None and small.held_lists() == 1  # exhaustive below IVF_MIN
    index, exact = build(ids, vecs, lists=16, probe=0.75)
    assert index.held_lists() == 16 and index._trained_rows == 8000 + 1000  # batch of 3000
    again, _ = build(ids, vecs, lists=16, probe=0.75)
    assert faiss_bytes(again) == faiss_bytes(index)  # same faces, same quantiser
    hits = [index.search(q, 1)[0][0] == exact.search(q, 1)[0][0] for q in queries]
    assert np.mean(hits) >= 0.99
    flat, _ = build(ids, vecs, lists=1)
    assert flat.held_lists() == 1
    index.remove(ids[::50])
    index.save(tmp_path / "ivf.ann")
    loaded = AnnIndex.load(tmp_path / "ivf.ann")
    assert loaded.held_lists() == 16 and loaded.probe == 0.75
    for q in queries[:50]:
        assert loaded.search(q, 10) == index.search(q, 10)


def faiss_bytes(index: AnnIndex) -> bytes:
    assert index._pq is not None
    return bytes(ann.faiss.serialize_index(index._pq[0]))


def test_inverted_file_semantics_and_k_filled(data, ivf) -> None:
    ids, vecs, queries = data
    index, exact = build(ids[:9000], vecs[:9000], lists=16, candidates=9000, probe=1.0)
    assert index.held_lists() == 16
    vec_of = dict(zip(ids, vecs))
    for q in queries[:10]:  # every list and every row re-ranked: exact search
        assert same_hits(index.search(q, 10), exact.search(q, 10), vec_of, q)
        assert same_hits(
            index.search(q, 5, 0.3, ids[0]), exact.search(q, 5, 0.3, ids[0]), vec_of, q
        )
    # The lists probed first hold only tombstones: more lists are probed until k are found.
    narrow, _ = build(ids[:9000], vecs[:9000], lists=16, candidates=64, probe=1 / 16)
    q = queries[0]
    first = narrow._pq[0].quantizer.search(q[None], 1)[1][0][0]  # type: ignore[index]
    rows = np.flatnonzero(
        narrow._pq[0].quantizer.search(  # type: ignore[index]
            vecs[:9000], 1
        )[1][:, 0]
        == first
    )
    narrow.remove([ids[r] for r in rows])
    exact.remove([ids[r] for r in rows])
    got = narrow.search(q, 20)
    assert len(got) == 20 and not {ids[r] for r in rows} & {f for f, _ in got}


def test_snapshot_from_before_the_inverted_file_still_loads(data, tmp_path) -> None:
    ids, vecs, queries = data
    index, _ = build(ids[:9000], vecs[:9000])
    index.remove(ids[:100])
    index.save(tmp_path / "a.ann")
    raw = (tmp_path / "a.ann").read_bytes()
    start = len(b"OCULI-ANN\x05") + 4
    end = start + int.from_bytes(raw[start - 4 : start], "little")
    meta = json.loads(raw[start:end])
    assert meta.pop("lists") == 1 and meta.pop("probe") == ann.PROBE
    header = json.dumps(meta).encode()  # the \x04 header: the same rows, no lists
    (tmp_path / "v4.ann").write_bytes(
        b"OCULI-ANN\x04" + len(header).to_bytes(4, "little") + header + raw[end:]
    )
    old = AnnIndex.load(tmp_path / "v4.ann")
    assert old.lists == 1 and old.held_lists() == 1 and len(old) == len(index)
    for q in queries[:50]:
        assert old.search(q, 10) == index.search(q, 10)
    (tmp_path / "v3.ann").write_bytes(b"OCULI-ANN\x03" + raw[len(b"OCULI-ANN\x05") :])
    with pytest.raises(ValueError):  # older still: the service rebuilds from the store
        AnnIndex.load(tmp_path / "v3.ann")
