"""Stream processors, in their own SQLite file (`<data-dir>/streams/processors.sqlite3`,
beside the stored-video jobs' `<data-dir>/video/jobs.sqlite3`): never a path made from a
caller's string.

A processor is STOPPED from its creation; a Start moves it to STARTING (with its session),
the runtime to RUNNING once frames arrive, a Stop to STOPPING and the runtime to STOPPED;
a session that cannot go on ends FAILED with a StatusMessage. Every change is one
transaction that checks the status it changes from, committed with `synchronous=FULL`
before the call that made it answers, so an acknowledged change survives a crash. Opening
the store finishes the stops a stopped server left half done (STOPPING -> STOPPED);
STARTING and RUNNING processors are left as they are, for the runtime to run again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oculi.errors import LimitExceeded, ResourceInUse, ResourceNotFound, ServiceQuotaExceeded

# Rekognition's statuses but UPDATING: an update is one transaction, never seen in progress
STOPPED, STARTING, RUNNING = "STOPPED", "STARTING", "RUNNING"
FAILED, STOPPING = "FAILED", "STOPPING"
ACTIVE = (STARTING, RUNNING)  # what runs again after a restart
IDLE = (STOPPED, FAILED)  # what may be started, updated or deleted

_SCHEMA = """
CREATE TABLE IF NOT EXISTS processors (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    message TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    request TEXT NOT NULL,
    session TEXT,
    tags TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Processor:
    name: str
    status: str
    message: str | None
    created: float
    updated: float
    request: dict[str, Any]  # CreateStreamProcessor's parameters, bar Tags, as updated
    session: dict[str, Any] | None  # the last Start's: SessionId, selectors, started, stop_at
    tags: dict[str, str]


def _processor(row: tuple[Any, ...]) -> Processor:
    name, status, message, created, updated, request, session, tags = row
    return Processor(
        name,
        status,
        message,
        created,
        updated,
        json.loads(request),
        json.loads(session) if session else None,
        json.loads(tags),
    )


def _missing(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Stream processor {name} does not exist")


class ProcessorStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "UPDATE processors SET status=?, updated=? WHERE status=?",
                (STOPPED, time.time(), STOPPING),
            )

    def _row(self, name: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._db.execute(
            "SELECT name, status, message, created, updated, request, session, tags "
            "FROM processors WHERE name=?",
            (name,),
        ).fetchone()
        return row

    def create(self, name: str, request: dict[str, Any], tags: dict[str, str], limit: int) -> None:
        """A new STOPPED processor; ResourceInUseException when the name is taken,
        LimitExceededException when `limit` processors exist."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._row(name) is not None:
                    raise ResourceInUse(f"A stream processor named {name} already exists")
                (count,) = self._db.execute("SELECT COUNT(*) FROM processors").fetchone()
                if count >= limit:
                    raise LimitExceeded(
                        f"{count} stream processors exist; the limit is {limit} "
                        "(OCULI_STREAM_PROCESSOR_LIMIT): delete one first"
                    )
                self._db.execute(
                    "INSERT INTO processors VALUES (?, ?, NULL, ?, ?, ?, NULL, ?)",
                    (name, STOPPED, now, now, json.dumps(request), json.dumps(tags)),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get(self, name: str) -> Processor:
        with self._lock:
            row = self._row(name)
        if row is None:
            raise _missing(name)
        return _processor(row)

    def list(self, after: str, limit: int) -> list[Processor]:
        """Up to `limit` processors whose names sort after `after`, in name order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, status, message, created, updated, request, session, tags "
                "FROM processors WHERE name > ? ORDER BY name LIMIT ?",
                (after, limit),
            ).fetchall()
        return [_processor(r) for r in rows]

    def active(self) -> list[Processor]:
        """The processors a server should be running (STARTING or RUNNING)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, status, message, created, updated, request, session, tags "
                f"FROM processors WHERE status IN ({', '.join('?' * len(ACTIVE))})",
                ACTIVE,
            ).fetchall()
        return [_processor(r) for r in rows]

    def _change(
        self,
        name: str,
        allowed: tuple[str, ...],
        sets: dict[str, Any],
        refusal: str,
    ) -> bool:
        """Set `sets` on processor `name` if its status is one of `allowed`; otherwise
        ResourceInUseException with `refusal` (ResourceNotFoundException if it is not there).
        """
        sets = {**sets, "updated": time.time()}
        cols = ", ".join(f"{k}=?" for k in sets)
        with self._lock:
            cur = self._db.execute(
                f"UPDATE processors SET {cols} WHERE name=? "
                f"AND status IN ({', '.join('?' * len(allowed))})",
                (*sets.values(), name, *allowed),
            )
            if cur.rowcount == 1:
                return True
            row = self._row(name)
        if row is None:
            raise _missing(name)
        raise ResourceInUse(refusal.format(name=name, status=row[1]))

    def start(self, name: str, session: dict[str, Any]) -> None:
        self._change(
            name,
            IDLE,
            {"status": STARTING, "message": None, "session": json.dumps(session)},
            "Stream processor {name} is {status}; only a STOPPED or FAILED one can start",
        )

    def stop(self, name: str) -> None:
        self._change(
            name,
            ACTIVE,
            {"status": STOPPING, "message": None},
            "Stream processor {name} is {status}; only a STARTING or RUNNING one can stop",
        )

    def update(self, name: str, request: dict[str, Any]) -> None:
        self._change(
            name,
            IDLE,
            {"request": json.dumps(request)},
            "Stream processor {name} is {status}; stop it before updating it",
        )

    def delete(self, name: str) -> None:
        with self._lock:
            cur = self._db.execute(
                f"DELETE FROM processors WHERE name=? AND status IN ({', '.join('?' * len(IDLE))})",
                (name, *IDLE),
            )
            if cur.rowcount == 1:
                return
            row = self._row(name)
        if row is None:
            raise _missing(name)
        raise ResourceInUse(f"Stream processor {name} is {row[1]}; stop it before deleting it")

    def set_status(
        self, name: str, status: str, message: str | None, only_from: tuple[str, ...]
    ) -> bool:
        """The runtime's changes (RUNNING, STARTING while reconnecting, STOPPED, FAILED),
        made only from `only_from`: a session never overwrites a Stop or a newer Start.
        False when the processor was not in one of them (or is gone)."""
        try:
            return self._change(name, only_from, {"status": status, "message": message}, "")
        except (ResourceInUse, ResourceNotFound):
            return False

    def tag(self, name: str, tags: dict[str, str], limit: int) -> None:
        with self._lock:
            row = self._row(name)
            if row is None:
                raise _missing(name)
            merged = {**json.loads(row[7]), **tags}
            if len(merged) > limit:
                raise ServiceQuotaExceeded(
                    f"Stream processor {name} would hold more than {limit} tags; remove some first"
                )
            self._db.execute(
                "UPDATE processors SET tags=? WHERE name=?", (json.dumps(merged), name)
            )

    def untag(self, name: str, keys: list[str]) -> None:
        with self._lock:
            row = self._row(name)
            if row is None:
                raise _missing(name)
            kept = {k: v for k, v in json.loads(row[7]).items() if k not in keys}
            self._db.execute("UPDATE processors SET tags=? WHERE name=?", (json.dumps(kept), name))

    def close(self) -> None:
        with self._lock:
            self._db.close()
