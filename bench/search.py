"""Benchmark 1:N face search at collection scale: oculi's AnnIndex against exact search.

For each size N it prints one table: insert rate (vectors/s), bytes per face (the saved file
and the process's RSS growth, each over N), search latency p50/p99 (one thread, or one per
shard for AnnIndex with --shards above 1: faiss's own threads at 1) for k=1
and k=10, recall@1 and recall@10 against exact search, and the time to load the saved index
(a restart; for AnnIndex on a line after its rows), for three methods measured in the same
run on the same data and queries:

- `AnnIndex` (oculi/store/ann.py): exhaustive 4-bit PQ fast scan, then exact re-ranking of
  `candidates_for(N, k)` candidates from float16 vectors; faces added 10,000 per call;
- `ExactIndex` (oculi/store/vectors.py): numpy brute force over float32 (the same 10,000
  per call); it has no file, so its restart is a rebuild from the store (no "load");
- `DeepFace find()`: a minimal equivalent of deepface's `DeepFace.find` search step, the
  way DeepFace-based services search: embeddings kept as Python lists in a pandas DataFrame
  (as unpickled from deepface's representations file), and for each query a loop of
  `DataFrame.iterrows()` computing deepface's `find_cosine_distance` row by row, then a
  DataFrame sorted by distance (no threshold, so recall@10 is defined). Its "load" is the
  pickle load that `find()` repeats on every call. It runs on a subsample of the queries,
  and not above --deepface-max faces (it needs about 5 KB of memory a face).

The data are synthetic and face-like (`face_like`): identities are cluster centres on the
unit sphere with a common mean direction (between-identity cosine median about 0.07, 95th
percentile about 0.24) and an anisotropic spectrum (per-dimension std proportional to
(i+1)^-0.25, participation ratio about 80 of 128 dimensions); each identity has 1-8 faces,
drawn around its centre with a within-identity cosine uniform in 0.5-0.8 per identity.
Queries are fresh samples of enrolled identities (a probe photo of a known person).

`--curve` instead builds only AnnIndex, for each quantiser size, and sweeps a fixed
re-ranking depth, printing recall and latency per depth and N: the measurement behind
`candidates_for`. Recall there is computed with a thread per CPU; latency on one thread.

`--service` measures the embedded default below the HTTP API, as the server runs it: the
SQLite `FaceStore` (WAL, synchronous=FULL) with `VectorIndexes` (exact search up to the
threshold, then AnnIndex with its snapshot file). It prints the insert rate (1,000 faces
per transaction, as `oculi import` writes, and one face per transaction, as an IndexFaces of
one face), the snapshot's size and write time, DescribeCollection's face count against a
COUNT(*), and, each in a fresh process, the restart (store open + index ready) from the
snapshot caught up with --changes faces added and deleted after it, from no snapshot (a
rebuild from the store), and as exact search (what the server did before): time, memory
at rest (RSS growth over N) and search latency through the index. Its index is split into
the server's default scan threads (`OCULI_ANN_SCAN_THREADS`), or the first of `--shards`;
each further `--shards` count adds a restart that re-splits the snapshot to it.

    python bench/search.py --sizes 100000,1000000,10000000
    python bench/search.py --curve --sizes 100000,1000000 --pq-m 32,64 --depths 100,300,1000
    python bench/search.py --service --sizes 1000000

AnnIndex variants can be compared in one run, each build printing a row per combination of
`--probes` (fractions of the inverted lists scanned), `--rerank` (re-ranking depths, `rule`
for `candidates_for`) and `--omp` (faiss OpenMP threads in searches), for each `--shards`
and `--lists` (1: the exhaustive scan; e.g. 4096: an inverted file, made at 1M faces):

    python bench/search.py --sizes 10000000 --lists 1,4096 --probes 0.5,0.625 \
        --rerank rule,100 --omp 1,2 --exact-queries 0 --deepface-max 0

`--scan-split` measures whether AnnIndex's scan, the part of a search that grows with N,
can be split across threads: the 4-bit PQ scan of N faces for `candidates_for(N, 1)`
candidates, on one index with faiss's OpenMP threads at 1 and at each count (for one query
at a time; process CPU time over wall time tells whether faiss used more than one core),
and split into that many shards (alternate rows) scanned by a thread pool.

    python bench/search.py --scan-split 2 --sizes 1000000

`--engines` compares the vector engines `--vector-url` names (embedded, pgvector, milvus)
through oculi's service layer instead: bench/search_engines.py says what it prints.

    python -m bench.search --engines embedded,pgvector --sizes 100000
    python -m bench.search --engines embedded,milvus --sizes 100000 --queries 300
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import pickle
import platform
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np

from oculi.settings import Settings
from oculi.store.ann import LISTS, PQ_M, PROBE, AnnIndex, candidates_for
from oculi.store.faces import FaceRecord, FaceStore
from oculi.store.vectors import ExactIndex, VectorIndexes

DIM = 128
BATCH = 10_000


def face_like(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n face-like unit vectors and `queries` fresh probes of their identities."""
    rng = np.random.default_rng(seed)
    std = (np.arange(DIM) + 1.0) ** -0.25
    std = (std / np.sqrt((std**2).sum())).astype(np.float32)
    mean_dir = rng.standard_normal(DIM).astype(np.float32)
    mean_dir /= np.linalg.norm(mean_dir)
    counts = rng.integers(1, 9, n // 4 + 8)
    n_ids = int(np.searchsorted(np.cumsum(counts), n)) + 1
    counts = counts[:n_ids]
    counts[-1] -= counts.sum() - n
    centres = rng.standard_normal((n_ids, DIM), np.float32) * std + 0.33 * mean_dir
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = np.sqrt(1 / rng.uniform(0.5, 0.8, n_ids) - 1).astype(np.float32)

    def draw(owner: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal((len(owner), DIM), np.float32) * std
        x = centres[owner] + spread[owner, None] * noise
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    owner = np.repeat(np.arange(n_ids), counts)
    vecs = np.concatenate([draw(owner[a : a + (1 << 20)]) for a in range(0, n, 1 << 20)])
    return vecs, draw(rng.integers(0, n_ids, queries))


def exact_top(vecs: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Rows of the k best cosines per query, best first (ground truth)."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for a in range(0, len(vecs), 200_000):
        s = queries @ vecs[a : a + 200_000].T
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        best_s = np.hstack([best_s, np.take_along_axis(s, top, 1)])
        best_i = np.hstack([best_i, top + a])
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(best_s, keep, 1)
        best_i = np.take_along_axis(best_i, keep, 1)
    return best_i


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def face_ids(n: int, seed: int) -> list[str]:
    """n random UUID4 strings, as oculi's face ids."""
    raw = np.random.default_rng(seed).bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, 16 * n, 16)]


def recalls(got: list[list[int]], truth: np.ndarray) -> tuple[float, float]:
    r1 = np.mean([bool(g) and g[0] == t[0] for g, t in zip(got, truth)])
    r10 = np.mean([len(set(g[:10]) & set(t[:10].tolist())) / 10 for g, t in zip(got, truth)])
    return float(r1), float(r10)


def timed_searches(search, queries: np.ndarray, k: int) -> tuple[list[list], np.ndarray]:
    """Results and per-query milliseconds of `search(query, k)` over the queries."""
    out, ms = [], []
    for q in queries:
        t = time.perf_counter()
        hits = search(q, k)
        ms.append((time.perf_counter() - t) * 1e3)
        out.append(hits)
    return out, np.array(ms)


def row(
    name: str,
    rate: float,
    file_b: float | None,
    rss_b: float,
    lat: dict,
    rec: tuple[float, float],
    load_s: float | None,
    nq: int,
) -> str:
    def f(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    return (
        f"| {name} | {rate:,.0f} | {f(file_b, ',.0f')} | {rss_b:,.0f} | "
        f"{np.median(lat[1]):.2f} | {np.percentile(lat[1], 99):.2f} | "
        f"{np.median(lat[10]):.2f} | {np.percentile(lat[10], 99):.2f} | "
        f"{rec[0]:.3f} | {rec[1]:.3f} | {f(load_s, '.2f')} | {nq} |"
    )


def bench_ann(
    vecs: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    tmp: Path,
    shards: int = 1,
    lists: int = LISTS,
    probes: tuple[float, ...] = (PROBE,),
    depths: tuple[int | None, ...] = (None,),
    omp: tuple[int, ...] = (1,),
) -> None:
    """Build one AnnIndex, then print a row per probe fraction x re-rank depth x faiss
    threads in searches (insert rate, sizes and load time are the build's)."""
    n = len(vecs)
    gc.collect()
    base = rss()
    ids = face_ids(n, 1)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    index = AnnIndex(DIM, shards=shards, lists=lists)
    t = time.perf_counter()
    for a in range(0, n, BATCH):
        index.add(ids[a : a + BATCH], vecs[a : a + BATCH])
    rate = n / (time.perf_counter() - t)
    row_of = {fid: i for i, fid in enumerate(ids)}
    del ids
    grown = (rss() - base) / n
    path = tmp / "ann.idx"
    index.save(path)
    size = path.stat().st_size / n
    held = index.held_lists()
    scan = f"IVF{held},PQ{PQ_M}x4" if held > 1 else f"PQ{PQ_M}x4 scan"
    for probe in probes if held > 1 else (1.0,):
        index.probe = probe
        for depth in depths:
            index.candidates = depth
            for threads in omp:
                faiss.omp_set_num_threads(threads)
                lat, got = {}, {}
                for k in (1, 10):
                    hits, lat[k] = timed_searches(index.search, queries, k)
                    got[k] = [[row_of[fid] for fid, _ in h] for h in hits]
                rec = (recalls(got[1], truth)[0], recalls(got[10], truth)[1])
                rerank = f"{depth}" if depth else f"{candidates_for(n, 1)}/{candidates_for(n, 10)}"
                name = (
                    f"oculi AnnIndex ({scan}{f', probe {probe:g}' if held > 1 else ''}"
                    f", re-rank {rerank}{f', {shards} shards' if shards > 1 else ''}"
                    f"{f', {threads} faiss threads' if threads > 1 else ''})"
                )
                print(row(name, rate, size, grown, lat, rec, None, len(queries)), flush=True)
    faiss.omp_set_num_threads(1)
    del index
    gc.collect()
    t = time.perf_counter()
    AnnIndex.load(path)
    print(f"(load of the saved {scan} index: {time.perf_counter() - t:.2f} s)", flush=True)
    path.unlink()


def bench_exact(vecs: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> str:
    n = len(vecs)
    gc.collect()
    base = rss()
    ids = face_ids(n, 2)
    index = ExactIndex(DIM)
    t = time.perf_counter()
    for a in range(0, n, BATCH):
        index.add(ids[a : a + BATCH], vecs[a : a + BATCH])
    rate = n / (time.perf_counter() - t)
    row_of = {fid: i for i, fid in enumerate(ids)}
    del ids
    grown = (rss() - base) / n
    lat, got = {}, {}
    for k in (1, 10):
        hits, lat[k] = timed_searches(index.search, queries, k)
        got[k] = [[row_of[fid] for fid, _ in h] for h in hits]
    rec = (recalls(got[1], truth)[0], recalls(got[10], truth)[1])
    return row("oculi ExactIndex (numpy)", rate, None, grown, lat, rec, None, len(queries))


def find_cosine_distance(source, test) -> np.float64:
    """deepface.modules.verification.find_cosine_distance (its classic form)."""
    if isinstance(source, list):
        source = np.array(source)
    if isinstance(test, list):
        test = np.array(test)
    a = np.matmul(np.transpose(source), test)
    b = np.sum(np.multiply(source, source))
    c = np.sum(np.multiply(test, test))
    return 1 - (a / (np.sqrt(b) * np.sqrt(c)))


def deepface_find(df, target: list[float], k: int):
    """The search step of DeepFace.find: a distance per DataFrame row, then a sort."""
    result_df = df.copy()
    distances = []
    for _, instance in df.iterrows():
        distances.append(find_cosine_distance(instance["embedding"], target))
    result_df["distance"] = distances
    return result_df.sort_values(by=["distance"], ascending=True).reset_index(drop=True)[:k]


def bench_deepface(vecs: np.ndarray, queries: np.ndarray, truth: np.ndarray, tmp: Path) -> str:
    import pandas as pd

    n = len(vecs)
    gc.collect()
    base = rss()
    t = time.perf_counter()
    representations = [
        {"identity": f"db/{i}.jpg", "embedding": v.tolist()} for i, v in enumerate(vecs)
    ]
    df = pd.DataFrame(representations)
    rate = n / (time.perf_counter() - t)
    grown = (rss() - base) / n
    path = tmp / "representations.pkl"
    with open(path, "wb") as f:
        pickle.dump(representations, f)
    size = path.stat().st_size / n
    del representations
    t = time.perf_counter()
    with open(path, "rb") as f:
        pd.DataFrame(pickle.load(f))
    load_s = time.perf_counter() - t
    path.unlink()
    # find() ranks every row whatever k is: one timed run serves k=1 and k=10.
    hits, ms = timed_searches(lambda q, k: deepface_find(df, q.tolist(), k), queries, 10)
    got = [[int(p[3:-4]) for p in h["identity"]] for h in hits]
    lat, rec = {1: ms, 10: ms}, recalls(got, truth)
    return row(
        "DeepFace find() (pandas iterrows)", rate, size, grown, lat, rec, load_s, len(queries)
    )


def curve(sizes: list[int], pq_ms: list[int], depths: list[int], nq: int, latency_q: int) -> None:
    print(
        "| N | PQ | build vectors/s | candidates | recall@1 | recall@10 | k=10 p50 ms | "
        "k=10 p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    threads = os.cpu_count() or 1
    for n in sizes:
        vecs, queries = face_like(n, nq)
        truth = exact_top(vecs, queries)
        ids = [str(i) for i in range(n)]
        for pq_m in pq_ms:
            faiss.omp_set_num_threads(threads)
            index = AnnIndex(DIM, pq_m)
            t = time.perf_counter()
            for a in range(0, n, 100_000):
                index.add(ids[a : a + 100_000], vecs[a : a + 100_000])
            rate = n / (time.perf_counter() - t)
            faiss.omp_set_num_threads(1)
            for depth in [*depths, None]:
                index.candidates = depth
                with ThreadPoolExecutor(threads) as pool:
                    hits = list(pool.map(index.search, queries, [10] * len(queries)))
                got = [[int(fid) for fid, _ in h] for h in hits]
                r1, r10 = recalls(got, truth)
                _, ms = timed_searches(index.search, queries[:latency_q], 10)
                label = depth or f"rule {candidates_for(n, 10)}"
                print(
                    f"| {n:,} | {pq_m}x4 | {rate:,.0f} ({threads} threads) | {label} | "
                    f"{r1:.4f} | {r10:.4f} | {np.median(ms):.2f} | "
                    f"{np.percentile(ms, 99):.2f} |",
                    flush=True,
                )
            del index
            gc.collect()


def records(ids: list[str]) -> list[FaceRecord]:
    return [
        FaceRecord(
            face_id=fid,
            collection_id="c",
            image_id=fid,
            external_image_id=None,
            bbox={"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25},
            confidence=99.9,
            model_version="bench",
            created=time.time(),
        )
        for fid in ids
    ]


def store_and_index(
    indexes: VectorIndexes, store: FaceStore, ids: list[str], vecs: np.ndarray
) -> None:
    """What Collections.index_faces does after the models: store, then index, one lock."""
    with indexes.lock:
        index = indexes.get("c")
        store.add_faces("c", records(ids), vecs)
        index.add(ids, vecs)


def restart(tmp: Path, threshold: int, queries: np.ndarray, shards: int) -> dict:
    """In a fresh process: open the store and make the collection's index ready (a snapshot
    saved with another shard count is re-split, and saved again, within that time)."""
    faiss.omp_set_num_threads(1)
    gc.collect()
    base = rss()
    t = time.perf_counter()
    store = FaceStore(tmp / "faces.sqlite3")
    index = VectorIndexes(store, DIM, tmp / "ann", threshold, shards).get("c")
    ready = time.perf_counter() - t
    _, lat = timed_searches(index.search, queries, 1)
    return {
        "s": ready,
        "rss": rss() - base,
        "faces": len(index),
        "p50": float(np.median(lat)),
        "p99": float(np.percentile(lat, 99)),
    }


def service(n: int, changes: int, single: int, tmp: Path, shards: list[int]) -> None:
    vecs, queries = face_like(n + changes // 2 + single, 300)
    ids = face_ids(len(vecs), 3)
    store = FaceStore(tmp / "faces.sqlite3")
    store.create_collection("c", "bench")
    indexes = VectorIndexes(store, DIM, tmp / "ann", shards=shards[0])
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    for a in range(0, n, 1000):
        store_and_index(indexes, store, ids[a : a + 1000], vecs[a : a + 1000])
    bulk = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for a in range(n, n + single):
        store_and_index(indexes, store, ids[a : a + 1], vecs[a : a + 1])
    one = single / (time.perf_counter() - t)
    snap = indexes.snapshot_path("c")
    assert snap is not None
    loaded = AnnIndex.load(snap)
    t = time.perf_counter()
    loaded.save(tmp / "copy.ann")
    save_s = time.perf_counter() - t
    snap_b = (tmp / "copy.ann").stat().st_size / len(loaded)
    del loaded
    (tmp / "copy.ann").unlink()
    count_ms, star_ms = [], []
    for _ in range(20):
        t = time.perf_counter()
        store.get_collection("c")
        count_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        store._read(
            lambda db: db.execute(  # what DescribeCollection did before the counter
                "SELECT COUNT(*) FROM faces WHERE collection_id=?", ("c",)
            ).fetchone()
        )
        star_ms.append((time.perf_counter() - t) * 1e3)
    print(f"\nN = {n:,} faces in one collection (SQLite store, WAL, synchronous=FULL)")
    print(f"insert, 1,000 faces per transaction (store + index): {bulk:,.0f} faces/s")
    print(f"insert, 1 face per transaction, at N: {one:,.0f} faces/s ({single} faces)")
    print(
        f"snapshot: {snap_b:,.0f} bytes/face, written in {save_s:.2f} s (searches wait meanwhile)"
    )
    print(
        f"DescribeCollection face count: counter {np.median(count_ms):.2f} ms, "
        f"COUNT(*) {np.median(star_ms):.2f} ms (medians of 20)"
    )
    # Changes the snapshot has not seen: as if the server were killed right after them.
    store.add_faces("c", records(ids[n + single :]), vecs[n + single :])
    store.delete_faces("c", ids[: changes - changes // 2])
    stale = len(np.setxor1d(AnnIndex.load(snap).live()[1], store.face_seqs("c")))
    store.close()
    del indexes, store, vecs
    gc.collect()
    spawn = multiprocessing.get_context("spawn")
    print(
        "| restart | scan threads | faces | ready s | RSS growth bytes/face | k=1 p50 ms "
        "| k=1 p99 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    runs = [(f"snapshot + catch-up of {stale} faces", 10_000, False, shards[0])]
    runs += [
        (f"snapshot of {prev} shards, re-split", 10_000, False, s)
        for prev, s in zip(shards, shards[1:])
    ]
    runs += [
        ("no snapshot: rebuilt from the store", 10_000, True, shards[-1]),
        ("exact search (loaded from the store)", 1 << 62, False, 1),
    ]
    for name, threshold, drop, s in runs:
        if drop:
            snap.unlink()
        with spawn.Pool(1) as pool:
            r = pool.apply(restart, (tmp, threshold, queries, s))
        print(
            f"| {name} | {s} | {r['faces']:,} | {r['s']:.2f} | "
            f"{r['rss'] / r['faces']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} |",
            flush=True,
        )


def scan_split(n: int, splits: list[int], nq: int) -> None:
    vecs, queries = face_like(n, nq)
    k = candidates_for(n, 1)
    faiss.omp_set_num_threads(1)
    trained = faiss.IndexPQFastScan(DIM, PQ_M, 4, faiss.METRIC_INNER_PRODUCT)
    trained.train(vecs[np.random.default_rng(0).choice(n, min(n, 100_000), replace=False)])

    def encoded(rows: np.ndarray) -> faiss.Index:
        index = faiss.clone_index(trained)
        for a in range(0, len(rows), 1 << 16):
            index.add(np.ascontiguousarray(rows[a : a + (1 << 16)]))
        return index

    whole = encoded(vecs)

    def measure(search) -> str:
        ms = []
        cpu = time.process_time()
        wall = time.perf_counter()
        for q in queries:
            t = time.perf_counter()
            search(q[None])
            ms.append((time.perf_counter() - t) * 1e3)
        ratio = (time.process_time() - cpu) / (time.perf_counter() - wall)
        return f"{np.median(ms):.2f} | {np.percentile(ms, 99):.2f} | {ratio:.2f}"

    print(f"\nN = {n:,}: PQ{PQ_M}x4 scan for {k} candidates, {nq} queries one at a time")
    print("| scan | p50 ms | p99 ms | CPU/wall |")
    print("|---|---|---|---|")
    print(f"| one index, 1 thread | {measure(lambda q: whole.search(q, k))} |", flush=True)
    for s in splits:
        faiss.omp_set_num_threads(s)
        print(
            f"| one index, {s} OpenMP threads | {measure(lambda q: whole.search(q, k))} |",
            flush=True,
        )
        faiss.omp_set_num_threads(1)
        shards = [encoded(vecs[j::s]) for j in range(s)]
        with ThreadPoolExecutor(s) as pool:
            line = measure(
                lambda q, shards=shards, pool=pool: list(
                    pool.map(lambda sh: sh.search(q, k), shards)
                )
            )
        print(f"| {s} shards, {s} threads | {line} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=1000, help="AnnIndex queries per size")
    ap.add_argument(
        "--exact-queries",
        default="200,200,50",
        help="ExactIndex queries per size, comma-separated (last one repeats; 0 skips it)",
    )
    ap.add_argument(
        "--deepface-queries",
        default="5,1",
        help="DeepFace queries per size, comma-separated (last one repeats)",
    )
    ap.add_argument(
        "--deepface-max", type=int, default=1_000_000, help="skip DeepFace above this size"
    )
    ap.add_argument(
        "--curve", action="store_true", help="sweep the re-ranking depth instead (AnnIndex only)"
    )
    ap.add_argument("--pq-m", default=str(PQ_M), help="sub-quantisers, for --curve")
    ap.add_argument("--depths", default="100,300,1000,3000", help="candidates, for --curve")
    ap.add_argument("--latency-queries", type=int, default=300)
    ap.add_argument(
        "--service",
        action="store_true",
        help="the embedded store + index end to end instead (see above)",
    )
    ap.add_argument("--scan-split", help="shard counts, comma-separated (see above)")
    ap.add_argument(
        "--shards",
        help="AnnIndex shard counts (scan threads), comma-separated (default 1; "
        "with --service the server's default, then each restart re-splits "
        "the snapshot to the next count)",
    )
    ap.add_argument(
        "--lists",
        default=str(LISTS),
        help="AnnIndex inverted lists, comma-separated (1: exhaustive scan)",
    )
    ap.add_argument(
        "--probes",
        default=str(PROBE),
        help="fractions of the lists probed, comma-separated (swept per build)",
    )
    ap.add_argument(
        "--rerank", default="rule", help="re-rank depths, comma-separated ('rule': candidates_for)"
    )
    ap.add_argument(
        "--omp", default="1", help="faiss OpenMP threads in AnnIndex searches, comma-separated"
    )
    ap.add_argument(
        "--changes",
        type=int,
        default=10_000,
        help="faces added and deleted after the last snapshot, for --service",
    )
    ap.add_argument("--engines", help="embedded,pgvector,milvus: see bench/search_engines.py")
    ap.add_argument("--pg-url", help="for --engines pgvector (default: a server it starts)")
    ap.add_argument("--milvus-url", help="for --engines milvus (default: a server it starts)")
    ap.add_argument("--milvus-ef", default="128,256,512", help="Milvus HNSW ef values")
    ap.add_argument(
        "--milvus-config",
        default="",
        help="milvus.yaml settings for the server it starts: key=value,... (dotted keys)",
    )
    ap.add_argument(
        "--hnsw", default="16:64", help="pgvector m:ef_construction pairs, comma-separated"
    )
    ap.add_argument("--ef", default="40,100,200", help="pgvector ef_search values")
    ap.add_argument(
        "--live-inserts",
        type=int,
        default=10_000,
        help="pgvector: the last faces, inserted with the HNSW graph live",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"faiss {faiss.__version__}, numpy {np.__version__}"
    )
    if args.scan_split:
        for n in sizes:
            scan_split(n, [int(x) for x in args.scan_split.split(",")], args.latency_queries)
        return
    if args.engines:
        from bench.search_engines import run as run_engines

        for n in sizes:
            vecs, queries = face_like(n, args.queries)
            print(f"\nN = {n:,} face-like vectors, {DIM}-d, {len(queries)} queries", flush=True)
            run_engines(
                args.engines.split(","),
                vecs,
                queries,
                exact_top(vecs, queries),
                args.pg_url,
                args.milvus_url,
                [(int(m), int(e)) for m, e in (p.split(":") for p in args.hnsw.split(","))],
                [int(x) for x in args.ef.split(",")],
                int(args.shards or Settings().ann_scan_threads),
                args.live_inserts,
                [int(x) for x in args.milvus_ef.split(",")],
                dict(kv.split("=", 1) for kv in args.milvus_config.split(",") if kv),
            )
        return
    if args.service:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                service(
                    n,
                    args.changes,
                    500,
                    Path(tmp),
                    [int(x) for x in (args.shards or str(Settings().ann_scan_threads)).split(",")],
                )
        return
    if args.curve:
        curve(
            sizes,
            [int(m) for m in args.pq_m.split(",")],
            [int(d) for d in args.depths.split(",")],
            args.queries,
            args.latency_queries,
        )
        return
    deep_q = [int(s) for s in args.deepface_queries.split(",")]
    exact_q = [int(s) for s in args.exact_queries.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(sizes):
            t0 = time.perf_counter()
            vecs, queries = face_like(n, args.queries)
            truth = exact_top(vecs, queries)
            print(f"\nN = {n:,} face-like vectors, {DIM}-d; latency ms (1 thread per shard)")
            print(
                "| method | insert/s | bytes/face (file) | bytes/face (RSS) | k=1 p50 | "
                "k=1 p99 | k=10 p50 | k=10 p99 | recall@1 | recall@10 | load s | queries |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for shards in (int(x) for x in (args.shards or "1").split(",")):
                for lists in (int(x) for x in args.lists.split(",")):
                    bench_ann(
                        vecs,
                        queries,
                        truth,
                        Path(tmp),
                        shards,
                        lists,
                        tuple(float(x) for x in args.probes.split(",")),
                        tuple(None if x == "rule" else int(x) for x in args.rerank.split(",")),
                        tuple(int(x) for x in args.omp.split(",")),
                    )
            ne = exact_q[min(i, len(exact_q) - 1)]
            if ne:
                print(bench_exact(vecs, queries[:ne], truth[:ne]), flush=True)
            if n <= args.deepface_max:
                nd = deep_q[min(i, len(deep_q) - 1)]
                print(bench_deepface(vecs, queries[:nd], truth[:nd], Path(tmp)), flush=True)
            print(f"({time.perf_counter() - t0:.0f} s for this size)", flush=True)
            del vecs, queries
            gc.collect()


if __name__ == "__main__":
    main()
