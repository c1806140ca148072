"""Copies of the event log's entries (oculi.streams.events) for the operator's other
outputs, as extensions: an MQTT broker (OCULI_STREAM_MQTT_URL: topic
`<prefix>/<processor>/<type>`, oculi.streams.mqtt's publisher) and a webhook
(OCULI_STREAM_WEBHOOK_URL: each entry POSTed as JSON, signed as stored-video webhooks are,
`X-Oculi-Signature: sha256=<HMAC-SHA256 of the body under OCULI_STREAM_WEBHOOK_SECRET>` and
`X-Oculi-Timestamp`). Neither ever blocks a session: the broker's client queues, the
webhook has a sender thread of its own behind a bounded queue; past the bound an entry is
dropped and counted."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from oculi.streams.events import Events, entry
from oculi.streams.mqtt import MqttPublisher
from oculi.streams.sources import redact_url
from oculi.video.notify import post_signed

log = logging.getLogger("oculi.streams")

MAX_QUEUED = 1000  # webhook entries waiting to be sent


class Fanout:
    """Every entry to each of `sinks`, in order."""

    def __init__(self, sinks: list[Events]) -> None:
        self.sinks = sinks

    def append(self, processor: str, session: str | None, kind: str, event: Any) -> None:
        for sink in self.sinks:
            sink.append(processor, session, kind, event)


class Published:
    """Entries published to an MQTT broker."""

    def __init__(self, publisher: MqttPublisher) -> None:
        self.publisher = publisher

    def append(self, processor: str, session: str | None, kind: str, event: Any) -> None:
        self.publisher.publish(f"{processor}/{kind}", entry(processor, session, kind, event))

    def close(self, timeout_s: float) -> None:
        self.publisher.flush(timeout_s)
        self.publisher.close()


class Posted:
    """Entries POSTed to a webhook, signed, by a thread of their own."""

    def __init__(self, url: str, secret: str | None) -> None:
        self.url, self.secret = url, secret
        self.shown = redact_url(url)
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(MAX_QUEUED)
        self._thread = threading.Thread(target=self._send, name="oculi-stream-webhook", daemon=True)
        self._thread.start()

    def append(self, processor: str, session: str | None, kind: str, event: Any) -> None:
        try:
            self._queue.put_nowait(entry(processor, session, kind, event))
        except queue.Full:
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("webhook %s: %d events dropped (queue full)", self.shown, self.dropped)

    def _send(self) -> None:
        while (item := self._queue.get()) is not None:
            post_signed(
                self.url,
                self.secret,
                item,
                item["time"] // 1000,
                f"stream processor {item['processor']} (webhook {self.shown})",
            )

    def close(self, timeout_s: float) -> None:
        """Send what is queued (for at most `timeout_s`), then stop."""
        try:
            self._queue.put(None, timeout=max(0.01, timeout_s))
        except queue.Full:
            return
        self._thread.join(timeout_s)
