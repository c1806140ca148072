"""Bookkeeping shared by the atheris harnesses: run counting, slow-input capture, and a
summary printed when the requested number of runs is reached (libFuzzer's own exit skips
Python's atexit handlers, so the harness exits itself)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections import Counter
from pathlib import Path


class Tally:
    """Counts inputs and outcomes; saves inputs slower than `slow_s` to `artifacts`."""

    def __init__(self, name: str, argv: list[str], slow_s: float = 2.0) -> None:
        self.name = name
        self.runs = 0
        self.outcomes: Counter[str] = Counter()
        self.slow: list[tuple[str, float]] = []
        self.slow_s = slow_s
        self.started = time.monotonic()
        self.limit = 0
        self.artifacts = Path(os.environ.get("FUZZ_ARTIFACTS", "fuzz-artifacts"))
        for arg in argv:
            if arg.startswith("-atheris_runs="):
                # atheris counts its initial corpus pass too; stop ourselves at exactly N.
                self.limit = int(arg.split("=", 1)[1])
            if arg.startswith("-artifact_prefix="):
                self.artifacts = Path(arg.split("=", 1)[1])

    def record(self, outcome: str, data: bytes, elapsed: float) -> None:
        self.runs += 1
        self.outcomes[outcome] += 1
        if elapsed > self.slow_s:
            self.artifacts.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha1(data).hexdigest()
            path = self.artifacts / f"slow-{self.name}-{digest}"
            path.write_bytes(data)
            self.slow.append((str(path), elapsed))
            print(f"#SLOW {elapsed:.2f}s {len(data)} bytes -> {path}", file=sys.stderr, flush=True)
        if self.runs % 100_000 == 0:
            self.print_summary(final=False)
        if self.limit and self.runs >= self.limit:
            self.print_summary(final=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    def print_summary(self, final: bool) -> None:
        wall = time.monotonic() - self.started
        label = "DONE" if final else "PROGRESS"
        outcomes = ", ".join(f"{k}={v}" for k, v in self.outcomes.most_common())
        print(
            f"[{self.name}] {label}: {self.runs} inputs in {wall:.0f}s "
            f"({self.runs / max(wall, 1e-9):.0f}/s); crashes=0; slow(>{self.slow_s:g}s)="
            f"{len(self.slow)}; outcomes: {outcomes}",
            flush=True,
        )
        for path, elapsed in self.slow:
            print(f"[{self.name}]   slow input {path}: {elapsed:.2f}s", flush=True)
