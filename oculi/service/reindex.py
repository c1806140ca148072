"""Re-indexing a collection from its kept images after the face model changed.

For each kept image (see `oculi.store.images`) the current face analyzer finds the faces
again; each stored face of that image is matched to a detection by box IoU (greedy, at
least `MIN_IOU`), and the detection's embedding, from the current embedder, replaces the
stored one together with its model version. Face ids, external image ids, boxes and user
associations stay. Faces whose image was not kept, or that are not found again, keep their
old embedding unless the caller drops them (through the normal delete path, so their image
goes too and faces a user holds are kept).

Embeddings change in place (same face ids, same store sequence numbers), which a saved
ANN snapshot or a Qdrant collection cannot notice when caught up with the store, so the
collection's vector index is dropped and built again from the store at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oculi.errors import OculiError
from oculi.service.collections import Collections
from oculi.service.image_source import ANALYSIS_SIDE
from oculi.vision.decode import decode
from oculi.vision.nms import greedy_match

MIN_IOU = 0.5


@dataclass
class ReindexReport:
    images: int = 0  # kept images of the collection that still have faces
    faces: int = 0  # faces in the collection before any were dropped
    updated: list[str] = field(default_factory=list)
    not_kept: list[str] = field(default_factory=list)  # their image was not kept
    not_found: list[str] = field(default_factory=list)  # not detected again (IoU < MIN_IOU)
    unreadable: list[str] = field(default_factory=list)  # image ids that did not decode
    dropped: list[str] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)  # (face, user) not dropped
    model_version: str = ""
    collection_version_set: bool = False


def stored_box(bbox: dict[str, float], width: int, height: int) -> np.ndarray:
    """A stored BoundingBox (ratios) as x1 y1 x2 y2 pixels of a width x height image."""
    x1, y1 = bbox["Left"] * width, bbox["Top"] * height
    return np.array([x1, y1, x1 + bbox["Width"] * width, y1 + bbox["Height"] * height])


def reindex_image(
    cols: Collections, collection_id: str, image_id: str, data: bytes
) -> tuple[dict[str, np.ndarray], list[str]]:
    """New embeddings of the image's stored faces found again, and the ids not found."""
    records = cols.store.faces_of_image(collection_id, image_id)
    if not records:
        return {}, []
    rgb = decode(data, reduce_to=ANALYSIS_SIDE).rgb
    h, w = rgb.shape[:2]
    faces = cols.analyzer.analyze(rgb)
    stored = np.stack([stored_box(r.bbox, w, h) for r in records])
    pairs = greedy_match(stored, faces.boxes, MIN_IOU)
    found = {i for i, _ in pairs}
    missing = [r.face_id for i, r in enumerate(records) if i not in found]
    if not pairs:
        return {}, missing
    emb = cols.embedder(rgb, faces.take(np.asarray([j for _, j in pairs], np.int64)))
    return {records[i].face_id: emb[k] for k, (i, _) in enumerate(pairs)}, missing


def reindex_collection(
    cols: Collections,
    collection_id: str,
    drop_unmatched: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Re-embed the collection's faces from its kept images (run on a stopped server's
    store: a running server would keep searching its old index)."""
    cols.describe(collection_id)
    if cols.images is None:
        raise ValueError("no image store")
    report = ReindexReport(model_version=cols.model_version)
    kept = cols.images.image_ids(collection_id)  # sorted
    with_faces: list[str] = []  # a file without faces is left to the server's sweep
    for a in range(0, len(kept), 500):
        have = cols.store.images_with_faces(collection_id, kept[a : a + 500])
        with_faces += [img for img in kept[a : a + 500] if img in have]
    report.images = len(with_faces)
    kept_set = set(kept)
    after = 0
    while rows := cols.store.list_faces(collection_id, after, 1000):
        after = rows[-1][0]
        report.faces += len(rows)
        report.not_kept += [r.face_id for _, r in rows if r.image_id not in kept_set]
    for n, image_id in enumerate(with_faces, 1):
        try:
            data = cols.images.read(collection_id, image_id)
            embeddings, missing = reindex_image(cols, collection_id, image_id, data)
        except (OSError, OculiError):
            report.unreadable.append(image_id)
            embeddings = {}
            missing = [r.face_id for r in cols.store.faces_of_image(collection_id, image_id)]
        if embeddings:
            cols.store.set_embeddings(collection_id, embeddings, cols.model_version)
            report.updated += list(embeddings)
        report.not_found += missing
        if progress is not None:
            progress(n, len(with_faces))
    if drop_unmatched:
        unmatched = report.not_kept + report.not_found
        for a in range(0, len(unmatched), 1000):
            deleted, held = cols.delete_faces(collection_id, unmatched[a : a + 1000])
            report.dropped += deleted
            report.held += held
    with cols.indexes.lock:
        cols.indexes.drop(collection_id)  # the snapshot (or Qdrant) holds the old vectors
        cols.indexes.get(collection_id)  # rebuilt from the store, as a server does on load
    report.collection_version_set = cols.store.set_face_model_version(
        collection_id, cols.model_version
    )
    return report
