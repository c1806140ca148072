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
    GET /oculi/console/health         DescribeServer: version, queue depth, floor, auth
"""

from __future__ import annotations

import json
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
from oculi.errors import InvalidParameter, OculiError
from oculi.models.fetch import default_model_dir
from oculi.models.listing import catalogue_rows
from oculi.permissions import KeySpec
from oculi.service.context import ServiceContext

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
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
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
    ) -> Response:
        """Admit, authorize as `name`, then run `work(query, caller)` on a thread."""
        request_id = str(uuid.uuid4())
        try:
            async with gate.admit(request, "oculi", name) as admitted:
                caller = caller_of(request, admitted.access_key, bool(keys), request_id)
                key = keys[admitted.access_key] if keys and admitted.access_key else None
                params = dict(request.query_params)
                await check_rights(ctx, key, name, [(name, {})], {}, caller)
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
            }
        )

    def route(path: str, name: str, work: Callable[[Mapping[str, str], Caller], Response]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await data(request, name, work)

        return Route(path, endpoint, methods=["GET"])

    return [
        Route("/console", to_index, methods=["GET"]),
        Route("/console/", index, methods=["GET"]),
        Route("/console/{name}", static, methods=["GET"]),
        route("/oculi/console/audit", "ListAuditRecords", list_audit),
        route("/oculi/console/audit/verify", "DescribeAuditLog", verify_audit),
        route("/oculi/console/models", "ListModels", models),
        route("/oculi/console/health", "DescribeServer", health),
    ]
