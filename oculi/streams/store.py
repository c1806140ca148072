"""Stream processors: in their own SQLite file (`<data-dir>/streams/processors.sqlite3`,
beside the stored-video jobs' `<data-dir>/video/jobs.sqlite3`) on one machine, or in the
PostgreSQL database of the queue when `oculi worker` processes run the sessions
(oculi/streams/queue.py); one SQL code path (oculi/store/sql.py). Never a path made from a
caller's string.

A processor is STOPPED from its creation; a Start moves it to STARTING (with its session),
the runtime to RUNNING once frames arrive, a Stop to STOPPING and the runtime to STOPPED;
a session that cannot go on ends FAILED with a StatusMessage. Every change is one
transaction that checks the status it changes from, committed before the call that made it
answers, so an acknowledged change survives a crash. On one machine, opening the runtime
finishes the stops a stopped server left half done (`finish_stops`: STOPPING -> STOPPED);
STARTING and RUNNING processors are left as they are, for the runtime to run again.

A run of a session first `claim`s its processor: the processor's attempt number goes up by
one (a Start moves it up too). Every status a run writes names its attempt and is refused
once another run (or a new Start) has moved it on, and the run checks `owner` as it goes:
a session whose worker was thought lost, and whose processor another worker took, stops
itself instead of running twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oculi.errors import LimitExceeded, ResourceInUse, ResourceNotFound, ServiceQuotaExceeded
from oculi.store.sql import SqliteBackend, Tx, open_backend, retrying

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
    created {real} NOT NULL,
    updated {real} NOT NULL,
    request TEXT NOT NULL,
    session TEXT,
    tags TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
"""
_COLUMNS = "name, status, message, created, updated, request, session, tags"


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


def _processor(row: Any) -> Processor:
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


def _in(values: tuple[str, ...]) -> str:
    return f"({', '.join('?' * len(values))})"


def _row(db: Tx, name: str) -> Any:
    return db.execute(f"SELECT {_COLUMNS} FROM processors WHERE name=?", (name,)).fetchone()


