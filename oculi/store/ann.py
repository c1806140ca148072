"""Approximate nearest-neighbour face search for large collections: `AnnIndex`.

A drop-in for `ExactIndex` (same methods, same results up to its recall) that fits ten
million faces in one machine. Every face is kept twice, compactly:

- a 4-bit product-quantised code (faiss `IndexPQFastScan`, `PQ_M` sub-quantisers of 16
  centroids: 32 bytes at 128-d), scanned exhaustively with faiss's in-register SIMD lookup
  tables to pick the best candidates (or, with `lists` above 1, in an inverted file whose
  `probe` fraction of lists nearest the query is scanned: see below);
- its float16 vector (256 bytes at 128-d), from which the candidates are re-ranked by
  exact cosine (within about 1e-3 of float32), so the returned cosines, the `min_cosine`
  cut-off and the order are those of exact search on the candidates.

The number of candidates grows with the collection (`candidates_for`), as more faces crowd
a query's true neighbours in the quantised ranking; the rule comes from the recall curve
measured by `bench/search.py --curve` (docs/search-scale.md). HNSW graphs were measured and
rejected: on face-like data a float16 graph (M=32) needed efSearch 4096 for recall@1 0.99
at one million faces (22 ms a query), and it builds 30-100x slower than this encodes.

Below `TRAIN_MIN` faces the index searches its float16 vectors exhaustively (exact); at
that size the quantiser is trained on the faces held, and it is retrained from the float16
vectors whenever the collection has grown `RETRAIN_GROWTH`-fold since, or deleted faces
(tombstones: skipped by every search until then) pass `REBUILD_FRACTION` of the rows. A
rebuild also compacts the rows; it re-encodes from memory, in seconds per million faces.
Training is deterministic (a fixed sample of the rows, fixed k-means seeds).

The inverted file is an option that `bench/search.py --lists` compares, off by default
(`LISTS` = 1): with `lists` (e.g. 4096) it is made by a training when the index first holds
`IVF_MIN` faces (one million; retrained at 4M and 16M by the growth rule), as a faiss
`IndexIVFPQFastScan` (codes of residuals from the lists' spherical k-means centroids),
and a search scans the `probe` fraction of the lists nearest the query. On face-like data
it needs half the lists for recall@1 0.99, and faiss scans half of ten million faces in
lists no faster than all of them in one exhaustive scan (docs/search-scale.md).

Each row may carry the face's store sequence number (`seqs` in `add`, read back by `live`),
so that a caller can tell which faces a saved index lacks or holds in excess of the store.
`save` writes one file atomically (temporary file, fsync, rename) and `AnnIndex.load` reads
it back, so a restart need not re-encode. It compacts the rows first: a tombstoned face's
float16 vector and PQ code are dropped (the codes re-encoded with the trained quantiser,
seconds per million faces), so no deleted face is written to the file. The caller owns
consistency with the face store, as for any cache: a file saved before later adds or
deletes is stale (`oculi.store.vectors` catches a loaded file up with the store).

The codes can be split into `shards` (alternate rows), scanned side by side by a thread
pool for each search (faiss does not split one query's scan across its own threads, and it
releases the GIL): the candidates of every shard are re-ranked together, so the results
are at least as good as with one shard, in about 1/shards of the scan time on idle cores
(`bench/search.py --scan-split`).

Not thread-safe: callers hold a lock around `add`, `remove`, `search` and `save`.
"""

from __future__ import annotations

import functools
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np

PQ_M = 64
LISTS = 1  # inverted lists (1: none, an exhaustive scan)
IVF_MIN = 1_000_000  # faces a training needs for an inverted file
PROBE = 0.5  # fraction of the inverted lists scanned per search
TRAIN_MIN = 8192
TRAIN_SAMPLE = 100_000
LIST_SAMPLE = 64  # training faces per inverted list, at least
RETRAIN_GROWTH = 4
REBUILD_FRACTION = 0.25
# Candidates re-ranked per search: CAND_BASE * sqrt(rows / 1M), at least CAND_PER_K * k.
CAND_BASE = 300
CAND_PER_K = 100
CAND_MIN = 64

_MAGIC = b"OCULI-ANN\x05"
_MAGIC_V4 = b"OCULI-ANN\x04"  # before the inverted file: read as an exhaustive index
_CHUNK = 1 << 16


