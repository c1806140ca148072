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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oculi import __version__
from oculi.api import spec
from oculi.api.operations import HANDLERS, Handler, apply_match_floor, searched_faces
from oculi.api.sigv4 import AuthError, verify_request
from oculi.audit import AUDITED, event_for
from oculi.errors import AccessDenied, ImageTooLarge, OculiError
from oculi.permissions import KeySpec, authorize
from oculi.service.context import ServiceContext

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
    if name not in AUDITED:
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


def build_app(ctx: ServiceContext, keys: dict[str, KeySpec]) -> Starlette:
    limiter = anyio.CapacityLimiter(max(1, ctx.settings.workers))
    secrets = {k: spec.secret_access_key for k, spec in keys.items()}
    # Back-pressure: beyond this many requests waiting or running, answer
    # ThrottlingException at once (SDKs back off and retry) instead of timing out.
    max_pending = max(1, ctx.settings.workers) * ctx.settings.queue_per_worker
    pending = 0

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
        nonlocal pending
        request_id = str(uuid.uuid4())
        if pending >= max_pending:
            return _error(
                "ThrottlingException",
                f"oculi is at capacity ({pending} requests in progress); retry with backoff",
                400,
                request_id,
            )
        pending += 1
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
            faces = await anyio.to_thread.run_sync(
                searched_faces, ctx, name, params, limiter=limiter
            )
            notice = apply_match_floor(name, params, ctx.settings.match_floor, faces)
            result: dict[str, Any] = await anyio.to_thread.run_sync(
                call_audited, ctx, name, handler, params, caller, limiter=limiter
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
            pending -= 1

    async def redact_endpoint(request: Request) -> Response:
        """POST /oculi/redact?mode=blur|pixelate|fill&faces=all|except|only&collection=C
        &plates=0|1 with a JPEG or PNG body; answers the redacted image in the same
        format."""
        request_id = str(uuid.uuid4())
        try:
            body = await _read_body(request)
            try:
                authenticate(request, body, "oculi")
            except AuthError as e:
                return await refuse(e, request, "Redact", request_id)
            q = request.query_params
            data, media, counts = await anyio.to_thread.run_sync(
                redact_bytes, ctx, body, q, limiter=limiter
            )
            return Response(
                data, media_type=media, headers={"x-amzn-RequestId": request_id, **counts}
            )
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
            body = await _read_body(request)
            try:
                authenticate(request, body, "oculi")
            except AuthError as e:
                return _auth_error(e, request_id)
            result = await anyio.to_thread.run_sync(
                plates_for_bytes, ctx, body, request.query_params, limiter=limiter
            )
            return JSONResponse(result, headers={"x-amzn-RequestId": request_id})
        except OculiError as e:
            return _error(e.code, e.message, e.status, request_id)
        except Exception:
            return _internal_error(request_id)

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
