"""At most `limit` requests in progress per client address (ASGI middleware).

uvicorn's own `limit_concurrency` counts every client together, so one address could take
every place; here each address gets its own. Behind a reverse proxy every client shares the
proxy's address: raise the limit there, or set it to 0 (no limit) and cap at the proxy."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

from oculi.api.wire import error_response


class PerClientCap:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        held = self.active.get(address, 0)
        if held >= self.limit:
            response = error_response(
                "ThrottlingException",
                f"{held} requests from {address} are already in progress (at most "
                f"{self.limit} per client); retry with backoff",
                400,
                str(uuid.uuid4()),
            )
            await response(scope, receive, send)
            return
        self.active[address] = held + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.active[address] - 1
            if left:
                self.active[address] = left
            else:
                del self.active[address]
