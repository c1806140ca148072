"""MQTT output (oculi/streams/mqtt.py) against Debian's mosquitto on loopback: events arrive
as JSON under the prefix, with credentials; events published while the broker is down are
delivered when it is back; a full queue drops and counts; no credential in any log."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from oculi.streams import mqtt
from oculi.streams.mqtt import MqttPublisher, UnsupportedOutput, check_mqtt_url
from tests.conftest import free_port
from tests.stream_servers import Mosquitto, have_mosquitto, require

USER, SECRET = "oculi", "mq-s3cr3t"


class Subscriber:
    """A Paho client on the broker with a persistent session (clean_session off), so the
    broker keeps its subscription and queues for it across a broker restart."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.subscribed = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="test-sub", clean_session=False
        )
        self.client.username_pw_set(USER, SECRET)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload))
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(30)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60  # a guard against hanging, not a timing check
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path):
    require(have_mosquitto(), "mosquitto")
    server = Mosquitto(tmp_path, {USER: SECRET})
    server.start()
    yield server
    server.stop()


def test_check_mqtt_url() -> None:
    check_mqtt_url("mqtt://127.0.0.1:1883/oculi/front-door")
    check_mqtt_url(f"mqtts://{USER}:{SECRET}@broker.example/home/cameras")
    for url in (
        "http://broker/x",
        "mqtt://broker",
        "mqtt://broker/",
        "mqtt://broker/a/+/b",
        "mqtt://broker/a/%23",
        f"mqtt://{USER}:{SECRET}@broker:70000/x",
        "mqtt:///x",
        "mqtt://broker/x?qos=2",
        "",
    ):
        with pytest.raises(UnsupportedOutput) as e:
            check_mqtt_url(url)
        assert SECRET not in str(e.value)


def test_events_arrive_as_json_under_the_prefix(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sub = Subscriber(broker.port, "oculi/front-door/#")
    pub = MqttPublisher(f"mqtt://{USER}:{SECRET}@127.0.0.1:{broker.port}/oculi/front-door/")
    try:
        events = [{"Label": "PERSON", "Confidence": 91.5, "n": i} for i in range(3)]
        for event in events:
            assert pub.publish("labels", event)
        assert pub.publish("/faces/", {"Face": {"FaceId": "f-1"}})
        assert pub.flush(30)
        sub.wait_for(4)
    finally:
        pub.close()
        sub.close()
    assert sub.messages == [("oculi/front-door/labels", e) for e in events] + [
        ("oculi/front-door/faces", {"Face": {"FaceId": "f-1"}})
    ]
    assert pub.published == 4 and pub.dropped == 0
    assert SECRET not in caplog.text
    with pytest.raises(UnsupportedOutput):
        pub.topic("a/#")


def test_events_wait_for_a_broker_that_restarts(broker: Mosquitto) -> None:
    sub = Subscriber(broker.port, "cams/#")
    pub = MqttPublisher(f"mqtt://{USER}:{SECRET}@127.0.0.1:{broker.port}/cams")
    try:
        assert pub.publish("door", {"n": 0}) and pub.flush(30)
        sub.wait_for(1)
        broker.stop()
        sub.messages.clear()
        for i in range(1, 4):
            assert pub.publish("door", {"n": i})
        assert not pub.flush(0.5)  # nobody to acknowledge them
        broker.start()
        assert pub.flush(60)
        sub.wait_for(3)
    finally:
        pub.close()
        sub.close()
    assert sorted(m["n"] for _, m in sub.messages) == [1, 2, 3]


def test_wrong_password_and_full_queue(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    pub = MqttPublisher(f"mqtt://{USER}:wrong-{SECRET}@127.0.0.1:{broker.port}/cams")
    try:
        assert pub.publish("door", {"n": 1})
        assert not pub.flush(3)
        assert not pub.connected.is_set()
    finally:
        pub.close()
    assert "refused" in caplog.text and SECRET not in caplog.text
    monkeypatch.setattr(mqtt, "MAX_QUEUED", 10)
    pub = MqttPublisher(f"mqtt://127.0.0.1:{free_port()}/cams")  # no broker there
    try:
        sent = [pub.publish("door", {"n": i}) for i in range(15)]
    finally:
        pub.close()
    assert sent == [True] * 10 + [False] * 5
    assert pub.dropped == 5 and pub.queued == 10 and pub.published == 0
