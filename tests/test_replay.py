"""The replay cache: a signature used again after the grace is refused until it expires;
memory stays bounded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from oculi.api.replay import ReplayCache

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
S = timedelta(seconds=1)


def test_repeat_within_grace_served_later_refused_until_expiry() -> None:
    cache = ReplayCache()
    valid_until = T0 + 900 * S
    assert cache.fresh("sig", valid_until, T0)
    assert cache.fresh("sig", valid_until, T0 + S)  # the same call twice in one second
    assert not cache.fresh("sig", valid_until, T0 + 3 * S)
    assert not cache.fresh("sig", valid_until, T0 + 899 * S)
    assert cache.fresh("other", valid_until, T0 + 3 * S)
    # past its expiry the signature is refused by the clock check; the cache forgets it
    assert cache.fresh("sig", T0 + 2000 * S, T0 + 901 * S)


def test_bounded() -> None:
    cache = ReplayCache(capacity=3)
    for i in range(3):
        assert cache.fresh(f"s{i}", T0 + (10 + i) * S, T0)
    assert cache.full(T0)
    assert not cache.full(T0 + 11 * S)  # s0 expired
    assert len(cache._first_use) == 2
