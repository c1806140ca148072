"""Stored-video jobs and their results: in their own SQLite file (`<data-dir>/video/
jobs.sqlite3`) on one machine, or in PostgreSQL when jobs go through the queue to `oculi
worker` processes (oculi/video/queue.py); one SQL code path (oculi/store/sql.py). Never a
path made from a caller's string.

A job is IN_PROGRESS from its Start until it SUCCEEDED or FAILED. Results are rows of JSON
kept in the order they were found (`seq`) with the keys a Get sorts by (timestamp, person
index, label name), so pages are stable.

A run of a job first `claim`s it: the job's attempt number goes up by one and whatever an
earlier, interrupted run wrote is deleted, in one transaction. Every later write of that
run names its attempt and is refused (`Superseded`) once another run has claimed the job,
so a job run again after a crash or a lost worker has its results exactly once, whatever
the run it replaced still does. A job claimed MAX_ATTEMPTS times without finishing FAILs
(a video that kills whatever analyses it is not run for ever). `expire` deletes finished
jobs and their results once they are older than the configured expiry.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oculi.errors import IdempotentParameterMismatch, LimitExceeded, ResourceNotFound
from oculi.store.sql import SqliteBackend, Tx, open_backend, retrying

IN_PROGRESS, SUCCEEDED, FAILED = "IN_PROGRESS", "SUCCEEDED", "FAILED"
MAX_ATTEMPTS = 3  # runs of one job that were interrupted before it FAILs
GAVE_UP = 0  # JobStore.claim's answer for a job it FAILed after MAX_ATTEMPTS runs
INTERRUPTED = (
    f"the job was interrupted {MAX_ATTEMPTS} times (oculi or its worker stopped while it "
    "ran); start it again"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    api TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created {real} NOT NULL,
    finished {real},
    token TEXT,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    metadata TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
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


class Superseded(Exception):
    """The job is not this run's any more: another run claimed it, or it finished."""


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


def _delete_results(db: Tx, job_id: str) -> None:
    db.execute("DELETE FROM results WHERE job_id=?", (job_id,))
    db.execute("DELETE FROM matches WHERE job_id=?", (job_id,))


def _own(db: Tx, job_id: str, attempt: int) -> None:
    """Superseded unless the job is in progress under this attempt."""
    row = db.execute("SELECT status, attempts FROM jobs WHERE job_id=?", (job_id,)).fetchone()
    if row is None or (row[0], row[1]) != (IN_PROGRESS, attempt):
        raise Superseded(job_id)


