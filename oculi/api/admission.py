"""Admission of one API request, in the order that keeps strangers from costing anything.

1. With access keys, the credential in the headers (or presigned query) must name a known
   key, the right service and a time within the clock skew, before one byte of the body is
   read: an unauthenticated connection can neither park a body nor take a place.
2. The body is read under a deadline: every read waits at most `body_timeout_s` for data,
   and the whole body must arrive within `body_timeout_s` plus its length at
   `min_body_rate` bytes per second (RequestTimeoutException, HTTP 408, otherwise).
3. The signature, which covers the body, and the key's expiry are checked.
4. Only then does the request take one of the `workers x queue-per-worker` places
   (ThrottlingException when none is free), and a mutating call's signature is recorded,
   so that the same signed request is not served again later (`oculi.api.replay`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import anyio
from starlette.requests import Request

from oculi.api.replay import ReplayCache
from oculi.api.sigv4 import AuthError, Verified, check_credential, verify
from oculi.errors import ImageTooLarge, OculiError, Throttling
from oculi.permissions import KeySpec
from oculi.settings import Settings

# 5 MiB of image as base64 plus the rest of the request.
MAX_BODY = 7 * 1024 * 1024 + 64 * 1024
# What AWS answers (HTTP 400) for credentials past their expiry; botocore does not retry it.
EXPIRED = "ExpiredTokenException"
# Operations that change nothing; every other one is refused when its signature comes again.
READ_ONLY_PREFIXES = ("Detect", "Search", "Compare", "List", "Describe", "Get", "Recognize")


class BodyTimeout(OculiError):
    code = "RequestTimeoutException"
    status = 408


@dataclass(frozen=True)
class Admitted:
    body: bytes
    access_key: str | None  # verified with keys; without keys only what the request claims


def claimed_access_key(authorization: str) -> str | None:
    """The access key a SigV4 header names (unverified when no keys are configured)."""
    marker = "Credential="
    at = authorization.find(marker)
    if at < 0:
        return None
    return authorization[at + len(marker) :].split("/", 1)[0] or None


def _declared_length(value: str | None) -> int | None:
    """The Content-Length a client declared, when it is plain ASCII digits (isdigit() alone
    also accepts '²', which int() refuses; int() refuses over 4,300 digits)."""
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


async def read_body(request: Request, idle_s: float, min_rate: float) -> bytes:
    """The request body, at most MAX_BODY bytes, read under the deadline described above."""
    declared = _declared_length(request.headers.get("content-length"))
    if declared is not None and declared > MAX_BODY:
        raise ImageTooLarge(f"Request body is larger than {MAX_BODY} bytes")
    expected = MAX_BODY if declared is None else declared
    deadline = anyio.current_time() + idle_s + expected / min_rate
    chunks, size = [], 0
    stream = request.stream()
    while True:
        wait = min(idle_s, deadline - anyio.current_time())
        try:
            with anyio.fail_after(max(wait, 0)):
                chunk = await anext(stream)
        except StopAsyncIteration:
            return b"".join(chunks)
        except TimeoutError:
            raise BodyTimeout(
                f"The request body did not arrive in time (after {size} bytes): oculi waits "
                f"{idle_s:g} s for each part and needs {min_rate:g} bytes/s on average"
            ) from None
        size += len(chunk)
        if size > MAX_BODY:
            raise ImageTooLarge(f"Request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)


class Gate:
    """Admits requests (see the module's docstring) and counts the places they hold."""

    def __init__(self, keys: Mapping[str, KeySpec], settings: Settings) -> None:
        self.keys = keys
        self.settings = settings
        self.secrets = {k: spec.secret_access_key for k, spec in keys.items()}
        self.max_pending = max(1, settings.workers) * settings.queue_per_worker
        self.pending = 0
        self.replays = ReplayCache()

    def _verify(self, request: Request, body: bytes, service: str) -> Verified:
        s = self.settings
        verified = verify(
            request.method,
            request.scope["raw_path"].decode("latin-1"),
            request.scope["query_string"].decode("latin-1"),
            request.headers,
            body,
            self.secrets,
            service=service,
            max_skew_seconds=s.max_clock_skew_s,
            region=s.auth_region,
        )
        if self.keys[verified.access_key].expired(datetime.now(timezone.utc)):
            raise AuthError(
                EXPIRED,
                "The security token included in the request is expired",
                access_key=verified.access_key,
            )
        return verified

    def _check_replay(self, verified: Verified) -> None:
        now = datetime.now(timezone.utc)
        if self.replays.full(now):
            raise Throttling(
                "oculi has seen too many signed changes in the clock-skew window; retry later"
            )
        if not self.replays.fresh(verified.signature, verified.valid_until, now):
            raise AuthError(
                "InvalidSignatureException",
                "This signed request was already served (a replay); sign the request again",
                access_key=verified.access_key,
            )

    @asynccontextmanager
    async def admit(
        self, request: Request, service: str, operation: str
    ) -> AsyncIterator[Admitted]:
        """Admit `request` for `operation`, signed for `service` ("rekognition", or "oculi"
        for the native endpoints), and hold its place while the block runs. Raises AuthError
        (expired and replayed keys carry their verified access key, for the audit log),
        Throttling, BodyTimeout or ImageTooLarge."""
        s = self.settings
        if self.keys:
            check_credential(
                request.scope["query_string"].decode("latin-1"),
                request.headers,
                self.secrets,
                service=service,
                max_skew_seconds=s.max_clock_skew_s,
                region=s.auth_region,
            )
        body = await read_body(request, s.body_timeout_s, s.min_body_rate)
        verified = self._verify(request, body, service) if self.keys else None
        if self.pending >= self.max_pending:
            raise Throttling(
                f"oculi is at capacity ({self.pending} requests in progress); retry with backoff"
            )
        if verified is not None and not operation.startswith(READ_ONLY_PREFIXES):
            self._check_replay(verified)
        self.pending += 1
        try:
            yield Admitted(
                body,
                verified.access_key
                if verified
                else claimed_access_key(request.headers.get("authorization", "")),
            )
        finally:
            self.pending -= 1
