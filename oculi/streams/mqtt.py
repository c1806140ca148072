"""MQTT output for stream processors' events: JSON objects published with QoS 1 under a topic
prefix, on a broker named by URL (`mqtt://[user:password@]host[:port]/topic/prefix`, or
`mqtts://` for TLS), e.g. for Home Assistant to subscribe to `oculi/front-door/#`.

The client (Eclipse Paho, paho-mqtt: EPL-2.0 OR BSD-3-Clause) connects in the background and
reconnects on its own with back-off; events published while the broker is away wait in a
bounded queue and are sent when it returns. Past the bound an event is dropped and counted,
never blocking the processor. Credentials never leave the client: messages show
`redact_url(url)`.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho

from oculi.streams.sources import MAX_URL_CHARS, redact_url

log = logging.getLogger("oculi.streams")

MAX_QUEUED = 1000  # events waiting for the broker; past it, new events are dropped
KEEPALIVE_S = 30


class UnsupportedOutput(ValueError):
    """An MQTT URL oculi will not use; the message names it only as redact_url does."""


def _topic_levels(topic: str, shown: str) -> str:
    if any(c in topic for c in "+#\x00") or len(topic.encode()) > 1024:
        raise UnsupportedOutput(f"{shown}: the topic must not hold +, # or NUL")
    return topic


def check_mqtt_url(url: str) -> None:
    """UnsupportedOutput unless `url` is mqtt(s)://host[:port]/prefix with a usable prefix."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise UnsupportedOutput("the MQTT URL is empty or too long")
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise UnsupportedOutput(f"{shown} is not a valid URL") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise UnsupportedOutput(f"{shown}: events are published to mqtt:// or mqtts://")
    if not parts.hostname:
        raise UnsupportedOutput(f"{shown}: the URL names no broker host")
    if parts.query or parts.fragment:
        raise UnsupportedOutput(f"{shown}: an MQTT URL has no query or fragment")
    prefix = unquote(parts.path).strip("/")
    if not prefix:
        raise UnsupportedOutput(f"{shown}: the URL names no topic prefix (mqtt://host/prefix)")
    _topic_levels(prefix, shown)


class MqttPublisher:
    """One connection to the broker of `url`; `publish(subtopic, event)` sends `event` as JSON
    to `prefix/subtopic`. Thread-safe. `close()` when done."""

    def __init__(self, url: str, *, client_id: str = "") -> None:
        check_mqtt_url(url)
        parts = urlsplit(url)
        self.shown = redact_url(url)
        self.prefix = unquote(parts.path).strip("/")
        self.queued = 0  # accepted by publish()
        self.published = 0  # acknowledged by the broker
        self.dropped = 0  # refused because the queue was full
        self._acked = threading.Condition()
        self._closing = False
        self.connected = threading.Event()
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311
        )
        client.max_queued_messages_set(MAX_QUEUED)
        client.reconnect_delay_set(1, 30)
        if parts.username is not None:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            client.tls_set_context(ssl.create_default_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        default_port = 8883 if parts.scheme == "mqtts" else 1883
        client.connect_async(parts.hostname or "", parts.port or default_port, KEEPALIVE_S)
        client.loop_start()
        self._client = client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT %s refused the connection: %s", self.shown, reason)
            return
        self.connected.set()
        log.info("MQTT %s: connected", self.shown)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any):
        if self.connected.is_set() and not self._closing:
            log.warning("MQTT %s: disconnected (%s); reconnecting", self.shown, reason)
        self.connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._acked:
            self.published += 1
            self._acked.notify_all()

    def topic(self, subtopic: str) -> str:
        return _topic_levels(f"{self.prefix}/{subtopic.strip('/')}", self.shown)

    def publish(self, subtopic: str, event: dict[str, Any]) -> bool:
        """Queue `event` for `prefix/subtopic` (QoS 1); False when the queue was full and it
        was dropped."""
        info = self._client.publish(self.topic(subtopic), json.dumps(event), qos=1)
        with self._acked:
            if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
                self.dropped += 1
                return False
            self.queued += 1
            return True

    def flush(self, timeout: float) -> bool:
        """Wait until the broker acknowledged every queued event; False after `timeout` s."""
        with self._acked:
            return self._acked.wait_for(lambda: self.published >= self.queued, timeout)

    def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()
