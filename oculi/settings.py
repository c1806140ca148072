"""Server settings: command-line flags over environment variables over defaults."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

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
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keys_file: Path | None = None
    s3_endpoint_url: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_S3_ENDPOINT_URL") or None
    )
    max_clock_skew_s: int = 900
    match_floor: float = field(
        default_factory=lambda: float(os.environ.get("OCULI_MATCH_FLOOR", "99"))
    )
    store_url: str | None = field(default_factory=lambda: os.environ.get("OCULI_STORE_URL") or None)
    qdrant: str | None = field(default_factory=lambda: os.environ.get("OCULI_QDRANT") or None)
    qdrant_api_key: str | None = field(
        default_factory=lambda: os.environ.get("OCULI_QDRANT_API_KEY") or None
    )
    qdrant_hnsw_ef: int = field(
        default_factory=lambda: int(os.environ.get("OCULI_QDRANT_HNSW_EF", "128"))
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
    # load models on first use instead of before listening (`serve --lazy-models`)
    lazy_models: bool = field(
        default_factory=lambda: os.environ.get("OCULI_LAZY_MODELS", "") == "1"
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


def load_keys(keys_file: Path | None) -> dict[str, KeySpec]:
    """Access keys: the keys file (JSON: {"keys": [{"access_key_id": ..., "secret_access_key":
    ..., optional "allow" and "collections" (see oculi/permissions.py)}]}) and/or
    OCULI_ACCESS_KEY_ID + OCULI_SECRET_ACCESS_KEY (all permissions). Empty = no auth."""
    keys: dict[str, KeySpec] = {}
    path = keys_file or (
        Path(os.environ["OCULI_KEYS_FILE"]) if os.environ.get("OCULI_KEYS_FILE") else None
    )
    if path is not None:
        try:
            doc = json.loads(Path(path).read_text())
            for k in doc["keys"]:
                spec = KeySpec.from_json(k)
                keys[spec.access_key_id] = spec
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise KeysError(f"cannot read keys file {path}: {e}") from None
    ak, sk = os.environ.get("OCULI_ACCESS_KEY_ID"), os.environ.get("OCULI_SECRET_ACCESS_KEY")
    if ak and sk:
        keys[ak] = KeySpec(ak, sk)
    elif ak or sk:
        raise KeysError("set both OCULI_ACCESS_KEY_ID and OCULI_SECRET_ACCESS_KEY, or neither")
    return keys
