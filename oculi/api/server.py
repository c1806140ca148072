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
from functools import partial
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from oculi import __version__
from oculi.api import spec
from oculi.api.admission import EXPIRED, Admitted, Gate
from oculi.api.client_cap import PerClientCap
from oculi.api.collection_ops import face_model_header, list_collections
from oculi.api.console import console_routes
from oculi.api.guard import LoopbackOnly
from oculi.api.native import NativeCall, plan_plates, plan_redact
from oculi.api.operations import HANDLERS, Handler, apply_match_floor, searched_faces
from oculi.api.sigv4 import AuthError
from oculi.api.video_ops import with_job_collection
from oculi.api.wire import CONTENT_TYPE
from oculi.api.wire import error_response as _error
from oculi.audit import Caller, audited, event_for, run_audited
from oculi.errors import AccessDenied, OculiError, Throttling
from oculi.permissions import KeySpec, authorize, may_access
from oculi.service.context import ServiceContext
from oculi.settings import Settings
from oculi.streams.ops import with_processor_collection

log = logging.getLogger("oculi.api")

TARGET_PREFIX = "RekognitionService."


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _auth_error(e: AuthError, request_id: str) -> Response:
    status = 400 if e.code in ("UnrecognizedClientException", EXPIRED) else 403
    return _error(e.code, e.message, status, request_id)


def _internal_error(request_id: str) -> Response:
    log.exception("request %s failed", request_id)
    return _error("InternalServerError", f"Internal error (request {request_id})", 500, request_id)


def caller_of(request: Request, access_key: str | None, verified: bool, request_id: str) -> Caller:
    """Who called, for the audit log: with keys off (`verified` False) the request's key is
    a mere claim, recorded as `claimed_access_key` with `access_key` null."""
    source = request.client.host if request.client else None
    if verified:
        return Caller(access_key, source, request_id)
    return Caller(None, source, request_id, claimed_access_key=access_key)


def call_audited(
    ctx: ServiceContext, name: str, handler: Handler, params: dict[str, Any], caller: Caller
) -> dict[str, Any]:
    """Run the handler; an audited operation is recorded as oculi.audit.run_audited says
    (a change's intent before it runs, every outcome before the answer)."""
    if not audited(name, params):
        return handler(ctx, params)
    return run_audited(ctx.audit(), name, params, caller, lambda: handler(ctx, params))


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


def build_app(ctx: ServiceContext, keys: dict[str, KeySpec]) -> ASGIApp:
    limiter = anyio.CapacityLimiter(max(1, ctx.settings.workers))
    # The expensive native calls run on threads of their own: they never hold a worker,
    # and beyond `native_cap` of them in progress a new one is throttled.
    native_limiter = anyio.CapacityLimiter(max(1, ctx.settings.native_workers))
    native_cap = 2 * max(1, ctx.settings.native_workers)
    native_in_progress = 0
    gate = Gate(keys, ctx.settings)

    async def refuse(e: AuthError, request: Request, operation: str, request_id: str) -> Response:
        """The error answer to a failed authentication; a verified key refused (for its
        expiry, or a replayed signature) is audited like a denied call."""
        if e.access_key is not None:
            source = request.client.host if request.client else None
            await anyio.to_thread.run_sync(
                ctx.audit().append,
                event_for(operation, {}, None, e.code, e.access_key, source, request_id),
            )
        return _auth_error(e, request_id)

    async def rekognition(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("x-amz-target", "")
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        op = spec.operation(name)
        try:
            async with gate.admit(request, "rekognition", name) as admitted:
                return await run_operation(request, request_id, target, name, admitted)
        except AuthError as e:
            return await refuse(e, request, name if op else "UnknownOperation", request_id)
        except OculiError as e:
            return _error(e.code, e.message, e.status, request_id)
        except Exception:
            return _internal_error(request_id)

    async def run_operation(
        request: Request, request_id: str, target: str, name: str, admitted: Admitted
    ) -> Response:
        body, access_key = admitted.body, admitted.access_key
        op = spec.operation(name)
        try:
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
            caller = caller_of(request, access_key, bool(keys), request_id)
            key = keys[access_key] if keys and access_key is not None else None
            if key is not None:
                checked = await anyio.to_thread.run_sync(with_job_collection, ctx, name, params)
                checked = await anyio.to_thread.run_sync(
                    with_processor_collection, ctx, name, checked
                )
                await check_rights(ctx, key, name, [(name, checked)], params, caller)
            faces = await anyio.to_thread.run_sync(
                searched_faces, ctx, name, params, limiter=limiter
            )
            notice = apply_match_floor(
                name, params, ctx.settings.match_floor, faces, ctx.settings.strangers_per_search
            )
            result: dict[str, Any] = await anyio.to_thread.run_sync(
                call_audited, ctx, name, scoped(name, handler, key), params, caller, limiter=limiter
            )
            headers = {"x-amzn-RequestId": request_id, **face_model_header(result)}
            if notice:
                headers["x-oculi-notice"] = notice
            return JSONResponse(result, media_type=CONTENT_TYPE, headers=headers)
        except (OculiError, ProtocolError) as e:
            return _error(e.code, e.message, e.status, request_id)

    async def native(
        request: Request,
        name: str,
        plan: Callable[[bytes, Mapping[str, str], Settings], NativeCall],
    ) -> Response:
        """A native call: admitted like any request, authorized as the Rekognition
        operations that tell as much (before any collection is looked up), floored, capped,
        and run audited on the native workers."""
        nonlocal native_in_progress
        request_id = str(uuid.uuid4())
        try:
            async with gate.admit(request, "oculi", name) as admitted:
                call = plan(admitted.body, request.query_params, ctx.settings)
                caller = caller_of(request, admitted.access_key, bool(keys), request_id)
                key = keys[admitted.access_key] if keys and admitted.access_key else None
                await check_rights(ctx, key, name, call.rights, call.params, caller)
                if native_in_progress >= native_cap:
                    raise Throttling(
                        f"oculi is at capacity ({native_in_progress} native calls in "
                        "progress); retry with backoff"
                    )
                native_in_progress += 1
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
                    native_in_progress -= 1
            headers = {"x-amzn-RequestId": request_id, **result["Headers"]}
            if call.notice:
                headers["x-oculi-notice"] = call.notice
            return Response(result["Body"], media_type=result["MediaType"], headers=headers)
        except AuthError as e:
            return await refuse(e, request, name, request_id)
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

    async def ready(request: Request) -> Response:
        """Readiness: the server listens only once its models are loaded (`oculi serve`),
        so whoever reaches it may send work; with --lazy-models they load on first use."""
        models = "on first use" if ctx.settings.lazy_models else "loaded"
        return JSONResponse({"service": "oculi", "status": "ready", "models": models})

    app = Starlette(
        routes=[
            Route("/", rekognition, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/oculi/redact", redact_endpoint, methods=["POST"]),
            Route("/oculi/plates", plates_endpoint, methods=["POST"]),
            *console_routes(ctx, keys, gate, refuse),
        ]
    )
    capped = PerClientCap(app, ctx.settings.requests_per_client)
    # Without keys nothing authenticates a caller: serve only what a browser page cannot send.
    return capped if keys else LoopbackOnly(capped)
