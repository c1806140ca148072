"""The face store: collections, faces and users, the source of truth.

Embedded by default in SQLite (WAL, `synchronous=FULL`), or in PostgreSQL for scale-out;
the same SQL runs on both through `oculi.store.sql`. Every write is one transaction, so an
acknowledged IndexFaces survives a crash or kill -9, and a deletion, once acknowledged,
holds. Vector indexes are caches rebuilt from here (see `oculi.store.vectors`); each face
has a sequence number (`seq`, never reused) by which a saved index is caught up.

Each collection's face count is kept in `face_counts`, updated in the transaction that adds
or deletes faces (a COUNT(*) over a million faces took about 0.1 s in SQLite per
DescribeCollection). A database made before the counter existed gets it on open: every
collection without a counter row is counted once, in one transaction.

Deletion removes every copy the store keeps: the rows (SQLite overwrites them with zeros,
`secure_delete`), the WAL's older copies of their pages (`Backend.scrub` after each
deletion, and at close), and the ClientRequestToken answers that name a deleted face.
ClientRequestTokens belong to their collection (deleted with it) and are answered for
`TOKEN_TTL_S` (24 hours) after their first use; older ones are purged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from oculi.models.face_versions import aliases, numeric
from oculi.store.names import only_dots
from oculi.store.sql import Tx, open_backend, retrying

T = TypeVar("T")
SEQ_BATCH = 500  # sequence numbers per IN (...) query
TOKEN_TTL_S = 24 * 3600.0  # how long a ClientRequestToken's answer is replayed

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    collection_id TEXT PRIMARY KEY,
    created {real} NOT NULL,
    face_model_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    seq {serial},
    face_id TEXT NOT NULL UNIQUE,
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    image_id TEXT NOT NULL,
    external_image_id TEXT,
    bbox TEXT NOT NULL,
    confidence {real} NOT NULL,
    model_version TEXT NOT NULL,
    created {real} NOT NULL,
    embedding {blob} NOT NULL,
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS faces_by_collection ON faces(collection_id, seq);
CREATE INDEX IF NOT EXISTS faces_by_user ON faces(collection_id, user_id);
CREATE INDEX IF NOT EXISTS faces_by_image ON faces(collection_id, image_id);
CREATE TABLE IF NOT EXISTS face_counts (
    collection_id TEXT PRIMARY KEY REFERENCES collections(collection_id) ON DELETE CASCADE,
    faces BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    created {real} NOT NULL,
    PRIMARY KEY (collection_id, user_id)
);
CREATE TABLE IF NOT EXISTS retention (
    collection_id TEXT PRIMARY KEY REFERENCES collections(collection_id) ON DELETE CASCADE,
    days {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_tags (
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (collection_id, tag_key)
);
CREATE TABLE IF NOT EXISTS celebrities (
    collection_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    urls TEXT NOT NULL,
    known_gender TEXT,
    PRIMARY KEY (collection_id, user_id),
    FOREIGN KEY (collection_id, user_id) REFERENCES users(collection_id, user_id)
        ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS request_tokens (
    collection_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    token TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    created {real} NOT NULL,
    PRIMARY KEY (collection_id, operation, token)
);
CREATE INDEX IF NOT EXISTS request_tokens_by_age ON request_tokens(created);
DROP TABLE IF EXISTS idempotency;
"""
# `idempotency`, before tokens were scoped to their collection, is dropped: its tokens were
# at most a retry's worth of protection, and its answers could name deleted faces.

FACE_COLUMNS = (
    "face_id, collection_id, image_id, external_image_id, bbox, confidence, "
    "model_version, created, user_id"
)


@dataclass(frozen=True)
class Collection:
    collection_id: str
    created: float
    face_model_version: str
    face_count: int = 0


@dataclass(frozen=True)
class FaceRecord:
    face_id: str
    collection_id: str
    image_id: str
    external_image_id: str | None
    bbox: dict[str, float]
    confidence: float
    model_version: str
    created: float
    user_id: str | None = None


@dataclass(frozen=True)
class Celebrity:
    """Public facts an operator recorded for a user of the celebrity collection."""

    user_id: str
    name: str
    urls: tuple[str, ...] = ()
    known_gender: str | None = None


class IdempotencyMismatch(Exception):
    """The token was used before with different parameters."""


