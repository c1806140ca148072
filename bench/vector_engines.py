"""Vector engines on face-like vectors: Qdrant vs Milvus, in their embedded forms.

Identities are random centres on the 128-d unit sphere; each stored vector is a noisy
sample of one (10 per identity), queries are fresh samples, 10% of points are deleted
before searching, and ground truth is exact search over the rest. Prints, per engine:
insert rate, single-query p50/p99, recall@1/@10, deleted points returned, reopen check.

    python bench/vector_engines.py 50000 qedge,milvus,qlocal

Engines (each needs its package; none is a dependency of oculi):
- qlocal: qdrant-client local mode (`path=`), what the tests use (exact search);
- qedge: qdrant-edge-py, Qdrant's own segment + HNSW engine in-process;
- milvus: pymilvus with milvus-lite, an HNSW index declared.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable

import numpy as np

DIM, PER, NQ, SIGMA = 128, 10, 300, 0.9
ROOT = "/tmp/oculi-vector-bench"


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def disk_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


class Data:
    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        centres = unit(rng.standard_normal((n // PER, DIM)))

        def sample(who: np.ndarray) -> np.ndarray:
            noise = rng.standard_normal((len(who), DIM)) / np.sqrt(DIM)
            return unit(centres[who] + SIGMA * noise)

        self.x = sample(np.repeat(np.arange(len(centres)), PER))
        self.ids = [str(uuid.uuid4()) for _ in range(len(self.x))]
        self.row = {f: i for i, f in enumerate(self.ids)}
        self.q = sample(rng.integers(0, len(centres), NQ))
        self.deleted = set(range(0, len(self.x), 10))
        self.live = np.array([i for i in range(len(self.x)) if i not in self.deleted])
        self.truth = self.live[np.argsort(-(self.q @ self.x[self.live].T), axis=1)[:, :10]]
        same = float(np.mean(np.sum(self.x[0 : PER - 1] * self.x[1:PER], axis=1)))
        print(f"N={len(self.x)} dim={DIM} same-identity cosine ≈ {same:.2f}")

    def report(
        self,
        name: str,
        insert_s: float,
        search: Callable[[np.ndarray, int], list[str]],
        reopened: bool,
        disk: int,
    ) -> None:
        lat, rows = [], []
        for q in self.q:
            t = time.perf_counter()
            found = search(q, 10)
            lat.append(time.perf_counter() - t)
            rows.append([self.row[f] for f in found])
        r1 = np.mean([r[:1] == list(t[:1]) for r, t in zip(rows, self.truth)])
        r10 = np.mean([len(set(r) & set(t)) / 10 for r, t in zip(rows, self.truth)])
        ghosts = sum(i in self.deleted for r in rows for i in r)
        n = len(self.x)
        print(
            f"{name:36s} insert {n / insert_s:7.0f}/s  p50 {1e3 * np.percentile(lat, 50):7.2f} ms"
            f"  p99 {1e3 * np.percentile(lat, 99):7.2f} ms  recall@1 {r1:.3f} @10 {r10:.3f}"
            f"  deleted returned {ghosts}  reopen {'ok' if reopened else 'LOST'}"
            f"  disk {disk / n:.0f} B/vector",
            flush=True,
        )


def qdrant_local(d: Data) -> None:
    from qdrant_client import QdrantClient, models

    path = f"{ROOT}/qlocal"
    client = QdrantClient(path=path)
    client.create_collection(
        "f", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    t = time.perf_counter()
    for a in range(0, len(d.x), 1024):
        client.upsert(
            "f",
            wait=True,
            points=models.Batch(ids=d.ids[a : a + 1024], vectors=d.x[a : a + 1024].tolist()),
        )
    took = time.perf_counter() - t
    client.delete("f", points_selector=models.PointIdsList(points=[d.ids[i] for i in d.deleted]))
    client.close()
    client = QdrantClient(path=path)
    reopened = client.count("f").count == len(d.live)

    def search(q: np.ndarray, k: int) -> list[str]:
        hits = client.query_points("f", query=q.tolist(), limit=k, with_payload=False).points
        return [str(p.id) for p in hits]

    d.report("qdrant-client local (path=)", took, search, reopened, disk_bytes(path))
    client.close()


def qdrant_edge(d: Data) -> None:
    import qdrant_edge as qe

    path = f"{ROOT}/qedge"
    shard = qe.EdgeShard.create(
        path,
        qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=1000),
            quantization_config=qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, always_ram=True
            ),
        ),
    )
    t = time.perf_counter()
    for a in range(0, len(d.x), 1024):
        shard.update(
            qe.UpdateOperation.upsert_points(
                [qe.Point(d.ids[i], d.x[i].tolist()) for i in range(a, min(len(d.x), a + 1024))]
            )
        )
    shard.optimize()
    shard.flush()
    took = time.perf_counter() - t
    shard.update(qe.UpdateOperation.delete_points([d.ids[i] for i in d.deleted]))
    shard.flush()
    shard.close()
    shard = qe.EdgeShard.load(path)
    reopened = shard.count(qe.CountRequest()) == len(d.live)
    rescore = qe.QuantizationSearchParams(rescore=True, oversampling=2.0)
    variants = [
        (64, None, ""),
        (128, None, ""),
        (256, None, ""),
        (128, rescore, " rescore x2"),
        (256, rescore, " rescore x2"),
        (128, qe.QuantizationSearchParams(ignore=True), " float32"),
    ]
    for ef, quant, label in variants:
        params = qe.SearchParams(hnsw_ef=ef, quantization=quant)

        def search(q: np.ndarray, k: int, params: qe.SearchParams = params) -> list[str]:
            hits = shard.query(
                qe.QueryRequest(
                    limit=k, query=qe.Query.Nearest(q.tolist()), params=params, with_payload=False
                )
            )
            return [str(p.id) for p in hits]

        d.report(f"qdrant-edge HNSW+int8 ef={ef}{label}", took, search, reopened, disk_bytes(path))
    shard.close()


def milvus(d: Data) -> None:
    from pymilvus import DataType, MilvusClient

    path = f"{ROOT}/milvus.db"
    client = MilvusClient(path)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=36)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index(
        "v", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 100}
    )
    client.create_collection("f", schema=schema, index_params=index)
    t = time.perf_counter()
    for a in range(0, len(d.x), 1024):
        client.insert(
            "f", [{"id": d.ids[i], "v": d.x[i].tolist()} for i in range(a, min(len(d.x), a + 1024))]
        )
    client.load_collection("f")
    took = time.perf_counter() - t
    print("milvus-lite reports:", client.describe_index("f", "v"))
    client.delete("f", ids=[d.ids[i] for i in d.deleted])
    client.close()
    client = MilvusClient(path)
    client.load_collection("f")
    reopened = client.query("f", filter="", output_fields=["count(*)"])[0]["count(*)"] == len(
        d.live
    )

    def search(q: np.ndarray, k: int) -> list[str]:
        hits = client.search(
            "f",
            data=[q.tolist()],
            limit=k,
            anns_field="v",
            search_params={"metric_type": "COSINE", "params": {"ef": 128}},
        )
        return [h["id"] for h in hits[0]]

    d.report("milvus-lite HNSW ef=128", took, search, reopened, disk_bytes(path))
    client.close()


ENGINES = {"qlocal": qdrant_local, "qedge": qdrant_edge, "milvus": milvus}

if __name__ == "__main__":
    data = Data(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
    for name in (sys.argv[2] if len(sys.argv) > 2 else "qedge,milvus").split(","):
        shutil.rmtree(ROOT, ignore_errors=True)
        os.makedirs(ROOT)
        ENGINES[name](data)
    shutil.rmtree(ROOT, ignore_errors=True)
