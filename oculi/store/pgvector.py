"""Vectors in PostgreSQL with the pgvector extension, for scale-out (`--vector-url
postgresql://...`, which may name the store's own database).

`PgVectorIndexes` has `VectorIndexes`' interface (get, drop, lock, dim) and `PgVectorIndex`
`ExactIndex`'s (add, remove, search, len), so `oculi.service.collections` takes them as it
takes the embedded and Qdrant engines. Each oculi collection has a table of its own,
`oculi_vec_<first 40 hex digits of its storage_name>` (never the caller's string), holding
(face id, float32 vector) with an HNSW index for cosine distance: one graph per collection,
so a search never wades through other collections' faces.

- Every write is one committed transaction before `add`/`remove` returns, so what the API
  acknowledged survives a crash of oculi or of PostgreSQL (with PostgreSQL's own fsync on).
  A deleted row is invisible to every search that starts after the delete commits, from any
  process: HNSW index scans check each candidate's visibility in the table.
- Search distances are computed on the stored float32 vectors, so the cosines, the
  `min_cosine` cut-off and the order are those of exact search over the candidates the
  graph returns; the caller then keeps only the faces the store holds (the store is the
  source of truth), as on the Qdrant path.
- The store and this table are written one after the other; a crash between the two
  leaves them apart. The first time a process opens a collection it compares the table's
  row count with the store's face count and, if they differ, adds the missing vectors and
  deletes the strays (reading the table before the store, so a face committed meanwhile is
  re-added, never deleted).
- Another server may delete a collection (its table dropped), and make it again, while this
  one holds it open: a call that finds the table missing makes it and runs once more.

HNSW settings (m, ef_construction, ef_search) were measured on face-like vectors by
`bench/search.py --engines embedded,pgvector` (docs/scale-out.md). From pgvector 0.8 a
search that asks for more faces than ef_search keeps scanning the graph
(`hnsw.iterative_scan`); older versions return at most ef_search faces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import psycopg
from psycopg import errors, sql
from psycopg_pool import ConnectionPool

from oculi.store.engines import match_store
from oculi.store.faces import FaceStore
from oculi.store.names import storage_name

T = TypeVar("T")
HNSW_M = 24
EF_CONSTRUCTION = 96
EF_SEARCH = 200
EF_SEARCH_MAX = 1000  # pgvector's limit; past it, iterative scans (0.8) find the rest
POOL_MAX = 16
CONNECT_TIMEOUT_S = 30.0
BATCH = 1000  # rows per INSERT round of `add`
EXTENSION_LOCK = 0x6F63756C6976  # pg_advisory_xact_lock key: one CREATE at a time
MIN_VERSION = (0, 5)  # HNSW


def open_indexes(url: str, store: FaceStore, dim: int) -> PgVectorIndexes:
    """The engine `oculi.store.engines` opens for a postgresql:// URL, searched with
    OCULI_PGVECTOR_EF_SEARCH."""
    from oculi.settings import Settings

    return PgVectorIndexes(url, store, dim, Settings().pgvector_ef_search)


def table_name(collection_id: str) -> str:
    """The collection's table: fixed length, [0-9a-f] only, the same in every process."""
    return f"oculi_vec_{storage_name(collection_id)[:40]}"


def vector_text(vec: np.ndarray) -> str:
    """pgvector's text form of a float32 vector, exact (each float32 printed as the double
    it equals, which reads back as the same float32)."""
    return "[" + ",".join(map(str, np.asarray(vec, np.float32).ravel().tolist())) + "]"


def ensure_extension(conn: psycopg.Connection) -> tuple[int, ...]:
    """Create the pgvector extension if the database lacks it (one process at a time);
    its (major, minor) version, refused below `MIN_VERSION`."""
    installed = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (EXTENSION_LOCK,))
        row = conn.execute(installed).fetchone()
        if row is None:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except errors.InsufficientPrivilege as e:
                raise RuntimeError(
                    "the pgvector extension is not installed in this database and this role "
                    "may not create it: run `CREATE EXTENSION vector` there as a superuser"
                ) from e
            row = conn.execute(installed).fetchone()
    assert row is not None
    version = tuple(int(p) for p in str(row[0]).split(".")[:2])
    if version < MIN_VERSION:
        raise RuntimeError(f"pgvector {row[0]} has no HNSW index: 0.5 or later is needed")
    return version