class TooManyTags(Exception):
    """The resource would hold more tags than allowed."""


class FaceStore:
    """Collections, faces and users in SQLite (a file path) or PostgreSQL (a
    `postgresql://` URL): the same methods and the same SQL on either (see
    `oculi.store.sql`)."""

    def __init__(self, location: Path | str) -> None:
        self._backend = open_backend(location)
        self._local = threading.local()  # .tx: this thread's open write transaction
        self._backend.create_schema(SCHEMA.format(**self._backend.types))
        self._write(
            lambda db: db.execute(
                "INSERT INTO face_counts SELECT c.collection_id, (SELECT COUNT(*) FROM faces f "
                "WHERE f.collection_id=c.collection_id) FROM collections c WHERE NOT EXISTS "
                "(SELECT 1 FROM face_counts n WHERE n.collection_id=c.collection_id) "
                "ON CONFLICT DO NOTHING"
            )
        )  # another process may be counting at the same time

    def close(self) -> None:
        self._backend.close()

    def _scrub(self) -> None:
        """After a committed deletion (not inside an enclosing write: that one's caller
        scrubs when it has committed)."""
        if getattr(self._local, "tx", None) is None:
            self._backend.scrub()

    def _write(self, fn: Callable[[Tx], T]) -> T:
        """`fn` in one write transaction, run again (with jittered back-off) when the
        engine aborts it for a conflict with a concurrent writer; inside another write
        on the same thread, it joins that one."""
        outer: Tx | None = getattr(self._local, "tx", None)
        if outer is not None:
            return fn(outer)

        def joined(tx: Tx) -> T:
            self._local.tx = tx
            try:
                return fn(tx)
            finally:
                self._local.tx = None

        return retrying(self._backend, joined)

    def _read(self, fn: Callable[[Tx], T]) -> T:
        """`fn` on committed data, or inside this thread's open write transaction."""
        outer: Tx | None = getattr(self._local, "tx", None)
        if outer is not None:
            return fn(outer)
        with self._backend.read() as tx:
            return fn(tx)

    # collections -------------------------------------------------------------------
    def run_idempotent(
        self,
        operation: str,
        collection_id: str,
        token: str | None,
        request_hash: str,
        effect: Callable[[Tx], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run `effect` and remember its response under (collection, operation, token) in
        the same transaction: a retry with the same token and parameters within
        `TOKEN_TTL_S` gets the same response without repeating the effect, even across a
        crash and restart. `effect` may be run more than once (a transaction aborted by a
        conflict is run again), so it must change nothing but the database through `db`."""

        def tx(db: Tx) -> dict[str, Any]:
            now = time.time()
            if token:
                db.execute("DELETE FROM request_tokens WHERE created < ?", (now - TOKEN_TTL_S,))
                row = db.execute(
                    "SELECT request_hash, response FROM request_tokens WHERE collection_id=? "
                    "AND operation=? AND token=?",
                    (collection_id, operation, token),
                ).fetchone()
                if row:
                    if row[0] != request_hash:
                        raise IdempotencyMismatch(token)
                    return dict(json.loads(row[1]))
            response = effect(db)
            if token:
                db.execute(
                    "INSERT INTO request_tokens VALUES (?,?,?,?,?,?)",
                    (collection_id, operation, token, request_hash, json.dumps(response), now),
                )
            return response

        return self._write(tx)

    def create_collection(
        self, collection_id: str, face_model_version: str, tags: dict[str, str] | None = None
    ) -> Collection | None:
        """The new collection (with `tags`), or None if one of that id exists."""
        if only_dots(collection_id):
            raise ValueError(f"not a collection id: {collection_id!r}")
        now = time.time()

        def tx(db: Tx) -> Collection | None:
            if collection_exists(db, collection_id):
                return None
            db.execute(
                "INSERT INTO collections VALUES (?,?,?)", (collection_id, now, face_model_version)
            )
            db.execute("INSERT INTO face_counts VALUES (?,0)", (collection_id,))
            if tags:
                set_tags(db, collection_id, tags, len(tags))
            return Collection(collection_id, now, face_model_version)

        return self._write(tx)

    def get_collection(self, collection_id: str) -> Collection | None:
        row = self._read(
            lambda db: db.execute(
                "SELECT c.collection_id, c.created, c.face_model_version, n.faces "
                "FROM collections c JOIN face_counts n ON n.collection_id=c.collection_id "
                "WHERE c.collection_id=?",
                (collection_id,),
            ).fetchone()
        )
        return _collection(row) if row else None

    def collection_ids(self) -> list[str]:
        """Every collection's id, in order."""
        rows = self._read(
            lambda db: db.execute(
                "SELECT collection_id FROM collections ORDER BY collection_id"
            ).fetchall()
        )
        return [r[0] for r in rows]

    def list_collections(self, after: str, limit: int) -> list[Collection]:
        rows = self._read(
            lambda db: db.execute(
                "SELECT collection_id, created, face_model_version FROM collections "
                "WHERE collection_id > ? ORDER BY collection_id LIMIT ?",
                (after, limit),
            ).fetchall()
        )
        return [_collection(r) for r in rows]

    def delete_collection(self, collection_id: str) -> bool:
        def tx(db: Tx) -> bool:
            db.execute("DELETE FROM faces WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM users WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM retention WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM face_counts WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM request_tokens WHERE collection_id=?", (collection_id,))
            cur = db.execute("DELETE FROM collections WHERE collection_id=?", (collection_id,))
            return cur.rowcount > 0

        deleted = self._write(tx)
        self._scrub()
        return deleted

    # retention ---------------------------------------------------------------------
    def set_retention(self, collection_id: str, days: float | None) -> bool:
        """Expire the collection's faces `days` after indexing (None: keep them); False if
        the collection does not exist."""

        def tx(db: Tx) -> bool:
            if not collection_exists(db, collection_id):
                return False
            db.execute("DELETE FROM retention WHERE collection_id=?", (collection_id,))
            if days is not None:
                db.execute("INSERT INTO retention VALUES (?,?)", (collection_id, days))
            return True

        return self._write(tx)

    def retention_policies(self) -> dict[str, float]:
        rows = self._read(
            lambda db: db.execute(
                "SELECT collection_id, days FROM retention ORDER BY collection_id"
            ).fetchall()
        )
        return {r[0]: float(r[1]) for r in rows}

    def faces_created_before(self, collection_id: str, before: float, limit: int) -> list[str]:
        rows = self._read(
            lambda db: db.execute(
                "SELECT face_id FROM faces WHERE collection_id=? AND created < ? ORDER BY seq "
                "LIMIT ?",
                (collection_id, before, limit),
            ).fetchall()
        )
        return [r[0] for r in rows]

    def release_faces(self, collection_id: str, face_ids: list[str]) -> None:
        """Take the faces away from whatever user holds them."""
        self._write(lambda db: set_face_user(db, collection_id, face_ids, None))

    # tags --------------------------------------------------------------------------
    def tag_collection(self, collection_id: str, tags: dict[str, str], max_tags: int) -> bool:
        """Add or overwrite tags; False if the collection does not exist. Raises TooManyTags
        (changing nothing) if the collection would hold more than `max_tags`."""

        def tx(db: Tx) -> bool:
            if not collection_exists(db, collection_id):
                return False
            set_tags(db, collection_id, tags, max_tags)
            return True

        return self._write(tx)

    def untag_collection(self, collection_id: str, keys: list[str]) -> bool:
        """Remove tags by key (keys it does not have are ignored); False if the collection
        does not exist."""

        def tx(db: Tx) -> bool:
            if not collection_exists(db, collection_id):
                return False
            db.executemany(
                "DELETE FROM collection_tags WHERE collection_id=? AND tag_key=?",
                [(collection_id, k) for k in keys],
            )
            return True

        return self._write(tx)

    def collection_tags(self, collection_id: str) -> dict[str, str] | None:
        """The collection's tags, or None if it does not exist."""

        def read(db: Tx) -> dict[str, str] | None:
            if not collection_exists(db, collection_id):
                return None
            rows = db.execute(
                "SELECT tag_key, tag_value FROM collection_tags WHERE collection_id=? "
                "ORDER BY tag_key",
                (collection_id,),
            ).fetchall()
            return {r[0]: r[1] for r in rows}

        return self._read(read)

    # celebrities -------------------------------------------------------------------
    def set_celebrity(self, collection_id: str, celebrity: Celebrity) -> bool:
        """Record (or replace) the public facts of the user `celebrity.user_id`; False if
        the collection has no such user."""

        def tx(db: Tx) -> bool:
            if not user_exists(db, collection_id, celebrity.user_id):
                return False
            db.execute(
                "DELETE FROM celebrities WHERE collection_id=? AND user_id=?",
                (collection_id, celebrity.user_id),
            )
            db.execute(
                "INSERT INTO celebrities VALUES (?,?,?,?,?)",
                (
                    collection_id,
                    celebrity.user_id,
                    celebrity.name,
                    json.dumps(list(celebrity.urls)),
                    celebrity.known_gender,
                ),
            )
            return True

        return self._write(tx)

    def celebrities(self, collection_id: str, user_ids: list[str] | None = None) -> list[Celebrity]:
        """The collection's celebrity records (those of `user_ids` when given), by user id."""
        sql = "SELECT user_id, name, urls, known_gender FROM celebrities WHERE collection_id=?"
        args: list[object] = [collection_id]
        if user_ids is not None:
            if not user_ids:
                return []
            sql += f" AND user_id IN ({_marks(user_ids)})"
            args += user_ids
        rows = self._read(lambda db: db.execute(sql + " ORDER BY user_id", args).fetchall())
        return [Celebrity(r[0], r[1], tuple(json.loads(r[2])), r[3]) for r in rows]

    # faces -------------------------------------------------------------------------
    def add_faces(
        self, collection_id: str, faces: list[FaceRecord], embeddings: np.ndarray
    ) -> bool:
        """Insert faces atomically; False if the collection no longer exists."""
        rows = [
            (
                f.face_id,
                collection_id,
                f.image_id,
                f.external_image_id,
                json.dumps(f.bbox),
                f.confidence,
                f.model_version,
                f.created,
                np.asarray(e, np.float32).tobytes(),
            )
            for f, e in zip(faces, embeddings)
        ]

        def tx(db: Tx) -> bool:
            if not collection_exists(db, collection_id):
                return False
            db.executemany(
                "INSERT INTO faces (face_id, collection_id, image_id, external_image_id, bbox, "
                "confidence, model_version, created, embedding) VALUES (?,?,?,?,?,?,?,?,?)",
                rows,
            )
            count_faces(db, collection_id, len(rows))
            return True

        return self._write(tx)

    def delete_faces(
        self, collection_id: str, face_ids: list[str]
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Delete the faces that exist and belong to no user. Returns the ids deleted and
        (face id, user id) of those kept because a user holds them."""

        def tx(db: Tx) -> tuple[list[str], list[tuple[str, str]]]:
            deleted: list[str] = []
            held: list[tuple[str, str]] = []
            owners = face_owners(db, collection_id, face_ids)
            for fid in dict.fromkeys(face_ids):
                if fid not in owners:
                    continue
                if owners[fid] is not None:
                    held.append((fid, str(owners[fid])))
                    continue
                db.execute(
                    "DELETE FROM faces WHERE collection_id=? AND face_id=?", (collection_id, fid)
                )
                deleted.append(fid)
            count_faces(db, collection_id, -len(deleted))
            forget_tokens_naming(db, collection_id, deleted)
            return deleted, held

        result = self._write(tx)
        if result[0]:
            self._scrub()
        return result

    def scrub(self) -> None:
        """After deletions made through `run_idempotent` (DeleteUser)."""
        self._scrub()

    def images_with_faces(self, collection_id: str, image_ids: list[str]) -> set[str]:
        """Those of `image_ids` that still have at least one face in the collection."""
        if not image_ids:
            return set()
        rows = self._read(
            lambda db: db.execute(
                f"SELECT DISTINCT image_id FROM faces WHERE collection_id=? AND image_id IN "
                f"({_marks(image_ids)})",
                [collection_id, *image_ids],
            ).fetchall()
        )
        return {r[0] for r in rows}

    def faces_of_image(self, collection_id: str, image_id: str) -> list[FaceRecord]:
        rows = self._read(
            lambda db: db.execute(
                f"SELECT {FACE_COLUMNS} FROM faces WHERE collection_id=? AND image_id=? "
                "ORDER BY seq",
                (collection_id, image_id),
            ).fetchall()
        )
        return [_record(r) for r in rows]

    def set_embeddings(
        self, collection_id: str, embeddings: dict[str, np.ndarray], model_version: str
    ) -> int:
        """Replace the embeddings (and their model version) of existing faces, in one
        transaction; the face ids, sequence numbers and users stay. Returns how many faces
        were updated. Vector indexes are not told: see `oculi.service.reindex`."""
        rows = [
            (np.asarray(e, np.float32).tobytes(), model_version, collection_id, fid)
            for fid, e in embeddings.items()
        ]

        def tx(db: Tx) -> int:
            n = 0
            for row in rows:
                n += db.execute(
                    "UPDATE faces SET embedding=?, model_version=? WHERE "
                    "collection_id=? AND face_id=?",
                    row,
                ).rowcount
            return n

        return self._write(tx)

    def set_face_model_version(self, collection_id: str, model_version: str) -> bool:
        """Set the collection's FaceModelVersion if every face now has that version (under
        any of its stored spellings, `oculi.models.face_versions.aliases`)."""
        same = aliases(model_version)

        def tx(db: Tx) -> bool:
            other = db.execute(
                "SELECT 1 FROM faces WHERE collection_id=? AND model_version NOT IN "
                f"({_marks(same)}) LIMIT 1",
                (collection_id, *same),
            ).fetchone()
            if other is not None:
                return False
            return (
                db.execute(
                    "UPDATE collections SET face_model_version=? WHERE collection_id=?",
                    (model_version, collection_id),
                ).rowcount
                > 0
            )

        return self._write(tx)

    def list_users(self, collection_id: str, after: str, limit: int) -> list[tuple[str, int]]:
        """(user id, number of faces) in user-id order after `after`."""
        rows = self._read(
            lambda db: db.execute(
                "SELECT u.user_id, (SELECT COUNT(*) FROM faces f WHERE f.collection_id="
                "u.collection_id AND f.user_id=u.user_id) FROM users u WHERE u.collection_id=? "
                "AND u.user_id > ? ORDER BY u.user_id LIMIT ?",
                (collection_id, after, limit),
            ).fetchall()
        )
        return [(r[0], int(r[1])) for r in rows]

    def has_user(self, collection_id: str, user_id: str) -> bool:
        return self._read(lambda db: user_exists(db, collection_id, user_id))

    def user_count(self, collection_id: str) -> int:
        return int(
            self._read(
                lambda db: db.execute(
                    "SELECT COUNT(*) FROM users WHERE collection_id=?", (collection_id,)
                ).fetchone()
            )[0]
        )

    def user_embeddings(self, collection_id: str, user_id: str) -> np.ndarray:
        rows = self._read(
            lambda db: db.execute(
                "SELECT embedding FROM faces WHERE collection_id=? AND user_id=? ORDER BY seq",
                (collection_id, user_id),
            ).fetchall()
        )
        return (
            np.stack([np.frombuffer(r[0], np.float32) for r in rows])
            if rows
            else np.zeros((0, 0), np.float32)
        )

    def list_faces(
        self,
        collection_id: str,
        after_seq: int,
        limit: int,
        face_ids: list[str] | None = None,
        user_id: str | None = None,
    ) -> list[tuple[int, FaceRecord]]:
        sql = f"SELECT seq, {FACE_COLUMNS} FROM faces WHERE collection_id=? AND seq>?"
        args: list[object] = [collection_id, after_seq]
        if user_id is not None:
            sql += " AND user_id=?"
            args.append(user_id)
        if face_ids:
            sql += f" AND face_id IN ({_marks(face_ids)})"
            args += face_ids
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        rows = self._read(lambda db: db.execute(sql, args).fetchall())
        return [(r[0], _record(r[1:])) for r in rows]

    def get_faces(self, collection_id: str, face_ids: list[str]) -> dict[str, FaceRecord]:
        """The faces of `face_ids` in the collection. Looked up by face id alone (its
        unique index), the collection checked here: with both in the WHERE clause SQLite
        walked the collection's index instead, 200 ms for 10 ids at 100,000 faces."""
        if not face_ids:
            return {}
        rows = self._read(
            lambda db: db.execute(
                f"SELECT {FACE_COLUMNS} FROM faces WHERE face_id IN ({_marks(face_ids)})",
                face_ids,
            ).fetchall()
        )
        return {r[0]: _record(r) for r in rows if r[1] == collection_id}

    def embedding(self, collection_id: str, face_id: str) -> np.ndarray | None:
        found = self._read(lambda db: embeddings_of(db, collection_id, [face_id]))
        return found[face_id].copy() if found else None

    def all_embeddings(self, collection_id: str) -> tuple[list[str], np.ndarray]:
        rows = self._read(
            lambda db: db.execute(
                "SELECT face_id, embedding FROM faces WHERE collection_id=? ORDER BY seq",
                (collection_id,),
            ).fetchall()
        )
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(r[1], np.float32) for r in rows])

    def face_seqs(self, collection_id: str) -> np.ndarray:
        """The sequence numbers of the collection's faces, ascending (read from an index
        alone: about 1 s a million faces in SQLite)."""
        return self._read(
            lambda db: np.fromiter(
                (
                    r[0]
                    for r in db.execute(
                        "SELECT seq FROM faces WHERE collection_id=? ORDER BY seq", (collection_id,)
                    )
                ),
                np.int64,
            )
        )

    def seqs_of(self, collection_id: str, face_ids: list[str]) -> dict[str, int]:
        """face id -> sequence number, for those of `face_ids` in the collection."""
        if not face_ids:
            return {}
        rows = self._read(
            lambda db: db.execute(
                f"SELECT face_id, seq FROM faces WHERE collection_id=? AND face_id IN "
                f"({_marks(face_ids)})",
                [collection_id, *face_ids],
            ).fetchall()
        )
        return {r[0]: int(r[1]) for r in rows}

    def faces_after(
        self, collection_id: str, after_seq: int, limit: int
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(seqs, face ids, embeddings) of up to `limit` faces after `after_seq`, in order."""
        return _seq_rows(
            self._read(
                lambda db: db.execute(
                    "SELECT seq, face_id, embedding FROM faces WHERE collection_id=? AND seq>? "
                    "ORDER BY seq LIMIT ?",
                    (collection_id, after_seq, limit),
                ).fetchall()
            )
        )

    def faces_by_seq(
        self, collection_id: str, seqs: np.ndarray
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(seqs, face ids, embeddings) of the collection's faces among `seqs`."""
        wanted = [int(q) for q in seqs]
        rows: list[Any] = []
        for a in range(0, len(wanted), SEQ_BATCH):
            part = wanted[a : a + SEQ_BATCH]
            rows += self._read(
                lambda db, part=part: db.execute(
                    f"SELECT seq, face_id, embedding FROM faces WHERE collection_id=? AND seq IN "
                    f"({_marks(part)})",
                    [collection_id, *part],
                ).fetchall()
            )
        return _seq_rows(rows)


# Statements run inside FaceStore.run_idempotent's transaction ---------------------------
def collection_exists(db: Tx, collection_id: str) -> bool:
    return (
        db.execute("SELECT 1 FROM collections WHERE collection_id=?", (collection_id,)).fetchone()
        is not None
    )


def set_tags(db: Tx, collection_id: str, tags: dict[str, str], max_tags: int) -> None:
    """Add or overwrite the collection's tags; TooManyTags if it would hold more than
    `max_tags`."""
    have = {
        r[0]
        for r in db.execute(
            "SELECT tag_key FROM collection_tags WHERE collection_id=?", (collection_id,)
        ).fetchall()
    }
    if len(have | set(tags)) > max_tags:
        raise TooManyTags(collection_id)
    db.executemany(
        "DELETE FROM collection_tags WHERE collection_id=? AND tag_key=?",
        [(collection_id, k) for k in tags],
    )
    db.executemany(
        "INSERT INTO collection_tags VALUES (?,?,?)",
        [(collection_id, k, v) for k, v in tags.items()],
    )


def face_ids_taken(db: Tx, face_ids: list[str]) -> set[str]:
    """Those of `face_ids` some face of any collection has (FaceIds are unique store-wide)."""
    taken: set[str] = set()
    for a in range(0, len(face_ids), SEQ_BATCH):
        part = face_ids[a : a + SEQ_BATCH]
        rows = db.execute(f"SELECT face_id FROM faces WHERE face_id IN ({_marks(part)})", part)
        taken |= {r[0] for r in rows.fetchall()}
    return taken


def forget_tokens_naming(db: Tx, collection_id: str, face_ids: list[str]) -> None:
    """Delete the collection's ClientRequestToken answers that name any of the faces
    (AssociateFaces and DisassociateFaces answer with face ids)."""
    if not face_ids:
        return
    gone = set(face_ids)
    rows = db.execute(
        "SELECT operation, token, response FROM request_tokens WHERE collection_id=? "
        "AND response LIKE ?",
        (collection_id, '%"FaceId"%'),
    ).fetchall()
    for operation, token, response in rows:
        named = json.loads(response)
        if gone & set(_face_ids_in(named)):
            db.execute(
                "DELETE FROM request_tokens WHERE collection_id=? AND operation=? AND token=?",
                (collection_id, operation, token),
            )


def _face_ids_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "FaceId" and isinstance(v, str)] + [
            f for v in value.values() for f in _face_ids_in(v)
        ]
    if isinstance(value, list):
        return [f for v in value for f in _face_ids_in(v)]
    return []


