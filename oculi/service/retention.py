"""Retention: faces expire a set number of days after they were indexed.

The sweeper deletes expired faces through the same path as DeleteFaces and writes one
audit record (operation RetentionExpiry) per collection and sweep.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from oculi.audit import event_for
from oculi.service.context import ServiceContext

log = logging.getLogger("oculi.retention")


def sweep_once(ctx: ServiceContext, now: float | None = None) -> int:
    """Delete every expired face now; return how many were deleted."""
    total = 0
    for collection_id, ids in ctx.collections().expire(time.time() if now is None else now):
        ctx.audit().append(
            event_for(
                "RetentionExpiry",
                {"CollectionId": collection_id, "FaceIds": ids},
                {"DeletedFaces": ids},
                None,
                "oculi-retention",
                None,
                str(uuid.uuid4()),
            )
        )
        total += len(ids)
    return total


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
