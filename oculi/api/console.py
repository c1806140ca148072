"""The web console: its static pages at /console, and the data routes only it needs.

The pages (oculi/console/static, shipped as package data) are plain HTML, CSS and JS
modules: no build step, no CDN. They need no authentication, the data does: the pages
sign every call with SigV4 in the browser, the Rekognition operations at `POST /` and
these routes (service "oculi"), which are admitted by the same gate as every API request,
authorized as the operation names below (a key's "allow" globs) and, where they reveal
who did what, audited:

    GET /oculi/console/audit          ListAuditRecords (audited): newest first, filtered,
                                      `limit` records before sequence number `before`;
                                      format=jsonl exports every matching record
                                      (audited as ExportAuditRecords)
    GET /oculi/console/audit/verify   DescribeAuditLog (audited): the chain checked
    GET /oculi/console/models         ListModels: the catalogue, licences, installed or not
    GET /oculi/console/health         DescribeServer: version, queue depth (requests, video
                                      jobs, stream processors), floor, auth, what is loaded
    GET /oculi/console/collection     DescribeCollection (the key's collection rules):
                                      retention days, whether images are kept
    GET /oculi/console/face-image     GetFaceImage (audited; the key's collection rules): a
                                      face's thumbnail, cut from the image oculi kept
    GET /oculi/console/stream-events  ListStreamProcessorEvents (audited): the newest events
                                      of the processors' log, URLs shown without credentials
    GET /oculi/console/stream-frame   GetStreamProcessorFrame (audited): the latest analysed
                                      frame of a processor running in this process (JPEG,
                                      base64) and its boxes, from memory (oculi.streams.
                                      liveview)
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from oculi import __version__
from oculi.api.admission import Gate
from oculi.api.sigv4 import AuthError
from oculi.api.wire import error_response
from oculi.audit import Caller, run_audited
from oculi.errors import InvalidParameter, OculiError, ResourceNotFound
from oculi.models.fetch import default_model_dir
from oculi.models.listing import catalogue_rows
from oculi.permissions import KeySpec
from oculi.service.context import ServiceContext
from oculi.service.preload import server_pipelines
from oculi.streams.events import latest_events
from oculi.streams.sources import redact_url

STATIC = Path(__file__).resolve().parent.parent / "console" / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# No inline script or style, nothing from elsewhere, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
AUDIT_FILTERS = {
    "operation": "operation",
    "access_key": "access_key",
    "collection": "collection",
    "outcome": "outcome",
}
MAX_AUDIT_PAGE = 200
MAX_EVENTS = 200
THUMBNAIL_PX = 96
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"']+")

Refuse = Callable[[AuthError, Request, str, str], Awaitable[Response]]


def static_files(directory: Path = STATIC) -> dict[str, Path]:
    """The console's files by name, listed once: a request names one of these, never a path."""
    return {p.name: p for p in directory.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}


def _positive_int(query: Mapping[str, str], name: str, default: int | None) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise InvalidParameter(f"{name} must be a whole number")
    return int(value)


def audit_filter(query: Mapping[str, str]) -> dict[str, str]:
    """The record fields a listing must match exactly (operation, access_key, collection,
    outcome); an access key filter also matches the key a keyless request claimed."""
    return {field: query[name] for name, field in AUDIT_FILTERS.items() if query.get(name)}


def matches(record: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    for field, value in wanted.items():
        got = record.get(field)
        if field == "access_key" and got is None:
            got = record.get("claimed_access_key")
        if field == "outcome" and got is None:
            got = "intent" if record.get("phase") == "intent" else None
        if str(got) != value:
            return False
    return True


def audit_page(
    records: Iterator[dict[str, Any]], wanted: Mapping[str, str], before: int | None, limit: int
) -> dict[str, Any]:
    """Newest first: the last `limit` matching records with seq below `before` (all when
    None), and the `before` that gives the next, older, page (None at the start)."""
    page: deque[dict[str, Any]] = deque(maxlen=limit + 1)
    total = 0
    for r in records:
        if before is not None and r.get("seq", 0) >= before:
            break
        if matches(r, wanted):
            total += 1
            page.append(r)
    older = len(page) > limit
    newest = list(page)[-limit:][::-1] if limit else []
    return {
        "Records": newest,
        "Matching": total,
        "NextBefore": newest[-1]["seq"] if older and newest else None,
    }


def without_credentials(value: Any) -> Any:
    """`value` (an event) with every URL in its strings shown as redact_url shows it."""
    if isinstance(value, str):
        return URL.sub(lambda m: redact_url(m.group(0)), value)
    if isinstance(value, list):
        return [without_credentials(v) for v in value]
    if isinstance(value, dict):
        return {k: without_credentials(v) for k, v in value.items()}
    return value


def thumbnail(image: bytes, box: Mapping[str, float], size: int = THUMBNAIL_PX) -> bytes:
    """A JPEG of the face in `box` (a BoundingBox of `image`) with a margin, `size` px high."""
    import cv2
    import numpy as np

    bgr = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ResourceNotFound("The kept image of this face cannot be read")
    height, width = bgr.shape[:2]
    pad = 0.15
    left = max(0, int((box["Left"] - pad * box["Width"]) * width))
    top = max(0, int((box["Top"] - pad * box["Height"]) * height))
    right = min(width, int((box["Left"] + (1 + pad) * box["Width"]) * width))
    bottom = min(height, int((box["Top"] + (1 + pad) * box["Height"]) * height))
    crop = bgr[top:bottom, left:right]
    if crop.size == 0:
        raise ResourceNotFound("The face's box lies outside its kept image")
    scale = size / crop.shape[0]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), size))
    return bytes(cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])


