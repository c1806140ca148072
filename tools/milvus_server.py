"""A throwaway Milvus standalone server, reachable on one loopback port only.

PyPI's `milvus` package (2.3.5) carries a real Milvus standalone (the same engine and API as
a Milvus cluster) with embedded etcd and local storage, started by its `milvus-server`
command. Milvus binds its gRPC and metrics ports on every interface whatever its `ip`
settings say, and its embedded etcd takes fixed ports (2379, 2380), so it runs here in a
network namespace of its own (`unshare --net`, which holds only a loopback interface):
nothing it opens is reachable from outside, and two servers never clash. A `socat` pair
carries the proxy's port out through a unix socket in the server's folder to one free
port on the host's 127.0.0.1. The namespace is also a PID namespace whose first process
the `unshare` command kills when it dies (`--kill-child`), and `unshare` is killed when
the process that started it dies: `stop()`, or the death of its starter, kills every
Milvus process.

Needs root (the namespaces), `socat`, and `milvus-server` beside the Python that runs
this (`pip install "milvus==2.3.5"`).

    python tools/milvus_server.py    # start one, print its URL, stop on Ctrl-C
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROXY_PORT = 19530  # milvus-server's default, inside the namespace
PR_SET_PDEATHSIG = 1


def missing() -> str | None:
    """What this machine lacks to run the server, or None."""
    if os.geteuid() != 0:
        return "not root: the Milvus server runs in a network namespace of its own"
    for tool in ("unshare", "socat", "ip"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH"
    if not server_command().exists():
        return "no milvus-server: pip install 'milvus==2.3.5'"
    return None


def server_command() -> Path:
    return Path(sys.executable).parent / "milvus-server"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class MilvusServer:
    """A running server; `url` (`milvus://127.0.0.1:PORT`) reaches its proxy."""

    def __init__(
        self, root: Path | None = None, timeout: float = 300.0, config: dict[str, str] | None = None
    ) -> None:
        """`config`: milvus.yaml settings by dotted key (milvus-server's --extra-config)."""
        why = missing()
        if why:
            raise RuntimeError(why)
        self.root = Path(root or tempfile.mkdtemp(prefix="oculi-milvus-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"milvus://127.0.0.1:{self.port}"
        sock = self.root / "proxy.sock"
        sock.unlink(missing_ok=True)
        self.log = open(self.root / "server.log", "ab")
        inside = (
            "ip link set lo up && "
            f"socat UNIX-LISTEN:{sock},fork TCP:127.0.0.1:{PROXY_PORT} & "
            f"exec {server_command()} --data {self.root / 'data'}"
            + "".join(f" --extra-config {k}={v}" for k, v in (config or {}).items())
        )
        t = time.monotonic()
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
            + ["sh", "-c", inside],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self.relay = subprocess.Popen(
            [
                "socat",
                f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork",
                f"UNIX-CONNECT:{sock}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise
        self.start_s = time.monotonic() - t

    def _wait(self, timeout: float) -> None:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-server exited: see {self.root / 'server.log'}")
            try:
                client = MilvusClient(uri=f"http://127.0.0.1:{self.port}", timeout=5)
                client.list_collections()
                client.close()
                return
            except Exception:  # not up yet: the relay refuses, or Milvus is still starting
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Milvus not ready in {timeout:.0f} s") from None
                time.sleep(1)

    def rss(self) -> int:
        """Resident memory of every process of the server (bytes)."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            try:
                total += int((Path("/proc") / str(pid) / "statm").read_text().split()[1])
            except OSError:
                continue
        return total * os.sysconf("SC_PAGE_SIZE")

    def data_bytes(self) -> int:
        """The server's data on disk: etcd, its message log and segments (bytes)."""
        root = self.root / "data" / "data"
        return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())

    def stop(self) -> None:
        """Kill the server (all of its processes) and the relay; remove its folder."""
        for proc in (self.relay, self.proc):
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    server = MilvusServer()
    print(f"{server.url} (ready in {server.start_s:.1f} s; Ctrl-C stops it)", flush=True)
    try:
        server.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
