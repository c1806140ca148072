"""Loaded models shared by every request: one per (model folder, threads, device)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
Loader = Callable[[Path | None, int | None, str], T]


class Shared(Generic[T]):
    """`load(model_dir, threads, device)` memoised: loaded on the first call for a key, under
    a lock so that concurrent first requests load it once, then shared (onnxruntime sessions
    are thread-safe; `TfliteModel` gives each calling thread its own LiteRT interpreter)."""

    def __init__(self, load: Loader[T]) -> None:
        self._load = load
        self._loaded: dict[tuple[Path | None, int | None, str], T] = {}
        self._lock = threading.Lock()

    def __call__(self, model_dir: Path | None, threads: int | None, device: str) -> T:
        """The model `load` gives for these arguments, loaded once and shared."""
        key = (model_dir, threads, device)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = self._load(model_dir, threads, device)
            return self._loaded[key]

    def is_loaded(self, model_dir: Path | None, threads: int | None, device: str) -> bool:
        """Whether a call with these arguments has loaded the model already."""
        with self._lock:
            return (model_dir, threads, device) in self._loaded


def shared(load: Loader[T]) -> Shared[T]:
    return Shared(load)
