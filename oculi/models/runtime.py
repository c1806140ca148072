"""Inference sessions: onnxruntime (CPU, or CUDA when present) and LiteRT."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np


def default_threads() -> int:
    env = os.environ.get("OCULI_THREADS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)


def providers(device: str = "auto") -> list[str]:
    """onnxruntime providers: CUDA first where the runtime has it and device allows."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in have:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise RuntimeError(
            "device=cuda asked for, but onnxruntime has no CUDA provider (install oculi[gpu])"
        )
    return ["CPUExecutionProvider"]


class OnnxModel:
    """A thread-safe onnxruntime session with one input."""

    def __init__(
        self, path: Path, threads: int | None = None, device: str = "auto", arena: bool = True
    ) -> None:
        """`arena=False` leaves out onnxruntime's CPU memory arena, which keeps the largest
        buffers a session ever used: for models whose input sizes vary widely."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.enable_cpu_mem_arena = arena
        so.log_severity_level = 3
        so.intra_op_num_threads = threads or default_threads()
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=providers(device))
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = self.session.run(None, {self.input_name: x})
        return dict(zip(self.output_names, out))


class TfliteModel:
    """A LiteRT interpreter per calling thread (interpreters are not thread-safe)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = str(path)
        self.threads = threads or default_threads()
        self._local = threading.local()

    def _interpreter(self) -> Any:
        it = getattr(self._local, "it", None)
        if it is None:
            from ai_edge_litert.interpreter import Interpreter

            it = Interpreter(model_path=self.path, num_threads=self.threads)
            it.allocate_tensors()
            self._local.it = it
        return it

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        it = self._interpreter()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return [it.get_tensor(d["index"]) for d in it.get_output_details()]
