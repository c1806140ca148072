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

Stream processors use the same engine: a Start defers RUN_PROCESSOR on queue STREAMS in
the transaction that records it, and each worker runs up to `sessions` of them at once,
each a long-running task (`StreamProcessors.run_queued`, oculi/streams/runtime.py),
beside its one video job. A stalled worker's sessions go back to the queue as its video
jobs do; a worker that is stopped (SIGINT, SIGTERM) ends its sessions at once and hands
them back to the queue for another worker, instead of waiting for them to end.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

import procrastinate
import psycopg
from procrastinate.exceptions import ConnectorException
from procrastinate.schema import SchemaManager

from oculi.store.sql import Tx
from oculi.video.store import MAX_ATTEMPTS

log = logging.getLogger("oculi.video.queue")

QUEUE = "video"
RUN_JOB = "oculi.video.run_job"
STREAMS = "streams"
RUN_PROCESSOR = "oculi.streams.run_processor"
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
        self._defer(tx, RUN_JOB, QUEUE, {"job_id": job_id})

    def enqueue_processor(self, tx: Tx, name: str) -> None:
        """Defer a session of stream processor `name` (committed with its Start)."""
        self._defer(tx, RUN_PROCESSOR, STREAMS, {"name": name})

    def _defer(self, tx: Tx, task_name: str, queue: str, args: dict[str, Any]) -> None:
        task = self._app.configure_task(task_name, queue=queue, connection=tx.connection)
        try:
            task.defer(**args)
        except ConnectorException as e:  # the engine's error, so that a conflict is retried
            if isinstance(e.__cause__, psycopg.Error):
                raise e.__cause__ from None
            raise


def run_worker(
    url: str,
    run: Callable[[str], None],
    heartbeat_s: float,
    run_processor: Callable[[str, Callable[[], bool]], bool] | None = None,
    sessions: int = 1,
) -> None:
    """Run RUN_JOB tasks from QUEUE with `run(job_id)`, one at a time, and, with
    `run_processor`, up to `sessions` RUN_PROCESSOR tasks from STREAMS at once with
    `run_processor(name, stopping)` (True when it ended because `stopping()` did: the
    worker stops, and the session goes back to the queue), until SIGINT or SIGTERM
    (procrastinate lets the video job in progress finish)."""
    install_schema(url)
    app = _app(url)

    # a run that raised (the job store unreachable: run_job itself FAILs a job whose video
    # or analysis fails) is run again 10 s, 20 s, ... later; procrastinate counts the
    # hand-backs of stalled tasks too, so it tries more times than a job may be claimed
    retry = procrastinate.RetryStrategy(max_attempts=2 * MAX_ATTEMPTS, wait=10, linear_wait=10)

    @app.task(name=RUN_JOB, queue=QUEUE, retry=retry)
    def run_job(job_id: str) -> None:
        run(job_id)

    # a session runs until its processor stops: handed back (a stopped worker) or cut
    # off (the store unreachable), it is run again a second later, for as long as it is
    # active (a stopped processor's task ends at once)
    @app.task(
        name=RUN_PROCESSOR,
        queue=STREAMS,
        retry=procrastinate.RetryStrategy(wait=1),
        pass_context=True,
    )
    def run_session(context: procrastinate.JobContext, name: str) -> None:
        assert run_processor is not None
        if run_processor(name, context.should_abort):
            raise procrastinate.exceptions.JobAborted()

    def lane(queue: str, concurrency: int, shutdown_s: float | None) -> Any:
        return app.run_worker_async(
            queues=[queue],
            concurrency=concurrency,
            name=f"oculi-worker-{queue}",
            update_heartbeat_interval=heartbeat_s,
            stalled_worker_timeout=STALLED_HEARTBEATS * heartbeat_s,
            fetch_job_polling_interval=heartbeat_s,
            abort_job_polling_interval=heartbeat_s,
            shutdown_graceful_timeout=shutdown_s,
            install_signal_handlers=False,
            delete_jobs="always",
        )

    async def work() -> None:
        async with app.open_async():
            lanes = [asyncio.create_task(lane(QUEUE, 1, None))]
            if run_processor is not None:
                lanes.append(asyncio.create_task(lane(STREAMS, max(1, sessions), 0)))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: [t.cancel() for t in lanes])
            retrier = asyncio.create_task(_retry_stalled(app, heartbeat_s))
            try:
                # both run until a signal cancels them; one that fails stops the other
                done, _ = await asyncio.wait(lanes, return_when=asyncio.FIRST_COMPLETED)
                for task in lanes:
                    task.cancel()
                await asyncio.gather(*lanes, return_exceptions=True)
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            finally:
                retrier.cancel()

    asyncio.run(work())


async def _retry_stalled(app: procrastinate.App, heartbeat_s: float) -> None:
    """Hand the tasks of workers that stopped sending heartbeats back to the queue."""
    while True:
        await asyncio.sleep(heartbeat_s)
        try:
            stalled = [
                job
                for queue in (QUEUE, STREAMS)
                for job in await app.job_manager.get_stalled_jobs(
                    queue=queue, seconds_since_heartbeat=STALLED_HEARTBEATS * heartbeat_s
                )
            ]
            for job in stalled:
                log.warning("task %s of a stopped worker goes back to the queue", job.id)
                await app.job_manager.retry_job(job)
        except Exception:  # noqa: BLE001 - another worker retried it first; next round
            log.exception("could not hand back the tasks of stopped workers")