def console_routes(
    ctx: ServiceContext, keys: Mapping[str, KeySpec], gate: Gate, refuse: Refuse
) -> list[Route]:
    """The routes build_app mounts for the console."""
    # Imported here: oculi.api.server imports this module.
    from oculi.api.server import caller_of, check_rights

    files = static_files()
    auth_mode = "keys" if keys else "none"

    def asset(name: str) -> Response:
        path = files.get(name)
        if path is None:
            return Response("Not found", status_code=404, headers=SECURITY_HEADERS)
        body = path.read_bytes()
        if name == "index.html":
            body = body.replace(b"__OCULI_AUTH__", auth_mode.encode())
        return Response(body, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)

    async def index(request: Request) -> Response:
        return asset("index.html")

    async def static(request: Request) -> Response:
        return asset(request.path_params["name"])

    async def to_index(request: Request) -> Response:
        return RedirectResponse("/console/", headers=SECURITY_HEADERS)

    async def data(
        request: Request,
        name: str,
        work: Callable[[Mapping[str, str], Caller], Response],
        scope: Callable[[Mapping[str, str]], dict[str, Any]] | None = None,
    ) -> Response:
        """Admit, authorize as `name` (with the parameters `scope` makes of the query: the
        collection it names), then run `work(query, caller)` on a thread."""
        request_id = str(uuid.uuid4())
        try:
            async with gate.admit(request, "oculi", name) as admitted:
                caller = caller_of(request, admitted.access_key, bool(keys), request_id)
                key = keys[admitted.access_key] if keys and admitted.access_key else None
                params = dict(request.query_params)
                scoped = scope(params) if scope else {}
                await check_rights(ctx, key, name, [(name, scoped)], scoped, caller)
                response = await anyio.to_thread.run_sync(work, params, caller)
            response.headers["x-amzn-RequestId"] = request_id
            return response
        except AuthError as e:
            return await refuse(e, request, name, request_id)
        except OculiError as e:
            return error_response(e.code, e.message, e.status, request_id)

    def list_audit(query: Mapping[str, str], caller: Caller) -> Response:
        wanted = audit_filter(query)
        params = {"CollectionId": wanted["collection"]} if "collection" in wanted else {}
        if query.get("format") == "jsonl":

            def export() -> dict[str, Any]:
                lines = [
                    json.dumps(r, sort_keys=True)
                    for r in ctx.audit().records()
                    if matches(r, wanted)
                ]
                return {"Body": "".join(line + "\n" for line in lines), "Count": len(lines)}

            result = run_audited(ctx.audit(), "ExportAuditRecords", params, caller, export)
            return Response(
                result["Body"],
                media_type="application/x-ndjson",
                headers={"Content-Disposition": 'attachment; filename="oculi-audit.jsonl"'},
            )
        limit = _positive_int(query, "limit", 50) or 1
        before = _positive_int(query, "before", None)
        if limit > MAX_AUDIT_PAGE:
            raise InvalidParameter(f"limit must be at most {MAX_AUDIT_PAGE}")
        result = run_audited(
            ctx.audit(),
            "ListAuditRecords",
            params,
            caller,
            lambda: audit_page(ctx.audit().records(), wanted, before, limit),
        )
        return JSONResponse(result)

    def verify_audit(query: Mapping[str, str], caller: Caller) -> Response:
        def check() -> dict[str, Any]:
            v = ctx.audit().verify()
            return {
                "Ok": v.ok,
                "Records": v.records,
                "Head": v.head,
                "Problems": list(v.problems),
                "Notes": list(v.notes),
            }

        return JSONResponse(run_audited(ctx.audit(), "DescribeAuditLog", {}, caller, check))

    def models(query: Mapping[str, str], caller: Caller) -> Response:
        model_dir = ctx.settings.model_dir or default_model_dir()
        return JSONResponse(
            {
                "Models": catalogue_rows(model_dir),
                "Loaded": "on first use" if ctx.settings.lazy_models else "at start-up",
            }
        )

    def health(query: Mapping[str, str], caller: Caller) -> Response:
        s = ctx.settings
        return JSONResponse(
            {
                "Version": __version__,
                "Auth": auth_mode,
                "Workers": s.workers,
                "NativeWorkers": s.native_workers,
                "InProgress": gate.pending,
                "Capacity": gate.max_pending,
                "MatchFloor": s.match_floor,
                "KeepImages": s.keep_images,
                "ModelsLoaded": "on first use" if s.lazy_models else "at start-up",
                "Pipelines": [
                    {"Title": p.title, "Models": list(p.models), "Loaded": p.loaded()}
                    for p in server_pipelines(ctx)
                ],
                "VideoJobs": video_queue(),
                "StreamProcessorsRunning": len(ctx.stream_processors().store.active()),
            }
        )

    def video_queue() -> dict[str, int]:
        in_progress = len(ctx.video_jobs().store.in_progress())
        running = min(in_progress, max(1, ctx.settings.video_workers))
        return {"Running": running, "Queued": in_progress - running}

    def collection_id(query: Mapping[str, str]) -> dict[str, Any]:
        name = query.get("collection")
        if not name:
            raise InvalidParameter("collection is required")
        return {"CollectionId": name}

    def describe_collection(query: Mapping[str, str], caller: Caller) -> Response:
        collections = ctx.collections()
        name = collection_id(query)["CollectionId"]
        collections.describe(name)  # ResourceNotFound
        days = collections.store.retention_policies().get(name)
        return JSONResponse(
            {"CollectionId": name, "RetentionDays": days, "KeepImages": collections.keep_images}
        )

    def face_image(query: Mapping[str, str], caller: Caller) -> Response:
        params = {**collection_id(query), "FaceId": query.get("face", "")}

        def cut() -> dict[str, Any]:
            collections = ctx.collections()
            name = params["CollectionId"]
            face = collections.store.get_faces(name, [params["FaceId"]]).get(params["FaceId"])
            if face is None:
                raise ResourceNotFound("No such face in this collection")
            try:
                image = collections.images.read(name, face.image_id)
            except (OSError, ValueError):
                raise ResourceNotFound("oculi did not keep the image of this face") from None
            return {"Body": thumbnail(image, face.bbox)}

        body = run_audited(ctx.audit(), "GetFaceImage", params, caller, cut)["Body"]
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    def stream_events(query: Mapping[str, str], caller: Caller) -> Response:
        limit = _positive_int(query, "limit", 50) or 1
        if limit > MAX_EVENTS:
            raise InvalidParameter(f"limit must be at most {MAX_EVENTS}")
        processor = query.get("processor") or None
        params = {"Name": processor} if processor else {}
        directory = ctx.settings.data_dir / "streams"

        def read() -> dict[str, Any]:
            events = latest_events(directory, processor, limit)
            return {"Events": [without_credentials(e) for e in events]}

        return JSONResponse(
            run_audited(ctx.audit(), "ListStreamProcessorEvents", params, caller, read)
        )

    def processor_name(query: Mapping[str, str]) -> dict[str, Any]:
        name = query.get("name")
        if not name:
            raise InvalidParameter("name is required")
        return {"Name": name}

    def stream_frame(query: Mapping[str, str], caller: Caller) -> Response:
        params = processor_name(query)

        def read() -> dict[str, Any]:
            processors = ctx.stream_processors()
            status = processors.store.get(params["Name"]).status  # ResourceNotFound
            latest = processors.latest_frame(params["Name"])
            shown = latest.get() if latest is not None else None
            answer: dict[str, Any] = {
                "Name": params["Name"],
                "Status": status,
                "RunsHere": latest is not None,
                "Frame": None,
                "Detections": [],
            }
            if shown is not None:
                jpeg, meta = shown
                frame = {k: v for k, v in meta.items() if k != "Detections"}
                answer["Frame"] = {**frame, "Image": base64.b64encode(jpeg).decode()}
                answer["Detections"] = meta["Detections"]
            return answer

        result = run_audited(ctx.audit(), "GetStreamProcessorFrame", params, caller, read)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    def route(
        path: str,
        name: str,
        work: Callable[[Mapping[str, str], Caller], Response],
        scope: Callable[[Mapping[str, str]], dict[str, Any]] | None = None,
    ) -> Route:
        async def endpoint(request: Request) -> Response:
            return await data(request, name, work, scope)

        return Route(path, endpoint, methods=["GET"])

    return [
        Route("/console", to_index, methods=["GET"]),
        Route("/console/", index, methods=["GET"]),
        Route("/console/{name}", static, methods=["GET"]),
        route("/oculi/console/audit", "ListAuditRecords", list_audit),
        route("/oculi/console/audit/verify", "DescribeAuditLog", verify_audit),
        route("/oculi/console/models", "ListModels", models),
        route("/oculi/console/health", "DescribeServer", health),
        route(
            "/oculi/console/collection", "DescribeCollection", describe_collection, collection_id
        ),
        route("/oculi/console/face-image", "GetFaceImage", face_image, collection_id),
        route("/oculi/console/stream-events", "ListStreamProcessorEvents", stream_events),
        route(
            "/oculi/console/stream-frame",
            "GetStreamProcessorFrame",
            stream_frame,
            processor_name,
        ),
    ]
