"""What every use case needs: settings and lazily loaded, shared model pipelines."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oculi.audit import AuditLog
from oculi.audit_key import key_file_for
from oculi.models.runtime import default_threads
from oculi.models.zoo import load_face_analyzer, load_face_embedder
from oculi.service.collections import Collections
from oculi.service.image_source import S3Settings
from oculi.service.redact import REDACTION_DETECTOR
from oculi.service.users import Users
from oculi.settings import Settings
from oculi.store.engines import VectorBackend, open_indexes, vector_url
from oculi.store.faces import FaceStore
from oculi.store.images import ImageStore
from oculi.store.lock import holds_lock
from oculi.store.vectors import VectorIndexes
from oculi.vision.attributes import ATTRIBUTES
from oculi.vision.attributes.models import AttributeModels, load_attribute_models
from oculi.vision.embed import DIM
from oculi.vision.faces import FaceAnalyzer

# Under the data directory; the folders before collections had storage names were `ann/`
# and `images/` (moved from at start: oculi/store/images.py, oculi/store/vectors.py).
ANN_DIR = "ann-index"
IMAGES_DIR = "kept-images"

if TYPE_CHECKING:
    from oculi.streams.runtime import StreamProcessors
    from oculi.video.jobs import VideoJobs


def open_audit(s: Settings) -> AuditLog:
    """The audit log the settings name: in PostgreSQL (`audit_url`) or the data
    directory's file."""
    key_file = key_file_for(s.data_dir, s.audit_key_file)
    if s.audit_url:
        from oculi.audit_pg import PgAuditLog  # optional extra (psycopg)

        return PgAuditLog(s.audit_url, s.data_dir / "audit", key_file)
    return AuditLog(s.data_dir / "audit", key_file)


@dataclass
class ServiceContext:
    settings: Settings
    _analyzer: FaceAnalyzer | None = None
    _redaction_analyzer: FaceAnalyzer | None = None
    _collections: Collections | None = None
    _users: Users | None = None
    _audit: AuditLog | None = None
    _attributes: AttributeModels | None = None
    _video: VideoJobs | None = None
    _streams: StreamProcessors | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def threads(self) -> int:
        """Intra-op threads per model: the cores shared out among the workers (requests run
        side by side scale better than threads inside one model: bench/detect_faces.py)."""
        return self.settings.threads or max(1, default_threads() // max(1, self.settings.workers))

    @property
    def s3(self) -> S3Settings:
        return S3Settings(endpoint_url=self.settings.s3_endpoint_url)

    def face_analyzer(self) -> FaceAnalyzer:
        with self._lock:
            if self._analyzer is None:
                s = self.settings
                self._analyzer = load_face_analyzer(s.model_dir, s.detector, self.threads, s.device)
            return self._analyzer

    def loaded(self) -> set[str]:
        """Which of its parts (face_analyzer, redaction_analyzer, collections,
        attribute_models) this context has loaded so far."""
        with self._lock:
            parts = {
                "face_analyzer": self._analyzer,
                "redaction_analyzer": self._redaction_analyzer,
                "collections": self._collections,
                "attribute_models": self._attributes,
            }
        done = {name for name, part in parts.items() if part is not None}
        if self.settings.detector == REDACTION_DETECTOR and "face_analyzer" in done:
            done.add("redaction_analyzer")  # the same analyzer serves both
        return done

    def redaction_analyzer(self) -> FaceAnalyzer:
        """The analyzer with both face detectors (REDACTION_DETECTOR), whatever the
        server's --detector: a face redaction misses is a face left visible. DetectFaces
        also searches crowds with it (FaceAnalyzer.detect_in_crowds)."""
        if self.settings.detector == REDACTION_DETECTOR:
            return self.face_analyzer()
        with self._lock:
            if self._redaction_analyzer is None:
                s = self.settings
                self._redaction_analyzer = load_face_analyzer(
                    s.model_dir, REDACTION_DETECTOR, self.threads, s.device
                )
            return self._redaction_analyzer

    def collections(self) -> Collections:
        analyzer = self.face_analyzer()
        with self._lock:
            if self._collections is None:
                s = self.settings
                embedder = load_face_embedder(s.model_dir, self.threads, s.device)
                store = FaceStore(s.store_url or s.data_dir / "faces.sqlite3")
                url = vector_url(s.vector_url, s.qdrant)
                if url:
                    indexes: VectorIndexes | VectorBackend = open_indexes(url, store, DIM)
                else:  # snapshots are written only by the data directory's lock holder
                    indexes = VectorIndexes(
                        store,
                        DIM,
                        s.data_dir / ANN_DIR if holds_lock(s.data_dir) else None,
                        s.ann_threshold,
                        s.ann_scan_threads,
                        legacy=s.data_dir / "ann",
                    )
                self._collections = Collections(
                    store,
                    analyzer,
                    embedder,
                    indexes,
                    ImageStore(s.data_dir / IMAGES_DIR, legacy=s.data_dir / "images"),
                    s.keep_images,
                    s.strangers_per_search,
                )
            return self._collections

    def close(self) -> None:
        """Close what was opened (the store and its vector indexes: see
        `Collections.close`)."""
        with self._lock:
            streams, self._streams = self._streams, None
        if streams is not None:  # its sessions end first; they use what follows
            streams.close()
        with self._lock:
            if self._video is not None:
                self._video.close()
                self._video = None
            if self._collections is not None:
                self._collections.close()
                self._collections = None
                self._users = None

    def users(self) -> Users:
        cols = self.collections()
        with self._lock:
            if self._users is None:
                self._users = Users(cols)
            return self._users

    def audit(self) -> AuditLog:
        """The audit log, opened for appending on first use (AuditError if it cannot be
        trusted; the server opens it at start-up)."""
        with self._lock:
            if self._audit is None:
                s = self.settings
                audit = open_audit(s)
                audit.start()
                self._audit = audit
            return self._audit

    def attribute_models(self) -> AttributeModels:
        """Age, gender and emotion networks (fetched at start-up, loaded on first use)."""
        with self._lock:
            if self._attributes is None:
                s = self.settings
                self._attributes = load_attribute_models(s.model_dir, 1, ATTRIBUTES, s.device)
            return self._attributes

    def video_jobs(self) -> VideoJobs:
        """The stored-video jobs, opened at start (which runs the jobs a stopped server
        left in progress again)."""
        from oculi.video.jobs import VideoJobs

        with self._lock:
            if self._video is None:
                self._video = VideoJobs(self)
            return self._video

    def stream_processors(self) -> StreamProcessors:
        """The stream processors and their sessions, opened on first use (`oculi serve`
        opens them at start and resumes the processors a stopped server ran)."""
        from oculi.streams.runtime import StreamProcessors

        with self._lock:
            if self._streams is None:
                self._streams = StreamProcessors(self)
            return self._streams