class ProcessorStore:
    def __init__(self, location: Path | str) -> None:
        self._backend = open_backend(location)
        self._backend.create_schema(_SCHEMA.format(**self._backend.types))
        if isinstance(self._backend, SqliteBackend):  # a processor file of the first release
            with self._backend.read() as db:
                columns = [c[1] for c in db.execute("PRAGMA table_info(processors)").fetchall()]
            if "attempts" not in columns:
                self._write(
                    lambda db: db.execute(
                        "ALTER TABLE processors ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"
                    )
                )

    def _write(self, fn: Callable[[Tx], Any]) -> Any:
        return retrying(self._backend, fn)

    def finish_stops(self) -> None:
        """STOPPING -> STOPPED: the stops of a stopped server (one machine only: with
        workers, the worker that runs a session finishes its stop)."""
        self._write(
            lambda db: db.execute(
                "UPDATE processors SET status=?, updated=? WHERE status=?",
                (STOPPED, time.time(), STOPPING),
            )
        )

    def create(self, name: str, request: dict[str, Any], tags: dict[str, str], limit: int) -> None:
        """A new STOPPED processor; ResourceInUseException when the name is taken,
        LimitExceededException when `limit` processors exist."""
        now = time.time()

        def create(db: Tx) -> None:
            if _row(db, name) is not None:
                raise ResourceInUse(f"A stream processor named {name} already exists")
            (count,) = db.execute("SELECT COUNT(*) FROM processors").fetchone() or (0,)
            if count >= limit:
                raise LimitExceeded(
                    f"{count} stream processors exist; the limit is {limit} "
                    "(OCULI_STREAM_PROCESSOR_LIMIT): delete one first"
                )
            db.execute(
                f"INSERT INTO processors ({_COLUMNS}) VALUES (?, ?, NULL, ?, ?, ?, NULL, ?)",
                (name, STOPPED, now, now, json.dumps(request), json.dumps(tags)),
            )

        self._write(create)

    def get(self, name: str) -> Processor:
        with self._backend.read() as db:
            row = _row(db, name)
        if row is None:
            raise _missing(name)
        return _processor(row)

    def list(self, after: str, limit: int) -> list[Processor]:
        """Up to `limit` processors whose names sort after `after`, in name order."""
        with self._backend.read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM processors WHERE name > ? ORDER BY name LIMIT ?",
                (after, limit),
            ).fetchall()
        return [_processor(r) for r in rows]

    def active(self) -> list[Processor]:
        """The processors that should be running (STARTING or RUNNING)."""
        with self._backend.read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM processors WHERE status IN {_in(ACTIVE)}", ACTIVE
            ).fetchall()
        return [_processor(r) for r in rows]

    def _change(
        self,
        name: str,
        allowed: tuple[str, ...],
        sets: dict[str, Any],
        refusal: str,
        attempt: int | None = None,
        then: Callable[[Tx], None] | None = None,
        bump: bool = False,
    ) -> bool:
        """Set `sets` on processor `name` if its status is one of `allowed` (and, when
        given, its attempt is `attempt`; with `bump`, moving the attempt on), then run
        `then` in the same transaction;
        otherwise ResourceInUseException with `refusal` (ResourceNotFoundException if it
        is not there)."""
        sets = {**sets, "updated": time.time()}
        cols = ", ".join(f"{k}=?" for k in sets) + (", attempts=attempts+1" if bump else "")
        where = f"name=? AND status IN {_in(allowed)}"
        args: tuple[Any, ...] = (*sets.values(), name, *allowed)
        if attempt is not None:
            where, args = where + " AND attempts=?", (*args, attempt)

        def change(db: Tx) -> str | None:
            cur = db.execute(f"UPDATE processors SET {cols} WHERE {where}", args)
            if cur.rowcount == 1:
                if then is not None:
                    then(db)
                return None
            row = _row(db, name)
            if row is None:
                raise _missing(name)
            return str(row[1])

        status: str | None = self._write(change)
        if status is None:
            return True
        raise ResourceInUse(refusal.format(name=name, status=status))

    def start(
        self, name: str, session: dict[str, Any], enqueue: Callable[[Tx, str], None] | None = None
    ) -> None:
        """STARTING with `session`; `enqueue(tx, name)` runs in the same transaction, so
        that a start is queued if and only if it is recorded. Any run of an earlier session
        is superseded."""
        self._change(
            name,
            IDLE,
            {
                "status": STARTING,
                "message": None,
                "session": json.dumps(session),
            },
            "Stream processor {name} is {status}; only a STOPPED or FAILED one can start",
            then=(lambda db: enqueue(db, name)) if enqueue is not None else None,
            bump=True,
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
        def delete(db: Tx) -> str | None:
            cur = db.execute(
                f"DELETE FROM processors WHERE name=? AND status IN {_in(IDLE)}", (name, *IDLE)
            )
            if cur.rowcount == 1:
                return None
            row = _row(db, name)
            if row is None:
                raise _missing(name)
            return str(row[1])

        status: str | None = self._write(delete)
        if status is not None:
            raise ResourceInUse(f"Stream processor {name} is {status}; stop it before deleting it")

    def claim(self, name: str) -> tuple[int, Processor] | None:
        """Begin a run of the processor's session: its new attempt number and the processor.
        None when there is nothing to run: it is gone, stopped, or was being stopped (then
        it is STOPPED now)."""

        def claim(db: Tx) -> tuple[int, Processor] | None:
            found = db.execute(
                "SELECT status, attempts FROM processors WHERE name=?", (name,)
            ).fetchone()
            if found is None:
                return None
            now = time.time()
            if found[0] == STOPPING:
                db.execute(
                    "UPDATE processors SET status=?, updated=? WHERE name=?", (STOPPED, now, name)
                )
                return None
            if found[0] not in ACTIVE:
                return None
            attempt = int(found[1]) + 1
            db.execute("UPDATE processors SET attempts=? WHERE name=?", (attempt, name))
            return attempt, _processor(_row(db, name))

        claimed: tuple[int, Processor] | None = self._write(claim)
        return claimed

    def owner(self, name: str, attempt: int) -> str | None:
        """The processor's status if run `attempt` still owns its session, else None."""
        with self._backend.read() as db:
            row = db.execute(
                "SELECT status, attempts FROM processors WHERE name=?", (name,)
            ).fetchone()
        return str(row[0]) if row is not None and row[1] == attempt else None

    def set_status(
        self,
        name: str,
        status: str,
        message: str | None,
        only_from: tuple[str, ...],
        attempt: int | None = None,
    ) -> bool:
        """The runtime's changes (RUNNING, STARTING while reconnecting, STOPPED, FAILED),
        made only from `only_from` (and by run `attempt`, when given): a session never
        overwrites a Stop or a newer Start. False when the processor was not in one of them
        (or is gone)."""
        try:
            return self._change(
                name, only_from, {"status": status, "message": message}, "", attempt
            )
        except (ResourceInUse, ResourceNotFound):
            return False

    def _tags(self, name: str, change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        def update(db: Tx) -> None:
            row = _row(db, name)
            if row is None:
                raise _missing(name)
            tags = change(json.loads(row[7]))
            db.execute("UPDATE processors SET tags=? WHERE name=?", (json.dumps(tags), name))

        self._write(update)

    def tag(self, name: str, tags: dict[str, str], limit: int) -> None:
        def merge(old: dict[str, str]) -> dict[str, str]:
            merged = {**old, **tags}
            if len(merged) > limit:
                raise ServiceQuotaExceeded(
                    f"Stream processor {name} would hold more than {limit} tags; remove some first"
                )
            return merged

        self._tags(name, merge)

    def untag(self, name: str, keys: list[str]) -> None:
        self._tags(name, lambda old: {k: v for k, v in old.items() if k not in keys})

    def close(self) -> None:
        self._backend.close()
