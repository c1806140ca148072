"""Stored-video jobs survive: a server killed mid-job runs the job again when it comes back
(results kept once), and a job's results, once expired, leave no copy behind. With a queue
(procrastinate on a real PostgreSQL, started here on loopback), jobs go to `oculi worker`
processes; a worker killed mid-job loses nothing: another one finishes the job, once."""

from __future__ import annotations

import importlib.util
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oculi.video.store import (
    FAILED,
    GAVE_UP,
    IN_PROGRESS,
    INTERRUPTED,
    MAX_ATTEMPTS,
    SUCCEEDED,
    JobStore,
    Row,
    Superseded,
)
from tests.conftest import FIXTURES, clean_env
from tests.pgserver import PgServer, find_bin, unavailable
from tests.test_video_api import CLIP, CREDENTIALS, VIDEO, all_pages, aws, video_server, wait_job

FPS = "10"  # analysed frames a second: a run long enough to be killed in


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    for module in ("psycopg", "procrastinate"):
        if importlib.util.find_spec(module) is None:
            unavailable(f"{module} not installed: pip install 'oculi[scale]'")
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        unavailable("no PostgreSQL server programs (initdb, pg_ctl): install postgresql")
    server = PgServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def videos(moto_s3: str) -> str:
    aws("s3", moto_s3).put_object(
        Bucket="photos", Key="clip.mp4", Body=(FIXTURES / CLIP).read_bytes()
    )
    return moto_s3


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "jobs.sqlite3"
    server: PgServer = request.getfixturevalue("pg")
    return server.new_database()


def test_a_new_run_supersedes_the_last(location: str | Path) -> None:
    """Each claim deletes what the run before wrote, and that run can write no more; after
    MAX_ATTEMPTS interrupted runs the job FAILs instead of running for ever."""
    store = JobStore(location)
    job, _ = store.create("FaceDetection", {"Video": {}}, None, "fp", limit=5)
    first = store.claim(job)
    assert first == 1
    store.add(job, first, "T", 0, [Row(0, 0, "", {"n": 1}), Row(200, 0, "", {"n": 2})])
    store.set_matches(job, first, {0: [{"Similarity": 99.0}]}, {0: "x"})
    second = store.claim(job)  # the first run's process was lost
    assert second == 2
    assert store.page(job, "T", "TIMESTAMP", 0, 10) == []
    assert store.page(job, "T", "TIMESTAMP", 0, 10, matched=True) == []
    for write in (
        lambda: store.add(job, first, "T", 2, [Row(400, 0, "", {"n": 3})]),
        lambda: store.set_metadata(job, first, {"Codec": "h264"}),
        lambda: store.set_matches(job, first, {}, {}),
    ):
        with pytest.raises(Superseded):
            write()
    assert not store.finish(job, first, SUCCEEDED)
    store.add(job, second, "T", 0, [Row(0, 0, "", {"n": 1})])
    assert [r.body for r, _ in store.page(job, "T", "TIMESTAMP", 0, 10)] == [{"n": 1}]
    assert store.claim(job) == 3 and store.get(job).status == IN_PROGRESS
    assert MAX_ATTEMPTS == 3 and store.claim(job) == GAVE_UP
    failed = store.get(job)
    assert (failed.status, failed.message) == (FAILED, INTERRUPTED)
    assert store.page(job, "T", "TIMESTAMP", 0, 10) == []
    assert store.claim(job) is None  # finished: nothing to run
    store.close()


def faces_of(client, job_id: str) -> list[tuple[int, str]]:
    """A job's faces as (Timestamp, box), checked to be complete and each there once."""
    answer = wait_job(client.get_face_detection, job_id, 900)
    assert answer["JobStatus"] == SUCCEEDED, answer.get("StatusMessage")
    faces = all_pages(client.get_face_detection, "Faces", JobId=job_id, MaxResults=7)
    keys = [(f["Timestamp"], json.dumps(f["Face"]["BoundingBox"])) for f in faces]
    assert len(keys) == len(set(keys)), "a result is there twice"
    duration = answer["VideoMetadata"]["DurationMillis"]
    assert keys and max(k[0] for k in keys) > duration - 1000, "the end of the video is missing"
    return sorted(keys)


