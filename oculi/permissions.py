"""Per-key permissions: which operations a key may call, on which collections.

A key in the keys file may carry

    "allow": ["DetectFaces", "Search*"]          # operations (globs); default: all
    "collections": {"read": ["*"], "write": ["staff"], "search": ["staff"]}
    "expires": "2027-01-31T00:00:00Z"             # ISO-8601 with a UTC offset; default: never
    "s3_buckets": ["photos", "public-*"]          # buckets Image.S3Object may name; default: none

Collection access kinds: `search` for Search* operations, `read` for Describe*/List*, and
`write` for every other operation that names a collection. A kind left out of
"collections" allows nothing of that kind; leaving "collections" out allows everything.

S3Object images are read with the server's own credentials, so a key may name only the
buckets its "s3_buckets" globs match: a key without the field reads no bucket (the key made
from OCULI_ACCESS_KEY_ID, which holds every permission, reads any).

The native endpoints need the rights of the Rekognition operations that would tell the
caller the same (`native_rights`): POST /oculi/redact needs DetectFaces, and with
faces=except|only&collection=C also SearchFacesByImage with search access to C; plates=1
and POST /oculi/plates need DetectText.
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
    s3_buckets: tuple[str, ...] = ()  # bucket globs S3Object images may come from

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
            s3_buckets=parse_buckets(doc.get("s3_buckets", [])),
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


def parse_buckets(value: Any) -> tuple[str, ...]:
    """The "s3_buckets" field: a list of bucket-name globs (strings)."""
    if not isinstance(value, list) or not all(isinstance(b, str) and b for b in value):
        raise ValueError(f"s3_buckets must be a list of bucket names or globs, not {value!r}")
    return tuple(value)


def access_kind(operation: str) -> str:
    if operation.startswith("Search"):
        return "search"
    if operation.startswith(("Describe", "List")):
        return "read"
    return "write"


def s3_objects(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The S3Object members of a request's images (Image, SourceImage, TargetImage, ...)."""
    return [v["S3Object"] for v in params.values() if isinstance(v, dict) and "S3Object" in v]


def may_access(key: KeySpec, kind: str, collection: str) -> bool:
    """Whether `key` has `kind` (read, write, search) access to `collection`."""
    if key.collections is None:
        return True
    return any(fnmatch.fnmatchcase(collection, p) for p in key.collections.get(kind, ()))


def authorize(key: KeySpec, operation: str, params: dict[str, Any]) -> None:
    """Raise AccessDenied unless `key` may call `operation` with `params`: the operation,
    the collection it names, and the S3 buckets its images come from."""
    if not any(fnmatch.fnmatchcase(operation, p) for p in key.allow):
        raise AccessDenied(f"Access key {key.access_key_id} is not allowed to call {operation}")
    collection = params.get("CollectionId")
    if collection is not None and not may_access(key, access_kind(operation), collection):
        raise AccessDenied(
            f"Access key {key.access_key_id} has no {access_kind(operation)} access to "
            f"collection {collection}"
        )
    for s3 in s3_objects(params):
        bucket = str(s3.get("Bucket", ""))
        if not any(fnmatch.fnmatchcase(bucket, p) for p in key.s3_buckets):
            raise AccessDenied(
                f"Access key {key.access_key_id} may not read S3 bucket {bucket} "
                "(its s3_buckets in the keys file)"
            )


def native_rights(
    faces: str | None, collection: str | None, plates: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The Rekognition operations (with the collection they name) whose rights a native
    call needs, so that it tells the caller no more than they would: finding faces
    (`faces` all|except|only) is DetectFaces, keeping or covering a collection's members
    searches it (SearchFacesByImage), reading plates reads text (DetectText)."""
    rights: list[tuple[str, dict[str, Any]]] = []
    if faces is not None:
        rights.append(("DetectFaces", {}))
    if collection is not None and faces in ("except", "only"):
        rights.append(("SearchFacesByImage", {"CollectionId": collection}))
    if plates:
        rights.append(("DetectText", {}))
    return rights