class JobStore:
    def __init__(self, location: Path | str) -> None:
        self._backend = open_backend(location)
        self._backend.create_schema(_SCHEMA.format(**self._backend.types))
        if isinstance(self._backend, SqliteBackend):  # a job file of the first release
            with self._backend.read() as db:
                columns = [c[1] for c in db.execute("PRAGMA table_info(jobs)").fetchall()]
            if "attempts" not in columns:
                self._write(
                    lambda db: db.execute(
                        "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"
                    )
                )

    def _write(self, fn: Callable[[Tx], Any]) -> Any:
        return retrying(self._backend, fn)

    def find(self, api: str, token: str, fingerprint: str) -> str | None:
        """The job a ClientRequestToken started, if any (IdempotentParameterMismatchException
        when it was started with other parameters)."""
        with self._backend.read() as db:
            row = db.execute(
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
        enqueue: Callable[[Tx, str], None] | None = None,
    ) -> tuple[str, bool]:
        """A new IN_PROGRESS job's id, and True; or, for a ClientRequestToken already used
        with the same parameters, that job's id and False (different parameters:
        IdempotentParameterMismatchException). LimitExceededException when `limit` jobs
        are in progress. `enqueue(tx, job_id)` runs in the transaction that records a new
        job, so that a job is queued if and only if it is recorded."""

        def create(db: Tx) -> tuple[str, bool]:
            if token is not None:
                row = db.execute(
                    "SELECT job_id, fingerprint FROM jobs WHERE api=? AND token=?", (api, token)
                ).fetchone()
                if row is not None:
                    if row[1] != fingerprint:
                        raise IdempotentParameterMismatch(
                            "ClientRequestToken was used before with other parameters"
                        )
                    return str(row[0]), False
            (running,) = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status=?", (IN_PROGRESS,)
            ).fetchone() or (0,)
            if running >= limit:
                raise LimitExceeded(
                    f"{running} video jobs are in progress; the limit is {limit} "
                    "(OCULI_VIDEO_JOB_LIMIT)"
                )
            job_id = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex characters, as AWS's
            db.execute(
                "INSERT INTO jobs (job_id, api, status, created, token, fingerprint, request)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, api, IN_PROGRESS, time.time(), token, fingerprint, json.dumps(request)),
            )
            if enqueue is not None:
                enqueue(db, job_id)
            return job_id, True

        result: tuple[str, bool] = self._write(create)
        return result

    def get(self, job_id: str, api: str | None = None) -> Job:
        """The job (of operation `api`, when given); ResourceNotFoundException if none."""
        with self._backend.read() as db:
            row = db.execute(
                "SELECT job_id, api, status, message, created, finished, request, metadata "
                "FROM jobs WHERE job_id=?",
                (job_id,),
            ).fetchone()
        if row is None or (api is not None and row[1] != api):
            raise ResourceNotFound(f"No {api or 'video'} job with JobId {job_id}")
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

    def in_progress(self) -> list[str]:
        """The jobs in progress, oldest first."""
        with self._backend.read() as db:
            rows = db.execute(
                "SELECT job_id FROM jobs WHERE status=? ORDER BY created", (IN_PROGRESS,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def claim(self, job_id: str) -> int | None:
        """Start a run of an IN_PROGRESS job: its attempt number (1, 2, ...), with the
        results of any earlier run deleted. GAVE_UP when the job had been claimed
        MAX_ATTEMPTS times already: it is now FAILED. None when it is not in progress (it
        finished, or expired)."""

        def claim(db: Tx) -> int | None:
            found = db.execute(
                "SELECT status, attempts FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if found is None or found[0] != IN_PROGRESS:
                return None
            _delete_results(db, job_id)
            if found[1] >= MAX_ATTEMPTS:
                db.execute(
                    "UPDATE jobs SET status=?, message=?, finished=?, metadata=NULL WHERE job_id=?",
                    (FAILED, INTERRUPTED, time.time(), job_id),
                )
                return GAVE_UP
            db.execute(
                "UPDATE jobs SET attempts=?, metadata=NULL WHERE job_id=?", (found[1] + 1, job_id)
            )
            return int(found[1]) + 1

        attempt: int | None = self._write(claim)
        if attempt is not None and attempt != 1:
            self._backend.scrub()  # an earlier run's rows were deleted
        return attempt

    def set_metadata(self, job_id: str, attempt: int, metadata: dict[str, Any]) -> None:
        def update(db: Tx) -> None:
            _own(db, job_id, attempt)
            db.execute("UPDATE jobs SET metadata=? WHERE job_id=?", (json.dumps(metadata), job_id))

        self._write(update)

    def add(self, job_id: str, attempt: int, kind: str, first_seq: int, rows: Iterable[Row]) -> int:
        """Append rows of `kind` numbered from `first_seq`; return the next number."""
        batch = [
            (job_id, kind, first_seq + i, r.ts, r.idx, r.name, json.dumps(r.body))
            for i, r in enumerate(rows)
        ]

        def add(db: Tx) -> None:
            _own(db, job_id, attempt)
            db.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", batch)

        self._write(add)
        return first_seq + len(batch)

    def set_matches(
        self,
        job_id: str,
        attempt: int,
        matches: dict[int, list[dict[str, Any]]],
        names: dict[int, str],
    ) -> None:
        """Per person index: what it matched, and the name its rows sort by."""

        def update(db: Tx) -> None:
            _own(db, job_id, attempt)
            db.executemany(
                "INSERT INTO matches VALUES (?, ?, ?) "
                "ON CONFLICT (job_id, idx) DO UPDATE SET body=excluded.body",
                [(job_id, idx, json.dumps(m)) for idx, m in matches.items()],
            )
            db.executemany(
                "UPDATE results SET name=? WHERE job_id=? AND idx=?",
                [(name, job_id, idx) for idx, name in names.items()],
            )

        self._write(update)

    def finish(self, job_id: str, attempt: int, status: str, message: str | None = None) -> bool:
        """Mark a job done by its run `attempt`; False when it was not in progress under
        that attempt any more."""

        def finish(db: Tx) -> bool:
            cur = db.execute(
                "UPDATE jobs SET status=?, message=?, finished=? "
                "WHERE job_id=? AND status=? AND attempts=?",
                (status, message, time.time(), job_id, IN_PROGRESS, attempt),
            )
            return cur.rowcount == 1

        done: bool = self._write(finish)
        return done

    def page(
        self, job_id: str, kind: str, sort: str, offset: int, limit: int, matched: bool = False
    ) -> list[tuple[Row, list[dict[str, Any]] | None]]:
        """Rows `offset` to `offset + limit` in `sort` order, each with its person's face
        matches; with `matched`, only the rows of persons that have matches."""
        where = "r.job_id=? AND r.kind=?" + (" AND m.body IS NOT NULL" if matched else "")
        order = ", ".join(f"r.{c.strip()}" for c in ORDERS[sort].split(","))
        with self._backend.read() as db:
            rows = db.execute(
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
        """Delete the jobs that finished before `before`, with their results; how many."""

        def expire(db: Tx) -> list[str]:
            ids = [
                str(r[0])
                for r in db.execute(
                    "SELECT job_id FROM jobs WHERE status != ? AND finished < ?",
                    (IN_PROGRESS, before),
                ).fetchall()
            ]
            for job_id in ids:
                _delete_results(db, job_id)
                db.execute("DELETE FROM jobs WHERE job_id=?", (job_id,))
            return ids

        ids: list[str] = self._write(expire)
        if ids:
            self._backend.scrub()  # SQLite: no copy of the deleted rows left in the WAL
        return len(ids)

    def close(self) -> None:
        self._backend.close()
