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
from typing import Any

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from oculi import __version__
from oculi.api import spec
from oculi.api.admission import EXPIRED, Admitted, Gate
from oculi.api.client_cap import PerClientCap
from oculi.api.collection_ops import face_model_header
from oculi.api.guard import LoopbackOnly
from oculi.api.operations import HANDLERS, Handler, apply_match_floor
from oculi.api.sigv4 import AuthError
from oculi.api.wire import CONTENT_TYPE
from oculi.api.wire import error_response as _error
from oculi.audit import AUDITED, Caller, event_for, run_audited
from oculi.errors import AccessDenied, OculiError
from oculi.permissions import KeySpec, authorize
from oculi.service.context import ServiceContext

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
    if name not in AUDITED:
        return handler(ctx, params)
    return run_audited(ctx.audit(), name, params, caller, lambda: handler(ctx, params))


def redact_bytes(ctx: ServiceContext, body: bytes, query: Any) -> tuple[bytes, str, dict[str, str]]:
    """Decode, redact and re-encode one image for the native endpoint; the answer's bytes,
    media type and count headers. plates=1 also covers licence plates (images only)."""
    import cv2

    from oculi.errors import InvalidParameter
    from oculi.service.plates import query_flag, redact_plates
    from oculi.service.redact import RedactOptions, redact_image
    from oculi.service.text import shared_text_reader
    from oculi.vision.decode import decode, looks_like_video

    try:
        opts = RedactOptions(
            mode=query.get("mode", "blur"),
            which=query.get("faces", "all"),
            collection=query.get("collection"),
            threshold=float(query.get("threshold", ctx.settings.match_floor)),
        )
    except (TypeError, ValueError):
        raise InvalidParameter("bad redaction parameters") from None
    if opts.mode not in ("blur", "pixelate", "fill") or opts.which not in ("all", "except", "only"):
        raise InvalidParameter("mode must be blur|pixelate|fill and faces all|except|only")
    plates = query_flag(query, "plates")
    if plates and looks_like_video(body):
        raise InvalidParameter(
            "plates=1 covers plates in JPEG and PNG images only: videos "
            "with plates are refused, reading plates in every frame is far "
            "slower than real time"
        )
    image = decode(body)
    collections = ctx.collections() if opts.which != "all" else None
    out, count = redact_image(ctx.redaction_analyzer(), collections, image.rgb, opts)
    headers = {"x-oculi-faces-redacted": str(count)}
    if plates:
        s = ctx.settings
        out, covered = redact_plates(
            shared_text_reader(s.model_dir, ctx.threads, s.device), image.rgb, out, opts
        )
        headers["x-oculi-plates-redacted"] = str(covered)
    ext, media = (".png", "image/png") if image.format == "PNG" else (".jpg", "image/jpeg")
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(out[:, :, ::-1]))
    if not ok:
        raise InvalidParameter("could not encode the redacted image")
    return buf.tobytes(), media, headers


def build_app(ctx: ServiceContext, keys: dict[str, KeySpec]) -> ASGIApp:
    limiter = anyio.CapacityLimiter(max(1, ctx.settings.workers))
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
            if keys and access_key is not None:
                try:
                    authorize(keys[access_key], name, params)
                except AccessDenied as e:
                    await anyio.to_thread.run_sync(
                        ctx.audit().append,
                        event_for(
                            name, params, None, e.code, access_key, caller.source, request_id
                        ),
                    )
                    raise
            notice = apply_match_floor(name, params, ctx.settings.match_floor)
            result: dict[str, Any] = await anyio.to_thread.run_sync(
                call_audited, ctx, name, handler, params, caller, limiter=limiter
            )
            headers = {"x-amzn-RequestId": request_id, **face_model_header(result)}
            if notice:
                headers["x-oculi-notice"] = notice
            return JSONResponse(result, media_type=CONTENT_TYPE, headers=headers)
        except (OculiError, ProtocolError) as e:
            return _error(e.code, e.message, e.status, request_id)

    async def redact_endpoint(request: Request) -> Response:
        """POST /oculi/redact?mode=blur|pixelate|fill&faces=all|except|only&collection=C
        &plates=0|1 with a JPEG or PNG body; answers the redacted image in the same
        format."""
        request_id = str(uuid.uuid4())
        try:
            async with gate.admit(request, "oculi", "Redact") as admitted:
                data, media, counts = await anyio.to_thread.run_sync(
                    redact_bytes, ctx, admitted.body, request.query_params, limiter=limiter
                )
            return Response(
                data, media_type=media, headers={"x-amzn-RequestId": request_id, **counts}
            )
        except AuthError as e:
            return await refuse(e, request, "Redact", request_id)
        except OculiError as e:
            return _error(e.code, e.message, e.status, request_id)
        except Exception:
            return _internal_error(request_id)

    async def plates_endpoint(request: Request) -> Response:
        """POST /oculi/plates[?fine=1] with a JPEG or PNG body; answers the plates as
        JSON."""
        from oculi.service.plates import plates_for_bytes

        request_id = str(uuid.uuid4())
        try:
            async with gate.admit(request, "oculi", "Plates") as admitted:
                result = await anyio.to_thread.run_sync(
                    plates_for_bytes, ctx, admitted.body, request.query_params, limiter=limiter
                )
            return JSONResponse(result, headers={"x-amzn-RequestId": request_id})
        except AuthError as e:
            return _auth_error(e, request_id)
        except OculiError as e:
            return _error(e.code, e.message, e.status, request_id)
        except Exception:
            return _internal_error(request_id)

    async def health(request: Request) -> Response:
        return JSONResponse({"service": "oculi", "version": __version__, "status": "ok"})

    app = Starlette(
        routes=[
            Route("/", rekognition, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/oculi/redact", redact_endpoint, methods=["POST"]),
            Route("/oculi/plates", plates_endpoint, methods=["POST"]),
        ]
    )
    capped = PerClientCap(app, ctx.settings.requests_per_client)
    # Without keys nothing authenticates a caller: serve only what a browser page cannot send.
    return capped if keys else LoopbackOnly(capped)