def wait_running(client, job_id: str, timeout: float = 300) -> None:
    """Until the job's run has opened its video (VideoMetadata is set while it runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get_face_detection(JobId=job_id)
        assert answer["JobStatus"] == IN_PROGRESS, "the job ended before it could be killed"
        if "VideoMetadata" in answer:
            return
        time.sleep(0.1)
    raise TimeoutError(job_id)


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_server_killed_mid_job_runs_it_again(tmp_path: Path, videos: str) -> None:
    srv = video_server(tmp_path, videos, OCULI_VIDEO_FPS=FPS)
    try:
        client = srv.client()
        job_id = client.start_face_detection(Video=VIDEO, JobTag="survives")["JobId"]
        wait_running(client, job_id)
    finally:
        kill(srv.proc)
        srv.log.close()
    again = video_server(tmp_path, videos, OCULI_VIDEO_FPS=FPS)
    try:
        client = again.client()
        resumed = faces_of(client, job_id)
        assert client.get_face_detection(JobId=job_id)["JobTag"] == "survives"
        reference = faces_of(client, client.start_face_detection(Video=VIDEO)["JobId"])
        assert resumed == reference  # the whole video, each face once
    finally:
        again.stop()
    with sqlite3.connect(tmp_path / "data" / "video" / "jobs.sqlite3") as db:
        (attempts,) = db.execute("SELECT attempts FROM jobs WHERE job_id=?", (job_id,)).fetchone()
    assert attempts == 2  # it was run again, not finished before the kill


def test_expired_results_leave_no_copy(tmp_path: Path, videos: str) -> None:
    """Past the expiry a job's rows are gone from the job file (its bytes too: SQLite's
    secure_delete and a checkpointed, truncated WAL) and no copy of the video is left."""
    srv = video_server(tmp_path, videos, OCULI_VIDEO_RESULTS_TTL_S="3", OCULI_VIDEO_FPS="1")
    try:
        client = srv.client()
        job_id = client.start_face_detection(Video=VIDEO)["JobId"]
        assert faces_of(client, job_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client.get_face_detection(JobId=job_id)
            except client.exceptions.ResourceNotFoundException:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the job's results were not deleted after their expiry")
    finally:
        srv.stop()
    video = tmp_path / "data" / "video"
    assert not list((video / "work").iterdir())
    with sqlite3.connect(video / "jobs.sqlite3") as db:
        for table in ("jobs", "results", "matches"):
            (n,) = db.execute(f"SELECT COUNT(*) FROM {table} WHERE job_id=?", (job_id,)).fetchone()
            assert n == 0, table
    for f in video.glob("jobs.sqlite3*"):
        assert job_id.encode() not in f.read_bytes(), f.name


class Worker:
    """`oculi worker` on the queue, with a data directory of its own."""

    def __init__(self, tmp: Path, queue_url: str, moto: str, **env: str) -> None:
        tmp.mkdir(parents=True)
        self.data_dir = tmp / "data"
        self.log = open(tmp / "worker.log", "wb")
        defaults = {
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "AWS_ENDPOINT_URL_S3": moto,
            "OCULI_VIDEO_FPS": FPS,
            "OCULI_QUEUE_HEARTBEAT_S": "1",
            **CREDENTIALS,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oculi", "worker", "--queue-url", queue_url]
            + ["--data-dir", str(self.data_dir), "--lazy-models"],
            env=clean_env(**{**defaults, **env}),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def has(self, job_id: str) -> bool:
        """Whether this worker is running the job (its copy of the video is here)."""
        return (self.data_dir / "video" / "work" / f"{job_id}.video").exists()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                kill(self.proc)
        self.log.close()


def test_worker_killed_mid_job_another_finishes_it_once(
    tmp_path: Path, videos: str, pg: PgServer
) -> None:
    import psycopg

    queue = pg.new_database()
    srv = video_server(tmp_path / "server", videos, OCULI_QUEUE_URL=queue)
    workers = [Worker(tmp_path / f"worker{i}", queue, videos) for i in range(2)]
    try:
        client = srv.client()
        job_id = client.start_face_detection(Video=VIDEO, JobTag="queued")["JobId"]
        wait_running(client, job_id)
        (taken,) = [w for w in workers if w.has(job_id)]
        kill(taken.proc)
        (other,) = [w for w in workers if w is not taken]
        resumed = faces_of(client, job_id)
        assert other.proc.poll() is None
        reference = faces_of(client, client.start_face_detection(Video=VIDEO)["JobId"])
        assert resumed == reference  # the whole video, each face once
        with psycopg.connect(queue) as conn:
            row = conn.execute("SELECT attempts FROM jobs WHERE job_id=%s", (job_id,)).fetchone()
            assert row == (2,)  # run twice: killed once, finished once
            left = conn.execute("SELECT COUNT(*) FROM procrastinate_jobs").fetchone()
            assert left == (0,)  # finished tasks are not kept in the queue
    finally:
        for w in workers:
            w.stop()
        srv.stop()