class PgVectorIndex:
    """One collection's table seen as a vector index of face ids. `len` is the store's face
    count (what a search is sized on, without counting the table's rows each time)."""

    def __init__(
        self,
        pool: ConnectionPool,
        store: FaceStore,
        collection_id: str,
        dim: int,
        ef_search: int = EF_SEARCH,
    ) -> None:
        self._pool = pool
        self._store = store
        self.collection_id = collection_id
        self.dim = dim
        self.ef_search = ef_search
        self.table = sql.Identifier(table_name(collection_id))

    def create(self) -> None:
        t = table_name(self.collection_id)
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (EXTENSION_LOCK,))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (face_id TEXT PRIMARY KEY, "
                    "embedding vector({}) NOT NULL)"
                ).format(self.table, sql.Literal(self.dim))
            )
            conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops) "
                    "WITH (m = {}, ef_construction = {})"
                ).format(
                    sql.Identifier(f"{t}_hnsw"),
                    self.table,
                    sql.Literal(HNSW_M),
                    sql.Literal(EF_CONSTRUCTION),
                )
            )

    def __len__(self) -> int:
        c = self._store.get_collection(self.collection_id)
        return c.face_count if c else 0

    def _made(self, run: Callable[[], T]) -> T:
        """run(), and once more after making the table if it is missing: another server
        deleted the collection (and perhaps made it again) since this one opened it."""
        try:
            return run()
        except errors.UndefinedTable:
            self.create()
            return run()

    def _execute(self, query: sql.Composable, params: tuple = ()) -> list[tuple]:
        """One statement on the table in autocommit; its rows (none for a DELETE)."""

        def run() -> list[tuple]:
            with self._pool.connection() as conn:
                cur = conn.execute(query, params)
                return cur.fetchall() if cur.description else []

        return self._made(run)

    def count(self) -> int:
        """The rows the table holds."""
        return int(self._execute(sql.SQL("SELECT count(*) FROM {}").format(self.table))[0][0])

    def add(self, ids: list[str], vecs: np.ndarray) -> None:
        """Add faces in one transaction; an id already present is replaced."""
        vecs = np.asarray(vecs, np.float32).reshape(-1, self.dim)
        if len(ids) != len(vecs):
            raise ValueError(f"{len(ids)} ids for {len(vecs)} vectors")
        last = {fid: i for i, fid in enumerate(ids)}  # a repeated id: the last one wins
        rows = [(fid, vector_text(vecs[i])) for fid, i in last.items()]
        query = sql.SQL(
            "INSERT INTO {} (face_id, embedding) VALUES (%s, %s::vector) "
            "ON CONFLICT (face_id) DO UPDATE SET embedding = EXCLUDED.embedding"
        ).format(self.table)

        def run() -> None:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                for a in range(0, len(rows), BATCH):
                    cur.executemany(query, rows[a : a + BATCH])

        self._made(run)

    def remove(self, ids: list[str]) -> None:
        if ids:
            delete = sql.SQL("DELETE FROM {} WHERE face_id = ANY(%s)").format(self.table)
            self._execute(delete, (list(ids),))

    def search(
        self, query: np.ndarray, k: int, min_cosine: float = -1.0, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """Up to k (id, cosine) pairs, best first, at or above min_cosine."""
        if k <= 0:
            return []
        want = k + (1 if exclude else 0)
        q = vector_text(np.asarray(query, np.float32).reshape(self.dim))
        select = sql.SQL(
            "SELECT face_id, embedding <=> %s::vector AS d FROM {} ORDER BY d LIMIT %s"
        ).format(self.table)
        if want > self.ef_search:  # a wider search for this query only

            def wider() -> list[tuple]:
                with self._pool.connection() as conn, conn.transaction():
                    ef = str(min(want, EF_SEARCH_MAX))
                    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (ef,))
                    return conn.execute(select, (q, want)).fetchall()

            rows = self._made(wider)
        else:
            rows = self._execute(select, (q, want))
        hits = sorted(((str(fid), 1.0 - float(d)) for fid, d in rows), key=lambda h: -h[1])
        return [(fid, c) for fid, c in hits if c >= min_cosine and fid != exclude][:k]

    def ids(self) -> set[str]:
        return {
            str(r[0]) for r in self._execute(sql.SQL("SELECT face_id FROM {}").format(self.table))
        }


class PgVectorIndexes:
    """One table per oculi collection in the database at `url` (libpq URL)."""

    def __init__(self, url: str, store: FaceStore, dim: int, ef_search: int = EF_SEARCH) -> None:
        self.store = store
        self.dim = dim
        self.ef_search = ef_search
        self.lock = threading.RLock()
        self._indexes: dict[str, PgVectorIndex] = {}
        with psycopg.connect(url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_S)) as conn:
            self.version = ensure_extension(conn)
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX,
            open=False,
            kwargs={"autocommit": True},
            configure=self._configure,
        )
        self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(self.ef_search),))
        if self.version >= (0, 8):  # past ef_search, keep scanning the graph
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false)")

    def get(self, collection_id: str) -> PgVectorIndex:
        with self.lock:
            index = self._indexes.get(collection_id)
            if index is None:
                index = PgVectorIndex(
                    self._pool, self.store, collection_id, self.dim, self.ef_search
                )
                index.create()
                self._reconcile(collection_id, index)
                self._indexes[collection_id] = index
            return index

    def drop(self, collection_id: str) -> None:
        with self.lock:
            self._indexes.pop(collection_id, None)
            with self._pool.connection() as conn:
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(
                        sql.Identifier(table_name(collection_id))
                    )
                )

    def close(self) -> None:
        self._pool.close()

    def _reconcile(self, collection_id: str, index: PgVectorIndex) -> None:
        """Make the table hold exactly the store's faces (`match_store`),
        if the counts say they differ."""
        if index.count() == len(index):
            return
        match_store(self.store, collection_id, index)
