"""Server settings: command-line flags over environment variables over defaults."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oculi.permissions import KeySpec


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(os.environ.get("OCULI_DATA_DIR") or Path(base) / "oculi")


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = field(default_factory=default_data_dir)
    model_dir: Path | None = None
    detector: str = field(default_factory=lambda: os.environ.get("OCULI_DETECTOR", "yunet"))
    threads: int | None = None
    device: str = field(default_factory=lambda: os.environ.get("OCULI_DEVICE", "auto"))
    workers: int = field(default_factory=lambda: int(os.environ.get("OCULI_WORKERS", "2")))
    queue_per_worker: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_QUEUE_PER_WORKER", "8"))
    )
    # threads for the expensive native calls (/oculi/redact, /oculi/plates), apart from the
    # workers, so that they never hold every worker; at most twice as many in progress
    native_workers: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_NATIVE_WORKERS", "1"))
    )
    # a native call past this many seconds stops at its next stage (InvalidParameterException)
    native_budget_s: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_NATIVE_BUDGET_S", "60"))
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keys_file: Path | None = None
    # the audit log's MAC key, outside the data directory (default: oculi/audit_key.py)
    audit_key_file: Path | None = field(
        default_factory=lambda: Path(v) if (v := os.environ.get("OCULI_AUDIT_KEY_FILE")) else None
    )
    s3_endpoint_url: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_S3_ENDPOINT_URL") or None
    )
    max_clock_skew_s: int = 900
    # only signatures scoped to this region are accepted; None accepts any (SECURITY.md)
    auth_region: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_AUTH_REGION") or None
    )
    # a request body must keep coming (each read waits this long at most) and arrive whole
    # within body_timeout_s + its length / min_body_rate (bytes per second)
    body_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_BODY_TIMEOUT_S", "10"))
    )
    min_body_rate: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_MIN_BODY_RATE", "65536"))
    )
    # requests in progress from one client address (0: no limit)
    requests_per_client: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_REQUESTS_PER_CLIENT", "32"))
    )
    # on SIGTERM/SIGINT, how long requests in progress may take to finish
    shutdown_timeout_s: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_SHUTDOWN_TIMEOUT_S", "60"))
    )
    match_floor: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_MATCH_FLOOR", "99"))
    )
    store_url: str | None = field(default_factory=lambda: os.environ.get("OCULI_STORE_URL") or None)
    # the audit log in PostgreSQL, one chain for every server (oculi/audit_pg.py); None: a
    # file in the data directory
    audit_url: str | None = field(default_factory=lambda: os.environ.get("OCULI_AUDIT_URL") or None)
    pgvector_ef_search: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_PGVECTOR_EF_SEARCH", "200"))
    )
    qdrant: str | None = field(default_factory=lambda: os.environ.get("OCULI_QDRANT") or None)
    qdrant_api_key: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_QDRANT_API_KEY") or None
    )
    qdrant_hnsw_ef: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_QDRANT_HNSW_EF", "128"))
    )
    # the vector engine, by URL (oculi/store/engines.py); None: the embedded index
    vector_url: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_VECTOR_URL") or None
    )
    # faces above which a collection is searched by AnnIndex (vectors.DEFAULT_THRESHOLD)
    ann_threshold: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_ANN_THRESHOLD", "10000"))
    )
    # threads (shards) scanning one ANN search; default 2 where there are 2 cores or more
    # (10M faces: p99 14-16 ms against 14-20 ms on one thread, docs/search-scale.md)
    ann_scan_threads: int = field(
        default_factory=lambda: int(
            os.environ.get("OCULI_ANN_SCAN_THREADS") or min(2, os.cpu_count() or 1)
        )
    )
    retention_sweep_s: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_RETENTION_SWEEP_S", "600"))
    )
    # keep the images IndexFaces indexed, for `oculi reindex` (docs/reindex.md); off by default
    keep_images: bool = field(
        default_factory=lambda: os.environ.get("OCULI_KEEP_IMAGES", "") == "1"
    )
    # the collection RecognizeCelebrities names people from (docs/celebrities.md); none: nobody
    celebrity_collection: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_CELEBRITY_COLLECTION") or None
    )
    # searches keep the expected false matches per search by someone not in the collection
    # under this, at any collection size (oculi/service/match_floor.py); 0 turns it off
    strangers_per_search: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_STRANGERS_PER_SEARCH", "0.001"))
    )
    # load models on first use instead of before listening (`serve --lazy-models`)
    lazy_models: bool = field(
        default_factory=lambda: os.environ.get("OCULI_LAZY_MODELS", "") == "1"
    )
    # stored-video jobs (docs/video.md): frames analysed per second of video, jobs run side
    # by side, jobs in progress before Start* answers LimitExceededException (AWS: 20), and
    # how long a finished job's results are kept before they are deleted (AWS: 7 days)
    video_fps: float = field(default_factory=lambda: float(os.environ.get("OCULI_VIDEO_FPS", "5")))
    video_workers: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_VIDEO_WORKERS", "1"))
    )
    video_job_limit: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_VIDEO_JOB_LIMIT", "20"))
    )
    video_results_ttl_s: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_VIDEO_RESULTS_TTL_S", str(7 * 86400)))
    )
    # jobs go through this PostgreSQL-backed queue (procrastinate) to `oculi worker`
    # processes, with the job store in the same database (docs/scale-out.md); None: the
    # server runs its jobs itself; a worker sends a heartbeat this often, and its jobs are
    # given to another worker when it has sent none for three of these
    queue_url: str | None = field(default_factory=lambda: os.environ.get("OCULI_QUEUE_URL") or None)
    queue_heartbeat_s: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_QUEUE_HEARTBEAT_S", "10"))
    )
    # an operator's webhook for every job's completion message, signed with HMAC-SHA256
    # under the secret (docs/video.md); never a URL from a caller
    video_webhook_url: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_VIDEO_WEBHOOK_URL") or None
    )
    video_webhook_secret: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_VIDEO_WEBHOOK_SECRET") or None
    )
    # where SNS completion messages go; None: boto3's own configuration (AWS_ENDPOINT_URL_SNS)
    sns_endpoint_url: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_SNS_ENDPOINT_URL") or None
    )
    # stream processors (docs/streams.md): frames analysed a second, the processors that may
    # exist, the only folder file:// inputs may read from (none: file:// is refused), a JSON
    # file mapping Kinesis video stream ARNs to camera URLs, and whether label events keep
    # their frame (uploaded beside the event to the S3 destination)
    stream_fps: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_STREAM_FPS", "5"))
    )
    stream_processor_limit: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_STREAM_PROCESSOR_LIMIT", "20"))
    )
    stream_file_dir: Path | None = field(
        default_factory=lambda: Path(v) if (v := os.environ.get("OCULI_STREAM_FILE_DIR")) else None
    )
    # whether a caller may name a URL as the input (off: only ARNs the stream map names)
    stream_url_inputs: bool = field(
        default_factory=lambda: os.environ.get("OCULI_STREAM_URL_INPUTS", "1") != "0"
    )
    stream_map: Path | None = field(
        default_factory=lambda: Path(v) if (v := os.environ.get("OCULI_STREAM_MAP")) else None
    )
    # an MQTT broker every processor's events are also published to (docs/streams.md)
    stream_mqtt_url: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_STREAM_MQTT_URL") or None
    )
    # an operator's webhook every processor's events are also POSTed to, signed with
    # HMAC-SHA256 under the secret (docs/streams.md); never a URL from a caller
    stream_webhook_url: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_STREAM_WEBHOOK_URL") or None
    )
    stream_webhook_secret: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_STREAM_WEBHOOK_SECRET") or None
    )
    stream_keep_frames: bool = field(
        default_factory=lambda: os.environ.get("OCULI_STREAM_KEEP_FRAMES", "") == "1"
    )
    region: str = field(default_factory=lambda: os.environ.get("OCULI_REGION", "us-east-1"))
    account_id: str = "000000000000"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KeysError(ValueError):
    pass


def _no_duplicate_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"field(s) {repeated} given twice in one object")
    return dict(pairs)


def parse_keys_file(text: str) -> list[KeySpec]:
    """The keys of a keys file, `{"keys": [{...}, ...]}`, each checked by KeySpec.from_json;
    ValueError names what is wrong."""
    doc = json.loads(text, object_pairs_hook=_no_duplicate_names)
    if not isinstance(doc, dict) or set(doc) != {"keys"}:
        raise ValueError('the file must be one object with a single field, "keys"')
    entries = doc["keys"]
    if not isinstance(entries, list) or not entries:
        raise ValueError('"keys" must be a non-empty list of key objects')
    specs = [KeySpec.from_json(entry, f"keys[{i}]") for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.access_key_id in seen:
            raise ValueError(f"keys[{i}].access_key_id {spec.access_key_id!r} appears twice")
        seen.add(spec.access_key_id)
    return specs


def load_keys(keys_file: Path | None) -> dict[str, KeySpec]:
    """Access keys: the keys file (see parse_keys_file and oculi/permissions.py) and/or
    OCULI_ACCESS_KEY_ID + OCULI_SECRET_ACCESS_KEY (all permissions). Empty = no auth.
    KeysError (naming the file and the field) on anything unexpected."""
    keys: dict[str, KeySpec] = {}
    path = keys_file or (
        Path(os.environ["OCULI_KEYS_FILE"]) if os.environ.get("OCULI_KEYS_FILE") else None
    )
    if path is not None:
        try:
            keys = {spec.access_key_id: spec for spec in parse_keys_file(Path(path).read_text())}
        except (OSError, ValueError) as e:
            raise KeysError(f"cannot use keys file {path}: {e}") from None
    ak, sk = os.environ.get("OCULI_ACCESS_KEY_ID"), os.environ.get("OCULI_SECRET_ACCESS_KEY")
    if ak and sk:
        if ak in keys:
            raise KeysError(f"OCULI_ACCESS_KEY_ID {ak!r} is also in keys file {path}")
        keys[ak] = KeySpec(ak, sk, s3_buckets=("*",))
    elif ak or sk:
        raise KeysError("set both OCULI_ACCESS_KEY_ID and OCULI_SECRET_ACCESS_KEY, or neither")
    return keys
