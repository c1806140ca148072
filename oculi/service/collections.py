"""Face collections and matching: the use cases behind IndexFaces, Search*, CompareFaces.

Pure of HTTP: takes decoded images and validated values, returns typed results; the
Rekognition JSON is built in `oculi.api.collection_ops`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from oculi.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from oculi.service.detect_faces import FaceResult
from oculi.service.match_floor import STRANGERS_PER_SEARCH, size_floor
from oculi.store.faces import Collection, FaceRecord, FaceStore
from oculi.store.images import ImageStore
from oculi.store.vectors import VectorIndexes
from oculi.vision.embed import DIM, FaceEmbedder
from oculi.vision.faces import FaceAnalyzer
from oculi.vision.similarity import cosine_at, similarity
from oculi.vision.types import FaceDetections

if TYPE_CHECKING:
    from oculi.store.engines import VectorBackend

# Runs one batch of expired faces' deletion: (collection, face ids, delete) -> deleted ids.
BatchRunner = Callable[[str, list[str], Callable[[], list[str]]], list[str]]


def _run_batch(collection_id: str, ids: list[str], delete: Callable[[], list[str]]) -> list[str]:
    return delete()


# Quality bars for QualityFilter. LOW, MEDIUM and HIGH are chosen, not measured against
# recognition errors; their confidence bars are calibrated Confidence
# (oculi/vision/face_confidence.py): 53, 96.5 and 99.75 are YuNet's raw scores 0.6, 0.8 and
# 0.9 (bench/face_confidence.py's curve), the bars chosen before Confidence was calibrated,
# so the same faces pass. AUTO is MEDIUM but for two bars measured against search on LFW
# (python -m bench.identity, section 4; docs/face-matching.md): confidence 95.5, the highest
# that indexes 97% of the fit half's photos (the photos it refuses are missed by search
# about 3x as often as those it accepts), and sharpness 10, LOW's: MEDIUM's 20 refused 111
# of 1,990 held-out photos that search found nearly as often as the rest. AUTO's yaw bar is
# LOW's 75: near-profile faces read yaw 60-70, and Obama's, at 62-67 in the Hamilton clip,
# still matched his portrait above Similarity 99 (python -m bench.pose).
QUALITY_BARS: dict[str, dict[str, float]] = {
    "LOW": {
        "confidence": 53,
        "min_side_px": 20,
        "sharpness": 10,
        "brightness": 10,
        "yaw": 75,
        "pitch": 60,
    },
    "MEDIUM": {
        "confidence": 96.5,
        "min_side_px": 32,
        "sharpness": 20,
        "brightness": 15,
        "yaw": 60,
        "pitch": 45,
    },
    "AUTO": {
        "confidence": 95.5,
        "min_side_px": 32,
        "sharpness": 10,
        "brightness": 15,
        "yaw": 75,
        "pitch": 45,
    },
    "HIGH": {
        "confidence": 99.75,
        "min_side_px": 50,
        "sharpness": 40,
        "brightness": 25,
        "yaw": 45,
        "pitch": 30,
    },
}


def quality_reasons(faces: FaceDetections, level: str) -> list[list[str]]:
    """Rekognition's UnindexedFaces reasons for each face under QualityFilter `level`."""
    if level == "NONE":
        return [[] for _ in range(len(faces))]
    bar = QUALITY_BARS[level]
    out = []
    for i in range(len(faces)):
        reasons = []
        x1, y1, x2, y2 = faces.boxes[i]
        if faces.scores[i] * 100 < bar["confidence"]:
            reasons.append("LOW_CONFIDENCE")
        if min(x2 - x1, y2 - y1) < bar["min_side_px"]:
            reasons.append("SMALL_BOUNDING_BOX")
        if faces.quality is not None:
            brightness, sharpness = faces.quality[i]
            if sharpness < bar["sharpness"]:
                reasons.append("LOW_SHARPNESS")
            if brightness < bar["brightness"]:
                reasons.append("LOW_BRIGHTNESS")
        if faces.pose is not None:
            _, yaw, pitch = faces.pose[i]
            if abs(yaw) > bar["yaw"] or abs(pitch) > bar["pitch"]:
                reasons.append("EXTREME_POSE")
        out.append(reasons)
    return out


