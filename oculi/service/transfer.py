"""Export and import of a collection: faces (ids, external ids, boxes, users) and their
embeddings with the model version that made them — what Rekognition cannot give back.

The file is JSON lines: one `collection` header (with the collection's tags and retention),
then `user` records (with the public facts of a celebrity, when the user is one: see
docs/celebrities.md) and `face` records. Import is all or nothing: the collection, its
users and faces are written in one transaction, so a failure leaves no collection behind.
It refuses embeddings of a model version other than the importing server's (searches
across versions are meaningless) unless forced.

FaceIds are unique in a store, not only in a collection: importing a copy into the store
it came from (under another name) gives every face a new FaceId, the same for the face's
user association; UserIds and ImageIds belong to the collection and stay.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import IO, Any

import numpy as np

from oculi.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from oculi.models.face_versions import numeric
from oculi.service.tags import check_tags
from oculi.store import faces as sql
from oculi.store.faces import Celebrity, FaceRecord, FaceStore
from oculi.store.names import only_dots

FORMAT = "oculi-collection-export/1"


def export_collection(store: FaceStore, collection_id: str) -> Iterator[dict[str, Any]]:
    c = store.get_collection(collection_id)
    if c is None:
        raise ResourceNotFound(f"The collection id: {collection_id} does not exist")
    yield {
        "type": "collection",
        "format": FORMAT,
        "collection_id": c.collection_id,
        "created": c.created,
        "face_model_version": c.face_model_version,
        "retention_days": store.retention_policies().get(collection_id),
        "tags": store.collection_tags(collection_id) or {},
    }
    after = ""
    while page := store.list_users(collection_id, after, 1000):
        celebs = {c.user_id: c for c in store.celebrities(collection_id, [u for u, _ in page])}
        for user_id, _ in page:
            rec: dict[str, Any] = {"type": "user", "user_id": user_id}
            if user_id in celebs:
                c = celebs[user_id]
                rec["celebrity"] = {
                    "name": c.name,
                    "urls": list(c.urls),
                    "known_gender": c.known_gender,
                }
            yield rec
        after = page[-1][0]
    ids, vecs = store.all_embeddings(collection_id)
    vec_of = dict(zip(ids, vecs))
    seq = 0
    while rows := store.list_faces(collection_id, seq, 1000):
        seq = rows[-1][0]
        for _, r in rows:
            yield {
                "type": "face",
                "face_id": r.face_id,
                "image_id": r.image_id,
                "external_image_id": r.external_image_id,
                "bbox": r.bbox,
                "confidence": r.confidence,
                "model_version": r.model_version,
                "created": r.created,
                "user_id": r.user_id,
                "embedding": base64.b64encode(
                    np.asarray(vec_of[r.face_id], np.float32).tobytes()
                ).decode(),
            }


def write_export(records: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for rec in records:
        out.write(json.dumps(rec, sort_keys=True) + "\n")
        n += rec["type"] == "face"
    return n


@dataclass(frozen=True)
class Imported:
    collection_id: str
    faces: int
    new_face_ids: bool  # the file's FaceIds were in use in the store: new ones were given

    def summary(self) -> str:
        ids = (
            "; its faces have new FaceIds (the file's are in use in this store)"
            if self.new_face_ids
            else ""
        )
        return (
            f"{self.faces} faces imported into {self.collection_id}{ids} "
            "(restart a running server to search them)"
        )


def import_collection(
    store: FaceStore,
    lines: Iterable[str],
    model_version: str,
    rename: str | None = None,
    force: bool = False,
) -> Imported:
    """Create the exported collection (or `rename`) with its tags, users and faces, in one
    transaction."""
    it = (json.loads(line) for line in lines if line.strip())
    head = next(it, None)
    if not head or head.get("type") != "collection" or head.get("format") != FORMAT:
        raise InvalidParameter(f"not an {FORMAT} file")
    cid = rename or head["collection_id"]
    if only_dots(cid):
        raise InvalidParameter(f"not a collection id: {cid!r}")
    version = numeric(head["face_model_version"])
    if version != model_version and not force:
        raise InvalidParameter(
            f"embeddings are {version}, this server makes "
            f"{model_version}: re-index from images, or force the import"
        )
    tags = head.get("tags") or {}
    check_tags(tags)
    users: list[str] = []
    celebs: list[Celebrity] = []
    faces: list[FaceRecord] = []
    vecs: list[np.ndarray] = []
    for rec in it:
        if rec["type"] == "user":
            users.append(rec["user_id"])
            if rec.get("celebrity"):
                c = rec["celebrity"]
                celebs.append(
                    Celebrity(rec["user_id"], c["name"], tuple(c["urls"]), c["known_gender"])
                )
        elif rec["type"] == "face":
            faces.append(
                FaceRecord(
                    face_id=rec["face_id"],
                    collection_id=cid,
                    image_id=rec["image_id"],
                    external_image_id=rec["external_image_id"],
                    bbox=rec["bbox"],
                    confidence=rec["confidence"],
                    model_version=numeric(rec["model_version"]),
                    created=rec["created"],
                    user_id=rec.get("user_id"),
                )
            )
            vecs.append(np.frombuffer(base64.b64decode(rec["embedding"]), np.float32))
    if len({f.face_id for f in faces}) < len(faces) or len(set(users)) < len(users):
        raise InvalidParameter("the file holds a FaceId or a UserId twice")
    unknown = {f.user_id for f in faces if f.user_id} - set(users)
    if unknown:
        raise InvalidParameter(f"faces of users the file does not hold: {sorted(unknown)}")

    def write(db: Any) -> dict[str, Any]:
        if store.create_collection(cid, version, tags) is None:
            raise ResourceAlreadyExists(f"The collection id: {cid} already exists")
        if head.get("retention_days"):
            store.set_retention(cid, float(head["retention_days"]))
        renew = bool(sql.face_ids_taken(db, [f.face_id for f in faces]))
        placed = [replace(f, face_id=str(uuid.uuid4())) if renew else f for f in faces]
        for a in range(0, len(placed), 1000):
            store.add_faces(cid, placed[a : a + 1000], np.stack(vecs[a : a + 1000]))
        for uid in users:
            sql.insert_user(db, cid, uid)
        for c in celebs:
            store.set_celebrity(cid, c)
        users_of: dict[str, list[str]] = {}
        for f in placed:
            if f.user_id:
                users_of.setdefault(f.user_id, []).append(f.face_id)
        for uid, ids in users_of.items():
            sql.set_face_user(db, cid, ids, uid)
        return {"new_face_ids": renew}

    done = store.run_idempotent("Import", cid, None, "", write)
    return Imported(cid, len(faces), done["new_face_ids"])
