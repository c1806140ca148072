"""Which task engine carries video jobs to `oculi worker` processes (docs/scale-out.md):
procrastinate on PostgreSQL against Celery on Redis, on what a video job needs of it.

Each engine gets two worker processes (one task at a time each) and the same detection
window for a lost worker: procrastinate runs oculi's own worker loop and enqueueing
(oculi/video/queue.py, as `oculi worker` with OCULI_QUEUE_HEARTBEAT_S=2: a task is handed
back after 3 missed heartbeats, 6 s); Celery runs with acks_late and the Redis transport's
visibility_timeout of 6 s (a task not acknowledged within it is delivered again). The task
sleeps for its duration and writes a line when it starts; the script counts starts.

- kill: a task is queued, the worker that starts it is killed with SIGKILL: seconds until
  the other worker starts it again, and how many times it started in all (2 is right).
- long: a task that runs 3x the detection window, nobody killed: how many times it started
  (1 is right).
- latency: queue-to-start time of a task on an idle worker (median of 10).

    python bench/task_queues.py            # both engines, 3 rounds each
    python bench/task_queues.py procrastinate

Needs PostgreSQL's server programs (as tests/test_store_backends.py) and, for Celery,
Debian's redis-server and `pip install celery redis` (not oculi dependencies).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TASK_S = 20.0
WINDOW_S = 6.0  # a lost worker's task is handed back after this long
ROUNDS = 3


# -- the two engines, as the worker processes and the producer use them ------------------
def _task(log: str, seconds: float) -> None:
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {time.time()}\n")
    time.sleep(seconds)


def _procrastinate_task(arg: str) -> None:  # oculi's task takes one string: "log|seconds"
    log, seconds = arg.rsplit("|", 1)
    _task(log, float(seconds))


def celery_app(url: str):  # -> celery.Celery
    from celery import Celery

    app = Celery("bench", broker=url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # a task not acknowledged within WINDOW_S is delivered again; the transport looks
        # for such tasks every WINDOW_S / 3 (its defaults: a 1 h timeout, looked for about
        # every 100 s: every 10th call of a 10 s timer)
        broker_transport_options={
            "visibility_timeout": WINDOW_S,
            "unacked_restore_interval": WINDOW_S / 3,
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
    )

    @app.task(name="bench.sleep")
    def sleep(log: str, seconds: float) -> None:
        _task(log, seconds)

    return app


def _worker(engine: str, url: str) -> None:
    if engine == "procrastinate":  # oculi's own worker loop, a heartbeat every WINDOW_S / 3
        from oculi.video.queue import run_worker

        run_worker(url, _procrastinate_task, WINDOW_S / 3)
    else:
        celery_app(url).worker_main(["worker", "--pool=solo", "--concurrency=1", "-l", "WARNING"])


# -- one engine -------------------------------------------------------------------------
class Engine:
    def __init__(self, name: str, url: str, tmp: Path) -> None:
        self.name, self.url, self.tmp = name, url, tmp
        if name == "procrastinate":
            import psycopg

            from oculi.video.queue import VideoQueue

            self.queue = VideoQueue(url)  # what `oculi serve` defers with
            self.conn = psycopg.connect(url)  # one connection, as a server's pool keeps
        else:
            self.app = celery_app(url)
        self.workers: list[subprocess.Popen] = []

    def start_workers(self, n: int = 2) -> None:
        for _ in range(n):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", self.name, self.url],
                    stdout=subprocess.DEVNULL,
                    stderr=open(self.tmp / f"{self.name}-worker.log", "ab"),
                )
            )
        time.sleep(5)  # workers up and listening

    def stop_workers(self) -> None:
        """Kill the workers and empty the queue: nothing carries over to the next round."""
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGKILL)
                w.wait()
        self.workers = []
        if self.name == "procrastinate":
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("DELETE FROM procrastinate_jobs")
        else:
            import redis

            redis.Redis.from_url(self.url).flushdb()

    def send(self, log: Path, seconds: float) -> None:
        if self.name == "procrastinate":
            from oculi.store.sql import Tx

            with self.conn.transaction():
                self.queue.enqueue(Tx(self.conn, "%s"), f"{log}|{seconds}")
        else:
            self.app.send_task("bench.sleep", args=(str(log), seconds))


def starts(log: Path) -> list[tuple[int, float]]:
    if not log.exists():
        return []
    return [
        (int(p), float(t))
        for p, t in (line.split() for line in log.read_text().split("\n") if line)
    ]


def wait_for(log: Path, n: int, timeout: float) -> list[tuple[int, float]]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(got := starts(log)) >= n:
            return got
        time.sleep(0.05)
    return starts(log)


def kill_round(engine: Engine, log: Path) -> tuple[float | None, int]:
    """Seconds from killing the worker running the task to its start on the other one,
    and its starts in all once the rerun had time to finish and be redelivered."""
    engine.start_workers()
    engine.send(log, TASK_S)
    (pid, _), *_ = wait_for(log, 1, 30)
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    second = wait_for(log, 2, 300)
    recovered = second[1][1] - killed if len(second) > 1 else None
    time.sleep(TASK_S + 2 * WINDOW_S)
    total = len(starts(log))
    engine.stop_workers()
    return recovered, total


def long_round(engine: Engine, log: Path) -> int:
    engine.start_workers()
    engine.send(log, 3 * WINDOW_S + 2)
    time.sleep(3 * WINDOW_S + 12)
    engine.stop_workers()
    return len(starts(log))


def latency(engine: Engine, tmp: Path) -> float:
    engine.start_workers(1)
    waits = []
    for i in range(10):
        log = tmp / f"{engine.name}-latency-{i}"
        sent = time.time()
        engine.send(log, 0.0)
        got = wait_for(log, 1, 30)
        waits.append(got[0][1] - sent)
    engine.stop_workers()
    return statistics.median(waits) * 1000


def main(names: list[str]) -> None:
    from tests.pgserver import PgServer

    tmp = Path(tempfile.mkdtemp(prefix="oculi-queues-"))
    servers: list = []
    try:
        for name in names:
            if name == "procrastinate":
                pg = PgServer()
                servers.append(pg)
                url = pg.url
            else:
                from tests.conftest import free_port

                port = free_port()
                redis = subprocess.Popen(
                    ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                    stdout=subprocess.DEVNULL,
                )
                servers.append(redis)
                time.sleep(1)
                url = f"redis://127.0.0.1:{port}/0"
            engine = Engine(name, url, tmp)
            for r in range(ROUNDS):
                recovered, total = kill_round(engine, tmp / f"{name}-kill-{r}")
                again = f"{recovered:5.1f} s" if recovered is not None else "never"
                print(f"{name:13} kill  round {r}: started again after {again}, starts {total}")
            for r in range(ROUNDS):
                total = long_round(engine, tmp / f"{name}-long-{r}")
                print(f"{name:13} long  round {r}: {3 * WINDOW_S + 2:.0f} s task, starts {total}")
            print(f"{name:13} latency: median {latency(engine, tmp):.0f} ms queue-to-start")
            sys.stdout.flush()
    finally:
        for s in servers:
            if isinstance(s, subprocess.Popen):
                s.terminate()
                s.wait()
            else:
                s.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1:] or ["procrastinate", "celery"])