def quality_rank(faces: FaceDetections) -> np.ndarray:
    """Indices best first: detector confidence times sharpness (lowest quality dropped
    first when MaxFaces is exceeded, as Rekognition documents)."""
    sharp = faces.quality[:, 1] if faces.quality is not None else np.ones(len(faces))
    return np.argsort(-(faces.scores * (sharp + 1.0)), kind="stable")


@dataclass(frozen=True)
class IndexedFaces:
    result: FaceResult
    records: list[tuple[int, FaceRecord]]  # (face index in result, record)
    unindexed: list[tuple[int, list[str]]]  # (face index, reasons)


@dataclass(frozen=True)
class Match:
    record: FaceRecord
    similarity: float


def box_ratios(box: np.ndarray, width: int, height: int) -> dict[str, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {
        "Width": (x2 - x1) / width,
        "Height": (y2 - y1) / height,
        "Left": x1 / width,
        "Top": y1 / height,
    }


class Collections:
    def __init__(
        self,
        store: FaceStore,
        analyzer: FaceAnalyzer,
        embedder: FaceEmbedder,
        indexes: VectorIndexes | VectorBackend | None = None,
        images: ImageStore | None = None,
        keep_images: bool = False,
        strangers_per_search: float = STRANGERS_PER_SEARCH,
    ) -> None:
        """`images`: where kept images live (deleting faces removes theirs whether or not
        new ones are kept); `keep_images`: IndexFaces keeps the images it indexes there;
        `strangers_per_search`: the size rule of searches (oculi.service.match_floor)."""
        self.store = store
        self.analyzer = analyzer
        self.embedder = embedder
        self.indexes = indexes if indexes is not None else VectorIndexes(store, DIM)
        self.images = images
        self.keep_images = keep_images and images is not None
        self.strangers_per_search = strangers_per_search

    @property
    def model_version(self) -> str:
        return self.embedder.version

    def _require(self, collection_id: str) -> Collection:
        c = self.store.get_collection(collection_id)
        if c is None:
            raise ResourceNotFound(f"The collection id: {collection_id} does not exist")
        return c

    def create(self, collection_id: str, tags: dict[str, str] | None = None) -> Collection:
        c = self.store.create_collection(collection_id, self.model_version, tags)
        if c is None:
            raise ResourceAlreadyExists(f"The collection id: {collection_id} already exists")
        return c

    def describe(self, collection_id: str) -> Collection:
        return self._require(collection_id)

    def list(self, after: str, limit: int) -> list[Collection]:
        return self.store.list_collections(after, limit)

    def delete(self, collection_id: str) -> None:
        with self.indexes.lock:
            if not self.store.delete_collection(collection_id):
                raise ResourceNotFound(f"The collection id: {collection_id} does not exist")
            self.indexes.drop(collection_id)
            if self.images is not None:
                self.images.drop(collection_id)

    def sweep(self) -> int:
        """Remove the files that hold faces the store no longer has: kept images whose
        faces are all gone (a crash between a deletion's commit and the file's removal
        leaves one behind) and the ANN snapshots and kept images of deleted collections,
        after moving a legacy layout's files to their storage names. Run at start, by the
        data directory's lock holder, before any IndexFaces. Returns how many files were
        removed."""
        with self.indexes.lock:
            live = self.store.collection_ids()
            removed = self.indexes.sweep(live) if isinstance(self.indexes, VectorIndexes) else 0
            if self.images is not None:
                removed += self.images.sweep(live, self.store.images_with_faces)
            return removed

    def close(self) -> None:
        """At a clean stop: write the ANN snapshots that are behind, then close the store
        (SQLite: its WAL checkpointed and truncated)."""
        with self.indexes.lock:
            self.indexes.close()
            self.store.close()

    # faces -------------------------------------------------------------------------
    def index_faces(
        self,
        collection_id: str,
        rgb: np.ndarray,
        external_image_id: str | None,
        max_faces: int | None,
        quality_filter: str,
        image_bytes: bytes | None = None,
    ) -> IndexedFaces:
        """Index the image's faces; `image_bytes` (what `rgb` was decoded from) is kept
        when images are kept and at least one face is indexed, durably before the commit."""
        self._require(collection_id)
        faces = self.analyzer.analyze(rgb)
        h, w = rgb.shape[:2]
        reasons = quality_reasons(faces, quality_filter)
        passing = [i for i in quality_rank(faces) if not reasons[i]]
        keep = passing if max_faces is None else passing[:max_faces]
        for i in passing[len(keep) :]:
            reasons[i] = ["EXCEEDS_MAX_FACES"]
        keep = sorted(keep)
        image_id = str(uuid.uuid4())
        now = time.time()
        records = [
            (
                i,
                FaceRecord(
                    face_id=str(uuid.uuid4()),
                    collection_id=collection_id,
                    image_id=image_id,
                    external_image_id=external_image_id,
                    bbox=box_ratios(faces.boxes[i], w, h),
                    confidence=float(faces.scores[i]) * 100,
                    model_version=self.model_version,
                    created=now,
                ),
            )
            for i in keep
        ]
        if records:
            emb = self.embedder(rgb, faces.take(np.asarray(keep)))
            keeper = self.images if self.keep_images and image_bytes is not None else None
            if keeper is not None and image_bytes is not None:
                keeper.put(collection_id, image_id, image_bytes)
            try:
                with self.indexes.lock:
                    index = self.indexes.get(collection_id)  # loaded before the new rows exist
                    if not self.store.add_faces(collection_id, [r for _, r in records], emb):
                        raise ResourceNotFound(f"The collection id: {collection_id} does not exist")
                    index.add([r.face_id for _, r in records], emb)
            except BaseException:
                if keeper is not None and not self.store.images_with_faces(
                    collection_id, [image_id]
                ):
                    keeper.remove(collection_id, [image_id])
                raise
        result = FaceResult(faces=faces, width=w, height=h, attributes=frozenset({"DEFAULT"}))
        unindexed = [(i, reasons[i]) for i in range(len(faces)) if reasons[i]]
        return IndexedFaces(result=result, records=records, unindexed=unindexed)

    def expire(
        self, now: float, run_batch: BatchRunner = _run_batch, batch: int = 1000
    ) -> list[tuple[str, list[str]]]:
        """Delete every face older than its collection's retention period, through the
        same path as DeleteFaces (faces a user holds are released first), one batch at a
        time through `run_batch(collection, ids, delete)` (the audit wraps it). Returns
        (collection, face ids deleted) for each collection where faces expired."""
        out = []
        for collection_id, days in self.store.retention_policies().items():
            cutoff = now - days * 86400.0
            deleted: list[str] = []
            while True:
                ids = self.store.faces_created_before(collection_id, cutoff, batch)
                if not ids:
                    break
                done = run_batch(
                    collection_id, ids, partial(self._expire_batch, collection_id, ids)
                )
                deleted += done
                if not done:
                    break
            if deleted:
                out.append((collection_id, deleted))
        return out

    def _expire_batch(self, collection_id: str, ids: list[str]) -> list[str]:
        self.store.release_faces(collection_id, ids)
        return self.delete_faces(collection_id, ids)[0]

    def list_faces(
        self,
        collection_id: str,
        after_seq: int,
        limit: int,
        face_ids: list[str] | None,
        user_id: str | None = None,
    ) -> list[tuple[int, FaceRecord]]:
        self._require(collection_id)
        return self.store.list_faces(collection_id, after_seq, limit, face_ids, user_id)

    def delete_faces(
        self, collection_id: str, face_ids: list[str]
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Ids deleted, and (face id, user id) of faces kept because a user holds them."""
        self._require(collection_id)
        with self.indexes.lock:
            images = (
                {r.image_id for r in self.store.get_faces(collection_id, face_ids).values()}
                if self.images is not None
                else set()
            )
            deleted, held = self.store.delete_faces(collection_id, face_ids)
            self.indexes.get(collection_id).remove(deleted)
            if self.images is not None and deleted:
                still = self.store.images_with_faces(collection_id, sorted(images))
                self.images.remove(collection_id, sorted(images - still))
        return deleted, held

    def _sized(self, threshold: float, faces: int) -> float:
        return max(threshold, size_floor(faces, self.strangers_per_search))

    def sized_threshold(self, collection_id: str, threshold: float) -> float:
        """`threshold`, raised to what the collection's size needs (match_floor)."""
        with self.indexes.lock:
            return self._sized(threshold, len(self.indexes.get(collection_id)))

    def search_vector(
        self,
        collection_id: str,
        query: np.ndarray,
        max_faces: int,
        threshold: float,
        exclude: str | None = None,
        sized: bool = True,
    ) -> list[Match]:
        """The faces matching `query` at `threshold` or above, raised when `sized` to what
        the collection's size needs (oculi.service.match_floor); not `sized` only where a
        false match does no harm (redaction that covers members' faces only) or where the
        caller applies `sized_threshold` to its own final scores (Users)."""
        with self.indexes.lock:
            index = self.indexes.get(collection_id)
            if sized:
                threshold = self._sized(threshold, len(index))
            hits = index.search(query, max_faces, cosine_at(threshold), exclude)
            records = self.store.get_faces(collection_id, [fid for fid, _ in hits])
        return [Match(records[fid], float(similarity(c))) for fid, c in hits if fid in records]

    def search_faces(
        self, collection_id: str, face_id: str, max_faces: int, threshold: float
    ) -> list[Match]:
        self._require(collection_id)
        query = self.store.embedding(collection_id, face_id)
        if query is None:
            raise InvalidParameter(f"Face {face_id} is not in collection {collection_id}")
        return self.search_vector(collection_id, query, max_faces, threshold, exclude=face_id)

    def search_faces_by_image(
        self,
        collection_id: str,
        rgb: np.ndarray,
        max_faces: int,
        threshold: float,
        quality_filter: str,
    ) -> tuple[FaceResult, list[Match]]:
        """The largest face of the image, and its matches."""
        self._require(collection_id)
        searched, _ = self.largest_face(rgb, quality_filter)
        query = self.embedder(rgb, searched.faces)[0]
        return searched, self.search_vector(collection_id, query, max_faces, threshold)

    def largest_face(self, rgb: np.ndarray, quality_filter: str) -> tuple[FaceResult, FaceResult]:
        """The image's largest face (which must pass `quality_filter`), and all its faces."""
        faces = self.analyzer.analyze(rgb)
        if not len(faces):
            raise InvalidParameter("There are no faces in the image. Should be at least 1.")
        if quality_reasons(faces.take(np.array([0])), quality_filter)[0]:
            raise InvalidParameter(
                "The largest face in the image does not meet the quality "
                f"bar of QualityFilter {quality_filter}"
            )
        h, w = rgb.shape[:2]
        everyone = FaceResult(faces=faces, width=w, height=h, attributes=frozenset({"DEFAULT"}))
        largest = FaceResult(
            faces=faces.take(np.array([0])), width=w, height=h, attributes=frozenset({"DEFAULT"})
        )
        return largest, everyone

    def compare(
        self, source: np.ndarray, target: np.ndarray, quality_filter: str
    ) -> tuple[FaceResult, FaceResult, np.ndarray]:
        """Source's largest face, target's faces (≤ 100, those passing the filter), and the
        Similarity of each target face to the source face."""
        src, _ = self.largest_face(source, quality_filter)
        faces = self.analyzer.analyze(target)
        ok = [i for i, r in enumerate(quality_reasons(faces, quality_filter)) if not r]
        faces = faces.take(np.asarray(ok, dtype=np.int64))
        h, w = target.shape[:2]
        tgt = FaceResult(faces=faces, width=w, height=h, attributes=frozenset({"DEFAULT"}))
        if not len(faces):
            return src, tgt, np.zeros((0,))
        a = self.embedder(source, src.faces)[0]
        b = self.embedder(target, faces)
        return src, tgt, similarity(b @ a)
