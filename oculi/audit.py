"""The audit log: an append-only, hash-chained record of every identity operation.

One JSON object per line in `<data-dir>/audit/audit.jsonl`. Each record carries the hash
of the record before it (`prev`) and its own hash (`hash` = sha256 of the canonical JSON
of every other field), so editing or removing a record breaks the chain; `audit.head`
holds the count and last hash, written after every append, so cutting records off the end
is caught too. Each append is fsynced before the operation's answer is sent.

What this proves and what it does not: anyone who can rewrite the whole file *and* the
head can forge a consistent history; copy `oculi audit verify`'s head hash somewhere the
server cannot write (see SECURITY.md) to pin history up to that point.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oculi.permissions import s3_objects

GENESIS = "0" * 64

# Operations recorded, and how many results each answer counts.
AUDITED: dict[str, str | None] = {
    "CompareFaces": "FaceMatches",
    "IndexFaces": "FaceRecords",
    "SearchFaces": "FaceMatches",
    "SearchFacesByImage": "FaceMatches",
    "SearchUsers": "UserMatches",
    "SearchUsersByImage": "UserMatches",
    "DeleteFaces": "DeletedFaces",
    "DeleteCollection": None,
    "DeleteUser": None,
    "AssociateFaces": "AssociatedFaces",
    "DisassociateFaces": "DisassociatedFaces",
    "RetentionExpiry": "DeletedFaces",
    # the native endpoints (oculi/api/native.py)
    "Redact": None,
    "Plates": "Plates",
}
THRESHOLD_FIELDS = ("FaceMatchThreshold", "SimilarityThreshold", "UserMatchThreshold")


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    head: str
    problem: str = ""


class AuditLog:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "audit.jsonl"
        self.head_path = directory / "audit.head"
        self._lock = threading.Lock()

    def _read_head(self) -> tuple[int, str]:
        try:
            count, last = self.head_path.read_text().split()
            return int(count), last
        except (OSError, ValueError):
            return 0, GENESIS

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Chain, write and fsync one record; returns it with seq, prev and hash."""
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # also serialises other processes on this dir
            try:
                count, prev = self._read_head()
                record = {"seq": count + 1, "time": time.time(), **event, "prev": prev}
                record["hash"] = _digest(record)
                f.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
                f.flush()
                os.fsync(f.fileno())
                tmp = self.head_path.with_suffix(".tmp")
                tmp.write_text(f"{record['seq']} {record['hash']}\n")
                with open(tmp, "rb") as t:
                    os.fsync(t.fileno())
                os.replace(tmp, self.head_path)
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)

    def verify(self) -> Verification:
        prev, n = GENESIS, 0
        try:
            for n, rec in enumerate(self.records(), 1):
                if rec.get("seq") != n:
                    return Verification(
                        False,
                        n - 1,
                        prev,
                        f"record {n}: sequence number "
                        f"{rec.get('seq')} (a record was removed or inserted)",
                    )
                if rec.get("prev") != prev:
                    return Verification(
                        False, n - 1, prev, f"record {n}: chain broken (previous hash differs)"
                    )
                if _digest(rec) != rec.get("hash"):
                    return Verification(False, n - 1, prev, f"record {n}: contents were edited")
                prev = rec["hash"]
        except (ValueError, TypeError) as e:
            return Verification(False, n, prev, f"record {n + 1}: not valid JSON ({e})")
        count, head = self._read_head()
        if (count, head) != (n, prev):
            return Verification(
                False,
                n,
                prev,
                f"head says {count} records ending {head[:12]}, "
                f"the log has {n} ending {prev[:12]} (records cut off the end?)",
            )
        return Verification(True, n, prev)


def audited(operation: str, params: dict[str, Any]) -> bool:
    """Whether a call is recorded: an operation in AUDITED, or any call that has the server
    read an S3 object with its own credentials."""
    return operation in AUDITED or bool(s3_objects(params))


def event_for(
    operation: str,
    params: dict[str, Any],
    result: dict[str, Any] | None,
    error: str | None,
    access_key: str | None,
    source: str | None,
    request_id: str,
) -> dict[str, Any]:
    """The audit fields of one call (no images, no embeddings)."""
    count_field = AUDITED.get(operation)
    event: dict[str, Any] = {
        "operation": operation,
        "request_id": request_id,
        "access_key": access_key,
        "source": source,
        "collection": params.get("CollectionId"),
        "outcome": error or "OK",
    }
    for name in THRESHOLD_FIELDS:
        if name in params:
            event["threshold"] = params[name]
    for name in ("FaceId", "UserId"):
        if name in params:
            event[name[0].lower() + name[1:]] = params[name]
    if operation in ("DeleteFaces", "RetentionExpiry"):
        event["face_ids"] = params.get("FaceIds")
    objects = s3_objects(params)
    if objects:
        event["s3"] = [
            {"bucket": o.get("Bucket"), "key": o.get("Name"), "version": o.get("Version")}
            for o in objects
        ]
    if result is not None and count_field:
        event["matches"] = len(result.get(count_field, []))
    return event
