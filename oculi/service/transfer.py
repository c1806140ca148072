"""Export and import of a collection: faces (ids, external ids, boxes, users) and their
embeddings with the model version that made them — what Rekognition cannot give back.

The file is JSON lines: one `collection` header, then `user` and `face` records. Import
writes everything in one transaction per batch into a store and refuses embeddings of a
model version other than the importing server's (searches across versions are
meaningless) unless forced.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np

from oculi.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from oculi.store import faces as sql
from oculi.store.faces import FaceRecord, FaceStore
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
    }
    after = ""
    while page := store.list_users(collection_id, after, 1000):
        for user_id, _ in page:
            yield {"type": "user", "user_id": user_id}
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


def import_collection(
    store: FaceStore,
    lines: Iterable[str],
    model_version: str,
    rename: str | None = None,
    force: bool = False,
) -> tuple[str, int]:
    """Create the exported collection (or `rename`) with its users and faces; returns the
    collection id and the number of faces imported."""
    it = (json.loads(line) for line in lines if line.strip())
    head = next(it, None)
    if not head or head.get("type") != "collection" or head.get("format") != FORMAT:
        raise InvalidParameter(f"not an {FORMAT} file")
    cid = rename or head["collection_id"]
    if only_dots(cid):
        raise InvalidParameter(f"not a collection id: {cid!r}")
    if head["face_model_version"] != model_version and not force:
        raise InvalidParameter(
            f"embeddings are {head['face_model_version']}, this server makes "
            f"{model_version}: re-index from images, or force the import"
        )
    if store.create_collection(cid, head["face_model_version"]) is None:
        raise ResourceAlreadyExists(f"The collection id: {cid} already exists")
    if head.get("retention_days"):
        store.set_retention(cid, float(head["retention_days"]))
    users: list[str] = []
    users_of: dict[str, list[str]] = {}
    faces: list[tuple[FaceRecord, np.ndarray]] = []
    for rec in it:
        if rec["type"] == "user":
            users.append(rec["user_id"])
        elif rec["type"] == "face":
            faces.append(
                (
                    FaceRecord(
                        face_id=rec["face_id"],
                        collection_id=cid,
                        image_id=rec["image_id"],
                        external_image_id=rec["external_image_id"],
                        bbox=rec["bbox"],
                        confidence=rec["confidence"],
                        model_version=rec["model_version"],
                        created=rec["created"],
                    ),
                    np.frombuffer(base64.b64decode(rec["embedding"]), np.float32),
                )
            )
            if rec.get("user_id"):
                users_of.setdefault(rec["user_id"], []).append(rec["face_id"])
    for a in range(0, len(faces), 1000):
        batch = faces[a : a + 1000]
        store.add_faces(cid, [f for f, _ in batch], np.stack([v for _, v in batch]))

    def link(db: Any) -> dict[str, Any]:
        for uid in users:
            sql.insert_user(db, cid, uid)
        for uid, ids in users_of.items():
            sql.set_face_user(db, cid, ids, uid)
        return {}

    store.run_idempotent("Import", cid, None, "", link)
    return cid, len(faces)
