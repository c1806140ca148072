"""The stored-video jobs of `oculi serve`: Start* records a job and answers at once. On one
machine (the default) a bounded pool of threads inside the server runs the jobs
(`video_workers`), and jobs a stopped server left in progress are run again when it
starts. With a queue URL (`OCULI_QUEUE_URL`), the job store is in that PostgreSQL database
and each job is queued there, in the transaction that records it, for `oculi worker`
processes (oculi/video/queue.py). Finished jobs are deleted once older than
`video_results_ttl_s`."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oculi.service.context import ServiceContext
from oculi.video.runner import run_job
from oculi.video.source import check_video
from oculi.video.store import JobStore

if TYPE_CHECKING:
    from oculi.video.queue import VideoQueue

log = logging.getLogger("oculi.video")


def fingerprint(params: dict[str, Any]) -> str:
    """The Start request's parameters, bar ClientRequestToken, as a digest."""
    rest = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def is_queue_url(url: str | None) -> bool:
    """Whether `url` can be a queue: a PostgreSQL database."""
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def work_dir(data_dir: Path) -> Path:
    """Where runs copy their videos, emptied first: copies a stopped process left behind."""
    work = data_dir / "video" / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    return work


class VideoJobs:
    def __init__(self, ctx: ServiceContext) -> None:
        s = ctx.settings
        self.ctx = ctx
        self.work = work_dir(s.data_dir)
        self.queue: VideoQueue | None = None
        self.pool: ThreadPoolExecutor | None = None
        if s.queue_url:
            if not is_queue_url(s.queue_url):
                raise ValueError(f"the queue URL must be postgresql://..., not {s.queue_url!r}")
            from oculi.video.queue import VideoQueue  # procrastinate only when asked for

            self.queue = VideoQueue(s.queue_url)
            self.store = JobStore(s.queue_url)
        else:
            self.store = JobStore(s.data_dir / "video" / "jobs.sqlite3")
            self.pool = ThreadPoolExecutor(
                max(1, s.video_workers), thread_name_prefix="oculi-video"
            )
            for job_id in self.store.in_progress():  # a stopped server's jobs, run again
                self.pool.submit(self._run, job_id)
        self.expire()
        self._stop = threading.Event()
        threading.Thread(target=self._sweep, name="oculi-video-expiry", daemon=True).start()

    def start(self, api: str, params: dict[str, Any]) -> str:
        """Record a job for `params` (a validated Start* request) and queue it; its JobId."""
        token = params.get("ClientRequestToken")
        digest = fingerprint(params)
        if token is not None:
            existing = self.store.find(api, token, digest)
            if existing is not None:
                return existing
        check_video(params["Video"], self.ctx.s3)
        job_id, created = self.store.create(
            api,
            params,
            token,
            digest,
            self.ctx.settings.video_job_limit,
            self.queue.enqueue if self.queue else None,
        )
        if created and self.pool is not None:
            self.pool.submit(self._run, job_id)
        return job_id

    def _run(self, job_id: str) -> None:
        try:
            run_job(self.ctx, self.store, self.work, job_id)
        except Exception:  # noqa: BLE001 - a store error; the job is run again at restart
            log.exception("video job %s could not run", job_id)

    def expire(self) -> int:
        return self.store.expire(time.time() - self.ctx.settings.video_results_ttl_s)

    def _sweep(self) -> None:
        interval = max(1.0, min(600.0, self.ctx.settings.video_results_ttl_s / 4))
        while not self._stop.wait(interval):
            try:
                self.expire()
            except Exception:  # noqa: BLE001 - the next round retries
                log.exception("video result expiry failed")

    def close(self) -> None:
        self._stop.set()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()
