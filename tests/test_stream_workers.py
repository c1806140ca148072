"""Stream processors on `oculi worker` processes: with a queue URL the processors are in the
queue's PostgreSQL database (started here on loopback) and a Start queues the session for a
worker; when the worker running it is killed, the other one runs it again, a worker stopped
with SIGTERM hands it back at once, and a Stop made through the server reaches the worker
that runs it. A run that another run took over writes
nothing more (the store's claims, on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from oculi.streams.store import FAILED, RUNNING, STARTING, STOPPED, STOPPING, ProcessorStore
from tests.conftest import Server
from tests.pgserver import PgServer, unavailable
from tests.test_streams_api import CLIP, aws, home_request, stream_env, wait_status
from tests.test_video_workers import Worker, kill, location, pg  # noqa: F401 - fixtures

WAIT_S = 180  # the most a step may take on a loaded machine (models load on first use)


def test_a_run_taken_over_writes_nothing_more(location: str | Path) -> None:  # noqa: F811
    store = ProcessorStore(location)
    store.create("porch", {"Settings": {}}, {}, limit=5)
    assert store.claim("porch") is None  # STOPPED: nothing to run
    store.start("porch", {"SessionId": "s1"})
    first, p = store.claim("porch") or (0, None)
    assert p is not None and p.session == {"SessionId": "s1"}
    assert store.set_status("porch", RUNNING, None, (STARTING,), first)
    second, _ = store.claim("porch") or (0, None)  # the first run's worker was lost
    assert second == first + 1 and store.owner("porch", first) is None
    assert not store.set_status("porch", FAILED, "late", (RUNNING,), first)
    assert store.owner("porch", second) == RUNNING
    store.stop("porch")
    assert store.owner("porch", second) == STOPPING
    assert store.set_status("porch", STOPPED, None, (STOPPING,), second)
    store.start("porch", {"SessionId": "s2"})  # a new Start supersedes every earlier run
    assert store.owner("porch", second) is None
    store.stop("porch")
    assert store.claim("porch") is None  # stopped while it was queued: STOPPED now
    assert store.get("porch").status == STOPPED
    store.close()


def long_clip(folder: Path) -> Path:
    """The clip played 12 times over (2 minutes), so that a session outlives a kill."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        unavailable("ffmpeg not installed")
    folder.mkdir()
    out = folder / "long.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-stream_loop", "11", "-i", str(CLIP), "-c", "copy", str(out)],
        check=True,
        timeout=120,
    )
    return out


def events(worker: Worker, kind: str) -> list[dict]:
    """The entries of `kind` in the worker's own event log."""
    path = worker.data_dir / "streams" / "events.jsonl"
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in found if e["type"] == kind and e["processor"] == "porch"]


def until(what: str, check, timeout: float = WAIT_S):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise TimeoutError(what)


def test_worker_killed_another_runs_its_processor(
    tmp_path: Path,
    moto_s3: str,
    pg: PgServer,  # noqa: F811
) -> None:
    import psycopg

    queue = pg.new_database()
    clip = long_clip(tmp_path / "clips")
    env = {**stream_env(moto_s3), "OCULI_STREAM_FILE_DIR": str(clip.parent)}
    srv = Server(tmp_path / "server", env={**env, "OCULI_QUEUE_URL": queue})
    workers = [Worker(tmp_path / f"worker{i}", queue, moto_s3, **env) for i in range(2)]
    try:
        # a bucket of its own: moto's server is shared with tests/test_streams_api.py
        aws("s3", moto_s3).create_bucket(Bucket="worker-events")
        output = {"S3Destination": {"Bucket": "worker-events", "KeyPrefix": "home"}}
        client = srv.client()
        client.create_stream_processor(**home_request("porch", arn=clip.as_uri(), Output=output))
        session = client.start_stream_processor(
            Name="porch", StopSelector={"MaxDurationInSeconds": 120}
        )["SessionId"]
        # the worker that took the session saw a person and says so in its own event log
        (taken,) = until(
            "a worker's first event",
            lambda: [w for w in workers if events(w, "LABEL_DETECTED")],
        )
        assert wait_status(client, "porch", {RUNNING}, 5)["Status"] == RUNNING
        assert not (srv.data_dir / "streams" / "events.jsonl").exists()  # not the server
        (other,) = [w for w in workers if w is not taken]
        assert events(other, "STATUS") == []
        kill(taken.proc)
        killed = time.monotonic()
        # the other worker runs the same session again, from its own event log
        (label,) = until("the other worker's first event", lambda: events(other, "LABEL_DETECTED"))
        print(f"taken over {time.monotonic() - killed:.1f} s after the kill")
        assert label["session"] == session and label["event"]["labels"][0]["name"] == "PERSON"
        assert [e["event"]["Status"] for e in events(other, "STATUS")] == [RUNNING]
        assert client.describe_stream_processor(Name="porch")["Status"] == RUNNING
        # a worker stopped the orderly way hands its session back at once, to a new worker
        workers.append(Worker(tmp_path / "worker2", queue, moto_s3, **env))
        third = workers[-1]
        other.proc.terminate()
        assert other.proc.wait(60) == 0
        (label,) = until("the third worker's first event", lambda: events(third, "LABEL_DETECTED"))
        assert label["session"] == session
        assert [e["event"]["Status"] for e in events(other, "STATUS")] == [RUNNING]
        client.stop_stream_processor(Name="porch")  # through the server: the worker sees it
        stopped = wait_status(client, "porch", {STOPPED, FAILED}, WAIT_S)
        assert stopped["Status"] == STOPPED and "StatusMessage" not in stopped
        assert [e["event"]["Status"] for e in events(third, "STATUS")] == [RUNNING, STOPPED]
        assert third.proc.poll() is None
        # in moto's S3, from the workers: the PERSON event of each run that was not killed
        # (the killed one may have died between its event log and S3), the last's summary
        listed = aws("s3", moto_s3).list_objects_v2(Bucket="worker-events")["Contents"]
        keys = [o["Key"].removeprefix(f"home/porch/{session}/") for o in listed]
        assert f"home/porch/{session}/summary.json" in [o["Key"] for o in listed]
        assert len([k for k in keys if k.startswith("labels/")]) in (2, 3), keys
        with psycopg.connect(queue) as conn:
            row = conn.execute("SELECT attempts FROM processors WHERE name='porch'").fetchone()
            assert row == (4,)  # the Start, then three runs: killed, handed back, stopped
            left = until(
                "the finished task deleted",
                lambda: conn.execute("SELECT COUNT(*) FROM procrastinate_jobs").fetchone() == (0,),
                30,
            )
            assert left
    finally:
        for w in workers:
            w.stop()
        srv.stop()
