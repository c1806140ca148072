"""Run the app under uvicorn until SIGTERM or SIGINT, answer the requests in progress, then
close the store.

On the first signal oculi drains: requests already in progress run to their answer (for at
most `shutdown_timeout_s`), new ones get ServiceUnavailableException (HTTP 503, which SDKs
retry); then uvicorn stops. A second signal stops at once. uvicorn's own graceful wait also
waits for idle keep-alive connections, and with TLS an idle client that never answers the
server's close_notify holds that wait for 30 s: so uvicorn is stopped only once the requests
are done, and gets a short grace period of its own."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from oculi.api.wire import error_response
from oculi.service.context import ServiceContext

# uvicorn's own wait, once no request is in progress any more (idle connections only)
_CLOSE_GRACE_S = 2


class Drain:
    """ASGI middleware: counts the requests in progress; once draining, refuses new ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.active = 0
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining:
            response = error_response(
                "ServiceUnavailableException",
                "oculi is shutting down; retry against a running server",
                503,
                str(uuid.uuid4()),
            )
            await response(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.active and time.monotonic() < deadline:
            time.sleep(0.05)


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Drain, timeout_s: float) -> None:
        super().__init__(config)
        self.drain, self.timeout_s = drain, timeout_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.draining:  # a second signal
            super().handle_exit(sig, frame)
            return
        self.drain.draining = True

        def stop_when_drained() -> None:
            self.drain.wait(self.timeout_s)
            super(_DrainingServer, self).handle_exit(sig, frame)

        threading.Thread(target=stop_when_drained, name="oculi-drain", daemon=True).start()


def _stopped(sig: int, frame: FrameType | None) -> None:
    """Where uvicorn's re-raised stop signal lands (see serve)."""


def serve(app: ASGIApp, ctx: ServiceContext, on_stop: Callable[[], None] | None = None) -> None:
    """Serve until stopped (see the module's docstring); then `on_stop` (background work
    ends), then the store is closed."""
    s = ctx.settings
    drain = Drain(app)
    server = _DrainingServer(
        uvicorn.Config(
            drain,
            host=s.host,
            port=s.port,
            log_level="warning",
            timeout_graceful_shutdown=_CLOSE_GRACE_S,
            ssl_certfile=str(s.tls_cert) if s.tls_cert else None,
            ssl_keyfile=str(s.tls_key) if s.tls_key else None,
        ),
        drain,
        s.shutdown_timeout_s,
    )
    # uvicorn raises the signal that stopped it again once it has stopped; with the default
    # handlers SIGTERM would then end the process before the store is closed.
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, _stopped) for sig in stop_signals}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if on_stop is not None:
            on_stop()
        ctx.close()
