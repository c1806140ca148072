"""`oculi worker`: runs stored-video jobs that `oculi serve` processes queued, and the
sessions of their stream processors, on this or another machine (docs/scale-out.md). Jobs,
their results, the processors and the queue are in the PostgreSQL database of
`--queue-url`, which every server and worker reaches; each run copies its video from S3
into this worker's own data directory, and each session's events go to this worker's own
event log (and its outputs)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable


def _cmd_worker(args: argparse.Namespace) -> int:
    from oculi.audit_key import AuditError
    from oculi.cli import _load_models, _lock, _settings
    from oculi.service.context import ServiceContext
    from oculi.video.jobs import is_queue_url, work_dir
    from oculi.video.queue import run_worker
    from oculi.video.runner import run_job
    from oculi.video.store import JobStore

    s = _settings(args)
    if not is_queue_url(s.queue_url):
        print("error: give --queue-url (or OCULI_QUEUE_URL): postgresql://...", file=sys.stderr)
        return 2
    if not _lock(s.data_dir):
        return 2
    ctx = ServiceContext(s)
    try:
        ctx.audit()  # face-search jobs audit their matches here
    except AuditError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not _load_models(ctx):
        return 1
    assert s.queue_url is not None
    store = JobStore(s.queue_url)
    work = work_dir(s.data_dir)
    from oculi.streams.mqtt import UnsupportedOutput

    try:
        processors = ctx.stream_processors()
    except UnsupportedOutput as e:
        print(f"error: --stream-mqtt: {e}", file=sys.stderr)
        return 2
    print(f"oculi worker: jobs from the queue (data {s.data_dir})", file=sys.stderr, flush=True)
    try:
        run_worker(
            s.queue_url,
            lambda job_id: run_job(ctx, store, work, job_id),
            s.queue_heartbeat_s,
            processors.run_queued,
            args.sessions,
        )
    finally:
        store.close()
        ctx.close()
    return 0


def register(
    sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the `worker` command to the `oculi` parser."""
    wp = sub.add_parser("worker", help="run queued stored-video jobs (docs/scale-out.md)")
    wp.add_argument(
        "--queue-url", help="the servers' queue: postgresql://... (env OCULI_QUEUE_URL)"
    )
    wp.add_argument("--data-dir", help="this worker's own data directory (audit log, copies)")
    wp.add_argument("--store-url", help="the servers' face store (env OCULI_STORE_URL)")
    wp.add_argument("--qdrant", help="the servers' vector engine (env OCULI_QDRANT)")
    wp.add_argument("--audit-key-file", help="the audit log's MAC key (env OCULI_AUDIT_KEY_FILE)")
    wp.add_argument(
        "--lazy-models", action="store_true", default=None, help="load models on first use"
    )
    wp.add_argument(
        "--sessions",
        type=int,
        default=int(os.environ.get("OCULI_WORKER_SESSIONS", "4")),
        help="stream-processor sessions run at once (env OCULI_WORKER_SESSIONS; default 4)",
    )
    common(wp)
    wp.set_defaults(func=_cmd_worker)