def candidates_for(rows: int, k: int) -> int:
    """How many quantised-scan candidates to re-rank for the k best of `rows` faces."""
    grow = CAND_BASE * math.sqrt(rows / 1_000_000)
    return max(CAND_MIN, CAND_PER_K * k, math.ceil(grow))


def lists_for(rows: int, lists: int = LISTS) -> int:
    """Inverted lists for a quantiser trained on `rows` faces (1: no inverted file)."""
    return lists if rows >= IVF_MIN else 1


class AnnIndex:
    """4-bit PQ scan plus exact float16 re-ranking, with tombstoned deletes.

    `candidates` fixes the re-ranking depth when set (benchmarks sweep it); None follows
    `candidates_for`. `shards`: how many parts the codes are split into, each scanned by a
    thread of its own. `lists`: inverted lists, once trained on `IVF_MIN` faces (1: an
    exhaustive scan at every size); `probe`: the fraction of them scanned per search."""

    def __init__(
        self,
        dim: int,
        pq_m: int = PQ_M,
        candidates: int | None = None,
        shards: int = 1,
        lists: int = LISTS,
        probe: float = PROBE,
    ) -> None:
        self.dim = dim
        self.pq_m = pq_m
        self.candidates = candidates
        self.shards = max(1, shards)
        self.lists = max(1, lists)
        self.probe = probe
        self._ids: list[str | None] = []  # row -> id; None marks a tombstone
        self._rows: dict[str, int] = {}  # live id -> row
        self._vecs = np.zeros((0, dim), np.float16)
        self._alive = np.zeros(0, bool)
        self._seqs = np.zeros(0, np.int64)  # row -> store sequence (0: not given)
        self._pq: list[faiss.Index] | None = None  # one per shard
        self._trained_rows = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, ids: list[str], vecs: np.ndarray, seqs: np.ndarray | None = None) -> None:
        """Add faces (with their store sequence numbers, if given); an id already present
        is replaced (its old row becomes a tombstone)."""
        vecs = np.ascontiguousarray(vecs, np.float32).reshape(-1, self.dim)
        if len(ids) != len(vecs):
            raise ValueError(f"{len(ids)} ids for {len(vecs)} vectors")
        if not ids:
            return
        first, end = len(self._ids), len(self._ids) + len(ids)
        if end > len(self._vecs):
            size = max(end, 2 * len(self._vecs), 16)
            self._vecs = _grown(self._vecs, (size, self.dim))
            self._alive = _grown(self._alive, (size,))
            self._seqs = _grown(self._seqs, (size,))
        self._vecs[first:end] = vecs
        self._alive[first:end] = True
        self._seqs[first:end] = 0 if seqs is None else seqs
        self._ids.extend(ids)
        stale = []
        for row, fid in enumerate(ids, first):
            old = self._rows.get(fid)
            if old is not None:
                stale.append(old)
            self._rows[fid] = row
        if self._pq is not None:
            self._encode(first, vecs)
        self._bury(stale)
        if self._pq is None and len(self._rows) >= TRAIN_MIN:
            self._rebuild()
        elif self._pq is not None and (
            len(self._rows) >= RETRAIN_GROWTH * self._trained_rows
            or self.held_lists() < lists_for(len(self._rows), self.lists)
        ):
            self._rebuild()

    def remove(self, ids: list[str]) -> None:
        """Tombstone the given ids (unknown ids are ignored); rebuild when too many are dead."""
        self._bury([row for row in (self._rows.pop(fid, None) for fid in ids) if row is not None])

    def reshard(self, shards: int) -> None:
        """Split the codes into `shards` parts (scan threads) instead: the trained quantiser
        is kept and every row re-encoded from its float16 vector (no retraining)."""
        shards = max(1, shards)
        if shards == self.shards:
            return
        self.shards = shards
        self._reencode()

    def _reencode(self) -> None:
        """Encode every row again into `shards` emptied copies of the trained quantiser."""
        if self._pq is None:
            return
        empty = faiss.clone_index(self._pq[0])
        empty.reset()  # keeps the codebooks (and the lists' centroids), drops the codes
        self._pq = [faiss.clone_index(empty) for _ in range(self.shards)]
        for a in range(0, len(self._ids), _CHUNK):
            self._encode(a, self._vecs[a : min(a + _CHUNK, len(self._ids))].astype(np.float32))

    def held_lists(self) -> int:
        """Inverted lists of the quantiser (1: exhaustive scan or none trained)."""
        return getattr(self._pq[0], "nlist", 1) if self._pq else 1

    def live(self) -> tuple[list[str], np.ndarray]:
        """The ids held and their store sequence numbers, in row order."""
        rows = np.flatnonzero(self._alive[: len(self._ids)])
        return [str(self._ids[r]) for r in rows], self._seqs[rows]

    def search(
        self, query: np.ndarray, k: int, min_cosine: float = -1.0, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """Up to k (id, cosine) pairs, best first, at or above min_cosine."""
        live = len(self._rows)
        if not live or k <= 0:
            return []
        want = min(k + (1 if exclude else 0), live)
        q = np.ascontiguousarray(query, np.float32).reshape(self.dim)
        rows = len(self._ids)
        if self._pq is None:
            cand = np.flatnonzero(self._alive[:rows])
        else:
            cand = self._candidates(q, want, rows, live)
        scores = self._vecs[cand].astype(np.float32) @ q
        n = min(want, len(cand))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            (fid, float(scores[i]))
            for fid, i in ((self._ids[cand[i]], i) for i in top)
            if scores[i] >= min_cosine and fid != exclude
        ][:k]

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to `path` atomically (temporary file, fsync, rename), compacted
        first: no tombstoned face is written."""
        if self._drop_dead():
            self._reencode()
        path = Path(path)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        rows = len(self._ids)
        text = "".join(fid or "" for fid in self._ids).encode("utf-8", "surrogatepass")
        lengths = np.fromiter((len(fid or "") for fid in self._ids), np.int32, rows)
        header = json.dumps(
            {
                "dim": self.dim,
                "pq_m": self.pq_m,
                "rows": rows,
                "candidates": self.candidates,
                "id_bytes": len(text),
                "shards": self.shards,
                "lists": self.lists,
                "probe": self.probe,
                "trained_rows": self._trained_rows,
                "quantiser": self._pq is not None,
            }
        ).encode()
        try:
            with open(tmp, "wb") as f:
                f.write(_MAGIC + len(header).to_bytes(4, "little") + header)
                f.write(lengths.tobytes())
                f.write(text)
                f.write(self._alive[:rows].tobytes())
                f.write(self._seqs[:rows].tobytes())
                if rows:  # (memoryview cannot cast an empty matrix)
                    f.write(memoryview(self._vecs[:rows]).cast("B"))
                for shard in self._pq or []:
                    faiss.write_index(shard, faiss.PyCallbackIOWriter(f.write))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AnnIndex:
        """Read an index written by `save`."""
        with open(path, "rb") as f:
            if f.read(len(_MAGIC)) not in (_MAGIC, _MAGIC_V4):
                raise ValueError(f"{path} is not an oculi ANN index")
            meta = {"lists": 1, "probe": PROBE}
            meta |= json.loads(f.read(int.from_bytes(f.read(4), "little")))
            rows, dim = meta["rows"], meta["dim"]
            index = cls(
                dim, meta["pq_m"], meta["candidates"], meta["shards"], meta["lists"], meta["probe"]
            )
            lengths = _read_array(f, np.int32, (rows,))
            text = f.read(meta["id_bytes"]).decode("utf-8", "surrogatepass")
            index._alive = _read_array(f, bool, (rows,))
            index._seqs = _read_array(f, np.int64, (rows,))
            index._vecs = _read_array(f, np.float16, (rows, dim))
            if meta["quantiser"]:
                index._pq = [
                    faiss.read_index(faiss.PyCallbackIOReader(f.read)) for _ in range(index.shards)
                ]
                held = sum(shard.ntotal for shard in index._pq)
                if held != rows or index._pq[0].d != dim:
                    raise ValueError(f"{path}: quantiser of {held} rows, not {rows}")
        index._trained_rows = meta["trained_rows"]
        ends = np.cumsum(lengths, dtype=np.int64).tolist()
        index._ids = [
            text[e - n : e] if a else None
            for e, n, a in zip(ends, lengths.tolist(), index._alive.tolist())
        ]
        index._rows = {fid: row for row, fid in enumerate(index._ids) if fid is not None}
        return index

    def _candidates(self, q: np.ndarray, want: int, rows: int, live: int) -> np.ndarray:
        """Live rows of the best quantised scores: enough to re-rank, and at least `want`."""
        r = self.candidates or candidates_for(rows, want)
        fetch = min(rows, math.ceil(max(r, want) * rows / live))  # room for tombstones
        lists = self.held_lists()
        probes = min(lists, max(1, math.ceil(self.probe * lists)))
        while True:
            cand = self._scan(q, fetch, probes)
            cand = cand[self._alive[cand]]
            # Tombstones clustered around the query, or probed lists holding fewer faces
            # than asked for, can leave too few live candidates.
            if len(cand) >= want or (fetch >= rows and probes >= lists):
                return cand
            fetch, probes = min(rows, 4 * fetch), min(lists, 4 * probes)

    def _scan(self, q: np.ndarray, fetch: int, probes: int) -> np.ndarray:
        """Rows of the `fetch` best quantised scores of each shard, in `probes` lists."""
        assert self._pq is not None
        n = len(self._pq)
        params = faiss.SearchParametersIVF(nprobe=probes) if probes > 1 else None

        def best(j: int) -> np.ndarray:
            labels = self._pq[j].search(q[None], fetch, params=params)[1][0]  # type: ignore[index]
            return labels[labels >= 0] * n + j

        if n == 1:
            return best(0)
        return np.concatenate(list(_pool(n).map(best, range(n))))

    def _encode(self, first: int, vecs: np.ndarray) -> None:
        """Add the codes of rows first, first+1, ... to their shards (row r: shard r % n)."""
        assert self._pq is not None
        n = len(self._pq)
        for j, shard in enumerate(self._pq):
            part = vecs[(j - first) % n :: n]
            if len(part):
                shard.add(np.ascontiguousarray(part, np.float32))

    def _bury(self, rows: list[int]) -> None:
        if not rows:
            return
        self._alive[rows] = False
        for row in rows:
            self._ids[row] = None
        if len(self._ids) - len(self._rows) > REBUILD_FRACTION * len(self._ids):
            self._rebuild()

    def _drop_dead(self) -> bool:
        """Remove the tombstoned rows (their codes are then out of step: re-encode or
        retrain); False if there were none."""
        rows = len(self._ids)
        keep = np.flatnonzero(self._alive[:rows])
        if len(keep) == len(self._vecs):
            return False
        self._vecs = np.ascontiguousarray(self._vecs[keep])
        self._alive = np.ones(len(keep), bool)
        self._seqs = np.ascontiguousarray(self._seqs[keep])
        self._ids = [fid for fid in self._ids if fid is not None]
        self._rows = {fid: row for row, fid in enumerate(self._ids)}
        return len(keep) < rows

    def _rebuild(self) -> None:
        """Compact the rows, then train the quantiser on the live faces and encode them
        (or drop it, below `TRAIN_MIN` faces)."""
        self._drop_dead()
        n = len(self._ids)
        if n < TRAIN_MIN:
            self._pq, self._trained_rows = None, 0
            return
        lists = lists_for(n, self.lists)
        ip = faiss.METRIC_INNER_PRODUCT
        size = min(n, max(TRAIN_SAMPLE, LIST_SAMPLE * lists))
        sample = np.random.default_rng(0).choice(n, size, replace=False)
        sample = self._vecs[np.sort(sample)].astype(np.float32)
        if lists == 1:
            pq = faiss.IndexPQFastScan(self.dim, self.pq_m, 4, ip)
        else:  # the lists' centroids: spherical k-means (seeded), on faiss's threads
            km = faiss.Kmeans(
                self.dim,
                lists,
                niter=10,
                spherical=True,
                seed=1234,
                max_points_per_centroid=LIST_SAMPLE,
            )
            km.train(sample)
            coarse = faiss.IndexFlatIP(self.dim)
            coarse.add(km.centroids)
            pq = faiss.IndexIVFPQFastScan(coarse, self.dim, lists, self.pq_m, 4, ip)
            pq.own_fields = True
            coarse.this.disown()
        # k-means on 2-d sub-spaces gains nothing from threads, and OpenMP's spin-waits
        # made it ~7x slower on two busy cores: train the codebooks on one thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            pq.train(sample)
        finally:
            faiss.omp_set_num_threads(threads)
        self._pq = [faiss.clone_index(pq) for _ in range(self.shards)]
        for a in range(0, n, _CHUNK):
            self._encode(a, self._vecs[a : a + _CHUNK].astype(np.float32))
        self._trained_rows = n


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="ann-scan")


def _grown(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, a.dtype)
    out[: len(a)] = a
    return out


def _read_array(f, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype)
    if not out.size:
        return out
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        got = f.readinto(view[done:])
        if not got:
            raise ValueError(f"{f.name}: truncated")
        done += got
    return out
