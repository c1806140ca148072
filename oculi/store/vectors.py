"""Per-collection vector indexes: caches over the face store, which is the source of truth.

A collection is searched exactly (`ExactIndex`, brute force, recall 1.0) while it holds at
most `threshold` faces, and by `AnnIndex` (oculi/store/ann.py) above it. The threshold's
default, 10,000 faces, is where exact search stops being faster than AnnIndex
(`bench/search.py --sizes 10000,20000,50000`, docs/search-scale.md).

An exact index is rebuilt from the store on first use. An ANN index is also kept as a
snapshot file in `directory`, written atomically (temporary file, fsync, rename) when the
collection crosses the threshold and again after every `max(threshold, 10%)` changes; each
row records the face's store sequence number. On first use the snapshot is loaded and
caught up with the store: faces the store holds and the snapshot lacks are added, faces the
snapshot holds and the store no longer does are removed (a set difference of sequence
numbers, so it holds whatever order concurrent transactions committed in). A kill -9 at any
moment therefore neither loses an acknowledged face nor brings back a deleted one; a torn
or unreadable snapshot is rebuilt from the store.

A snapshot holds each face's FaceId and float16 embedding, so it must not outlive a
deletion: removing a face from an ANN index whose snapshot is on disk removes the file at
once (rewriting it would cost a full write of the collection per DeleteFaces); the index
lives on in memory and is written again after the next `max(threshold, 10%)` changes or
when the server stops cleanly (`VectorIndexes.close`). A snapshot loaded at start that
still holds faces the store deleted is removed the same way. Snapshot files are named by
the collection's `storage_name` (oculi/store/names.py), never by its id.

The `VectorIndexes` registry keeps one index per collection and keeps it in step with the
store under one lock, so a search never sees a face the store has not committed nor one it
has deleted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import numpy as np

from oculi.store.ann import AnnIndex
from oculi.store.files import fsync_dir, remove_tree
from oculi.store.names import storage_name

if TYPE_CHECKING:
    from oculi.store.faces import FaceStore

DEFAULT_THRESHOLD = 10_000
SAVE_FRACTION = 0.1  # a snapshot is rewritten after max(threshold, 10% of faces) changes
LOAD_CHUNK = 50_000  # faces read from the store per query when building an ANN index


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
        """Add faces; an id already present is replaced (as is an id repeated in `ids`:
        the last one wins)."""
        vecs = np.asarray(vecs, np.float32).reshape(-1, self.dim)
        last = {fid: i for i, fid in enumerate(ids)}
        if len(last) < len(ids):
            keep = sorted(last.values())
            ids, vecs = [ids[i] for i in keep], vecs[keep]
        self.remove([fid for fid in ids if fid in self._rows])
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

    def search(
        self, query: np.ndarray, k: int, min_cosine: float = -1.0, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """Up to k (id, cosine) pairs, best first, at or above min_cosine."""
        if not self._ids:
            return []
        scores = self._vecs[: len(self._ids)] @ np.asarray(query, np.float32).reshape(self.dim)
        n = min(k + (1 if exclude else 0), len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            (self._ids[i], float(scores[i]))
            for i in top
            if scores[i] >= min_cosine and self._ids[i] != exclude
        ][:k]


class CollectionIndex:
    """One collection's index: exact up to `threshold` faces, `AnnIndex` above it, kept as a
    snapshot at `path` (None: not kept). Same methods as `ExactIndex`; callers hold the
    registry's lock around every call, as around the store write it follows."""

    def __init__(
        self,
        store: FaceStore,
        collection_id: str,
        dim: int,
        threshold: int,
        path: Path | None,
        shards: int = 1,
    ) -> None:
        self._store = store
        self._cid = collection_id
        self._threshold = threshold
        self._shards = shards
        self._path = path
        self._changes = 0  # since the snapshot was written
        self._saved = False  # the snapshot at `path` holds this index (as of `_changes` ago)
        self._index: ExactIndex | AnnIndex = ExactIndex(dim)
        seqs = store.face_seqs(collection_id)
        if len(seqs) > threshold:
            self._index = self._load(seqs)
        else:
            ids, vecs = store.all_embeddings(collection_id)
            if ids:
                self._index.add(ids, vecs)
            if path is not None:
                path.unlink(missing_ok=True)  # stale: the collection shrank below the threshold

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: list[str], vecs: np.ndarray) -> None:
        """Add faces the store has just committed."""
        if isinstance(self._index, AnnIndex):
            seqs = self._store.seqs_of(self._cid, ids)
            self._index.add(ids, vecs, np.asarray([seqs[fid] for fid in ids], np.int64))
            self._changed(len(ids))
            return
        self._index.add(ids, vecs)
        if len(self._index) > self._threshold:
            self._index = self._build()

    def remove(self, ids: list[str]) -> None:
        """Remove faces the store has just deleted (and the snapshot that holds them)."""
        self._index.remove(ids)
        if isinstance(self._index, AnnIndex) and ids:
            self._forget_snapshot()
            self._changed(len(ids))

    def flush(self) -> None:
        """Write the snapshot if the file is missing or behind the index."""
        if isinstance(self._index, AnnIndex) and (self._changes or not self._saved):
            self._save(self._index)

    def search(
        self, query: np.ndarray, k: int, min_cosine: float = -1.0, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        return self._index.search(query, k, min_cosine, exclude)

    def _build(self) -> AnnIndex:
        """An ANN index of every face in the store (then saved)."""
        index = AnnIndex(self._index.dim, shards=self._shards)
        after = 0
        while True:
            seqs, ids, vecs = self._store.faces_after(self._cid, after, LOAD_CHUNK)
            if not ids:
                break
            index.add(ids, vecs, seqs)
            after = int(seqs[-1])
        self._save(index)
        return index

    def _load(self, seqs: np.ndarray) -> AnnIndex:
        """The snapshot caught up with the store's faces `seqs`, or a fresh build."""
        if self._path is None or not self._path.exists():
            return self._build()
        try:
            index = AnnIndex.load(self._path)
        except (OSError, ValueError, RuntimeError):  # unreadable (faiss raises RuntimeError)
            return self._build()
        self._saved = True
        resharded = index.shards != self._shards  # the operator changed the scan threads
        index.reshard(self._shards)
        ids, held = index.live()
        gone = np.flatnonzero(~np.isin(held, seqs))
        index.remove([ids[i] for i in gone])
        if len(gone):
            self._forget_snapshot()  # it holds faces the store has deleted
        missing = seqs[~np.isin(seqs, held)]
        for a in range(0, len(missing), LOAD_CHUNK):
            got, new_ids, vecs = self._store.faces_by_seq(self._cid, missing[a : a + LOAD_CHUNK])
            index.add(new_ids, vecs, got)
        self._changes = len(gone) + len(missing)
        if resharded or self._changes >= self._save_every(len(index)):
            self._save(index)
        return index

    def _changed(self, n: int) -> None:
        self._changes += n
        assert isinstance(self._index, AnnIndex)
        if self._changes >= self._save_every(len(self._index)):
            self._save(self._index)

    def _save_every(self, faces: int) -> int:
        return max(self._threshold, int(SAVE_FRACTION * faces), 1)

    def _save(self, index: AnnIndex) -> None:
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            index.save(self._path)
            self._saved = True
        self._changes = 0

    def _forget_snapshot(self) -> None:
        if self._saved and self._path is not None:
            self._path.unlink(missing_ok=True)
            fsync_dir(self._path.parent)
        self._saved = False


class VectorIndexes:
    """One `CollectionIndex` per collection, loaded lazily from the store. Snapshots of ANN
    indexes live in `directory` (None: none are kept, every start rebuilds); `shards`: the
    threads that scan an ANN index (a snapshot saved with another count is re-split on load);
    `legacy`: where an older oculi kept snapshots named by quoted collection id (moved from
    by `sweep`)."""

    def __init__(
        self,
        store: FaceStore,
        dim: int,
        directory: Path | None = None,
        threshold: int = DEFAULT_THRESHOLD,
        shards: int = 1,
        legacy: Path | None = None,
    ) -> None:
        self._store = store
        self.dim = dim
        self.directory = directory
        self.legacy = legacy
        self.threshold = threshold
        self.shards = shards
        self.lock = threading.RLock()
        self._indexes: dict[str, CollectionIndex] = {}
        if directory is not None and directory.is_dir():
            for leftover in directory.glob("*.tmp-*"):  # a save cut short by a crash
                leftover.unlink(missing_ok=True)

    def get(self, collection_id: str) -> CollectionIndex:
        with self.lock:
            index = self._indexes.get(collection_id)
            if index is None:
                index = CollectionIndex(
                    self._store,
                    collection_id,
                    self.dim,
                    self.threshold,
                    self.snapshot_path(collection_id),
                    self.shards,
                )
                self._indexes[collection_id] = index
            return index

    def snapshot_path(self, collection_id: str) -> Path | None:
        """Where the collection's ANN snapshot is kept."""
        if self.directory is None:
            return None
        return self.directory / f"{storage_name(collection_id)}.ann"

    def drop(self, collection_id: str) -> None:
        """Forget a deleted collection, snapshot included."""
        with self.lock:
            self._indexes.pop(collection_id, None)
            path = self.snapshot_path(collection_id)
            if path is not None:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Write every ANN snapshot that is missing or behind (at a clean stop, so that the
        next start loads instead of rebuilding)."""
        with self.lock:
            for index in self._indexes.values():
                index.flush()

    def sweep(self, collection_ids: Iterable[str]) -> int:
        """Move legacy snapshots of live collections to their storage names, and remove
        every other file (snapshots of deleted collections, saves cut short); returns how
        many files were removed. Run it at start, before any index is loaded."""
        if self.directory is None:
            return 0
        ids = set(collection_ids)
        keep = {f"{storage_name(cid)}.ann" for cid in ids}
        removed = 0
        with self.lock:
            if self.legacy is not None and self.legacy.is_dir():
                for old in sorted(self.legacy.iterdir()):
                    cid = unquote(old.name.removesuffix(".ann"))
                    new = self.directory / f"{storage_name(cid)}.ann"
                    if old.name.endswith(".ann") and old.is_file() and cid in ids:
                        self.directory.mkdir(parents=True, exist_ok=True)
                        os.replace(old, new)
                    else:
                        removed += remove_tree(old)
                self.legacy.rmdir()
            if self.directory.is_dir():
                for p in sorted(self.directory.iterdir()):
                    if p.name not in keep:
                        removed += remove_tree(p)
                fsync_dir(self.directory)
        return removed
