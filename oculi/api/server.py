"""The AWS JSON 1.1 endpoint: `POST /` with `X-Amz-Target: RekognitionService.<Op>`.

Parses and authenticates the request, validates it against botocore's service model,
runs the operation in a worker thread, and answers in Rekognition's exact shapes:
200 with `application/x-amz-json-1.1`, or an error status with
`{"__type": ..., "Message": ...}` and `x-amzn-ErrorType`, both with `x-amzn-RequestId`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oculi import __version__
from oculi.api import spec
from oculi.api.collection_ops import list_collections
from oculi.api.native import NativeCall, plan_plates, plan_redact
from oculi.api.operations import HANDLERS, Handler, apply_match_floor
from oculi.api.sigv4 import AuthError, verify_request
from oculi.audit import audited, event_for
from oculi.errors import AccessDenied, ImageTooLarge, OculiError, Throttling
from oculi.permissions import KeySpec, authorize, may_access
from oculi.service.context import ServiceContext
from oculi.settings import Settings

log = logging.getLogger("oculi.api")

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "RekognitionService."
# 5 MiB of image as base64 plus the rest of the request.
MAX_BODY = 7 * 1024 * 1024 + 64 * 1024
# What AWS answers (HTTP 400) for credentials past their expiry; botocore does not retry it.
EXPIRED = "ExpiredTokenException"


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _error(code: str, message: str, status: int, request_id: str) -> Response:
    return Response(
        json.dumps({"__type": code, "Message": message}),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code},
    )


def _declared_length(value: str | None) -> int | None:
    """The Content-Length a client declared, when it is plain ASCII digits (isdigit() alone
    also accepts '²', which int() refuses; int() refuses over 4,300 digits)."""
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


async def _read_body(request: Request) -> bytes:
    declared = _declared_length(request.headers.get("content-length"))
    if declared is not None and declared > MAX_BODY:
        raise ImageTooLarge(f"Request body is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ImageTooLarge(f"Request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _auth_error(e: AuthError, request_id: str) -> Response:
    status = 400 if e.code in ("UnrecognizedClientException", EXPIRED) else 403
    return _error(e.code, e.message, status, request_id)


def _internal_error(request_id: str) -> Response:
    log.exception("request %s failed", request_id)
    return _error("InternalServerError", f"Internal error (request {request_id})", 500, request_id)


def claimed_access_key(authorization: str) -> str | None:
    """The access key a SigV4 header names (unverified when no keys are configured)."""
    marker = "Credential="
    at = authorization.find(marker)
    if at < 0:
        return None
    return authorization[at + len(marker) :].split("/", 1)[0] or None


@dataclass(frozen=True)
class Caller:
    access_key: str | None
    source: str | None
    request_id: str


def call_audited(
    ctx: ServiceContext, name: str, handler: Handler, params: dict[str, Any], caller: Caller
) -> dict[str, Any]:
    """Run the handler; record audited operations (their outcome too) before answering."""
    if not audited(name, params):
        return handler(ctx, params)
    try:
        result = handler(ctx, params)
    except OculiError as e:
        ctx.audit().append(
            event_for(
                name, params, None, e.code, caller.access_key, caller.source, caller.request_id
            )
        )
        raise
    ctx.audit().append(
        event_for(name, params, result, None, caller.access_key, caller.source, caller.request_id)
    )
    return result


async def check_rights(
    ctx: ServiceContext,
    key: KeySpec | None,
    name: str,
    rights: list[tuple[str, dict[str, Any]]],
    params: dict[str, Any],
    caller: Caller,
) -> None:
    """AccessDenied unless `key` (None: no keys configured) holds every right, each an
    operation and its parameters; a denial is audited as `name` with `params`. Runs before
    anything is looked up, so a denied caller learns nothing of what exists."""
    if key is None:
        return
    try:
        for operation, p in rights:
            authorize(key, operation, p)
    except AccessDenied as e:
        await anyio.to_thread.run_sync(
            ctx.audit().append,
            event_for(
                name, params, None, e.code, caller.access_key, caller.source, caller.request_id
            ),
        )
        raise


def scoped(name: str, handler: Handler, key: KeySpec | None) -> Handler:
    """The handler, limited to what `key` may see: ListCollections lists only the
    collections the key may read."""
    if name == "ListCollections" and key is not None and key.collections is not None:
        return partial(list_collections, visible=partial(may_access, key, "read"))
    return handler


class Admission:
    """Back-pressure: beyond `limit` requests waiting or running (native ones: beyond
    `native_limit` of them), answer ThrottlingException at once (SDKs back off and retry)
    instead of letting requests time out. Used from the event loop only."""

    def __init__(self, settings: Settings) -> None:
        self.limit = max(1, settings.workers) * settings.queue_per_worker
        self.native_limit = 2 * max(1, settings.native_workers)
        self.pending = self.native = 0

    def admit(self, native: bool = False) -> bool:
        if self.pending >= self.limit or (native and self.native >= self.native_limit):
            return False
        self.pending += 1
        self.native += native
        return True

    def leave(self, native: bool = False) -> None:
        self.pending -= 1
        self.native -= native

    def refusal(self, native: bool = False) -> Throttling:
        what = "native calls" if native else "requests"
        count = self.native if native else self.pending
        return Throttling(f"oculi is at capacity ({count} {what} in progress); retry with backoff")


def build_app(ctx: ServiceContext, keys: dict[str, KeySpec]) -> Starlette:
    limiter = anyio.CapacityLimiter(max(1, ctx.settings.workers))
    # The expensive native calls run on threads of their own: they never hold a worker.
    native_limiter = anyio.CapacityLimiter(max(1, ctx.settings.native_workers))
    secrets = {k: spec.secret_access_key for k, spec in keys.items()}
    admission = Admission(ctx.settings)

    def authenticate(request: Request, body: bytes, service: str) -> str | None:
        """The caller's access key: SigV4-verified and unexpired when keys are configured
        (AuthError otherwise), else the key the request merely claims."""
        claimed = claimed_access_key(request.headers.get("authorization", ""))
        if not keys:
            return claimed
        key = verify_request(
            request.method,
            request.scope["raw_path"].decode("latin-1"),
            request.scope["query_string"].decode("latin-1"),
            request.headers,
            body,
            secrets,
            service=service,
            max_skew_seconds=ctx.settings.max_clock_skew_s,
        )
        if keys[key].expired(datetime.now(timezone.utc)):
            raise AuthError(
                EXPIRED, "The security token included in the request is expired", access_key=key
            )
        return key

    async def refuse(e: AuthError, request: Request, operation: str, request_id: str) -> Response:
        """The error answer to a failed authentication; a verified key refused for its
        expiry is audited like a denied call."""
        if e.access_key is not None:
            source = request.client.host if request.client else None
            await anyio.to_thread.run_sync(
                ctx.audit().append,
                event_for(operation, {}, None, e.code, e.access_key, source, request_id),
            )
        return _auth_error(e, request_id)

    async def rekognition(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        if not admission.admit():
            e = admission.refusal()
            return _error(e.code, e.message, e.status, request_id)
        try:
            body = await _read_body(request)
            target = request.headers.get("x-amz-target", "")
            name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
            op = spec.operation(name)
            try:
                access_key = authenticate(request, body, "rekognition")
            except AuthError as e:
                return await refuse(e, request, name if op else "UnknownOperation", request_id)
            if not target.startswith(TARGET_PREFIX):
                raise ProtocolError(
                    "UnknownOperationException", "Missing or malformed X-Amz-Target header"
                )
            if op is None:
                raise ProtocolError("UnknownOperationException", f"Unknown operation {name}")
            try:
                params = json.loads(body or b"{}")
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise ProtocolError(
                    "SerializationException", "Request body is not valid JSON"
                ) from None
            if not isinstance(params, dict):
                raise ProtocolError("SerializationException", "Request body must be a JSON object")
            handler = HANDLERS.get(name)
            if handler is None:
                raise ProtocolError(
                    "NotImplementedException",
                    f"oculi {__version__} does not implement {name} yet",
                    501,
                )
            params = spec.validate(op.input_shape, params) if op.input_shape else {}
            caller = Caller(access_key, request.client.host if request.client else None, request_id)
            key = keys[access_key] if keys and access_key is not None else None
            await check_rights(ctx, key, name, [(name, params)], params, caller)
            notice = apply_match_floor(name, params, ctx.settings.match_floor)
            result: dict[str, Any] = await anyio.to_thread.run_sync(
                call_audited, ctx, name, scoped(name, handler, key), params, caller, limiter=limiter
            )
            headers = {"x-amzn-RequestId": request_id}
            if notice:
                headers["x-oculi-notice"] = notice
            return JSONResponse(result, media_type=CONTENT_TYPE, headers=headers)
        except (OculiError, ProtocolError) as e:
            return _error(e.code, e.message, e.status, request_id)
        except Exception:
            return _internal_error(request_id)
        finally:
            admission.leave()

    async def native(
        request: Request,
        name: str,
        plan: Callable[[bytes, Mapping[str, str], Settings], NativeCall],
    ) -> Response:
        """A native call: authenticated, authorized as the Rekognition operations that tell
        as much (before any collection is looked up), floored, capped, and run audited on
        the native workers."""
        request_id = str(uuid.uuid4())
        try:
            body = await _read_body(request)
            try:
                access_key = authenticate(request, body, "oculi")
            except AuthError as e:
                return await refuse(e, request, name, request_id)
            call = plan(body, request.query_params, ctx.settings)
            caller = Caller(access_key, request.client.host if request.client else None, request_id)
            key = keys[access_key] if keys and access_key is not None else None
            await check_rights(ctx, key, name, call.rights, call.params, caller)
            if not admission.admit(native=True):
                raise admission.refusal(native=True)
            try:
                result = await anyio.to_thread.run_sync(
                    call_audited,
                    ctx,
                    name,
                    call.handler,
                    call.params,
                    caller,
                    limiter=native_limiter,
                )
            finally:
                admission.leave(native=True)
            headers = {"x-amzn-RequestId": request_id, **result["Headers"]}
            if call.notice:
                headers["x-oculi-notice"] = call.notice
            return Response(result["Body"], media_type=result["MediaType"], headers=headers)
        except OculiError as e:
            return _error(e.code, e.message, e.status, request_id)
        except Exception:
            return _internal_error(request_id)

    async def redact_endpoint(request: Request) -> Response:
        """POST /oculi/redact?mode=blur|pixelate|fill&faces=all|except|only&collection=C
        &threshold=T&plates=0|1 with a JPEG or PNG body; answers the redacted image in the
        same format."""
        return await native(request, "Redact", plan_redact)

    async def plates_endpoint(request: Request) -> Response:
        """POST /oculi/plates[?fine=1] with a JPEG or PNG body; answers the plates as
        JSON."""
        return await native(request, "Plates", plan_plates)

    async def health(request: Request) -> Response:
        return JSONResponse({"service": "oculi", "version": __version__, "status": "ok"})

    return Starlette(
        routes=[
            Route("/", rekognition, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/oculi/redact", redact_endpoint, methods=["POST"]),
            Route("/oculi/plates", plates_endpoint, methods=["POST"]),
        ]
    )
