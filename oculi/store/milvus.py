"""Vectors in a Milvus server (through pymilvus), for scale-out beyond one machine.

`MilvusIndex` has `ExactIndex`'s interface (add, remove, search, len); `MilvusIndexes` has
`VectorIndexes`' (get, drop, close, lock, dim), so `oculi.service.collections` takes either.
`open_indexes(url, store, dim)` connects to the server a `milvus://` URL names
(docs/scale-out.md):

    milvus://[user:password@]host:port[?ef=128]

Mapping: one Milvus collection per oculi collection, named `oculi_` + the collection's
`storage_name` (the SHA-256 of its id: only [0-9a-f], so no caller's string reaches
Milvus), with two fields: `id`, the face id (VARCHAR primary key), and `v`, the 128-d
float32 embedding, under an HNSW index (cosine; M 16, efConstruction 200) searched at
`ef` (default 512, or the URL's). One collection each, rather than partitions of one
collection, because a search then reads only its own collection's HNSW graphs and a
DeleteCollection is a `drop_collection`; a Milvus server holds up to 65,536 collections
(`quotaAndLimits.limits.maxCollectionNum`).

Consistency. A search at Milvus' Strong level waits for the server's next time tick
(`proxy.timeTickInterval`, 200 ms by default: measured 200 ms p50 a search), and at the
weaker levels a write is not seen at once: right after a delete, a search still returned
the deleted vector, and Milvus 2.3 answers a delete with no timestamp, so pymilvus'
Session level cannot wait for it. So each write waits instead: after an upsert or a
delete, a Strong query of those ids must show the write (every id, or none) before the
write returns. Writes cost about one time tick; searches, at the Eventually level, do not
wait, and see every write acknowledged before them, from any process: the query node that
answers them has passed the Strong query's timestamp. The face store stays the source of
truth behind that: `oculi.service.collections` drops every result the store does not hold,
and when a process first opens a collection it reconciles Milvus with the store if their
counts differ (a crash between the store's commit and Milvus' write leaves them apart).
`len()` is the store's face count, which the store keeps in the same transaction as the
faces; `count()` asks Milvus.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from oculi.store.engines import match_store
from oculi.store.faces import FaceStore
from oculi.store.names import storage_name

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF = 512  # recall@1 0.997, @10 0.989 at 100,000 faces (docs/scale-out.md)
BATCH = 2000  # faces per upsert request (1 MB of float32 vectors)
IDS_PER_QUERY = 1000  # ids per `id in [...]` expression
SCAN = 10_000  # ids per page while listing a collection for reconciliation
TIMEOUT_S = 60.0
FACE_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
PREFIX = "oculi_"


def parse_url(url: str) -> tuple[str, str, int]:
    """(pymilvus uri, token, ef) from `milvus://[user:password@]host:port[?ef=N]`."""
    parts = urlsplit(url)
    if parts.scheme != "milvus" or not parts.hostname:
        raise ValueError(f"not a milvus://host:port URL: {parts.scheme}://...")
    port = parts.port or 19530
    token = ""
    if parts.username:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    query = parse_qs(parts.query)
    ef = int(query.get("ef", [HNSW_EF])[0])
    if ef < 1:
        raise ValueError("milvus:// URL: ef must be at least 1")
    return f"http://{parts.hostname}:{port}", token, ef


def open_indexes(url: str, store: FaceStore, dim: int) -> MilvusIndexes:
    """The engine `oculi.store.engines` opens for a milvus:// URL."""
    uri, token, ef = parse_url(url)
    return MilvusIndexes(MilvusClient(uri=uri, token=token, timeout=TIMEOUT_S), store, dim, ef)


def id_list(ids: list[str]) -> str:
    """A Milvus expression's list literal of face ids (refused unless id-like)."""
    for fid in ids:
        if not FACE_ID.fullmatch(fid):
            raise ValueError("face id with characters a face id never has")
    return "[" + ",".join(f'"{fid}"' for fid in ids) + "]"


