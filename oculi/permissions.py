"""Per-key permissions: which operations a key may call, on which collections.

A key in the keys file may carry

    "allow": ["DetectFaces", "Search*"]          # operations (globs); default: all
    "collections": {"read": ["*"], "write": ["staff"], "search": ["staff"]}
    "expires": "2027-01-31T00:00:00Z"             # ISO-8601 with a UTC offset; default: never

Collection access kinds: `search` for Search* operations, `read` for Describe*/List*, and
`write` for every other operation that names a collection (by CollectionId, or by the
ResourceArn of a tag operation). A kind left out of "collections" allows nothing of that
kind; leaving "collections" out allows everything.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oculi.errors import AccessDenied


@dataclass(frozen=True)
class KeySpec:
    access_key_id: str
    secret_access_key: str
    allow: tuple[str, ...] = ("*",)
    collections: dict[str, tuple[str, ...]] | None = None
    expires: datetime | None = None  # timezone-aware

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> KeySpec:
        cols = doc.get("collections")
        if cols is not None:
            unknown = set(cols) - {"read", "write", "search"}
            if unknown:
                raise ValueError(f"unknown collection access kind(s): {sorted(unknown)}")
            cols = {k: tuple(str(p) for p in v) for k, v in cols.items()}
        return cls(
            access_key_id=str(doc["access_key_id"]),
            secret_access_key=str(doc["secret_access_key"]),
            allow=tuple(str(p) for p in doc.get("allow", ["*"])),
            collections=cols,
            expires=parse_expiry(doc["expires"]) if "expires" in doc else None,
        )

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires


def parse_expiry(value: Any) -> datetime:
    """An ISO-8601 timestamp that names its offset ("2027-01-31T00:00:00Z"): a time without
    one would depend on the server's time zone."""
    expires = datetime.fromisoformat(str(value))
    if expires.utcoffset() is None:
        raise ValueError(f"expires {value!r} has no UTC offset (end it with Z or +00:00)")
    return expires


def access_kind(operation: str) -> str:
    if operation.startswith("Search"):
        return "search"
    if operation.startswith(("Describe", "List")):
        return "read"
    return "write"


def _tagged_collection(arn: str | None) -> str | None:
    """The collection id a tag operation's ResourceArn ends with, if it names one."""
    if arn is None or ":collection/" not in arn:
        return None
    return arn.rsplit(":collection/", 1)[1]


def authorize(key: KeySpec, operation: str, params: dict[str, Any]) -> None:
    """Raise AccessDenied unless `key` may call `operation` with `params`."""
    if not any(fnmatch.fnmatchcase(operation, p) for p in key.allow):
        raise AccessDenied(f"Access key {key.access_key_id} is not allowed to call {operation}")
    collection = params.get("CollectionId") or _tagged_collection(params.get("ResourceArn"))
    if collection is None or key.collections is None:
        return
    kind = access_kind(operation)
    if not any(fnmatch.fnmatchcase(collection, p) for p in key.collections.get(kind, ())):
        raise AccessDenied(
            f"Access key {key.access_key_id} has no {kind} access to collection {collection}"
        )
