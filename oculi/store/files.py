"""File-system steps the data directory's writers share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename, creation or removal in the folder durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: Path) -> int:
    """Remove a file, link or folder (never following links); returns the files removed."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return 1
    n = sum(1 for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
    shutil.rmtree(path)
    return n