class MilvusIndex:
    """One Milvus collection seen as a vector index of the faces of one oculi collection."""

    def __init__(
        self, client: MilvusClient, store: FaceStore, collection_id: str, dim: int, ef: int
    ) -> None:
        self.client = client
        self.store = store
        self.collection_id = collection_id
        self.name = PREFIX + storage_name(collection_id)
        self.dim = dim
        self.ef = ef
        if not client.has_collection(self.name):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=dim)
            index = client.prepare_index_params()
            index.add_index(
                "v",
                index_type="HNSW",
                metric_type="COSINE",
                params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION},
            )
            try:
                client.create_collection(self.name, schema=schema, index_params=index)
            except MilvusException:  # another process created it first
                if not client.has_collection(self.name):
                    raise
        client.load_collection(self.name)  # searchable (a no-op when it already is)

    def __len__(self) -> int:
        c = self.store.get_collection(self.collection_id)
        return c.face_count if c else 0

    def count(self) -> int:
        """How many vectors Milvus holds (every write acknowledged before counted)."""
        rows = self.client.query(
            self.name, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(rows[0]["count(*)"])

    def add(self, ids: list[str], vecs: np.ndarray) -> None:
        """Add faces (an id already held is replaced); returns once searches see them."""
        vecs = np.asarray(vecs, np.float32).reshape(-1, self.dim)
        last = {fid: i for i, fid in enumerate(ids)}  # a repeated id: the last one wins
        for a in range(0, len(ids), BATCH):
            rows = [
                {"id": fid, "v": vecs[last[fid]].tolist()}
                for fid in dict.fromkeys(ids[a : a + BATCH])
            ]
            self.client.upsert(self.name, rows)
        self._wait_until_held(list(last), held=True)

    def remove(self, ids: list[str]) -> None:
        """Remove faces (ids not held are ignored); returns once searches no longer see
        them."""
        for a in range(0, len(ids), IDS_PER_QUERY):
            self.client.delete(self.name, filter=f"id in {id_list(ids[a : a + IDS_PER_QUERY])}")
        self._wait_until_held(ids, held=False)

    def _wait_until_held(self, ids: list[str], held: bool) -> None:
        """A Strong query of `ids`: it runs once the server has applied every earlier
        write, and must find each of them (`held`) or none."""
        for a in range(0, len(ids), IDS_PER_QUERY):
            part = ids[a : a + IDS_PER_QUERY]
            rows = self.client.query(
                self.name,
                filter=f"id in {id_list(part)}",
                output_fields=["id"],
                consistency_level="Strong",
            )
            if len({r["id"] for r in rows}) != (len(set(part)) if held else 0):
                raise RuntimeError(f"Milvus collection {self.name} did not apply a write")

    def search(
        self, query: np.ndarray, k: int, min_cosine: float = -1.0, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """Up to k (id, cosine) pairs, best first, at or above min_cosine."""
        limit = k + (1 if exclude else 0)
        hits = self.client.search(
            self.name,
            data=[np.asarray(query, np.float32).reshape(self.dim).tolist()],
            limit=limit,
            anns_field="v",
            search_params={"metric_type": "COSINE", "params": {"ef": max(self.ef, limit)}},
            output_fields=[],
            consistency_level="Eventually",  # every acknowledged write is seen: see above
        )[0]
        found = [(str(h["id"]), float(h["distance"])) for h in hits]
        return [(f, c) for f, c in found if c >= min_cosine and f != exclude][:k]

    def ids(self) -> set[str]:
        """Every face id Milvus holds (Strong: every acknowledged write included)."""
        found: set[str] = set()
        pages = self.client.query_iterator(
            self.name,
            batch_size=SCAN,
            filter="",
            output_fields=["id"],
            consistency_level="Strong",
        )
        while True:
            page = pages.next()
            if not page:
                pages.close()
                return found
            found.update(str(r["id"]) for r in page)


class MilvusIndexes:
    """One Milvus collection per oculi collection (see the module's docstring)."""

    def __init__(self, client: MilvusClient, store: FaceStore, dim: int, ef: int = HNSW_EF) -> None:
        self.client = client
        self.store = store
        self.dim = dim
        self.ef = ef
        self.lock = threading.RLock()
        self._indexes: dict[str, MilvusIndex] = {}

    def get(self, collection_id: str) -> MilvusIndex:
        with self.lock:
            index = self._indexes.get(collection_id)
            if index is None:
                index = MilvusIndex(self.client, self.store, collection_id, self.dim, self.ef)
                self._reconcile(collection_id, index)
                self._indexes[collection_id] = index
            return index

    def drop(self, collection_id: str) -> None:
        with self.lock:
            self._indexes.pop(collection_id, None)
            self.client.drop_collection(PREFIX + storage_name(collection_id))

    def close(self) -> None:
        with self.lock:
            self._indexes.clear()
            self.client.close()

    def _reconcile(self, collection_id: str, index: MilvusIndex) -> None:
        """Make Milvus hold exactly the store's faces (`match_store`),
        if the counts say they differ."""
        if index.count() == len(index):
            return
        match_store(self.store, collection_id, index)
