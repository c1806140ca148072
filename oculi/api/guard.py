"""Without access keys: serve only requests a browser page elsewhere cannot make (ASGI
middleware).

Binding to loopback keeps other machines out, but not a web page the user visits: with DNS
rebinding its own name resolves to 127.0.0.1 and the browser sends `Host: <its name>`; a
cross-site form or fetch sends the page's `Origin`. So the Host must be a loopback name
(127.0.0.1, localhost, [::1], any port) and an Origin, when there is one, a loopback origin.
SDKs and the AWS CLI send no Origin; browsers send one with every POST. Anything else gets
AccessDeniedException (HTTP 403)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from oculi.api.wire import error_response
from oculi.settings import is_loopback


def _host_name(authority: str) -> str:
    """The name in a Host header value ("[::1]:4566" -> "::1", "localhost:80" -> "localhost")."""
    if authority.startswith("["):
        name, bracket, rest = authority[1:].partition("]")
        return name if bracket and (not rest or rest.startswith(":")) else ""
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def loopback_host(value: str | None) -> bool:
    return value is not None and is_loopback(_host_name(value))


def loopback_origin(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname or "")


class LoopbackOnly:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host, origin = headers.get("host"), headers.get("origin")
        if not loopback_host(host):
            why = f"Host {host!r} is not a loopback name"
        elif origin is not None and not loopback_origin(origin):
            why = f"Origin {origin!r} is not a loopback origin"
        else:
            await self.app(scope, receive, send)
            return
        response = error_response(
            "AccessDeniedException",
            f"oculi without access keys serves only clients on this machine: {why} (a web "
            "page may be trying to reach it); configure access keys to serve other names",
            403,
            str(uuid.uuid4()),
        )
        await response(scope, receive, send)
