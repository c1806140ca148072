"""Stored-video jobs through a distributed task queue: procrastinate (MIT), a task queue
kept in PostgreSQL, the database oculi's scale-out store already uses (docs/scale-out.md
says why this engine).

`oculi serve` with a queue URL records each job in the job store in that database and, in
the same transaction, defers procrastinate's task RUN_JOB for it on queue QUEUE: a job is
queued if and only if it is recorded. `oculi worker` processes run the tasks, one at a time
each; procrastinate hands a task to one worker (`SELECT ... FOR UPDATE SKIP LOCKED`), and
each worker records a heartbeat every `heartbeat_s` seconds. Every worker also looks, at
that interval, for tasks held by workers whose heartbeat is STALLED_HEARTBEATS intervals
old (killed, or cut off) and hands them back to the queue with procrastinate's own
`retry_job`; another worker runs the job again, and the job store's claim (attempt
numbers, oculi/video/store.py) makes sure its results are kept once.

Other long-running work (stream processors) can use the same engine: a task of its own on
a queue of its own (docs/scale-out.md, "Stream processors on workers").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import procrastinate
import psycopg
from procrastinate.exceptions import ConnectorException
from procrastinate.schema import SchemaManager

from oculi.store.sql import Tx
from oculi.video.store import MAX_ATTEMPTS

log = logging.getLogger("oculi.video.queue")

QUEUE = "video"
RUN_JOB = "oculi.video.run_job"
STALLED_HEARTBEATS = 3  # heartbeats a worker may miss before its tasks go to another
_SCHEMA_LOCK = 0x6F63756C6971  # pg_advisory_lock key: processes install the schema in turn
CONNECT_TIMEOUT_S = 30


def install_schema(url: str) -> None:
    """Create procrastinate's tables and functions in the database, unless they are there."""
    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            found = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if found is None or found[0] is None:
                conn.execute(SchemaManager.get_schema())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


def _app(url: str) -> procrastinate.App:
    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))


class VideoQueue:
    """The server's side: defers RUN_JOB inside the job store's transaction."""

    def __init__(self, url: str) -> None:
        install_schema(url)
        self._app = _app(url)

    def enqueue(self, tx: Tx, job_id: str) -> None:
        """Defer the job on the transaction's own connection (committed with the job)."""
        task = self._app.configure_task(RUN_JOB, queue=QUEUE, connection=tx.connection)
        try:
            task.defer(job_id=job_id)
        except ConnectorException as e:  # the engine's error, so that a conflict is retried
            if isinstance(e.__cause__, psycopg.Error):
                raise e.__cause__ from None
            raise


def run_worker(url: str, run: Callable[[str], None], heartbeat_s: float) -> None:
    """Run RUN_JOB tasks from QUEUE with `run(job_id)`, one at a time, until SIGINT or
    SIGTERM (procrastinate lets the task in progress finish)."""
    install_schema(url)
    app = _app(url)

    # a run that raised (the job store unreachable: run_job itself FAILs a job whose video
    # or analysis fails) is run again 10 s, 20 s, ... later; procrastinate counts the
    # hand-backs of stalled tasks too, so it tries more times than a job may be claimed
    retry = procrastinate.RetryStrategy(max_attempts=2 * MAX_ATTEMPTS, wait=10, linear_wait=10)

    @app.task(name=RUN_JOB, queue=QUEUE, retry=retry)
    def run_job(job_id: str) -> None:
        run(job_id)

    async def work() -> None:
        async with app.open_async():
            retrier = asyncio.create_task(_retry_stalled(app, heartbeat_s))
            try:
                await app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=1,
                    name="oculi-worker",
                    update_heartbeat_interval=heartbeat_s,
                    stalled_worker_timeout=STALLED_HEARTBEATS * heartbeat_s,
                    fetch_job_polling_interval=heartbeat_s,
                    delete_jobs="always",
                )
            finally:
                retrier.cancel()

    asyncio.run(work())


async def _retry_stalled(app: procrastinate.App, heartbeat_s: float) -> None:
    """Hand the tasks of workers that stopped sending heartbeats back to the queue."""
    while True:
        await asyncio.sleep(heartbeat_s)
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=STALLED_HEARTBEATS * heartbeat_s
            )
            for job in stalled:
                log.warning("task %s of a stopped worker goes back to the queue", job.id)
                await app.job_manager.retry_job(job)
        except Exception:  # noqa: BLE001 - another worker retried it first; next round
            log.exception("could not hand back the tasks of stopped workers")
