"""The shared-model cache: one load per (model folder, threads, device), also when many
requests ask at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from oculi.models.shared import shared


def test_loaded_once_per_key_even_under_concurrent_first_calls() -> None:
    calls: list[tuple[Path | None, int | None, str]] = []
    gate = threading.Event()

    def load(model_dir: Path | None, threads: int | None, device: str) -> object:
        gate.wait(5)  # every caller is waiting before the first load finishes
        calls.append((model_dir, threads, device))
        time.sleep(0.01)
        return object()

    get = shared(load)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(get, Path("/m"), 1, "cpu") for _ in range(8)]
        gate.set()
        got = {id(f.result()) for f in futures}
    assert len(got) == 1 and calls == [(Path("/m"), 1, "cpu")]
    assert get(Path("/m"), 2, "cpu") is not get(Path("/m"), 1, "cpu")
    assert get(Path("/m"), 1, "cpu") is get(Path("/m"), 1, "cpu")
    assert len(calls) == 2
