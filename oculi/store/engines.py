"""Which engine holds a server's face vectors, named by a URL (`--vector-url`,
`OCULI_VECTOR_URL`; docs/scale-out.md):

- unset: the embedded index (`oculi.store.vectors.VectorIndexes`, made by the caller, which
  knows the data directory);
- `postgresql://...` or `postgres://...`: PostgreSQL with pgvector (`oculi.store.pgvector`),
  possibly the store's own database;
- `milvus://host:port`: a Milvus server (`oculi.store.milvus`);
- `http://...` or `https://...`: a Qdrant server or cluster (`oculi.store.qdrant`); a
  location without a scheme (a folder, `:memory:`) is Qdrant's local mode, which only the
  older `--qdrant` setting names.

Every engine module is imported only when named (each needs its own optional packages)
and offers `open_indexes(url, store, dim) -> VectorBackend`: an object with `VectorIndexes`'
interface (`dim`, `lock`, `get(collection_id)`, `drop(collection_id)`, `close()`) whose
`get` returns an index with `ExactIndex`'s (`add`, `remove`, `search`, `len`). The face
store stays the source of truth: `oculi.service.collections` drops every search result the
store does not hold, whichever engine answered.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from oculi.store.faces import FaceStore

ENGINES = {
    "postgresql": "oculi.store.pgvector",
    "postgres": "oculi.store.pgvector",
    "milvus": "oculi.store.milvus",
    "http": "oculi.store.qdrant",
    "https": "oculi.store.qdrant",
}


class VectorIndex(Protocol):
    def __len__(self) -> int: ...

    def add(self, ids: list[str], vecs: np.ndarray) -> None: ...

    def remove(self, ids: list[str]) -> None: ...

    def search(
        self, query: np.ndarray, k: int, min_cosine: float = -1.0, exclude: str | None = None
    ) -> list[tuple[str, float]]: ...


class HeldIndex(VectorIndex, Protocol):
    """An external engine's index of one collection, which can list the ids it holds."""

    def ids(self) -> set[str]: ...


def match_store(store: FaceStore, collection_id: str, index: HeldIndex) -> None:
    """Make `index` hold exactly the store's faces of `collection_id`: strays removed,
    missing vectors added. The engine is read before the store, so a vector written after
    a store commit that this read misses is added again (harmless), never removed as a
    stray. The engines call it when their count says the two differ."""
    held = index.ids()
    ids, vecs = store.all_embeddings(collection_id)
    index.remove(sorted(held - set(ids)))
    missing = [i for i, fid in enumerate(ids) if fid not in held]
    if missing:
        index.add([ids[i] for i in missing], vecs[missing])


class VectorBackend(Protocol):
    dim: int
    lock: threading.RLock

    def get(self, collection_id: str) -> VectorIndex: ...

    def drop(self, collection_id: str) -> None: ...

    def close(self) -> None: ...


def engine_module(url: str) -> str:
    """The module of the engine `url` names (ValueError for a scheme no engine speaks)."""
    if "://" not in url:
        return "oculi.store.qdrant"  # --qdrant's folder or :memory:
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ENGINES:
        raise ValueError(
            f"vector engine URL {url.split('://', 1)[0]}://...: expected postgresql://, "
            "milvus:// or http(s):// (Qdrant)"
        )
    return ENGINES[scheme]


def vector_url(vector_url: str | None, qdrant: str | None) -> str | None:
    """The engine's location from `--vector-url` and the older `--qdrant` (which it
    replaced and which still works alone); ValueError when they disagree."""
    if vector_url and qdrant and vector_url != qdrant:
        raise ValueError(
            "--qdrant (OCULI_QDRANT) is replaced by --vector-url (OCULI_VECTOR_URL): "
            "give only --vector-url"
        )
    return vector_url or qdrant


def open_indexes(url: str, store: FaceStore, dim: int) -> VectorBackend:
    """Connect to the engine `url` names (its module imported now)."""
    module = importlib.import_module(engine_module(url))
    return module.open_indexes(url, store, dim)
