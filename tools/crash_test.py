"""Kill oculi with SIGKILL at random moments while clients index and delete faces, restart
it, and check that every acknowledged face is there and every acknowledged deletion held:
in the store (ListFaces, and DescribeCollection's FaceCount) and in the vector index (a
SearchFaces that returns every face must return exactly the stored ones).

The audit log must survive every kill too: `oculi audit verify` passes after each kill and
after each restart, and every acknowledged deletion is in it. Besides the random kills,
every other cycle leaves the log as a kill in the middle of an audited write would: a
torn last line, and the head behind the log (an older copy put back).

    python tools/crash_test.py --cycles 20 --images tests/fixtures/people/train
    python tools/crash_test.py --cycles 20 --ann-threshold 10   # AnnIndex and its snapshots

After the last start the server is stopped cleanly, and no file of the data directory may
still hold the FaceId of an acknowledged deletion (the audit log, which records deletions,
and the server's log excepted): deleted faces leave no copy behind, even when kills cut
the scrubbing that follows a deletion short (SECURITY.md, "Data at rest").

Exits non-zero on the first lost face, resurrected deletion, leftover copy or failed audit
check.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

COLLECTION = "crash-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(key_file: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if key_file is not None:
        env["OCULI_AUDIT_KEY_FILE"] = str(key_file)
    return env


def start(
    data_dir: Path, port: int, log, ann_threshold: int | None, key_file: Path | None
) -> subprocess.Popen:
    env = server_env(key_file)
    env["OCULI_MATCH_FLOOR"] = "0"  # let the index check ask for every face
    env["OCULI_STRANGERS_PER_SEARCH"] = "0"  # at any collection size
    if ann_threshold is not None:
        env["OCULI_ANN_THRESHOLD"] = str(ann_threshold)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oculi", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited during start") from None
            time.sleep(0.1)
    raise TimeoutError("server did not start")


def client(port: int):
    return boto3.client(
        "rekognition",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 0}, read_timeout=30),
    )


def check(port: int, cycle: int, added: set[str], deleted: set[str], in_doubt: set[str]) -> bool:
    """After a (re)start: every acknowledged add is stored, no acknowledged delete is.
    A delete sent but never answered (`in_doubt`: the kill came first) may or may not
    have committed; whichever the store shows now is settled and must hold from here on."""
    c = client(port)
    try:
        c.create_collection(CollectionId=COLLECTION)
    except c.exceptions.ResourceAlreadyExistsException:
        pass
    faces: set[str] = set()
    for page in c.get_paginator("list_faces").paginate(CollectionId=COLLECTION):
        faces |= {f["FaceId"] for f in page["Faces"]}
    settled = in_doubt - faces  # those deletes did commit: they count as acknowledged
    deleted |= settled
    in_doubt.clear()
    lost = (added - deleted) - faces
    back = deleted & faces
    count = c.describe_collection(CollectionId=COLLECTION)["FaceCount"]
    indexed = searchable(c, faces)
    print(
        f"start {cycle}: {len(faces)} faces stored, {len(added)} acknowledged adds, "
        f"{len(deleted)} deletes ({len(settled)} unanswered but committed), "
        f"lost {len(lost)}, resurrected {len(back)}, "
        f"FaceCount {count}, index {'matches' if indexed == faces else 'DIFFERS'}",
        flush=True,
    )
    if lost or back:
        print(f"FAIL: lost {sorted(lost)[:5]} resurrected {sorted(back)[:5]}")
    if indexed != faces:
        print(
            f"FAIL: index lacks {sorted(faces - indexed)[:5]}, "
            f"holds deleted {sorted(indexed - faces)[:5]}"
        )
    if count != len(faces):
        print(f"FAIL: FaceCount {count} for {len(faces)} faces")
    return not (lost or back) and indexed == faces and count == len(faces)


def searchable(c, faces: set[str]) -> set[str]:
    """The faces the vector index holds: one stored face and all the faces a search from
    it returns at threshold 0 (the collection stays far below SearchFaces' 4096)."""
    if not faces:
        return set()
    probe = min(faces)
    r = c.search_faces(CollectionId=COLLECTION, FaceId=probe, MaxFaces=4096, FaceMatchThreshold=0)
    return {probe} | {m["Face"]["FaceId"] for m in r["FaceMatches"]}


def audit(data_dir: Path, key_file: Path | None, action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oculi", "audit", action, "--data-dir", str(data_dir)],
        env=server_env(key_file),
        capture_output=True,
        text=True,
        timeout=120,
    )


def audit_holds(data_dir: Path, key_file: Path | None, when: str, deleted: set[str]) -> bool:
    """`oculi audit verify` passes, and every acknowledged deletion is in an intent record
    (on disk before the face was touched)."""
    v = audit(data_dir, key_file, "verify")
    if v.returncode != 0:
        print(f"FAIL: audit verify {when}: {v.stdout}{v.stderr}")
        return False
    records = [json.loads(line) for line in audit(data_dir, key_file, "export").stdout.splitlines()]
    intents = {
        face_id
        for r in records
        if r["operation"] == "DeleteFaces" and r.get("phase") == "intent"
        for face_id in r["face_ids"]
    }
    notes = sum(line.startswith("note:") for line in v.stderr.splitlines())
    print(f"  audit {when}: {v.stdout.split(';')[0]}, {notes} note(s)", flush=True)
    missing = deleted - intents
    if missing:
        print(f"FAIL: deletions without an intent record: {sorted(missing)[:5]}")
    return not missing


def mid_write_crash(data_dir: Path, rng: random.Random, old_head: bytes | None) -> str:
    """Leave the log as a kill in the middle of an append would: a torn last line (the
    write cut short), and the head behind the log (the head not yet replaced)."""
    log = data_dir / "audit" / "audit.jsonl"
    last = log.read_bytes().splitlines()[-1]
    with open(log, "ab") as f:
        f.write(last[: rng.randrange(1, len(last))])
    if old_head is not None:
        (data_dir / "audit" / "audit.head").write_bytes(old_head)
        return "torn last line, head put back"
    return "torn last line"


def leftovers(data_dir: Path, deleted: set[str]) -> list[str]:
    """'<face id> in <file>' for each deleted face id found in a data-directory file other
    than the audit log and the server's log."""
    found = []
    for f in sorted(data_dir.rglob("*")):
        rel = f.relative_to(data_dir)
        if not f.is_file() or rel.parts[0] == "audit" or f.name == "server.log":
            continue
        raw = f.read_bytes()
        found += [f"{fid} in {rel}" for fid in sorted(deleted) if fid.encode() in raw]
    return found


def run(
    cycles: int,
    images: list[Path],
    seed: int,
    data_dir: Path,
    ann_threshold: int | None = None,
    key_file: Path | None = None,
) -> int:
    rng = random.Random(seed)
    added: set[str] = set()
    deleted: set[str] = set()
    in_doubt: set[str] = set()  # deletes sent whose answer the kill cut off
    lock = threading.Lock()
    port = free_port()
    log = open(data_dir / "server.log", "ab")
    for cycle in range(cycles):
        proc = start(data_dir, port, log, ann_threshold, key_file)
        if not check(port, cycle, added, deleted, in_doubt) or not audit_holds(
            data_dir, key_file, "after the restart", deleted
        ):
            proc.kill()
            return 1
        stop = threading.Event()
        old_head = (data_dir / "audit" / "audit.head").read_bytes()

        def work(n: int, stop: threading.Event, cycle: int) -> None:
            wc = client(port)
            r = random.Random(seed * 1000 + cycle * 10 + n)
            while not stop.is_set():
                try:
                    if n == 0 or r.random() < 0.7:
                        img = images[r.randrange(len(images))].read_bytes()
                        out = wc.index_faces(
                            CollectionId=COLLECTION,
                            Image={"Bytes": img},
                            MaxFaces=1,
                            QualityFilter="NONE",
                        )
                        with lock:
                            added.update(f["Face"]["FaceId"] for f in out["FaceRecords"])
                    else:
                        with lock:
                            live = sorted(added - deleted)
                        if live:
                            victim = r.choice(live)
                            with lock:
                                in_doubt.add(victim)
                            wc.delete_faces(CollectionId=COLLECTION, FaceIds=[victim])
                            with lock:  # answered: gone now, by this call or an earlier one
                                deleted.add(victim)
                                in_doubt.discard(victim)
                except (BotoCoreError, ClientError, OSError):
                    return  # the server was killed under us: unacknowledged, not counted

        threads = [threading.Thread(target=work, args=(n, stop, cycle)) for n in range(3)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        if not audit_holds(data_dir, key_file, "after the kill", deleted):
            return 1
        if cycle % 2:
            how = mid_write_crash(data_dir, rng, old_head if cycle % 4 == 3 else None)
            print(f"  left as a kill mid-append leaves it: {how}", flush=True)
    proc = start(data_dir, port, log, ann_threshold, key_file)
    ok = check(port, cycles, added, deleted, in_doubt) and audit_holds(
        data_dir, key_file, "at the end", deleted
    )
    proc.terminate()
    proc.wait()
    if not ok:
        return 1
    left = leftovers(data_dir, deleted)
    if left:
        print(f"FAIL: {len(left)} deleted FaceIds still on disk, e.g. {left[:5]}")
        return 1
    print(
        f"OK: {cycles} kills, {len(added)} acknowledged adds and {len(deleted)} "
        "acknowledged deletes all held; no deleted FaceId left on disk"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--images", default="tests/fixtures/people/train")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-dir", help="default: a fresh temporary directory")
    p.add_argument(
        "--audit-key-file",
        help="the audit key (default: beside the temporary data directory, or the "
        "server's default for --data-dir)",
    )
    p.add_argument(
        "--ann-threshold",
        type=int,
        help="OCULI_ANN_THRESHOLD for the server (default: the server's)",
    )
    a = p.parse_args(argv)
    images = sorted(
        q for q in Path(a.images).rglob("*") if q.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    key_file = Path(a.audit_key_file) if a.audit_key_file else None
    if a.data_dir:
        return run(a.cycles, images, a.seed, Path(a.data_dir), a.ann_threshold, key_file)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        return run(
            a.cycles, images, a.seed, data_dir, a.ann_threshold, key_file or Path(tmp) / "audit.key"
        )


if __name__ == "__main__":
    sys.exit(main())
