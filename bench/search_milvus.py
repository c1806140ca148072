"""`bench/search.py --engines embedded,milvus`: a real Milvus server beside oculi's embedded
index (bench/search_engines.py), through oculi's service layer, on the face-like vectors of
`bench/search.py`.

For each engine it stores N faces in one collection as `oculi import` does (1,000 faces
per transaction: the SQLite face store, then the engine, under the indexes' lock) and
prints:

- insert rate (faces/s, store + engine, and the engine's share of the time); for Milvus
  each batch returns once a Strong query shows it (oculi/store/milvus.py);
- index build: embedded, the AnnIndex rebuilt from the store (a restart without a
  snapshot); Milvus, from a flush (its segments sealed) until its HNSW index covers every
  row and the query node serves the indexed segments (Milvus builds HNSW per sealed
  segment; until then it searches growing segments with a temporary index);
- recall@1 and recall@10 against exact search, and p50/p99 latency of
  `Collections.search_vector` (the engine's search, then the store's check of every
  result), one query at a time, k=1 and k=10; for Milvus at each `--milvus-ef`, before the
  flush (growing segments) and after the index is built;
- bytes per face: embedded, the process's RSS growth and the files (SQLite + snapshot);
  Milvus, the growth of its processes' RSS and of its data on disk (etcd, message log,
  segments, index files) over N, after the index is built.

`--engines milvus-consistency` measures Milvus' own consistency levels instead, through
raw pymilvus (`consistency`): the measurement behind oculi/store/milvus.py's choice.

Milvus is PyPI's `milvus` 2.3.5 standalone started on loopback for the run
(tools/milvus_server.py) with the milvus.yaml settings `--milvus-config` gives, or the server
`--milvus-url` names (then memory and disk are not measured).

    python -m bench.search --engines embedded,milvus --sizes 100000 --queries 300
    python -m bench.search --engines milvus-consistency --sizes 1000
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np

from bench.search_engines import DIM, HEADER, face_ids, fill, records, searches
from oculi.service.collections import Collections
from oculi.store.faces import FaceStore


def one_at_a_time(store: FaceStore, indexes, n: int = 50) -> str:
    """n faces added one per transaction (an IndexFaces of one face), then deleted one per
    call (a DeleteFaces of one face), each through the store and the engine under the
    indexes' lock; the rates line. The faces are gone again afterwards."""
    rng = np.random.default_rng(11)
    extra = rng.standard_normal((n, DIM)).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    ids = [str(uuid.uuid4()) for _ in range(n)]
    t = time.perf_counter()
    for fid, v in zip(ids, extra):
        with indexes.lock:
            index = indexes.get("c")
            store.add_faces("c", records([fid]), v[None])
            index.add([fid], v[None])
    added = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for fid in ids:
        with indexes.lock:
            deleted, _ = store.delete_faces("c", [fid])
            indexes.get("c").remove(deleted)
    gone = n / (time.perf_counter() - t)
    return f"one face per write: {added:.1f} adds/s, {gone:.1f} deletes/s ({n} of each)"


