"""One SQL code path over two engines: SQLite (embedded) and PostgreSQL (scale-out).

Queries are written once, with `?` placeholders and portable SQL; a `Backend` supplies what
differs: the column types of the schema, the placeholder, how a write transaction starts,
and which errors mean "run the transaction again".

- SQLite: one connection under a lock, WAL + `synchronous=FULL`, writes in
  `BEGIN IMMEDIATE` (one writer at a time, so every write is serial by construction).
  `secure_delete` is on, so a deleted row's bytes are overwritten with zeros in the page
  that held it, and `scrub` checkpoints the WAL into the database and truncates it, so the
  log holds no older copy of the page either (SECURITY.md, "Data at rest").
- PostgreSQL: a connection pool (see `oculi.store.postgres`), writes in SERIALIZABLE
  transactions that the caller retries on serialization failure, so the same
  check-then-act logic stays correct with many writers in many processes.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
MAX_ATTEMPTS = 20  # tries of one write transaction that keeps meeting concurrent writers


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Sequence[Any] | None: ...

    def fetchall(self) -> list[Sequence[Any]]: ...

    def __iter__(self) -> Iterator[Sequence[Any]]: ...


class Tx:
    """An open transaction (or, for reads, a connection) taking `?` placeholders."""

    def __init__(self, conn: Any, placeholder: str) -> None:
        self._conn = conn
        self._placeholder = placeholder

    def _sql(self, sql: str) -> str:
        return sql if self._placeholder == "?" else sql.replace("?", self._placeholder)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(self._sql(sql), args)  # type: ignore[no-any-return]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.cursor().executemany(self._sql(sql), rows)

    @property
    def connection(self) -> Any:
        """The engine's own connection, for a library that joins this transaction (the
        video job queue defers its task in the transaction that records the job)."""
        return self._conn


class Backend(Protocol):
    """What the face store needs of an engine."""

    #: column types substituted into the schema: blob, real, serial (an auto-increasing key)
    types: dict[str, str]
    #: errors after which the whole transaction is run again (empty: never)
    retryable: tuple[type[BaseException], ...]

    def write(self) -> AbstractContextManager[Tx]:
        """A write transaction: committed on normal exit, rolled back on an exception."""

    def read(self) -> AbstractContextManager[Tx]:
        """A connection for reads (single statements see committed data)."""

    def create_schema(self, ddl: str) -> None: ...

    def scrub(self) -> None:
        """After a deletion: leave no copy of the deleted rows where the engine can drop
        it at once (SQLite: the WAL); best effort, never fails the deletion."""

    def close(self) -> None: ...


class SqliteBackend:
    types = {"blob": "BLOB", "real": "REAL", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}
    retryable: tuple[type[BaseException], ...] = ()

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA secure_delete=ON")

    def create_schema(self, ddl: str) -> None:
        with self._lock:
            self._db.executescript(ddl)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._db, "?")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._lock:
            yield Tx(self._db, "?")

    def scrub(self) -> None:
        """Copy the WAL into the database and truncate it to zero bytes. A reader in
        another process (`oculi export`) can keep the checkpoint from finishing; then
        the next deletion, or the close, truncates it."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.OperationalError:  # busy or locked: the deletion itself is done
                pass

    def close(self) -> None:
        with self._lock:
            self.scrub()
            self._db.close()


def retrying(backend: Backend, fn: Callable[[Tx], T]) -> T:
    """`fn` in one write transaction, run again (with jittered back-off) when the engine
    aborts it for a conflict with a concurrent writer, up to MAX_ATTEMPTS times."""
    attempt = 0
    while True:
        try:
            with backend.write() as tx:
                return fn(tx)
        except backend.retryable:
            attempt += 1
            if attempt >= MAX_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, min(0.5, 0.002 * 2**attempt)))


def open_backend(location: str | Path) -> Backend:
    """`postgresql://...` (or `postgres://`) opens PostgreSQL; anything else is the path of
    an SQLite file."""
    if str(location).startswith(("postgresql://", "postgres://")):
        from oculi.store.postgres import PostgresBackend  # psycopg only when asked for

        return PostgresBackend(str(location))
    return SqliteBackend(Path(location))
