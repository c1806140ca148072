"""What the data directory calls a collection: never the caller's id itself.

A CollectionId is a caller's string; used as a file name, `..` named the data directory
itself and `.` every collection's folder (SECURITY.md). On disk a collection is known by
`storage_name`, the hex SHA-256 of its id: fixed length, only [0-9a-f], the same in every
process and across restarts, so nothing needs a lookup table that could go out of step.
"""

from __future__ import annotations

import hashlib


def storage_name(collection_id: str) -> str:
    """The collection's name in the data directory (64 hex digits)."""
    return hashlib.sha256(collection_id.encode("utf-8", "surrogatepass")).hexdigest()


def only_dots(collection_id: str) -> bool:
    """`.`, `..` and the like: ids the model's pattern allows and oculi refuses."""
    return not collection_id.strip(".")
