"""The audit log in PostgreSQL (`--audit-url`, OCULI_AUDIT_URL): one chain that every oculi
server sharing the database appends to, for several servers behind a load balancer.

The records and their chain are those of the file log (oculi/audit.py): canonical JSON,
each with the MAC of the record before it (`prev`) and its own (`mac`), under the audit key,
which every server must be given (the same `--audit-key-file`). Table `oculi_audit` holds
one record per row (`seq`, `line`), and `oculi_audit_head` the head (count, last MAC, its
MAC), updated in the transaction that appends, so the head never lags the log; a row
deleted, edited or inserted by hand breaks the chain, and rows cut off the end leave the
head ahead (unless an old head is put back with them: pin it outside, as for the file).

An append is one transaction that takes an advisory lock (servers append in turn), reads
the last record and checks its MAC, inserts the next record and moves the head. Once it
commits the record is durable (PostgreSQL's WAL, synchronous_commit on); a server killed
mid-append leaves no trace of it (the transaction never committed), so there is no torn
record to cut. Verification (`oculi audit verify --audit-url ...`) reads the whole chain,
whichever servers wrote it.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from oculi.audit import (
    GENESIS,
    AuditLog,
    AuditWriteError,
    _Head,
    _head_mac,
    _link,
    _mac,
    _Tail,
    canonical,
    parse_line,
)
from oculi.audit_key import AuditError

APPEND_LOCK = 0x6F63756C6961  # pg_advisory_xact_lock key: one append at a time
CONNECT_TIMEOUT_S = 30
SCHEMA = """
CREATE TABLE IF NOT EXISTS oculi_audit (seq BIGINT PRIMARY KEY, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS oculi_audit_head (
    one INT PRIMARY KEY CHECK (one = 1), count BIGINT NOT NULL, link TEXT NOT NULL,
    mac TEXT NOT NULL
)
"""


class PgAuditLog(AuditLog):
    """`AuditLog` kept in the PostgreSQL database at `url`; `directory` is only where the
    log would have been (the verifier's check for a store without a log looks there)."""

    def __init__(self, url: str, directory: Path, key_file: Path) -> None:
        super().__init__(directory, key_file)
        self.url = url
        self.path = Path(f"{url.split('@')[-1]} (oculi_audit)")  # named in messages
        self._conn: psycopg.Connection | None = None

    def _connect(self) -> psycopg.Connection:
        """A new connection, the tables made if missing (by one server at a time)."""
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            conn.execute(SCHEMA)
        return conn

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        """A transaction holding the append lock (against every server)."""
        conn = self._connection()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
                yield conn
        except psycopg.OperationalError:
            self._conn = None  # a broken connection: the next call opens another
            raise

    def _recover(self, conn: Any) -> _Tail:
        """The last record (its MAC checked); nothing is ever torn in a table."""
        row = conn.execute("SELECT line FROM oculi_audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return _Tail(0, 0, GENESIS, False)
        try:
            rec = parse_line(row[0].encode())
        except ValueError as e:
            raise AuditError(
                f"the last record of {self.path} is unreadable ({e}); see `oculi audit verify`"
            ) from None
        key = self._key
        if "mac" in rec and key is not None and not hmac.compare_digest(_mac(key, rec), rec["mac"]):
            raise AuditError(
                f"the last record of {self.path} does not verify with the key {self.key_file}: "
                "every server needs the same --audit-key-file; see `oculi audit verify`"
            )
        return _Tail(0, int(rec["seq"]), _link(rec), "mac" in rec)

    def start(self) -> None:
        try:
            self._start()
        except psycopg.Error as e:
            raise AuditError(f"cannot open the audit log {self.path}: {e}") from None

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Chain and commit one record after the last one any server wrote."""
        with self._lock:
            try:
                with self._locked() as conn:
                    if self._key is None:
                        raise AuditError("the audit log was not started")
                    self._tail = self._recover(conn)
                    return self._append(conn, event)
            except (psycopg.Error, AuditError) as e:
                self._tail = None
                raise AuditWriteError(
                    f"the audit log cannot be written ({e}): the call was refused and "
                    "nothing was changed"
                ) from e

    def _append(self, conn: Any, event: dict[str, Any]) -> dict[str, Any]:
        tail, key = self._tail, self._key
        assert tail is not None and key is not None
        record = {"seq": tail.seq + 1, "time": time.time(), **event, "prev": tail.link}
        record["mac"] = _mac(key, record)
        conn.execute(
            "INSERT INTO oculi_audit VALUES (%s, %s)", (record["seq"], canonical(record).decode())
        )
        conn.execute(
            "INSERT INTO oculi_audit_head VALUES (1, %s, %s, %s) ON CONFLICT (one) DO UPDATE "
            "SET count = EXCLUDED.count, link = EXCLUDED.link, mac = EXCLUDED.mac",
            (record["seq"], record["mac"], _head_mac(key, record["seq"], record["mac"])),
        )
        self._tail = _Tail(0, record["seq"], record["mac"], True)
        return record

    def _write_head(self, key: bytes, count: int, link: str) -> None:
        raise AssertionError("the head moves in the append's transaction")

    def _read_head(self) -> _Head | None:
        try:
            with self._locked() as conn:
                row = conn.execute("SELECT count, link, mac FROM oculi_audit_head").fetchone()
        except psycopg.Error:
            return _Head(-1, "", "")  # unreadable: verify reports it
        return None if row is None else _Head(int(row[0]), str(row[1]), str(row[2]))

    def _lines(self) -> Iterator[tuple[bytes, bool]]:
        conn = self._connect()
        with conn, conn.transaction():
            with conn.cursor(name="audit") as cur:  # server-side: any length of log
                cur.execute("SELECT line FROM oculi_audit ORDER BY seq")
                for (line,) in cur:
                    yield line.encode() + b"\n", True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
