"""Per-key permissions: which operations a key may call, on which collections.

A key in the keys file may carry

    "allow": ["DetectFaces", "Search*"]          # operations (globs); default: all
    "collections": {"read": ["*"], "write": ["staff"], "search": ["staff"]}
    "expires": "2027-01-31T00:00:00Z"             # ISO-8601 with a UTC offset; default: never
    "s3_buckets": ["photos", "public-*"]          # buckets Image.S3Object may name; default: none

Collection access kinds: `search` for Search* operations, Start/GetFaceSearch (the
collection of the job it names) and Create/StartStreamProcessor (a FaceSearch
processor's), `read` for Describe*/List*, and `write` for every other operation that
names a collection (by CollectionId, or by the ResourceArn of a tag operation). A kind
left out of "collections" allows nothing of that kind; leaving "collections" out allows everything.
The keys file is checked strictly (`KeySpec.from_json`): a wrong type, an unknown field or
an empty string stops the server from starting, so that a typo never widens a key's rights.

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

_FIELDS = ("access_key_id", "secret_access_key", "allow", "collections", "expires", "s3_buckets")
_KINDS = ("read", "write", "search")
# Operations that search the collection they name (a stream processor's, for Create and Start)
SEARCHING = frozenset(
    {"StartFaceSearch", "GetFaceSearch", "CreateStreamProcessor", "StartStreamProcessor"}
)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} must be a non-empty string, not {value!r}")
    return value


def _texts(value: Any, where: str) -> tuple[str, ...]:
    """A list of non-empty strings (a lone string would be read letter by letter, and a
    '*' among them would allow everything)."""
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of non-empty strings, not {value!r}")
    return tuple(_text(item, f"{where}[{i}]") for i, item in enumerate(value))


@dataclass(frozen=True)
class KeySpec:
    access_key_id: str
    secret_access_key: str
    allow: tuple[str, ...] = ("*",)
    collections: dict[str, tuple[str, ...]] | None = None
    expires: datetime | None = None  # timezone-aware
    s3_buckets: tuple[str, ...] = ()  # bucket globs S3Object images may come from

    @classmethod
    def from_json(cls, doc: Any, where: str = "key") -> KeySpec:
        """One entry of the keys file, checked strictly: every field's type, no unknown
        fields, no empty strings. ValueError names the field (`where` names the entry)."""
        if not isinstance(doc, dict):
            raise ValueError(f"{where} must be an object, not {doc!r}")
        unknown = sorted(set(doc) - set(_FIELDS))
        if unknown:
            raise ValueError(f"{where} has unknown field(s) {unknown}; known: {list(_FIELDS)}")
        for required in ("access_key_id", "secret_access_key"):
            if required not in doc:
                raise ValueError(f"{where} has no {required}")
        access_key = _text(doc["access_key_id"], f"{where}.access_key_id")
        if any(c in access_key for c in "/, =") or not access_key.isprintable():
            raise ValueError(
                f"{where}.access_key_id {access_key!r} may not contain '/', ',', '=', spaces "
                "or control characters (SigV4 credentials could not name it)"
            )
        cols = None
        if "collections" in doc:
            raw = doc["collections"]
            if not isinstance(raw, dict):
                raise ValueError(f"{where}.collections must be an object, not {raw!r}")
            unknown = sorted(set(raw) - set(_KINDS))
            if unknown:
                raise ValueError(
                    f"{where}.collections has unknown access kind(s) {unknown}; known: "
                    f"{list(_KINDS)}"
                )
            cols = {k: _texts(v, f"{where}.collections.{k}") for k, v in raw.items()}
        return cls(
            access_key_id=access_key,
            secret_access_key=_text(doc["secret_access_key"], f"{where}.secret_access_key"),
            allow=_texts(doc["allow"], f"{where}.allow") if "allow" in doc else ("*",),
            collections=cols,
            expires=parse_expiry(doc["expires"], f"{where}.expires") if "expires" in doc else None,
            s3_buckets=_texts(doc["s3_buckets"], f"{where}.s3_buckets")
            if "s3_buckets" in doc
            else (),
        )

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires


def parse_expiry(value: Any, where: str = "expires") -> datetime:
    """An ISO-8601 timestamp that names its offset ("2027-01-31T00:00:00Z"): a time without
    one would depend on the server's time zone."""
    text = _text(value, where)
    try:
        expires = datetime.fromisoformat(
            text.replace("Z", "+00:00") if text.endswith("Z") else text
        )
    except ValueError:
        raise ValueError(f"{where} {value!r} is not an ISO-8601 time") from None
    if expires.utcoffset() is None:
        raise ValueError(f"{where} {value!r} has no UTC offset (end it with Z or +00:00)")
    return expires


def access_kind(operation: str) -> str:
    if operation.startswith("Search") or operation in SEARCHING:
        return "search"
    if operation.startswith(("Describe", "List")):
        return "read"
    return "write"


def _tagged_collection(arn: str | None) -> str | None:
    """The collection id a tag operation's ResourceArn ends with, if it names one."""
    if arn is None or ":collection/" not in arn:
        return None
    return arn.rsplit(":collection/", 1)[1]


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
    collection = params.get("CollectionId") or _tagged_collection(params.get("ResourceArn"))
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
