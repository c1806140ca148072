"""The attribute models from the catalogue, fetched and loaded only when first needed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from oculi.models.fetch import default_model_dir, model_paths
from oculi.models.runtime import OnnxModel, TfliteModel
from oculi.vision.attributes import MODELS_FOR

MODEL_NAMES = ("age", "gender", "emotion")


def models_for(attributes: Iterable[str]) -> list[str]:
    """The catalogue names the given Rekognition attributes need, without repeats."""
    names: list[str] = []
    for attr in attributes:
        for name in MODELS_FOR.get(attr, ()):
            if name not in names:
                names.append(name)
    return names


class AttributeModels(Mapping[str, Callable[[Any], Any]]):
    """Model name -> runnable session, each verified (and fetched, if allowed) and
    loaded on first access; thread-safe."""

    def __init__(
        self,
        model_dir: Path | None = None,
        threads: int = 1,
        device: str = "auto",
        auto_fetch: bool = True,
    ) -> None:
        self.model_dir = model_dir or default_model_dir()
        self.threads = threads
        self.device = device
        self.auto_fetch = auto_fetch
        self._loaded: dict[str, Callable[[Any], Any]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Callable[[Any], Any]:
        if name not in MODEL_NAMES:
            raise KeyError(name)
        with self._lock:
            if name not in self._loaded:
                (path,) = model_paths([name], self.model_dir, self.auto_fetch)
                if path.suffix == ".onnx":
                    self._loaded[name] = OnnxModel(path, self.threads, self.device)
                else:
                    self._loaded[name] = TfliteModel(path, self.threads)
            return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(MODEL_NAMES)

    def __len__(self) -> int:
        return len(MODEL_NAMES)


def load_attribute_models(
    model_dir: Path | None = None,
    threads: int = 1,
    attributes: Iterable[str] = (),
    device: str = "auto",
    auto_fetch: bool = True,
) -> AttributeModels:
    """Attribute models that load lazily; the ones `attributes` need are fetched and
    loaded now, so that a server fails at start rather than on its first request.

    The networks are small and run one face at a time: one thread each is fastest (two
    threads were 2-5x slower on a busy 2-core machine); parallelism belongs to requests."""
    models = AttributeModels(model_dir, threads, device, auto_fetch)
    for name in models_for(attributes):
        models[name]
    return models