def user_exists(db: Tx, collection_id: str, user_id: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM users WHERE collection_id=? AND user_id=?", (collection_id, user_id)
        ).fetchone()
        is not None
    )


def insert_user(db: Tx, collection_id: str, user_id: str) -> None:
    db.execute("INSERT INTO users VALUES (?,?,?)", (collection_id, user_id, time.time()))


def delete_user(db: Tx, collection_id: str, user_id: str) -> None:
    """Remove the user; its faces stay in the collection, unassociated."""
    db.execute(
        "UPDATE faces SET user_id=NULL WHERE collection_id=? AND user_id=?",
        (collection_id, user_id),
    )
    db.execute("DELETE FROM users WHERE collection_id=? AND user_id=?", (collection_id, user_id))


def face_owners(db: Tx, collection_id: str, face_ids: list[str]) -> dict[str, str | None]:
    """For each face id that exists: the user holding it, or None."""
    if not face_ids:
        return {}
    rows = db.execute(
        f"SELECT face_id, user_id FROM faces WHERE collection_id=? AND face_id IN "
        f"({_marks(face_ids)})",
        [collection_id, *face_ids],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def set_face_user(db: Tx, collection_id: str, face_ids: list[str], user_id: str | None) -> None:
    db.executemany(
        "UPDATE faces SET user_id=? WHERE collection_id=? AND face_id=?",
        [(user_id, collection_id, fid) for fid in face_ids],
    )


def user_face_count(db: Tx, collection_id: str, user_id: str) -> int:
    return int(
        db.execute(
            "SELECT COUNT(*) FROM faces WHERE collection_id=? AND user_id=?",
            (collection_id, user_id),
        ).fetchone()[0]
    )


def count_faces(db: Tx, collection_id: str, delta: int) -> None:
    """Move the collection's face counter by `delta` (in the transaction that added or
    deleted those faces)."""
    if delta:
        db.execute(
            "UPDATE face_counts SET faces=faces+? WHERE collection_id=?", (delta, collection_id)
        )


def embeddings_of(db: Tx, collection_id: str, face_ids: list[str]) -> dict[str, np.ndarray]:
    if not face_ids:
        return {}
    rows = db.execute(
        f"SELECT face_id, embedding FROM faces WHERE collection_id=? AND face_id "
        f"IN ({_marks(face_ids)})",
        [collection_id, *face_ids],
    )
    return {r[0]: np.frombuffer(r[1], np.float32) for r in rows.fetchall()}


def _seq_rows(rows: list[Any]) -> tuple[np.ndarray, list[str], np.ndarray]:
    seqs = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    vecs = (
        np.stack([np.frombuffer(r[2], np.float32) for r in rows])
        if rows
        else np.zeros((0, 0), np.float32)
    )
    return seqs, [r[1] for r in rows], vecs


def _marks(values: list[Any]) -> str:
    return ",".join("?" * len(values))


def _collection(r: Any) -> Collection:
    """A collections row (id, created, version[, face count]); the version as a number."""
    return Collection(r[0], r[1], numeric(r[2]), *r[3:])


def _record(r: Any) -> FaceRecord:
    return FaceRecord(
        face_id=r[0],
        collection_id=r[1],
        image_id=r[2],
        external_image_id=r[3],
        bbox=json.loads(r[4]),
        confidence=r[5],
        model_version=numeric(r[6]),
        created=r[7],
        user_id=r[8],
    )
