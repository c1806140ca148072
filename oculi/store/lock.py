"""One writer per data directory: an exclusive lock held for the life of the process.

Two servers on one data directory would each keep their own vector indexes and snapshots,
which go stale (one lists a face the other indexed, and cannot find it by search), and
each would sweep the other's kept images. `oculi serve` and the commands that write the
directory outside the store's transactions (`oculi import`, `oculi reindex`) take
`<data dir>/oculi.lock` with `flock` first and refuse to run while another process holds
it. The kernel drops the lock when the process ends, however it ends, so a kill -9 leaves
nothing to clean up. Commands that only read, or write the store in its own transactions
(`oculi export`, `oculi retention`, `oculi audit`, `oculi redact`), take no lock; a process
without the lock writes no ANN snapshots (`holds_lock`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "oculi.lock"

_held: dict[Path, int] = {}  # data dir -> the open lock file, kept until the process ends


class DataDirBusy(Exception):
    """Another process holds the data directory."""


def lock_data_dir(data_dir: Path) -> None:
    """Take the data directory's lock for the rest of this process's life (creating the
    directory, mode 0700, if need be); DataDirBusy if another process holds it."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = data_dir.resolve()
    if key in _held:
        return
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        raise DataDirBusy(
            f"the data directory {data_dir} is in use by another oculi process"
            + (f" (pid {holder})" if holder else "")
            + ": stop it first, or give this one its own --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[key] = fd


def holds_lock(data_dir: Path) -> bool:
    """Whether this process holds the data directory's lock."""
    return data_dir.resolve() in _held
