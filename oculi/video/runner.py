"""One run of a stored-video job, wherever it runs (the pool inside `oculi serve`, or an
`oculi worker` that took it from the queue): claim the job in the job store, copy its
video to a file named after the job, sample frames, store what its analysis finds and
notify its NotificationChannel. A run that another run replaced (`Superseded`) stops
without touching the job."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from oculi.errors import OculiError
from oculi.service.context import ServiceContext
from oculi.video.analyses import ANALYSES, EVERY_FRAME
from oculi.video.decode import UnreadableVideo, VideoInfo, probe, sample_frames
from oculi.video.notify import notify
from oculi.video.source import MAX_DURATION_MS, fetch_video
from oculi.video.store import FAILED, GAVE_UP, SUCCEEDED, JobStore, Row, Superseded

log = logging.getLogger("oculi.video")

_BATCH = 500


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
    """Results of one run of a job, written to the store in batches."""

    def __init__(self, store: JobStore, job_id: str, attempt: int) -> None:
        self.store, self.job_id, self.attempt = store, job_id, attempt
        self.pending: dict[str, list[Row]] = {}
        self.next: dict[str, int] = {}

    def add(self, kind: str, row: Row) -> None:
        rows = self.pending.setdefault(kind, [])
        rows.append(row)
        if len(rows) >= _BATCH:
            self.flush(kind)

    def flush(self, kind: str) -> None:
        rows = self.pending.pop(kind, [])
        start = self.next.get(kind, 0)
        self.next[kind] = self.store.add(self.job_id, self.attempt, kind, start, rows)

    def flush_all(self) -> None:
        for kind in list(self.pending):
            self.flush(kind)

    def set_matches(self, matches: dict[int, list[dict[str, Any]]], names: dict[int, str]) -> None:
        self.flush_all()  # the rows the names go to are in the store
        self.store.set_matches(self.job_id, self.attempt, matches, names)


def run_job(ctx: ServiceContext, store: JobStore, work: Path, job_id: str) -> None:
    """Run the job `job_id` once, to its end or until another run supersedes it."""
    attempt = store.claim(job_id)
    if attempt is None:
        return  # finished, expired, or taken over
    job = store.get(job_id)
    api, params = job.api, job.request
    if attempt == GAVE_UP:
        notify(ctx.settings, api, job_id, FAILED, params)
        return
    path = work / f"{job_id}.video"
    status, message = FAILED, None
    try:
        fetch_video(params["Video"], ctx.s3, path)
        info = probe(path)
        store.set_metadata(job_id, attempt, video_metadata(info))
        if info.duration_ms > MAX_DURATION_MS:
            raise UnreadableVideo("The video is longer than 6 hours (VideoTooLarge)")
        out = _Output(store, job_id, attempt)
        rate = math.inf if api in EVERY_FRAME else ctx.settings.video_fps
        frames = sample_frames(path, info, rate)
        ANALYSES[api](ctx, params, frames, info, out)
        out.flush_all()
        status = SUCCEEDED
    except Superseded:
        log.warning("video job %s: run %d was replaced by another run", job_id, attempt)
        return
    except UnreadableVideo as e:
        message = str(e)
    except OculiError as e:
        message = f"{e.code}: {e.message}"
    except Exception:  # noqa: BLE001 - the job fails; the server goes on
        log.exception("video job %s failed", job_id)
        message = "Internal error while analysing the video"
    finally:
        path.unlink(missing_ok=True)
    if store.finish(job_id, attempt, status, message):
        notify(ctx.settings, api, job_id, status, params)
