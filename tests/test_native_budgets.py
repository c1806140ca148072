"""Budgets of the expensive native calls, by behaviour: they run apart from the
Rekognition workers and have a cap of their own, a page of text is refused for plates, and
a call past its time budget stops with a clear error."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np

from tests.conftest import FIXTURES, Server

FACES = (FIXTURES / "two_people.jpg").read_bytes()
SKODA = (FIXTURES / "plates" / "skoda_5AU5341.png").read_bytes()


def text_page(rows: int, cols: int, size: int = 1600) -> bytes:
    """A PNG page of rows x cols short words, each a text region of its own."""
    img = np.full((size, size, 3), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            at = (20 + c * (size - 40) // cols, 40 + r * (size - 60) // rows)
            cv2.putText(img, f"K{r}{c}X", at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return cv2.imencode(".png", img)[1].tobytes()


def post(srv: Server, path: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(srv.url + path, data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, json.loads(r.read()) if "json" in r.headers["Content-Type"] else {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_native_calls_leave_the_workers_to_rekognition(tmp_path) -> None:
    """One worker: while plate reading runs (and a second waits for the native thread), a
    DetectFaces call is served; a third native call gets ThrottlingException at once; a page
    with more text regions than plates are read in is refused."""
    srv = Server(tmp_path, env={"OCULI_WORKERS": "1"})
    try:
        client = srv.client()
        client.detect_faces(Image={"Bytes": FACES})  # the face models are loaded
        page = text_page(8, 10)
        answers: list[tuple[int, dict]] = []
        natives = [
            threading.Thread(target=lambda: answers.append(post(srv, "/oculi/plates", page)))
            for _ in range(2)
        ]
        for t in natives:
            t.start()
        time.sleep(1.0)  # both are in progress (not an assertion on time)
        status, doc = post(srv, "/oculi/plates", SKODA)
        assert (status, doc["__type"]) == (400, "ThrottlingException")
        assert len(client.detect_faces(Image={"Bytes": FACES})["FaceDetails"]) == 2
        assert all(t.is_alive() for t in natives)  # served before the native calls ended
        for t in natives:
            t.join()
        assert [status for status, _ in answers] == [200, 200]
        status, doc = post(srv, "/oculi/plates", text_page(25, 12))
        assert (status, doc["__type"]) == (400, "InvalidParameterException")
        assert "text regions" in doc["Message"]
    finally:
        srv.stop()


def test_a_call_past_its_time_budget_stops_with_a_clear_error(tmp_path) -> None:
    srv = Server(tmp_path, env={"OCULI_NATIVE_BUDGET_S": "0.001"})
    try:
        for path, body in (("/oculi/plates", SKODA), ("/oculi/redact?plates=1", FACES)):
            status, doc = post(srv, path, body)
            assert (status, doc["__type"]) == (400, "InvalidParameterException"), path
            assert "budget (OCULI_NATIVE_BUDGET_S)" in doc["Message"]
    finally:
        srv.stop()
