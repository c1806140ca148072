"""Stream-processor parts without a server: regions of interest, the ConnectedHome label
each DetectLabels label counts as, the event log's rotation and following, and the store's
status rules across a reopen."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from oculi.errors import InvalidParameter, LimitExceeded, ResourceInUse, ResourceNotFound
from oculi.streams.analysis import check_regions, home_label, in_regions
from oculi.streams.events import EventLog, read_events
from oculi.streams.store import ProcessorStore
from oculi.vision.labels import Label
from tests.conftest import FIXTURES

TRIANGLE = {"Polygon": [{"X": 0.0, "Y": 0.0}, {"X": 1.0, "Y": 0.0}, {"X": 0.0, "Y": 1.0}]}
RIGHT_HALF = {"BoundingBox": {"Left": 0.5, "Top": 0.0, "Width": 0.5, "Height": 1.0}}


def box(x: float, y: float) -> dict[str, float]:
    """A small box centred on (x, y)."""
    return {"Left": x - 0.05, "Top": y - 0.05, "Width": 0.1, "Height": 0.1}


def test_a_box_counts_where_its_centre_is() -> None:
    assert in_regions(box(0.9, 0.9), [])
    assert in_regions(box(0.2, 0.2), [TRIANGLE]) and not in_regions(box(0.8, 0.8), [TRIANGLE])
    assert in_regions(box(0.8, 0.8), [TRIANGLE, RIGHT_HALF])
    assert not in_regions(box(0.3, 0.9), [TRIANGLE, RIGHT_HALF])


@pytest.mark.parametrize(
    "region",
    [
        {},
        {**TRIANGLE, **RIGHT_HALF},
        {"Polygon": TRIANGLE["Polygon"][:2]},
        {"Polygon": [*TRIANGLE["Polygon"][:2], {"X": 1.5, "Y": 0.5}]},
        {"BoundingBox": {"Left": 0.6, "Top": 0.0, "Width": 0.5, "Height": 1.0}},
        {"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.0, "Height": 0.5}},
        {"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.5}},
    ],
)
def test_regions_oculi_refuses(region: dict) -> None:
    with pytest.raises(InvalidParameter):
        check_regions([region])


def test_home_labels() -> None:
    def label(name: str, parents: tuple[str, ...] = ()) -> Label:
        return Label(name, 90.0, (), parents, (), ())

    assert home_label(label("Person")) == "PERSON"
    assert home_label(label("Dog", ("Canine", "Pet", "Animal"))) == "PET"
    assert home_label(label("Box")) == "PACKAGE"
    assert home_label(label("Car", ("Vehicle",))) is None


def test_event_log_rotates_and_follow_reads_across(tmp_path: Path) -> None:
    """A follower sees every entry of its processor once, in order, across rotations (each
    write here waits for the follower, so that one rotation at most happens between two of
    its looks, as with 64 MB logs and a look every 0.2 s)."""
    log = EventLog(tmp_path, max_bytes=400)
    got: list[dict] = []
    stop = threading.Event()
    reader = threading.Thread(
        target=lambda: got.extend(read_events(tmp_path, "cam", True, stop, poll_s=0.01))
    )
    reader.start()
    try:
        for i in range(8):
            log.append("other", "s2", "STATUS", {"Status": "RUNNING", "n": i})
            log.append("cam", "s1", "STATUS", {"Status": "RUNNING", "n": i})
            deadline = time.monotonic() + 30  # a guard against hanging, not a timing check
            while len(got) <= i and time.monotonic() < deadline:
                time.sleep(0.005)
    finally:
        stop.set()
        reader.join(30)
    assert [e["event"]["n"] for e in got] == list(range(8))  # every one, in order, once
    assert (tmp_path / "events.jsonl.1").exists()
    assert (tmp_path / "events.jsonl").stat().st_size <= 400
    assert all(e["processor"] == "other" for e in read_events(tmp_path, "other"))


def test_store_status_rules_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "processors.sqlite3"
    store = ProcessorStore(path)
    store.create("a", {"Settings": {}}, {"k": "v"}, limit=2)
    store.create("b", {"Settings": {}}, {}, limit=2)
    with pytest.raises(LimitExceeded):
        store.create("c", {}, {}, limit=2)
    with pytest.raises(ResourceInUse):
        store.create("a", {}, {}, limit=5)
    store.start("a", {"SessionId": "s"})
    with pytest.raises(ResourceInUse):
        store.start("a", {"SessionId": "t"})
    with pytest.raises(ResourceInUse):
        store.delete("a")
    store.start("b", {"SessionId": "u"})
    store.stop("b")
    assert not store.set_status("b", "RUNNING", None, ("STARTING", "RUNNING"))  # a late session
    store.close()
    store = ProcessorStore(path)  # a new server: stops finished, active ones left to resume
    assert store.get("b").status == "STOPPING"
    store.finish_stops()  # what a server without a queue does at start
    assert [p.name for p in store.active()] == ["a"]
    assert store.get("b").status == "STOPPED"
    assert store.get("a").session == {"SessionId": "s"} and store.get("a").tags == {"k": "v"}
    store.delete("b")
    with pytest.raises(ResourceNotFound):
        store.get("b")
    store.close()


def test_a_still_scene_is_looked_at_once(tmp_path: Path) -> None:
    """A ConnectedHome session on 3 s of one still photo of two people: the first frame is
    analysed (PERSON first seen), the others are skipped by the motion gate."""
    import cv2

    from oculi.service.context import ServiceContext
    from oculi.settings import Settings
    from oculi.streams.runtime import Session

    bgr = cv2.imread(str(FIXTURES / "two_people.jpg"))
    h, w = bgr.shape[:2]
    clip = tmp_path / "still.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for _ in range(30):
        writer.write(bgr)
    writer.release()
    settings = Settings(data_dir=tmp_path / "data")
    settings.stream_fps, settings.stream_file_dir = 5.0, tmp_path
    ctx = ServiceContext(settings)
    events: list[tuple[str, dict]] = []

    class Sink:
        def append(self, processor: str, session: str | None, kind: str, event: dict) -> None:
            events.append((kind, event))

    request = {
        "Input": {"KinesisVideoStream": {"Arn": clip.as_uri()}},
        "Output": {},
        "Settings": {"ConnectedHome": {"Labels": ["PERSON"]}},
    }
    session = Session(
        ctx,
        "still",
        request,
        {"SessionId": "s", "started": time.time()},
        {},
        Sink(),
        lambda status, message: None,
        threading.Event(),
    )
    try:
        assert session.run() == ("STOPPED", "The stream ended")
    finally:
        ctx.close()
    assert [k for k, _ in events] == ["LABEL_DETECTED"]
    assert len(session.latencies_ms) == 1 and session.still >= 5


def test_inputs_url_map_and_refusals(tmp_path: Path) -> None:
    from oculi.settings import Settings
    from oculi.streams.inputs import shown, source_url

    arn = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/door/1"
    camera = "rtsp://user:pw@10.0.0.20/stream1"
    (tmp_path / "map.json").write_text(f'{{"{arn}": "{camera}"}}')
    s = Settings(data_dir=tmp_path)
    with pytest.raises(InvalidParameter):  # no map: ARNs name nothing
        source_url(arn, s)
    s.stream_map = tmp_path / "map.json"
    assert source_url(arn, s) == camera and source_url(camera, s) == camera
    assert shown(camera) == "rtsp://***@10.0.0.20/stream1" and shown(arn) == arn
    s.stream_url_inputs = False  # callers' URLs refused; the operator's map still taken
    with pytest.raises(InvalidParameter) as e:
        source_url(camera, s)
    assert "pw" not in e.value.message
    assert source_url(arn, s) == camera
    with pytest.raises(InvalidParameter):
        source_url("arn:aws:kinesisvideo:us-east-1:000000000000:stream/other/1", s)
