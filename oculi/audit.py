"""The audit log: an append-only, HMAC-chained record of every identity operation.

One JSON object per line in `<data-dir>/audit/audit.jsonl`, in canonical form (sorted keys,
no spaces, no duplicate keys). Each record carries the MAC of the record before it (`prev`)
and its own (`mac` = HMAC-SHA256, under a key kept outside the data directory
(oculi/audit_key.py), of the canonical JSON of every other field), so a record cannot be
edited, removed, inserted or forged without the key. `audit.head` holds the count and the
last MAC with a MAC of its own, written after every append, so records cut off the end are
caught too, unless an old head is put back with them (pin the head outside; SECURITY.md).

Ordering: a call that changes stored identities (MUTATING) writes and fsyncs an intent
record before it runs and an outcome record with the same request id after; a search
writes its record after it runs and before it answers. If a record cannot be written, the
call fails with InternalServerError before anything changed or was answered.

Crashes: a record exists once its line, newline included, is on disk. Opening the log for
appending cuts a torn last line (a crash or a full disk during a write), takes the
sequence number and MAC from the log's last record (not from the head, which may lag by
one), and records a gap when the head is ahead of the log. Logs written before records
were keyed (sha256 `hash` chains) still verify; the first keyed record continues their
chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oculi.audit_key import AuditError, create_key, key_id, load_key
from oculi.errors import OculiError
from oculi.permissions import s3_objects

log = logging.getLogger("oculi.audit")

GENESIS = "0" * 64
BLOCK = 64 * 1024
MAX_PROBLEMS = 20

# Operations recorded, and how many results each answer counts.
AUDITED: dict[str, str | None] = {
    "CompareFaces": "FaceMatches",
    "IndexFaces": "FaceRecords",
    "SearchFaces": "FaceMatches",
    "SearchFacesByImage": "FaceMatches",
    "SearchUsers": "UserMatches",
    "SearchUsersByImage": "UserMatches",
    "RecognizeCelebrities": "CelebrityFaces",
    "DeleteFaces": "DeletedFaces",
    "DeleteCollection": None,
    "DeleteUser": None,
    "AssociateFaces": "AssociatedFaces",
    "DisassociateFaces": "DisassociatedFaces",
    "RetentionExpiry": "DeletedFaces",
    # stored video: a face search's request, the matches its job found, and their reading
    "StartFaceSearch": None,
    "FaceSearchJob": "Matches",
    "GetFaceSearch": "Persons",
    "CelebrityRecognitionJob": "Celebrities",
    "GetCelebrityRecognition": "Celebrities",
    # stream processors: their life, each session a new server resumed or that ended on its
    # own, and every frame's identity matches (oculi/streams/runtime.py)
    "CreateStreamProcessor": None,
    "StartStreamProcessor": None,
    "StopStreamProcessor": None,
    # the console's live view: each frame shown, with how many boxes it had
    "GetStreamProcessorFrame": "Detections",
    "UpdateStreamProcessor": None,
    "DeleteStreamProcessor": None,
    "StreamProcessorSession": None,
    "StreamProcessorMatch": None,
    # the native endpoints (oculi/api/native.py)
    "Redact": None,
    "Plates": "Plates",
}
# Those that change stored identities: their intent is on disk before they run.
MUTATING = frozenset(
    {
        "IndexFaces",
        "DeleteFaces",
        "DeleteCollection",
        "DeleteUser",
        "AssociateFaces",
        "DisassociateFaces",
        "RetentionExpiry",
    }
)
THRESHOLD_FIELDS = ("FaceMatchThreshold", "SimilarityThreshold", "UserMatchThreshold")


class AuditWriteError(OculiError):
    """A record could not be written. InternalServerError (HTTP 500), which SDKs retry:
    safe, because nothing was changed or answered, and a retry may find room again."""

    code = "InternalServerError"
    status = 500


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def _mac(key: bytes, record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "mac"}
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def _legacy_digest(record: dict[str, Any]) -> str:
    """The unkeyed chain of logs written before records were keyed."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _head_mac(key: bytes, count: int, link: str) -> str:
    return hmac.new(key, f"head {count} {link}".encode(), hashlib.sha256).hexdigest()


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def parse_line(line: bytes) -> dict[str, Any]:
    """One record; ValueError unless it is a JSON object in canonical form (so the raw
    line shows exactly what was MACed: no duplicate keys, no alternative spellings)."""
    rec = json.loads(line, object_pairs_hook=_unique)
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    if canonical(rec) != line.rstrip(b"\n"):
        raise ValueError("not in canonical form")
    return rec


