"""Signatures of mutating calls already served, so that a captured request cannot be sent
again while its signature is still inside the clock-skew window (or a presigned URL's
lifetime).

SigV4 dates have one-second resolution and SDKs add no nonce to what they sign, so a client
that makes the same call twice within one second (CreateCollection, DeleteCollection,
CreateCollection) sends the same signature twice: a repeat within `grace` of the first use
is therefore served; one after that is a replay.

Bounded: at most `capacity` signatures are remembered; while that many are still live, new
mutating calls are refused (ThrottlingException) rather than one being forgotten."""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta


class ReplayCache:
    def __init__(self, capacity: int = 100_000, grace: timedelta = timedelta(seconds=2)) -> None:
        self.capacity = capacity
        self.grace = grace
        self._first_use: dict[str, datetime] = {}
        self._by_expiry: list[tuple[datetime, str]] = []

    def _forget_expired(self, now: datetime) -> None:
        while self._by_expiry and self._by_expiry[0][0] < now:
            _, signature = heapq.heappop(self._by_expiry)
            self._first_use.pop(signature, None)

    def full(self, now: datetime) -> bool:
        self._forget_expired(now)
        return len(self._first_use) >= self.capacity

    def fresh(self, signature: str, valid_until: datetime, now: datetime) -> bool:
        """Record `signature`'s first use; False for a replay (a use after the grace)."""
        self._forget_expired(now)
        first = self._first_use.get(signature)
        if first is not None:
            return now - first <= self.grace
        self._first_use[signature] = now
        heapq.heappush(self._by_expiry, (valid_until, signature))
        return True
