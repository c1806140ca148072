"""The stored-video job runner inside `oculi serve`: Start* records a job and answers at
once; a bounded pool of threads runs the jobs (`video_workers`), each copying its video to
a file named after its job id, sampling frames and storing what its analysis finds; a
finished job notifies its NotificationChannel. Finished jobs are deleted once older than
`video_results_ttl_s`."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oculi.errors import OculiError
from oculi.service.context import ServiceContext
from oculi.video.analyses import ANALYSES, EVERY_FRAME
from oculi.video.decode import UnreadableVideo, VideoInfo, probe, sample_frames
from oculi.video.notify import notify
from oculi.video.source import MAX_DURATION_MS, check_video, fetch_video
from oculi.video.store import FAILED, SUCCEEDED, JobStore, Row

log = logging.getLogger("oculi.video")

_BATCH = 500


def fingerprint(params: dict[str, Any]) -> str:
    """The Start request's parameters, bar ClientRequestToken, as a digest."""
    rest = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def video_metadata(info: VideoInfo) -> dict[str, Any]:
    return {
        "Codec": info.codec,
        "DurationMillis": info.duration_ms,
        "Format": info.container,
        "FrameRate": info.fps,
        "FrameHeight": info.height,
        "FrameWidth": info.width,
    }


class _Output:
    """Results of one job, written to the store in batches."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self.pending: dict[str, list[Row]] = {}
        self.next: dict[str, int] = {}

    def add(self, kind: str, row: Row) -> None:
        rows = self.pending.setdefault(kind, [])
        rows.append(row)
        if len(rows) >= _BATCH:
            self.flush(kind)

    def flush(self, kind: str) -> None:
        rows = self.pending.pop(kind, [])
        self.next[kind] = self.store.add(self.job_id, kind, self.next.get(kind, 0), rows)

    def flush_all(self) -> None:
        for kind in list(self.pending):
            self.flush(kind)

    def set_matches(self, matches: dict[int, list[dict[str, Any]]], names: dict[int, str]) -> None:
        self.flush_all()  # the rows the names go to are in the store
        self.store.set_matches(self.job_id, matches, names)


class VideoJobs:
    def __init__(self, ctx: ServiceContext) -> None:
        s = ctx.settings
        self.ctx = ctx
        self.dir = s.data_dir / "video"
        self.store = JobStore(self.dir / "jobs.sqlite3")  # FAILs jobs a stopped server ran
        self.work = self.dir / "work"
        shutil.rmtree(self.work, ignore_errors=True)  # copies a stopped server left behind
        self.work.mkdir(parents=True, exist_ok=True)
        self.pool = ThreadPoolExecutor(max(1, s.video_workers), thread_name_prefix="oculi-video")
        self.expire()
        self._stop = threading.Event()
        threading.Thread(target=self._sweep, name="oculi-video-expiry", daemon=True).start()

    def start(self, api: str, params: dict[str, Any]) -> str:
        """Record a job for `params` (a validated Start* request) and queue it; its JobId."""
        token = params.get("ClientRequestToken")
        digest = fingerprint(params)
        if token is None:
            check_video(params["Video"], self.ctx.s3)
        else:
            existing = self.store.find(api, token, digest)
            if existing is not None:
                return existing
            check_video(params["Video"], self.ctx.s3)
        job_id, created = self.store.create(
            api, params, token, digest, self.ctx.settings.video_job_limit
        )
        if created:
            self.pool.submit(self._run, job_id, api, params)
        return job_id

    def _run(self, job_id: str, api: str, params: dict[str, Any]) -> None:
        path = self.work / f"{job_id}.video"
        status, message = FAILED, None
        try:
            fetch_video(params["Video"], self.ctx.s3, path)
            info = probe(path)
            self.store.set_metadata(job_id, video_metadata(info))
            if info.duration_ms > MAX_DURATION_MS:
                raise UnreadableVideo("The video is longer than 6 hours (VideoTooLarge)")
            out = _Output(self.store, job_id)
            rate = math.inf if api in EVERY_FRAME else self.ctx.settings.video_fps
            frames = sample_frames(path, info, rate)
            ANALYSES[api](self.ctx, params, frames, info, out)
            out.flush_all()
            status = SUCCEEDED
        except UnreadableVideo as e:
            message = str(e)
        except OculiError as e:
            message = f"{e.code}: {e.message}"
        except Exception:  # noqa: BLE001 - the job fails; the server goes on
            log.exception("video job %s failed", job_id)
            message = "Internal error while analysing the video"
        finally:
            path.unlink(missing_ok=True)
        if self.store.finish(job_id, status, message):
            notify(self.ctx.settings, api, job_id, status, params)

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
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()
