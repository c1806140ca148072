"""Stored-video jobs and their results, in their own SQLite file (`<data-dir>/video/
jobs.sqlite3`): never a path made from a caller's string.

A job is IN_PROGRESS from its Start until it SUCCEEDED or FAILED. Results are rows of JSON
kept in the order they were found (`seq`) with the keys a Get sorts by (timestamp, person
index, label name), so pages are stable. Opening the store FAILs every job still
IN_PROGRESS (the server that ran it stopped), and `expire` deletes finished jobs and their
results once they are older than the configured expiry.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oculi.errors import IdempotentParameterMismatch, LimitExceeded, ResourceNotFound

IN_PROGRESS, SUCCEEDED, FAILED = "IN_PROGRESS", "SUCCEEDED", "FAILED"
RESTARTED = "oculi stopped while this job ran; start it again"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    api TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created REAL NOT NULL,
    finished REAL,
    token TEXT,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    metadata TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_token ON jobs (api, token) WHERE token IS NOT NULL;
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, seq)
);
CREATE TABLE IF NOT EXISTS matches (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
"""
# A Get's SortBy, as ORDER BY clauses over the results' keys (seq breaks ties stably).
ORDERS = {
    "TIMESTAMP": "ts, idx, seq",
    "INDEX": "idx, ts, seq",
    "NAME": "name, ts, seq",
}


@dataclass(frozen=True)
class Job:
    job_id: str
    api: str
    status: str
    message: str | None
    created: float
    finished: float | None
    request: dict[str, Any]
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class Row:
    """One result: when (ms), whose (person index; 0 where none), what (label name)."""

    ts: int
    idx: int
    name: str
    body: dict[str, Any]


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "UPDATE jobs SET status=?, message=?, finished=? WHERE status=?",
                (FAILED, RESTARTED, time.time(), IN_PROGRESS),
            )

    def find(self, api: str, token: str, fingerprint: str) -> str | None:
        """The job a ClientRequestToken started, if any (IdempotentParameterMismatchException
        when it was started with other parameters)."""
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, fingerprint FROM jobs WHERE api=? AND token=?", (api, token)
            ).fetchone()
        if row is None:
            return None
        if row[1] != fingerprint:
            raise IdempotentParameterMismatch(
                "ClientRequestToken was used before with other parameters"
            )
        return str(row[0])

    def create(
        self,
        api: str,
        request: dict[str, Any],
        token: str | None,
        fingerprint: str,
        limit: int,
    ) -> tuple[str, bool]:
        """A new IN_PROGRESS job's id, and True; or, for a ClientRequestToken already used
        with the same parameters, that job's id and False (different parameters:
        IdempotentParameterMismatchException). LimitExceededException when `limit` jobs
        are in progress."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if token is not None:
                    row = self._db.execute(
                        "SELECT job_id, fingerprint FROM jobs WHERE api=? AND token=?",
                        (api, token),
                    ).fetchone()
                    if row is not None:
                        if row[1] != fingerprint:
                            raise IdempotentParameterMismatch(
                                "ClientRequestToken was used before with other parameters"
                            )
                        self._db.execute("COMMIT")
                        return str(row[0]), False
                (running,) = self._db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status=?", (IN_PROGRESS,)
                ).fetchone()
                if running >= limit:
                    raise LimitExceeded(
                        f"{running} video jobs are in progress; the limit is {limit} "
                        "(OCULI_VIDEO_JOB_LIMIT)"
                    )
                job_id = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex characters, as AWS's
                self._db.execute(
                    "INSERT INTO jobs (job_id, api, status, created, token, fingerprint, request)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        api,
                        IN_PROGRESS,
                        time.time(),
                        token,
                        fingerprint,
                        json.dumps(request),
                    ),
                )
                self._db.execute("COMMIT")
                return job_id, True
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def in_progress(self) -> int:
        """How many jobs are IN_PROGRESS (queued or running)."""
        with self._lock:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status=?", (IN_PROGRESS,)
            ).fetchone()
            return int(n)

    def get(self, job_id: str, api: str) -> Job:
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, api, status, message, created, finished, request, metadata "
                "FROM jobs WHERE job_id=? AND api=?",
                (job_id, api),
            ).fetchone()
        if row is None:
            raise ResourceNotFound(f"No {api} job with JobId {job_id}")
        return Job(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            json.loads(row[6]),
            json.loads(row[7]) if row[7] else None,
        )

    def set_metadata(self, job_id: str, metadata: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET metadata=? WHERE job_id=?", (json.dumps(metadata), job_id)
            )

    def add(self, job_id: str, kind: str, first_seq: int, rows: Iterable[Row]) -> int:
        """Append rows of `kind` numbered from `first_seq`; return the next number."""
        batch = [
            (job_id, kind, first_seq + i, r.ts, r.idx, r.name, json.dumps(r.body))
            for i, r in enumerate(rows)
        ]
        with self._lock:
            self._db.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
        return first_seq + len(batch)

    def set_matches(
        self, job_id: str, matches: dict[int, list[dict[str, Any]]], names: dict[int, str]
    ) -> None:
        """Per person index: what it matched, and the name its rows sort by."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO matches VALUES (?, ?, ?)",
                [(job_id, idx, json.dumps(m)) for idx, m in matches.items()],
            )
            self._db.executemany(
                "UPDATE results SET name=? WHERE job_id=? AND idx=?",
                [(name, job_id, idx) for idx, name in names.items()],
            )

    def finish(self, job_id: str, status: str, message: str | None = None) -> bool:
        """Mark a job done; False when it was not in progress any more."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status=?, message=?, finished=? WHERE job_id=? AND status=?",
                (status, message, time.time(), job_id, IN_PROGRESS),
            )
        return cur.rowcount == 1

    def page(
        self, job_id: str, kind: str, sort: str, offset: int, limit: int, matched: bool = False
    ) -> list[tuple[Row, list[dict[str, Any]] | None]]:
        """Rows `offset` to `offset + limit` in `sort` order, each with its person's face
        matches; with `matched`, only the rows of persons that have matches."""
        where = "r.job_id=? AND r.kind=?" + (" AND m.body IS NOT NULL" if matched else "")
        order = ", ".join(f"r.{c.strip()}" for c in ORDERS[sort].split(","))
        with self._lock:
            rows = self._db.execute(
                "SELECT r.ts, r.idx, r.name, r.body, m.body FROM results r LEFT JOIN matches m "
                f"ON m.job_id=r.job_id AND m.idx=r.idx WHERE {where} ORDER BY {order} "
                "LIMIT ? OFFSET ?",
                (job_id, kind, limit, offset),
            ).fetchall()
        return [
            (Row(ts, idx, name, json.loads(body)), json.loads(m) if m else None)
            for ts, idx, name, body, m in rows
        ]

    def expire(self, before: float) -> int:
        """Delete the jobs that finished before `before`, with their results."""
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT job_id FROM jobs WHERE status != ? AND finished < ?",
                    (IN_PROGRESS, before),
                )
            ]
            for job_id in ids:
                self._db.execute("DELETE FROM results WHERE job_id=?", (job_id,))
                self._db.execute("DELETE FROM matches WHERE job_id=?", (job_id,))
                self._db.execute("DELETE FROM jobs WHERE job_id=?", (job_id,))
        return len(ids)

    def close(self) -> None:
        with self._lock:
            self._db.close()