def _link(rec: dict[str, Any]) -> str:
    return str(rec.get("mac") or rec.get("hash") or "")


@dataclass(frozen=True)
class _Tail:
    """The log as this process last left it: bytes of complete records, last record."""

    size: int
    seq: int
    link: str
    keyed: bool


@dataclass(frozen=True)
class _Head:
    count: int
    link: str
    mac: str | None  # None in heads written before records were keyed


@dataclass(frozen=True)
class Verification:
    records: int
    head: str
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(28, "No space left on device")
        view = view[n:]


def _last_line(fd: int) -> tuple[int, int, bytes]:
    """(file size, end of the last complete line, that line or b"")."""
    size = os.fstat(fd).st_size
    data, pos = b"", size
    while pos > 0:
        step = min(BLOCK, pos)
        pos -= step
        data = os.pread(fd, step, pos) + data
        nl = data.rfind(b"\n")
        if nl < 0:
            continue
        start = data.rfind(b"\n", 0, nl)
        if start >= 0 or pos == 0:
            return size, pos + nl + 1, data[start + 1 : nl + 1]
    return size, 0, b""


class AuditLog:
    def __init__(self, directory: Path, key_file: Path) -> None:
        self.directory = directory
        self.path = directory / "audit.jsonl"
        self.head_path = directory / "audit.head"
        self.key_file = key_file
        self._lock = threading.Lock()
        self._key: bytes | None = None
        self._tail: _Tail | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The log's descriptor under an exclusive lock (also against other processes)."""
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def _recover(self, fd: int) -> _Tail:
        """Cut a torn last line, and read the last record (checking its MAC)."""
        size, end, line = _last_line(fd)
        if end < size:  # an append that never completed: never acknowledged, not a record
            os.ftruncate(fd, end)
            os.fsync(fd)
            log.warning("audit: cut %d bytes of a torn last line from %s", size - end, self.path)
        if not line:
            return _Tail(0, 0, GENESIS, False)
        try:
            rec = parse_line(line)
        except ValueError as e:
            raise AuditError(
                f"the last record of {self.path} is unreadable ({e}); see `oculi audit verify`"
            ) from None
        keyed = "mac" in rec
        key = self._key
        if keyed and key is not None and not hmac.compare_digest(_mac(key, rec), rec["mac"]):
            raise AuditError(
                f"the last record of {self.path} does not verify with the key {self.key_file}: "
                "a wrong key file, or an edited log; see `oculi audit verify`"
            )
        return _Tail(end, int(rec["seq"]), _link(rec), keyed)

    def start(self) -> None:
        """Open the log for appending (the server does this at start-up): create the key on
        first use, refuse a log that lost its records or does not fit the key, recover the
        tail after a crash, record a gap when the head is ahead, and record the opening."""
        try:
            self._start()
        except OSError as e:
            raise AuditError(f"cannot open the audit log {self.path}: {e}") from None

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock, self._locked() as fd:
            key = load_key(self.key_file)
            self._key = key
            tail = self._recover(fd)
            if key is None:
                if tail.keyed:
                    raise AuditError(
                        f"the audit log {self.path} is keyed, but its key {self.key_file} is "
                        "missing: give the key it was written with (--audit-key-file or "
                        "OCULI_AUDIT_KEY_FILE)"
                    )
                key = self._key = create_key(self.key_file)
            elif not tail.keyed:
                raise AuditError(
                    f"the audit key {self.key_file} exists, but the log {self.path} has no "
                    "keyed records: it was deleted, emptied or replaced. Restore it from a "
                    "backup; to start a new log on purpose (or after a first start that was "
                    "killed at once), move the key file away"
                )
            self._tail = tail
            head = self._read_head()
            if head is not None and head.count > tail.seq:
                self._append(
                    fd,
                    {
                        "operation": "AuditGap",
                        "outcome": "RecordsLost",
                        "head_count": head.count,
                        "log_count": tail.seq,
                    },
                )
            self._append(
                fd,
                {
                    "operation": "AuditLogOpened",
                    "outcome": "OK",
                    "key_id": key_id(key),
                    "pid": os.getpid(),
                },
            )

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Chain, write and fsync one record; returns it with seq, prev and mac.
        AuditWriteError when it could not be written (nothing of it stays in the log)."""
        with self._lock:
            try:
                with self._locked() as fd:
                    if self._key is None:
                        raise AuditError("the audit log was not started")
                    if self._tail is None or self._tail.size != os.fstat(fd).st_size:
                        # another process appended, or an earlier failure left bytes behind
                        self._tail = self._recover(fd)
                    return self._append(fd, event)
            except (OSError, AuditError) as e:
                self._tail = None
                reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                raise AuditWriteError(
                    f"the audit log cannot be written ({reason}): the call was refused and "
                    "nothing was changed"
                ) from e

    def _append(self, fd: int, event: dict[str, Any]) -> dict[str, Any]:
        tail, key = self._tail, self._key
        assert tail is not None and key is not None
        record = {"seq": tail.seq + 1, "time": time.time(), **event, "prev": tail.link}
        record["mac"] = _mac(key, record)
        line = canonical(record) + b"\n"
        try:
            _write_all(fd, line)
            os.fsync(fd)
        except OSError:
            self._tail = None
            with contextlib.suppress(OSError):  # else the next append cuts it (_recover)
                os.ftruncate(fd, tail.size)
                os.fsync(fd)
            raise
        self._tail = _Tail(tail.size + len(line), record["seq"], record["mac"], True)
        try:
            self._write_head(key, record["seq"], record["mac"])
        except OSError as e:  # the record stands; the head catches up on the next append
            log.warning("audit: head not updated after record %d (%s)", record["seq"], e)
        return record

    def _write_head(self, key: bytes, count: int, link: str) -> None:
        tmp = self.head_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, f"{count} {link} {_head_mac(key, count, link)}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.head_path)

    def _read_head(self) -> _Head | None:
        try:
            parts = self.head_path.read_text().split()
        except OSError:
            return None
        try:
            if len(parts) == 2:
                return _Head(int(parts[0]), parts[1], None)
            if len(parts) == 3:
                return _Head(int(parts[0]), parts[1], parts[2])
        except ValueError:
            pass
        return _Head(-1, "", "")  # unreadable: verify reports it

    def _lines(self) -> Iterator[tuple[bytes, bool]]:
        """Each line of the log and whether it is complete (ends with its newline)."""
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return
        with f:
            for line in f:
                yield line, line.endswith(b"\n")

    def records(self) -> Iterator[dict[str, Any]]:
        """The complete records, in order; AuditError at the first unreadable one."""
        for n, (line, complete) in enumerate(self._lines(), 1):
            if not complete:
                return
            try:
                yield parse_line(line)
            except ValueError as e:
                raise AuditError(f"record {n} is unreadable: {e}") from None

    def verify(self) -> Verification:
        """Check every record and the head; reads only, and goes on past a bad record."""
        try:
            key = load_key(self.key_file)
        except AuditError as e:
            return Verification(0, GENESIS, (str(e),))
        head = self._read_head()
        problems: list[str] = []
        notes: list[str] = []
        expect: str | None = GENESIS
        n = keyed = forged = legacy = 0
        head_link = None
        pending: dict[str, int] = {}
        for line, complete in self._lines():
            if not complete:
                notes.append(
                    "a torn last line (a crash or a full disk during an append; that call "
                    "was never answered) is ignored; the server cuts it when it starts"
                )
                break
            n += 1
            if len(problems) > MAX_PROBLEMS:
                expect = None
                continue
            try:
                rec = parse_line(line)
            except ValueError as e:
                problems.append(f"record {n}: unreadable ({e})")
                expect = None
                continue
            if rec.get("seq") != n:
                problems.append(
                    f"record {n}: sequence number {rec.get('seq')} (a record was removed or "
                    "inserted)"
                )
            if expect is not None and rec.get("prev") != expect:
                problems.append(f"record {n}: chain broken (the record before it differs)")
            if "mac" in rec:
                keyed += 1
                if key is None:
                    problem = (
                        f"record {n} is keyed, but there is no key at {self.key_file} "
                        "(--audit-key-file or OCULI_AUDIT_KEY_FILE)"
                    )
                    return Verification(n - 1, expect or GENESIS, (*problems, problem))
                if not hmac.compare_digest(_mac(key, rec), str(rec["mac"])):
                    forged += 1
                    problems.append(f"record {n}: contents were edited (MAC differs)")
            elif "hash" in rec and not keyed:
                legacy += 1
                if _legacy_digest(rec) != rec["hash"]:
                    problems.append(f"record {n}: contents were edited (hash differs)")
            else:
                problems.append(f"record {n}: has no MAC")
            if rec.get("operation") == "AuditGap":
                problems.append(
                    f"record {n}: records {rec.get('log_count', 0) + 1} to "
                    f"{rec.get('head_count')} were lost before a restart (the head was ahead "
                    "of the log)"
                )
            request_id = str(rec.get("request_id"))
            if rec.get("phase") == "intent":
                pending[request_id] = n
            else:
                pending.pop(request_id, None)
            if head is not None and n == head.count:
                head_link = _link(rec)
            expect = _link(rec)
        if keyed and forged == keyed:
            problems = [f"no record verifies with the key {self.key_file}: a wrong key file?"]
        problems += self._missing(key, n, keyed)
        problems += self._check_head(key, head, n, keyed, head_link)
        if legacy:
            notes.append(
                f"records 1 to {legacy} were written before records were keyed: their "
                "plain SHA-256 chain could have been recomputed by anyone able to write the file"
            )
        if head is not None and 0 <= head.count < n:
            notes.append(
                f"the head lags the log by {n - head.count} record(s): the server stopped, "
                "or the disk was full, between an append and its head update"
            )
        if pending:
            seqs = ", ".join(map(str, sorted(pending.values())[:10]))
            notes.append(
                f"{len(pending)} call(s) have an intent record and no outcome (records {seqs}"
                f"{', ...' if len(pending) > 10 else ''}): the server stopped, or could not "
                "write the outcome, while they ran; each may or may not have taken effect"
            )
        return Verification(n, expect or GENESIS, tuple(problems), tuple(notes))

    def _missing(self, key: bytes | None, n: int, keyed: int) -> list[str]:
        """A log that should have records and has none (or no keyed ones)."""
        if key is not None and keyed == 0:
            return [
                f"the log has no keyed records, but its key {self.key_file} exists (made when "
                "the log was started): the log was deleted, emptied or replaced"
            ]
        if n == 0 and (self.directory.parent / "faces.sqlite3").exists():
            return ["there is no audit log, but the data directory holds a face store"]
        return []

    def _check_head(
        self, key: bytes | None, head: _Head | None, n: int, keyed: int, link: str | None
    ) -> list[str]:
        if n == 0:
            return []
        if head is None:
            return ["audit.head is missing"]
        if head.count < 0:
            return ["audit.head is unreadable"]
        if head.count > n:
            return [
                f"the head says {head.count} records, the log has {n}: records were cut off the end"
            ]
        if (
            keyed
            and key is not None
            and (
                head.mac is None
                or not hmac.compare_digest(_head_mac(key, head.count, head.link), head.mac)
            )
        ):
            return ["audit.head was edited (its MAC differs)"]
        if link is not None and head.link != link:
            return [f"the head's last MAC is not record {head.count}'s"]
        return []


@dataclass(frozen=True)
class Caller:
    """Who made a call: the verified access key (None when keys are off), the key the
    request merely claimed when keys are off, the source address and the request id."""

    access_key: str | None
    source: str | None
    request_id: str
    claimed_access_key: str | None = None


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
    claimed_access_key: str | None = None,
) -> dict[str, Any]:
    """The audit fields of one call (no images, no embeddings). `claimed_access_key` is
    the unverified key of a request made while authentication is off."""
    count_field = AUDITED.get(operation)
    event: dict[str, Any] = {
        "operation": operation,
        "request_id": request_id,
        "access_key": access_key,
        "source": source,
        "collection": params.get("CollectionId"),
        "outcome": error or "OK",
    }
    if claimed_access_key is not None:
        event["claimed_access_key"] = claimed_access_key
    for name in THRESHOLD_FIELDS:
        if name in params:
            event["threshold"] = params[name]
    if operation.endswith(("StreamProcessor", "StreamProcessorSession", "StreamProcessorFrame")):
        event["processor"] = params.get("Name")
        face_search = (params.get("Settings") or {}).get("FaceSearch") or {}
        event["collection"] = event["collection"] or face_search.get("CollectionId")
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


def run_audited(
    audit: AuditLog,
    operation: str,
    params: dict[str, Any],
    caller: Caller,
    run: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run one audited call: a mutating call's intent is on disk before it runs; its
    outcome (and a search's only record) is on disk before the answer. AuditWriteError
    when a record that must come first cannot be written."""

    def record(result: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
        return event_for(
            operation,
            params,
            result,
            error,
            caller.access_key,
            caller.source,
            caller.request_id,
            caller.claimed_access_key,
        )

    if operation in MUTATING:
        audit.append({**record(None, None), "phase": "intent", "outcome": None})
    try:
        result = run()
    except OculiError as e:
        audit.append(record(None, e.code))
        raise
    except Exception:
        audit.append(record(None, "InternalServerError"))
        raise
    try:
        audit.append(record(result, None))
    except AuditWriteError:
        if operation not in MUTATING:
            raise  # nothing answered: as if the search never ran
        # It took effect and its intent is in the log: answer the truth, not an error a
        # client would retry (indexing the face again); verify lists the missing outcome.
        log.error(
            "audit: %s %s took effect, its outcome record could not be written",
            operation,
            caller.request_id,
        )
    return result
