"""Progress of long command-line work: a one-line bar on a terminal, quiet in pipes.

On a terminal (the stream's isatty()) the bar is redrawn in place, at most ten times a
second. Elsewhere (pipes, log files, CI) nothing is drawn; with `lines=True` each step is
written as a plain log line instead, for work with few steps (the models `oculi serve`
loads), so that a log still says what a slow start was doing.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")
WIDTH = 30
REDRAW_S = 0.1


class Progress:
    """`update(done)` as work advances, `log(msg)` for a message, `close()` at the end."""

    def __init__(
        self,
        title: str,
        total: int | None = None,
        stream: IO[str] | None = None,
        lines: bool = False,
    ) -> None:
        self.title = title
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.lines = lines
        self.done = 0
        self.note = ""
        self._drawn = 0.0
        self._shown = False

    def _bar(self) -> str:
        if not self.total:
            return f"{self.title}: {self.done}"
        filled = round(WIDTH * min(self.done, self.total) / self.total)
        return f"{self.title} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total}"

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_S:
            return
        self._drawn = now
        line = self._bar() + (f" {self.note}" if self.note else "")
        width = shutil.get_terminal_size().columns - 1  # a wrapped line would not redraw
        self.stream.write("\r\x1b[K" + line[:width])
        self.stream.flush()
        self._shown = True

    def update(self, done: int, note: str = "") -> None:
        """Record progress (`done` of `total`), with an optional note of the current step."""
        changed = note != self.note
        self.done, self.note = done, note
        if self.tty:
            self._draw(force=changed or done == self.total)
        elif self.lines and note:
            total = f"/{self.total}" if self.total else ""
            print(f"{self.title}: [{done}{total}] {note}", file=self.stream, flush=True)

    def log(self, message: str) -> None:
        """A message that stays, as a plain line; on a terminal the bar is taken off its
        line first and drawn again below at the next update (so that output of a
        subprocess run after the message starts on a line of its own)."""
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self._shown = False
        print(message, file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar's line (on a terminal)."""
        if self.tty and self._shown:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def counted(items: Iterable[T], bar: Progress) -> Iterator[T]:
    """`items`, advancing `bar` by one for each."""
    for i, item in enumerate(items, 1):
        yield item
        bar.update(i)


def file_lines(f: IO[str], title: str) -> Iterator[str]:
    """The lines of a text file, with a bar over them (counted first when the file is
    seekable; a pipe's lines are only counted as they come)."""
    total = None
    if f.seekable():
        total = sum(1 for _ in f)
        f.seek(0)
    with Progress(title, total) as bar:
        yield from counted(f, bar)