def indexed(client, name: str, rows: int, timeout: float = 1800.0) -> None:
    """Wait until the HNSW index covers every row and the query node serves them all
    from indexed sealed segments."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.describe_index(name, "v")
        segments = client.list_loaded_segments(name)
        if (
            info.get("indexed_rows") == info.get("total_rows") == rows
            and sum(s.num_rows for s in segments) == rows
            and all(s.state == 3 and s.index_name for s in segments)  # 3: Sealed
        ):
            return
        time.sleep(0.5)
    raise TimeoutError("Milvus did not finish its index")


def milvus(
    vecs: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    url: str | None,
    efs: list[int],
    tmp: Path,
    config: dict[str, str],
) -> None:
    from oculi.store.milvus import PREFIX, open_indexes
    from oculi.store.names import storage_name
    from tools.milvus_server import MilvusServer

    server = None if url else MilvusServer(config=config)
    url = url or server.url  # type: ignore[union-attr]
    try:
        if server is not None:
            print(
                f"milvus: a Milvus 2.3.5 standalone ready in {server.start_s:.1f} s "
                f"(settings {config or 'as shipped'})",
                flush=True,
            )
            time.sleep(10)  # let it settle before the baseline
            base_rss, base_disk = server.rss(), server.data_bytes()
        ids = face_ids(len(vecs))
        row = {fid: i for i, fid in enumerate(ids)}
        store = FaceStore(tmp / "faces.sqlite3")
        indexes = open_indexes(url, store, DIM)
        store.create_collection("c", "bench")
        print(f"milvus: {fill(store, indexes, ids, vecs)}", flush=True)
        print(f"milvus: {one_at_a_time(store, indexes)}", flush=True)
        name = PREFIX + storage_name("c")
        print(HEADER)
        for ef in efs:
            searcher = open_indexes(f"{url}?ef={ef}", store, DIM)
            cols = Collections(store, None, None, searcher)  # type: ignore[arg-type]
            line = searches(cols, queries, truth, row)
            print(f"| milvus | growing segments (before flush), ef {ef} | {line} |", flush=True)
            searcher.close()
        t = time.perf_counter()
        indexes.client.flush(name)
        indexed(indexes.client, name, len(ids))
        print(
            f"milvus: HNSW (M 16, efConstruction 200) built and served "
            f"{time.perf_counter() - t:.1f} s after the flush",
            flush=True,
        )
        print(HEADER)
        for ef in efs:
            searcher = open_indexes(f"{url}?ef={ef}", store, DIM)
            cols = Collections(store, None, None, searcher)  # type: ignore[arg-type]
            line = searches(cols, queries, truth, row)
            print(f"| milvus | HNSW, ef {ef} | {line} |", flush=True)
            searcher.close()
        if server is not None:
            time.sleep(10)
            n = len(ids)
            print(
                f"milvus: RSS growth {(server.rss() - base_rss) / n:,.0f} bytes/face; data on "
                f"disk {(server.data_bytes() - base_disk) / n:,.0f} bytes/face (SQLite store "
                f"{(tmp / 'faces.sqlite3').stat().st_size / n:,.0f} bytes/face beside it)",
                flush=True,
            )
        with indexes.lock:
            indexes.drop("c")
        indexes.close()
        store.close()
    finally:
        if server is not None:
            server.stop()


def top(client, level: str, vec: np.ndarray, lat: list[float]) -> str | None:
    """The nearest vector's id at consistency `level` (its latency appended to `lat`)."""
    t = time.perf_counter()
    hits = client.search(
        "consistency",
        data=[vec.tolist()],
        limit=1,
        search_params={"metric_type": "COSINE", "params": {"ef": 64}},
        consistency_level=level,
    )[0]
    lat.append((time.perf_counter() - t) * 1e3)
    return hits[0]["id"] if hits else None


def consistency(url: str | None, trials: int = 20) -> None:
    """Milvus' own consistency levels, raw pymilvus on one collection of 2,000 vectors
    (HNSW): for each level, how often a vector inserted a moment ago is not found by a
    search of itself, how often a vector deleted a moment ago is still returned, and the
    search latency; by the writing client, and by a second client (another process)."""
    from pymilvus import DataType, MilvusClient

    from oculi.store.milvus import HNSW_EF_CONSTRUCTION, HNSW_M, parse_url
    from tools.milvus_server import MilvusServer

    server = None if url else MilvusServer()
    uri = parse_url(url or server.url)[0]  # type: ignore[union-attr]
    try:
        writer, other = MilvusClient(uri=uri), MilvusClient(uri=uri)
        schema = writer.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
        params = writer.prepare_index_params()
        params.add_index(
            "v",
            "HNSW",
            metric_type="COSINE",
            params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION},
        )
        writer.create_collection("consistency", schema=schema, index_params=params)
        rng = np.random.default_rng(3)
        vecs = rng.standard_normal((2000 + 8 * trials, DIM)).astype(np.float32)
        ids = face_ids(len(vecs))
        writer.insert("consistency", [{"id": f, "v": v.tolist()} for f, v in zip(ids[:2000], vecs)])
        print("| level | searcher | new not found | deleted returned | search p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|")
        j = 2000
        for who, searcher in (("the writer", writer), ("another client", other)):
            for level in ("Strong", "Session", "Bounded", "Eventually"):
                missed = returned = 0
                lat = []

                for _ in range(trials):
                    writer.insert("consistency", [{"id": ids[j], "v": vecs[j].tolist()}])
                    missed += top(searcher, level, vecs[j], lat) != ids[j]
                    writer.delete("consistency", filter=f'id in ["{ids[j]}"]')
                    returned += top(searcher, level, vecs[j], lat) == ids[j]
                    j += 1
                print(
                    f"| {level} | {who} | {missed}/{trials} | {returned}/{trials} | "
                    f"{np.percentile(lat, 50):.1f} | {np.percentile(lat, 99):.1f} |",
                    flush=True,
                )
        writer.drop_collection("consistency")
        writer.close()
        other.close()
    finally:
        if server is not None:
            server.stop()
