"""The local event log of stream processors, `<data-dir>/streams/events.jsonl`: one JSON
object a line, written by every processor whatever its other outputs, read by
`oculi events`.

Each entry is {"time": epoch ms, "processor": name, "session": SessionId, "type": ...,
"event": ...}: "type" is FaceSearch (a Kinesis face-search record with at least one face),
LABEL_DETECTED or STREAM_PROCESSING_COMPLETE (a ConnectedHome SNS message), or STATUS (the
processor's Status and StatusMessage changed). Lines are written whole under a lock and
flushed at once; past MAX_BYTES the log moves to `events.jsonl.1` (replacing the one
before) and a new one begins, so it never fills the disk. The same entries can go to an
MQTT broker and a webhook as well (oculi.streams.sinks).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, TextIO

FILE = "events.jsonl"
MAX_BYTES = 64 * 1024 * 1024


class Events(Protocol):
    """Where a processor's events go: the log, the log and a broker, `oculi watch`'s
    output."""

    def append(self, processor: str, session: str | None, kind: str, event: Any) -> None: ...


def entry(processor: str, session: str | None, kind: str, event: Any) -> dict[str, Any]:
    """One entry of the log (and of its copies to a broker or a webhook), stamped now."""
    return {
        "time": int(time.time() * 1000),
        "processor": processor,
        "session": session,
        "type": kind,
        "event": event,
    }


class EventLog:
    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def append(self, processor: str, session: str | None, kind: str, event: Any) -> None:
        line = json.dumps(entry(processor, session, kind, event), separators=(",", ":")) + "\n"
        with self._lock:
            try:
                if self.path.stat().st_size + len(line) > self.max_bytes:
                    os.replace(self.path, self.path.with_name(FILE + ".1"))
            except FileNotFoundError:
                pass
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)


def _entries(f: TextIO, processor: str | None) -> Iterator[dict[str, Any]]:
    while True:
        pos = f.tell()
        line = f.readline()
        if not line.endswith("\n"):  # nothing more, or a line still being written
            f.seek(pos)
            return
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if processor is None or entry.get("processor") == processor:
            yield entry


def read_events(
    directory: Path,
    processor: str | None = None,
    follow: bool = False,
    stop: threading.Event | None = None,
    poll_s: float = 0.2,
) -> Iterator[dict[str, Any]]:
    """The log's entries (of one processor, if named); with `follow`, then every entry
    written after, across rotations, until `stop` is set."""
    path = directory / FILE
    stop = stop or threading.Event()
    f: TextIO | None = None
    inode = None
    try:
        while True:
            if f is None and path.exists():
                f = open(path, encoding="utf-8")
                inode = os.fstat(f.fileno()).st_ino
            if f is not None:
                yield from _entries(f, processor)
            if not follow or stop.is_set():
                return
            try:
                rotated = f is not None and os.stat(path).st_ino != inode
            except FileNotFoundError:
                rotated = False
            if rotated and f is not None:
                yield from _entries(f, processor)  # what the old file got before it moved
                f.close()
                f = None
                continue
            stop.wait(poll_s)
    finally:
        if f is not None:
            f.close()


def latest_events(
    directory: Path, processor: str | None, limit: int, max_bytes: int = 4 * 1024 * 1024
) -> list[dict[str, Any]]:
    """The newest `limit` entries (of one processor, if named), newest first, looked for in
    the last `max_bytes` of the log only: a long log is never read whole."""
    path = directory / FILE
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return []
    with f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - max_bytes)
        f.seek(start)
        if start:
            f.readline()  # a partial line
        found: deque[dict[str, Any]] = deque(maxlen=max(0, limit))
        for line in f:
            if not line.endswith(b"\n"):
                break  # still being written
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict) and (processor is None or e.get("processor") == processor):
                found.append(e)
    return list(found)[::-1]
