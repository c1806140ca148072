"""Vectors in Qdrant (through qdrant-client), for scale-out beyond one machine.

`QdrantIndex` has `ExactIndex`'s interface (add, remove, search, len); `QdrantIndexes` has
`VectorIndexes`' (get, drop, lock, dim), so `oculi.service.collections` takes either. One
Qdrant collection per oculi collection, cosine distance, the face id (a UUID) as point id.

The face store stays the source of truth: a search result the store does not hold is
dropped by the caller, and when a process first opens a collection it reconciles Qdrant
with the store (a crash between the store's commit and Qdrant's write leaves them apart).

`open_qdrant(location)`: an `http(s)://` URL is a Qdrant server or cluster; `:memory:` or a
folder is qdrant-client's local mode, which speaks the same API (exact search, one process
at a time per folder; for tests and small set-ups).
"""

from __future__ import annotations

import threading

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from oculi.store.engines import match_store
from oculi.store.faces import FaceStore

HNSW_EF = 128  # measured: recall@1 1.0, @10 0.985 at 50k face-like vectors (docs/scale-out.md)
OVERSAMPLING = 2.0  # int8 candidates per result, rescored on the float32 vectors
BATCH = 1024  # points per upsert request
SCROLL = 10_000  # point ids per scroll request while reconciling


def open_qdrant(location: str, api_key: str | None = None) -> QdrantClient:
    if location.startswith(("http://", "https://")):
        return QdrantClient(url=location, api_key=api_key)
    if location == ":memory:":
        return QdrantClient(location=location)
    return QdrantClient(path=location)


def open_indexes(url: str, store: FaceStore, dim: int) -> QdrantIndexes:
    """The engine `oculi.store.engines` opens for an http(s):// URL (or --qdrant's folder),
    with OCULI_QDRANT_API_KEY and OCULI_QDRANT_HNSW_EF."""
    from oculi.settings import Settings

    s = Settings()
    return QdrantIndexes(open_qdrant(url, s.qdrant_api_key), store, dim, hnsw_ef=s.qdrant_hnsw_ef)


def is_local(client: QdrantClient) -> bool:
    """qdrant-client's local mode, which searches exactly (and warns about search params)."""
    opts = client.init_options
    return opts.get("path") is not None or opts.get("location") == ":memory:"


class QdrantIndex:
    """One Qdrant collection seen as a vector index of face ids."""

    def __init__(self, client: QdrantClient, name: str, dim: int, hnsw_ef: int = HNSW_EF) -> None:
        self.client = client
        self.name = name
        self.dim = dim
        self._params = (
            None
            if is_local(client)
            else models.SearchParams(
                hnsw_ef=hnsw_ef,
                quantization=models.QuantizationSearchParams(
                    rescore=True, oversampling=OVERSAMPLING
                ),
            )
        )
        if not client.collection_exists(name):
            try:
                client.create_collection(
                    name,
                    vectors_config=models.VectorParams(
                        size=dim, distance=models.Distance.COSINE, on_disk=True
                    ),
                    hnsw_config=models.HnswConfigDiff(m=16, ef_construct=100),
                    quantization_config=models.ScalarQuantization(
                        scalar=models.ScalarQuantizationConfig(
                            type=models.ScalarType.INT8, always_ram=True
                        )
                    ),
                )
            except (UnexpectedResponse, ValueError):  # another process created it first
                if not client.collection_exists(name):
                    raise

    def __len__(self) -> int:
        return int(self.client.count(self.name, exact=True).count)

    def add(self, ids: list[str], vecs: np.ndarray) -> None:
        vecs = np.asarray(vecs, np.float32).reshape(-1, self.dim)
        for a in range(0, len(ids), BATCH):
            self.client.upsert(
                self.name,
                wait=True,
                points=models.Batch(
                    ids=list(ids[a : a + BATCH]), vectors=vecs[a : a + BATCH].tolist()
                ),
            )

    def remove(self, ids: list[str]) -> None:
        if ids:
            self.client.delete(
                self.name, wait=True, points_selector=models.PointIdsList(points=list(ids))
            )

    def search(
        self, query: np.ndarray, k: int, min_cosine: float = -1.0, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """Up to k (id, cosine) pairs, best first, at or above min_cosine."""
        where = (
            models.Filter(must_not=[models.HasIdCondition(has_id=[exclude])]) if exclude else None
        )
        hits = self.client.query_points(
            self.name,
            query=np.asarray(query, np.float32).reshape(self.dim).tolist(),
            limit=k,
            score_threshold=min_cosine,
            query_filter=where,
            search_params=self._params,
            with_payload=False,
        ).points
        return [(str(p.id), float(p.score)) for p in hits]

    def ids(self) -> set[str]:
        found: set[str] = set()
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.name, limit=SCROLL, offset=offset, with_payload=False, with_vectors=False
            )
            found.update(str(p.id) for p in points)
            if offset is None:
                return found


class QdrantIndexes:
    """One Qdrant collection per oculi collection, named `prefix + collection id`."""

    def __init__(
        self,
        client: QdrantClient,
        store: FaceStore,
        dim: int,
        prefix: str = "oculi-",
        hnsw_ef: int = HNSW_EF,
    ) -> None:
        self.client = client
        self.store = store
        self.dim = dim
        self.prefix = prefix
        self.hnsw_ef = hnsw_ef
        self.lock = threading.RLock()
        self._indexes: dict[str, QdrantIndex] = {}

    def get(self, collection_id: str) -> QdrantIndex:
        with self.lock:
            index = self._indexes.get(collection_id)
            if index is None:
                index = QdrantIndex(
                    self.client, self.prefix + collection_id, self.dim, self.hnsw_ef
                )
                self._reconcile(collection_id, index)
                self._indexes[collection_id] = index
            return index

    def drop(self, collection_id: str) -> None:
        with self.lock:
            self._indexes.pop(collection_id, None)
            self.client.delete_collection(self.prefix + collection_id)

    def close(self) -> None:
        self.client.close()

    def _reconcile(self, collection_id: str, index: QdrantIndex) -> None:
        """Make Qdrant hold exactly the store's faces (`match_store`),
        if the counts say they differ."""
        c = self.store.get_collection(collection_id)
        if len(index) == (c.face_count if c else 0):
            return
        match_store(self.store, collection_id, index)
