"""Per-collection vector indexes: caches over the face store, rebuilt from it on start.

`ExactIndex` searches by brute force (recall 1.0), which is fast enough to about a million
faces per collection on one machine; the `VectorIndexes` registry keeps one index per
collection and keeps it in step with the store under one lock, so a search never sees a
face the store has not committed nor one it has deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np


class ExactIndex:
    """Brute-force cosine search over a growable matrix (amortised O(1) add, O(1) remove
    by moving the last row into the hole)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._vecs = np.zeros((16, dim), np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: list[str], vecs: np.ndarray) -> None:
        vecs = np.asarray(vecs, np.float32).reshape(-1, self.dim)
        n, need = len(self._ids), len(self._ids) + len(ids)
        if need > len(self._vecs):
            grown = np.zeros((max(need, 2 * len(self._vecs)), self.dim), np.float32)
            grown[:n] = self._vecs[:n]
            self._vecs = grown
        self._vecs[n:need] = vecs
        for i, fid in enumerate(ids):
            self._rows[fid] = n + i
        self._ids.extend(ids)

    def remove(self, ids: list[str]) -> None:
        for fid in ids:
            row = self._rows.pop(fid, None)
            if row is None:
                continue
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._ids[row] = moved
                self._vecs[row] = self._vecs[last]
                self._rows[moved] = row
            self._ids.pop()

    def search(self, query: np.ndarray, k: int, min_cosine: float = -1.0,
               exclude: str | None = None) -> list[tuple[str, float]]:
        """Up to k (id, cosine) pairs, best first, at or above min_cosine."""
        if not self._ids:
            return []
        scores = self._vecs[: len(self._ids)] @ np.asarray(query, np.float32).reshape(self.dim)
        n = min(k + (1 if exclude else 0), len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in top
                if scores[i] >= min_cosine and self._ids[i] != exclude][:k]


class VectorIndexes:
    """One index per collection, loaded lazily from `load(collection_id)`."""

    def __init__(self, load: Callable[[str], tuple[list[str], np.ndarray]], dim: int) -> None:
        self._load = load
        self.dim = dim
        self.lock = threading.RLock()
        self._indexes: dict[str, ExactIndex] = {}

    def get(self, collection_id: str) -> ExactIndex:
        with self.lock:
            index = self._indexes.get(collection_id)
            if index is None:
                index = ExactIndex(self.dim)
                ids, vecs = self._load(collection_id)
                if ids:
                    index.add(ids, vecs)
                self._indexes[collection_id] = index
            return index

    def drop(self, collection_id: str) -> None:
        with self.lock:
            self._indexes.pop(collection_id, None)
