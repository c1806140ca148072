"""Inference sessions: onnxruntime (CPU, or CUDA when present) and LiteRT."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


# What LiteRT's C++ runtime writes to file descriptor 2 whenever an interpreter is made: noise
# on every command (TF_CPP_MIN_LOG_LEVEL does not silence it; measured with ai-edge-litert).
_LITERT_NOISE = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)
_STDERR_LOCK = threading.Lock()


@contextmanager
def _litert_stderr_filtered() -> Iterator[None]:
    """Catch what native code writes to fd 2 meanwhile, and write back all but the known
    start-up noise (other threads' output in that moment is kept, a little late). Locked:
    two threads swapping fd 2 at once could leave it pointing at the catch file."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [
                line
                for line in caught.read().splitlines(keepends=True)
                if line.rstrip() not in _LITERT_NOISE
            ]
            if kept:
                os.write(2, b"".join(kept))


class TfliteModel:
    """A LiteRT interpreter per calling thread (interpreters are not thread-safe)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.content = Path(path).read_bytes()  # loaded now: later threads need no file
        self.threads = threads or default_threads()
        self._local = threading.local()

    def _interpreter(self) -> Any:
        it = getattr(self._local, "it", None)
        if it is None:
            from ai_edge_litert.interpreter import Interpreter

            with _litert_stderr_filtered():  # allocate_tensors() announces XNNPACK
                it = Interpreter(model_content=self.content, num_threads=self.threads)
                it.allocate_tensors()
            self._local.it = it
        return it

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        it = self._interpreter()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return [it.get_tensor(d["index"]) for d in it.get_output_details()]
