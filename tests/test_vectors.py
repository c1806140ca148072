"""The exact vector index against a plain brute-force reference."""

from __future__ import annotations

import numpy as np

from oculi.store.vectors import ExactIndex


def unit(rng: np.random.Generator, n: int, d: int = 128) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_add_remove_search_match_reference() -> None:
    rng = np.random.default_rng(0)
    vecs = unit(rng, 500)
    ids = [f"f{i}" for i in range(500)]
    index = ExactIndex(128)
    for a in range(0, 500, 37):  # many small adds exercise growth
        index.add(ids[a:a + 37], vecs[a:a + 37])
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
