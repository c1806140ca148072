"""Loaded models shared by every request: one per (model folder, threads, device)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
Loader = Callable[[Path | None, int | None, str], T]


def shared(load: Loader[T]) -> Loader[T]:
    """`load(model_dir, threads, device)` memoised: loaded on the first call for a key, under
    a lock so that concurrent first requests load it once, then shared (onnxruntime sessions
    are thread-safe; `TfliteModel` gives each calling thread its own LiteRT interpreter)."""
    loaded: dict[tuple[Path | None, int | None, str], T] = {}
    lock = threading.Lock()

    def get(model_dir: Path | None, threads: int | None, device: str) -> T:
        """The model `load` gives for these arguments, loaded once and shared."""
        key = (model_dir, threads, device)
        with lock:
            if key not in loaded:
                loaded[key] = load(model_dir, threads, device)
            return loaded[key]

    return get
