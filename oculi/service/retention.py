"""Retention: faces expire a set number of days after they were indexed.

The sweeper deletes expired faces through the same path as DeleteFaces, in batches; each
batch is audited like DeleteFaces (operation RetentionExpiry): its intent, with the face
ids, is on disk before anything is deleted, and no batch is deleted when it cannot be.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from oculi.audit import Caller, run_audited
from oculi.service.context import ServiceContext

log = logging.getLogger("oculi.retention")

RETENTION_KEY = "oculi-retention"  # the access key its audit records name


def sweep_once(ctx: ServiceContext, now: float | None = None) -> int:
    """Delete every expired face now; return how many were deleted."""
    audit = ctx.audit()

    def audited(collection_id: str, ids: list[str], delete: Callable[[], list[str]]) -> list[str]:
        result = run_audited(
            audit,
            "RetentionExpiry",
            {"CollectionId": collection_id, "FaceIds": ids},
            Caller(RETENTION_KEY, None, str(uuid.uuid4())),
            lambda: {"DeletedFaces": delete()},
        )
        return list(result["DeletedFaces"])

    expired = ctx.collections().expire(time.time() if now is None else now, audited)
    return sum(len(ids) for _, ids in expired)


def start_sweeper(ctx: ServiceContext, interval_s: float) -> threading.Event:
    """Sweep every `interval_s` seconds in a daemon thread; set the event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                n = sweep_once(ctx)
                if n:
                    log.info("retention: %d expired face(s) deleted", n)
            except Exception:  # noqa: BLE001 - keep sweeping; the next round retries
                log.exception("retention sweep failed")

    threading.Thread(target=loop, name="oculi-retention", daemon=True).start()
    return stop
