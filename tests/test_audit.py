"""The audit log itself: crash recovery, a full disk, the keyed chain and tampering
(issue 12, findings 4, 5 and 18). API-level audit tests are in tests/test_privacy.py."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from oculi import audit as audit_mod
from oculi.audit import AuditLog, AuditWriteError, Caller, canonical, run_audited
from oculi.audit_key import AuditError, create_key
from oculi.errors import ResourceNotFound


def event(i: int, operation: str = "SearchFaces") -> dict:
    return {"operation": operation, "request_id": f"r{i}", "access_key": "AK", "outcome": "OK"}


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    """(audit directory inside a data dir, key file outside it)"""
    return tmp_path / "data" / "audit", tmp_path / "config" / "audit.key"


def opened(paths: tuple[Path, Path], appends: int = 0) -> AuditLog:
    log = AuditLog(*paths)
    log.start()
    for i in range(appends):
        log.append(event(i))
    return log


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def seqs(log: AuditLog) -> list[int]:
    return [r["seq"] for r in log.records()]


def test_records_are_keyed_and_the_key_lives_outside(paths) -> None:
    log = opened(paths, 3)
    v = log.verify()
    assert v.ok and v.records == 4 and not v.notes, v
    assert [r["operation"] for r in log.records()][0] == "AuditLogOpened"
    key_file = paths[1]
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in log.path.read_text()
    assert all("mac" in r and "hash" not in r for r in log.records())


def test_torn_last_line_is_cut_and_the_chain_goes_on(paths) -> None:
    """kill -9 in the middle of an append: a partial last line, the head one behind."""
    log = opened(paths, 3)
    head = log.head_path.read_text()
    whole = canonical({**event(9), "seq": 5}).decode()
    with open(log.path, "a") as f:
        f.write(whole[: len(whole) // 2])  # no newline: the write never completed
    v = log.verify()
    assert v.ok and v.records == 4 and "torn" in v.notes[0]
    restarted = opened(paths)
    assert restarted.head_path.read_text() != head
    restarted.append(event(10))
    assert seqs(restarted) == [1, 2, 3, 4, 5, 6]
    assert restarted.verify().ok


def test_head_behind_the_log_is_recovered_from_the_log(paths) -> None:
    """A crash after the record was fsynced and before the head was replaced: the next
    record must not reuse the sequence number (the chain broke for good before)."""
    log = opened(paths, 2)
    old_head = log.head_path.read_text()
    log.append(event(2))
    log.head_path.write_text(old_head)
    v = log.verify()
    assert v.ok and "lags" in v.notes[0], v
    restarted = opened(paths)
    restarted.append(event(3))
    assert seqs(restarted) == [1, 2, 3, 4, 5, 6]
    assert restarted.verify().ok


def test_head_ahead_of_the_log_is_a_recorded_gap(paths) -> None:
    """Records lost from the end (a disk that dropped writes, or a cut): verify fails, the
    restarted server records the gap in the chain and verify still checks what follows."""
    log = opened(paths, 3)
    log.path.write_text("".join(lines(log)[:-1]))
    v = log.verify()
    assert not v.ok and "cut off" in v.problems[0]
    restarted = opened(paths)
    restarted.append(event(7))
    records = list(restarted.records())
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[3]["operation"] == "AuditGap" and records[3]["head_count"] == 4
    v = restarted.verify()
    assert v.records == 6 and len(v.problems) == 1 and "were lost" in v.problems[0], v
    # ... and an edit after the gap is still found
    rest = lines(restarted)
    rec = json.loads(rest[-1])
    rec["outcome"] = "Nothing"
    restarted.path.write_text("".join(rest[:-1]) + canonical(rec).decode() + "\n")
    assert any("record 6: contents were edited" in p for p in restarted.verify().problems)


def full_disk(monkeypatch, after: int, truncate_fails: bool = False) -> None:
    """os.write in the audit module writes `after` bytes, then raises ENOSPC."""
    real = os.write

    def write(fd: int, data) -> int:
        if after and len(data) > after:
            real(fd, bytes(data[:after]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(audit_mod.os, "write", write)
    if truncate_fails:

        def ftruncate(fd: int, size: int) -> None:
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(audit_mod.os, "ftruncate", ftruncate)


@pytest.mark.parametrize("truncate_fails", [False, True])
def test_full_disk_refuses_the_record_and_leaves_no_half(
    paths, monkeypatch, truncate_fails
) -> None:
    log = opened(paths, 2)
    before = log.path.read_bytes()
    with monkeypatch.context() as m:
        full_disk(m, after=20, truncate_fails=truncate_fails)
        with pytest.raises(AuditWriteError) as e:
            log.append(event(5))
    assert e.value.code == "InternalServerError" and e.value.status == 500
    assert "No space left on device" in e.value.message
    if not truncate_fails:
        assert log.path.read_bytes() == before
    log.append(event(6))  # room again: the torn bytes are cut, the chain goes on
    assert seqs(log) == [1, 2, 3, 4]
    assert log.verify().ok


def test_full_disk_intent_stops_the_change(paths, monkeypatch) -> None:
    """An operation whose intent cannot be written never runs."""
    log = opened(paths)
    ran = []
    with monkeypatch.context() as m:
        full_disk(m, after=0)
        with pytest.raises(AuditWriteError):
            run_audited(
                log,
                "DeleteFaces",
                {"FaceIds": ["f"]},
                Caller(None, None, "r"),
                lambda: ran.append(1) or {},
            )
    assert ran == []
    assert [r["operation"] for r in log.records()] == ["AuditLogOpened"]


def test_intent_then_outcome_with_one_request_id(paths) -> None:
    log = opened(paths)
    params = {"CollectionId": "c", "FaceIds": ["f1"]}
    out = run_audited(
        log, "DeleteFaces", params, Caller("AK", "1.2.3.4", "req"), lambda: {"DeletedFaces": ["f1"]}
    )
    assert out == {"DeletedFaces": ["f1"]}
    with pytest.raises(ResourceNotFound):

        def missing() -> dict:
            raise ResourceNotFound("no")

        run_audited(
            log, "DeleteCollection", {"CollectionId": "x"}, Caller("AK", None, "r2"), missing
        )
    recs = list(log.records())[1:]
    assert [(r["operation"], r.get("phase"), r["outcome"], r["request_id"]) for r in recs] == [
        ("DeleteFaces", "intent", None, "req"),
        ("DeleteFaces", None, "OK", "req"),
        ("DeleteCollection", "intent", None, "r2"),
        ("DeleteCollection", None, "ResourceNotFoundException", "r2"),
    ]
    assert recs[0]["face_ids"] == ["f1"] and recs[1]["matches"] == 1
    assert log.verify().ok and not log.verify().notes


def test_an_intent_without_outcome_is_reported(paths) -> None:
    log = opened(paths)
    log.append({**event(1, "IndexFaces"), "phase": "intent", "outcome": None})
    v = log.verify()
    assert v.ok and "intent record and no outcome (records 2)" in v.notes[0]


def rewrite_head_without_key(log: AuditLog, count: int) -> None:
    rec = list(log.records())[count - 1]
    log.head_path.write_text(f"{count} {rec['mac']} {'0' * 64}\n")


@pytest.mark.parametrize("how", ["drop-last", "edit-last"])
def test_tail_tampering_with_a_rewritten_head_is_caught(paths, how) -> None:
    """The unkeyed chain let someone drop or edit the last record and recompute the head."""
    log = opened(paths, 3)
    body = lines(log)
    if how == "drop-last":
        log.path.write_text("".join(body[:-1]))
        rewrite_head_without_key(log, 3)
    else:
        rec = json.loads(body[-1])
        rec["access_key"] = "SOMEONE-ELSE"
        body[-1] = canonical(rec).decode() + "\n"
        log.path.write_text("".join(body))
    v = log.verify()
    assert not v.ok, v


def test_a_forged_record_with_a_recomputed_hash_is_caught(paths) -> None:
    """What a forger without the key can compute: sha256 of the record, as before."""
    log = opened(paths, 2)
    body = lines(log)
    rec = json.loads(body[-1])
    rec["access_key"] = "FORGED"
    rec["mac"] = hashlib.sha256(canonical({k: v for k, v in rec.items() if k != "mac"})).hexdigest()
    log.path.write_text("".join(body[:-1]) + canonical(rec).decode() + "\n")
    assert "record 3: contents were edited (MAC differs)" in log.verify().problems


def test_duplicate_keys_are_refused(paths) -> None:
    """A raw line showing one access_key while a parser keeps the other."""
    log = opened(paths, 2)
    body = lines(log)
    body[-1] = body[-1].replace('"access_key":"AK"', '"access_key":"FORGED","access_key":"AK"')
    log.path.write_text("".join(body))
    v = log.verify()
    assert any("duplicate key 'access_key'" in p for p in v.problems), v
    with pytest.raises(AuditError):
        list(log.records())


def test_a_deleted_log_is_a_failure_and_the_server_refuses_to_start_over(paths) -> None:
    log = opened(paths, 2)
    for f in log.directory.iterdir():
        f.unlink()
    log.directory.rmdir()
    v = log.verify()
    assert not v.ok and "deleted" in v.problems[0]
    with pytest.raises(AuditError, match="was deleted"):
        opened(paths)


def test_a_missing_log_next_to_a_face_store_is_a_failure(paths) -> None:
    audit_dir, _ = paths
    audit_dir.parent.mkdir(parents=True)
    (audit_dir.parent / "faces.sqlite3").write_bytes(b"")
    v = AuditLog(*paths).verify()
    assert not v.ok and "face store" in v.problems[0]


def test_a_wrong_or_missing_key_is_refused(paths, tmp_path) -> None:
    opened(paths, 1)
    other = tmp_path / "other.key"
    create_key(other)
    with pytest.raises(AuditError, match="does not verify"):
        AuditLog(paths[0], other).start()
    assert "a wrong key file?" in AuditLog(paths[0], other).verify().problems[0]
    paths[1].unlink()
    with pytest.raises(AuditError, match="key .* is missing"):
        opened(paths)
    assert AuditLog(*paths).verify().problems == (
        f"record 1 is keyed, but there is no key at {paths[1]} "
        "(--audit-key-file or OCULI_AUDIT_KEY_FILE)",
    )


def test_a_key_others_can_read_is_refused(paths) -> None:
    opened(paths)
    paths[1].chmod(0o644)
    with pytest.raises(AuditError, match="chmod 600"):
        opened(paths)


def legacy_log(audit_dir: Path, n: int) -> None:
    """A log as oculi wrote it before records were keyed: a sha256 chain."""
    audit_dir.mkdir(parents=True)
    prev, out = "0" * 64, []
    for i in range(1, n + 1):
        rec = {"seq": i, "time": 1.0, **event(i), "prev": prev}
        rec["hash"] = hashlib.sha256(canonical(rec)).hexdigest()
        out.append(canonical(rec).decode() + "\n")
        prev = rec["hash"]
    (audit_dir / "audit.jsonl").write_text("".join(out))
    (audit_dir / "audit.head").write_text(f"{n} {prev}\n")


def test_an_old_unkeyed_log_is_taken_over(paths) -> None:
    legacy_log(paths[0], 3)
    log = AuditLog(*paths)
    v = log.verify()
    assert v.ok and v.records == 3 and "before records were keyed" in v.notes[0]
    log.start()
    log.append(event(4))
    recs = list(log.records())
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert recs[3]["prev"] == recs[2]["hash"] and "mac" in recs[3]
    v = log.verify()
    assert v.ok and "records 1 to 3" in v.notes[0]
    # once keyed, an unkeyed record can no longer be slipped in, nor the log downgraded
    legacy_again = paths[0].parent.parent / "again"
    legacy_log(legacy_again, 2)
    (paths[0] / "audit.jsonl").write_text((legacy_again / "audit.jsonl").read_text())
    (paths[0] / "audit.head").write_text((legacy_again / "audit.head").read_text())
    assert not log.verify().ok


def test_a_change_whose_outcome_cannot_be_written_answers_the_truth(paths, monkeypatch) -> None:
    """The change took effect after its intent was written: answering an error would make
    the client retry (index the face again); the result is answered, verify lists it."""
    log = opened(paths)
    real = log.append

    def intent_only(event: dict) -> dict:
        if event.get("phase") != "intent":
            raise AuditWriteError("disk full")
        return real(event)

    monkeypatch.setattr(log, "append", intent_only)
    out = run_audited(
        log,
        "IndexFaces",
        {"CollectionId": "c"},
        Caller(None, None, "r"),
        lambda: {"FaceRecords": [1]},
    )
    assert out == {"FaceRecords": [1]}
    with pytest.raises(AuditWriteError):  # a search withholds its answer instead
        run_audited(log, "SearchFaces", {}, Caller(None, None, "s"), lambda: {"FaceMatches": []})
    v = log.verify()
    assert v.ok and "1 call(s) have an intent record and no outcome (records 2)" in v.notes[0]
