"""Two oculi servers sharing one PostgreSQL with pgvector (store, vectors and audit log),
as behind a load balancer: what one writes the other sees at once, through boto3 on real
photos; one of them killed with -9 in the middle of writes loses nothing acknowledged and
brings back no deletion; the audit log is one chain both append to, verified whole."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import FIXTURES, Server, oculi_cli
from tests.pgserver import PgServer
from tests.test_vector_engines import new_database, pgvector_server  # noqa: F401 (fixture)

PEOPLE = FIXTURES / "people"
PHOTOS = sorted((PEOPLE / "train").glob("*/*"))


def shared(tmp_path: Path, server: PgServer) -> dict[str, str]:
    url = new_database(server)
    return {
        "OCULI_STORE_URL": url,
        "OCULI_VECTOR_URL": url,
        "OCULI_AUDIT_URL": url,
        "OCULI_AUDIT_KEY_FILE": str(tmp_path / "audit.key"),  # one key for every server
        "OCULI_MATCH_FLOOR": "0",  # let a search at threshold 0 return every face
        "OCULI_STRANGERS_PER_SEARCH": "0",
    }


def stored(c, cid: str) -> set[str]:
    return {f["FaceId"] for p in c.get_paginator("list_faces").paginate(CollectionId=cid)
            for f in p["Faces"]}  # fmt: skip


def searchable(c, cid: str, probe: str) -> set[str]:
    """The faces the vector engine returns from one face at threshold 0, and that face."""
    r = c.search_faces(CollectionId=cid, FaceId=probe, MaxFaces=4096, FaceMatchThreshold=0)
    return {probe} | {m["Face"]["FaceId"] for m in r["FaceMatches"]}


def audit_verify(env: dict[str, str]) -> dict:
    done = oculi_cli(
        "audit",
        "verify",
        "--audit-url",
        env["OCULI_AUDIT_URL"],
        "--audit-key-file",
        env["OCULI_AUDIT_KEY_FILE"],
    )
    assert done.returncode == 0, done.stderr
    listed = oculi_cli(
        "audit",
        "export",
        "--audit-url",
        env["OCULI_AUDIT_URL"],
        "--audit-key-file",
        env["OCULI_AUDIT_KEY_FILE"],
    )
    return {
        "summary": done.stdout,
        "records": [json.loads(x) for x in listed.stdout.split("\n") if x],
    }


def test_two_servers_see_each_others_writes_at_once(
    tmp_path: Path,
    pgvector_server: PgServer,  # noqa: F811
) -> None:
    env = shared(tmp_path, pgvector_server)
    a, b = Server(tmp_path / "a", env=env), Server(tmp_path / "b", env=env)
    try:
        ca, cb = a.client(), b.client()
        ca.create_collection(CollectionId="people")
        with pytest.raises(cb.exceptions.ResourceAlreadyExistsException):
            cb.create_collection(CollectionId="people")
        ids: dict[str, list[str]] = {}
        for n, path in enumerate(PHOTOS):  # written through one, then the other
            c = (ca, cb)[n % 2]
            r = c.index_faces(
                CollectionId="people",
                Image={"Bytes": path.read_bytes()},
                ExternalImageId=path.parent.name,
                MaxFaces=1,
            )
            fid = r["FaceRecords"][0]["Face"]["FaceId"]
            ids.setdefault(path.parent.name, []).append(fid)
            other = (cb, ca)[n % 2]  # found through the other server at once
            assert fid in searchable(other, "people", fid) and fid in stored(other, "people")
        query = {"Bytes": (PEOPLE / "test" / "obama1.jpg").read_bytes()}
        for c in (ca, cb):
            r = c.search_faces_by_image(CollectionId="people", Image=query, FaceMatchThreshold=80)
            assert {m["Face"]["FaceId"] for m in r["FaceMatches"]} == set(ids["obama"])
        gone = ids["obama"][0]
        assert cb.delete_faces(CollectionId="people", FaceIds=[gone])["DeletedFaces"] == [gone]
        r = ca.search_faces_by_image(CollectionId="people", Image=query, FaceMatchThreshold=80)
        assert {m["Face"]["FaceId"] for m in r["FaceMatches"]} == {ids["obama"][1]}
        assert gone not in searchable(ca, "people", ids["obama"][1])
        # users and ClientRequestTokens are shared too: the same token through the other
        # server is the same call, answered again without a second effect
        token = str(uuid.uuid4())
        ca.create_user(CollectionId="people", UserId="u1", ClientRequestToken=token)
        cb.create_user(CollectionId="people", UserId="u1", ClientRequestToken=token)
        assert [u["UserId"] for u in cb.list_users(CollectionId="people")["Users"]] == ["u1"]
        assert ca.describe_collection(CollectionId="people")["FaceCount"] == len(PHOTOS) - 1
        # deleted and made again through one while the other had it open: the other
        # writes into and searches the new collection, never the old one's faces
        ca.delete_collection(CollectionId="people")
        ca.create_collection(CollectionId="people")
        r = cb.index_faces(CollectionId="people", Image=query, MaxFaces=1)
        fid = r["FaceRecords"][0]["Face"]["FaceId"]
        for c in (ca, cb):
            assert searchable(c, "people", fid) == {fid}
    finally:
        a.stop()
        b.stop()
    log = audit_verify(env)
    pids = {r["pid"] for r in log["records"] if r["operation"] == "AuditLogOpened"}
    assert len(pids) == 2  # one chain, both servers in it
    deletes = [r for r in log["records"] if r["operation"] == "DeleteFaces"]
    assert any(gone in json.dumps(r) for r in deletes)


def test_one_of_two_servers_killed_mid_writes(
    tmp_path: Path,
    pgvector_server: PgServer,  # noqa: F811
) -> None:
    """Clients write through both servers; server A is killed with -9 at a random moment
    and restarted. Every acknowledged add is stored and searchable through both, no
    acknowledged deletion comes back, and the shared audit chain verifies."""
    env = shared(tmp_path, pgvector_server)
    rng = random.Random(3)
    added: set[str] = set()
    deleted: set[str] = set()  # grown in place only (the workers hold it)
    in_doubt: set[str] = set()
    lock = threading.Lock()
    a, b = Server(tmp_path / "a", env=env), Server(tmp_path / "b", env=env)
    try:
        a.client().create_collection(CollectionId="k")
        for cycle in range(2):
            stop = threading.Event()

            def work(
                n: int, server: Server, stop: threading.Event = stop, killed: Server = a
            ) -> None:
                c = server.client(config=Config(retries={"max_attempts": 0}, read_timeout=30))
                r = random.Random(n)
                while not stop.is_set():
                    try:
                        if r.random() < 0.7:
                            out = c.index_faces(
                                CollectionId="k",
                                Image={"Bytes": PHOTOS[r.randrange(len(PHOTOS))].read_bytes()},
                                MaxFaces=1,
                                QualityFilter="NONE",
                            )
                            with lock:
                                added.update(f["Face"]["FaceId"] for f in out["FaceRecords"])
                            continue
                        with lock:
                            live = sorted(added - deleted)
                            victim = r.choice(live) if live else None
                            if victim:
                                in_doubt.add(victim)
                        if victim:
                            c.delete_faces(CollectionId="k", FaceIds=[victim])
                            with lock:
                                deleted.add(victim)
                                in_doubt.discard(victim)
                    except (BotoCoreError, ClientError, OSError):
                        if server is killed:
                            return  # killed under us: unacknowledged, not counted
                        raise

            threads = [
                threading.Thread(target=work, args=(10 * cycle + n, (a, b)[n % 2]))
                for n in range(4)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(2.0, 5.0))
            a.proc.kill()  # SIGKILL, mid-writes
            a.proc.wait()
            time.sleep(1.0)  # B goes on writing alone meanwhile
            stop.set()
            for t in threads:
                t.join()
            a.log.close()
            a = Server(tmp_path / "a", env=env)
            for c in (a.client(), b.client()):
                faces = stored(c, "k")
                deleted.update(in_doubt - faces)  # unanswered deletes that did commit
                assert (added - deleted) <= faces, "an acknowledged face was lost"
                assert not deleted & faces, "an acknowledged deletion came back"
                assert searchable(c, "k", min(faces)) == faces
                assert c.describe_collection(CollectionId="k")["FaceCount"] == len(faces)
            in_doubt.clear()
        assert len(added) > 5 and deleted
    finally:
        a.stop()
        b.stop()
    log = audit_verify(env)
    assert "OK" in log["summary"]
    assert len({r["pid"] for r in log["records"] if r["operation"] == "AuditLogOpened"}) == 4


def test_audit_chain_in_postgresql_shows_tampering(
    tmp_path: Path,
    pgvector_server: PgServer,  # noqa: F811
) -> None:
    import psycopg

    from oculi.audit_key import AuditError, create_key
    from oculi.audit_pg import PgAuditLog

    url = new_database(pgvector_server)
    key = tmp_path / "audit.key"
    first, second = (PgAuditLog(url, tmp_path / d, key) for d in ("a", "b"))
    first.start()
    second.start()  # a second server continues the same chain
    for n in range(4):
        (first, second)[n % 2].append({"operation": "DeleteFaces", "n": n})
    v = first.verify()
    assert v.ok and v.records == 6, v.problems
    assert [r["seq"] for r in second.records()] == list(range(1, 7))
    other = tmp_path / "other.key"
    with pytest.raises(AuditError, match="is missing"):
        PgAuditLog(url, tmp_path / "c", other).start()  # no key: none is made
    create_key(other)
    with pytest.raises(AuditError, match="does not verify"):
        PgAuditLog(url, tmp_path / "c", other).start()  # another server's key
    with psycopg.connect(url, autocommit=True) as conn:
        line = conn.execute("SELECT line FROM oculi_audit WHERE seq = 4").fetchone()[0]
        conn.execute(
            "UPDATE oculi_audit SET line = %s WHERE seq = 4", (line.replace('"n":1', '"n":9'),)
        )
        assert any("edited" in p for p in first.verify().problems)
        conn.execute("UPDATE oculi_audit SET line = %s WHERE seq = 4", (line,))
        assert first.verify().ok
        conn.execute("DELETE FROM oculi_audit WHERE seq = 6")  # cut off the end
        assert any("cut off the end" in p for p in first.verify().problems)
        conn.execute("DELETE FROM oculi_audit WHERE seq = 3")
        assert any("removed or inserted" in p for p in first.verify().problems)
    first.close()
    second.close()
