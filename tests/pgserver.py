"""A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, `pg_ctl` on a
free loopback port with its unix socket in that folder, all removed on `stop()`.

PostgreSQL refuses to run as root, and tests run as root in CI: there the folder is given
to the `postgres` system user and the server commands run through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port


def unavailable(why: str) -> None:
    """Skip on a developer's machine; fail in CI, where .ci/run installs everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must test the real backend)")
    pytest.skip(why)


def find_bin(name: str) -> str | None:
    """A PostgreSQL server program on PATH or in Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4])
    )
    return versions[-1] if versions else None


class PgServer:
    """A running server; `url` reaches its `postgres` database as user `postgres`."""

    def __init__(self) -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise FileNotFoundError("no PostgreSQL server programs (initdb, pg_ctl) found")
        self._pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="oculi-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = self.root / "data"
        self._run(
            initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._run(
            pg_ctl,
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """The URL of a new, empty database on this server."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"{self.url.rsplit('/', 1)[0]}/{name}"

    def _run(self, *cmd: str) -> None:
        done = subprocess.run([*self._as, *cmd], cwd=self.root, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()}")

    def stop(self) -> None:
        try:
            self._run(self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
