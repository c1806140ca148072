"""Stream processors running inside `oculi serve`: one thread a session.

A session reads its source (oculi.streams.sources) at OCULI_STREAM_FPS analysed frames a
second (the source drops the frames a busy session cannot take: there is never a backlog),
analyses each frame (oculi.streams.analysis) and sends what it found (oculi.streams.
outputs). A ConnectedHome session skips the frames in which nothing moved since the last
one it analysed (oculi.streams.motion; still scenes are looked at again every 5 s): its
events are first sightings, which a still frame cannot bring. A FaceSearch session analyses
every frame, as Rekognition writes a record for each. Every identity match is written to
the audit log before its record leaves; a match that cannot be audited fails the session.

The processor's Status follows the session: STARTING until the first frame, RUNNING,
STARTING again with a StatusMessage while a dropped camera is reconnected, and STOPPED (a
Stop, the end of a file, a ConnectedHome session's MaxDurationInSeconds) or FAILED with
the reason.

When the server stops, sessions end without changing their Status, so that the next server
on the data directory runs every STARTING or RUNNING processor again (`resume`), in the
same session.

With a queue URL (docs/scale-out.md) the processors are in the queue's PostgreSQL database,
and a Start queues its session (in the transaction that records it) for an `oculi worker`
instead of running it here: the worker runs it with `run_queued` in a StreamProcessors of
its own, sending the events from there, and watches the store for a Stop (or another run
that took the session over).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from oculi.audit import AuditWriteError, event_for
from oculi.errors import InvalidParameter, OculiError
from oculi.service.context import ServiceContext
from oculi.store.sql import Tx
from oculi.streams import records
from oculi.streams.analysis import ConnectedHome, FaceSearch, Sighting
from oculi.streams.events import EventLog, Events
from oculi.streams.inputs import shown, source_url
from oculi.streams.liveview import LatestFrame, face_boxes, label_boxes
from oculi.streams.motion import MotionGate
from oculi.streams.mqtt import MqttPublisher
from oculi.streams.outputs import Outputs
from oculi.streams.sinks import Fanout, Posted, Published
from oculi.streams.sources import LiveFrame, SourceStats, UnsupportedSource, open_source
from oculi.streams.store import (
    ACTIVE,
    FAILED,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    Processor,
    ProcessorStore,
)

if TYPE_CHECKING:
    from oculi.video.queue import VideoQueue

log = logging.getLogger("oculi.streams")

DEFAULT_MAX_DURATION_S = 10  # a ConnectedHome session without a StopSelector (as AWS's)
ENDED = "The stream ended"
SUCCESS = "Stream Processing Success."
LATENCIES_KEPT = 10_000
WATCH_S = 1.0  # how often a worker's session looks for a Stop, or a run that took it over


def new_session(request: dict[str, Any], start: dict[str, Any]) -> dict[str, Any]:
    """A session for StartStreamProcessor's `start` parameters: its SessionId, selectors,
    start time and, for ConnectedHome, when it stops (InvalidParameterException for
    selectors a FaceSearch processor cannot take, or two start points)."""
    session: dict[str, Any] = {"SessionId": str(uuid.uuid4()), "started": time.time()}
    selectors = {k: start[k] for k in ("StartSelector", "StopSelector") if k in start}
    if "FaceSearch" in request["Settings"]:
        if selectors:
            raise InvalidParameter(
                "StartSelector and StopSelector apply to ConnectedHome stream processors only"
            )
        return session
    kvs = (start.get("StartSelector") or {}).get("KVSStreamStartSelector") or {}
    if "ProducerTimestamp" in kvs and "FragmentNumber" in kvs:
        raise InvalidParameter(
            "KVSStreamStartSelector takes one of ProducerTimestamp and FragmentNumber"
        )
    seconds = (start.get("StopSelector") or {}).get("MaxDurationInSeconds", DEFAULT_MAX_DURATION_S)
    session.update(selectors, stop_at=session["started"] + seconds)
    return session


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    return data.tobytes() if ok else b""


def _crop(rgb: np.ndarray, box: dict[str, float]) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, y0 = max(0, int(box["Left"] * w)), max(0, int(box["Top"] * h))
    x1 = min(w, int((box["Left"] + box["Width"]) * w) + 1)
    y1 = min(h, int((box["Top"] + box["Height"]) * h) + 1)
    return rgb[y0:y1, x0:x1]


class Session:
    """One session of one processor: its source read, its frames analysed, its results
    sent; `run` returns the final Status and StatusMessage."""

    def __init__(
        self,
        ctx: ServiceContext,
        name: str,
        request: dict[str, Any],
        session: dict[str, Any],
        tags: dict[str, str],
        events: Events,
        on_status: Callable[[str, str | None], None],
        stop: threading.Event,
    ) -> None:
        self.ctx, self.name, self.request, self.session, self.tags = (
            ctx,
            name,
            request,
            session,
            tags,
        )
        self.on_status, self.stop = on_status, stop
        self.outputs = Outputs(ctx.settings, name, request, session["SessionId"], events)
        self.stats = SourceStats()
        self.latencies_ms: deque[int] = deque(maxlen=LATENCIES_KEPT)
        self.arn = request["Input"]["KinesisVideoStream"]["Arn"]
        self.stream = shown(self.arn)
        self.seen: set[str] = set()
        self.still = 0  # ConnectedHome frames not analysed: nothing moved (MotionGate)
        self.first_ms: int | None = None
        self.last_ms = 0
        self.latest = LatestFrame()  # the console's live view (memory only)

    def run(self) -> tuple[str, str | None]:
        try:
            status, message = self._run()
        except OculiError as e:
            status, message = FAILED, e.message
        except UnsupportedSource as e:  # the file went away, or the map changed
            status, message = FAILED, str(e)
        except Exception:  # noqa: BLE001 - the session fails; the server goes on
            log.exception("stream processor %s failed", self.name)
            status, message = FAILED, "Internal error while processing the stream"
        return status, message

    def finish(self, message: str | None) -> None:
        """A ConnectedHome session's end-of-session summary (nothing for FaceSearch)."""
        if "ConnectedHome" not in self.request["Settings"]:
            return
        processed = self.last_ms - self.first_ms if self.first_ms is not None else 0
        text = message if message and message != ENDED else SUCCESS
        self.outputs.label_event(
            records.summary_message(
                self.stream, processed, text, self.session, self.name, self.tags
            )
        )

    def _run(self) -> tuple[str, str | None]:
        url = source_url(self.arn, self.ctx.settings)
        settings = self.request["Settings"]
        regions = self.request.get("RegionsOfInterest") or []
        analyse: FaceSearch | ConnectedHome
        if "FaceSearch" in settings:
            analyse = FaceSearch(self.ctx, settings["FaceSearch"], regions)
        else:
            analyse = ConnectedHome(self.ctx, settings["ConnectedHome"], regions)
        failed: list[str] = []

        def from_source(status: str, message: str) -> None:
            if status == "FAILED":
                failed.append(message)
            elif status == "RECONNECTING":
                self.on_status(STARTING, f"Reconnecting: {message}")
            elif status == "RUNNING":
                self.on_status(RUNNING, None)

        started_ms = int(self.session["started"] * 1000)
        stop_at = self.session.get("stop_at")
        frames = open_source(
            url,
            rate=self.ctx.settings.stream_fps,
            stop=self.stop,
            file_dir=self.ctx.settings.stream_file_dir,
            on_status=from_source,
            stats=self.stats,
        )
        gate = MotionGate() if isinstance(analyse, ConnectedHome) else None
        seq = 0
        for frame in frames:
            if stop_at is not None and time.time() >= stop_at:
                return STOPPED, None
            seq += 1
            if self.first_ms is None:
                self.first_ms = frame.position_ms
            self.last_ms = frame.position_ms
            if isinstance(analyse, FaceSearch):
                self._faces(analyse, frame, seq, started_ms)
            elif gate is not None and not gate.should_analyse(frame.rgb, frame.position_ms):
                self.still += 1
                continue  # nothing analysed, nothing sent: no latency to count
            else:
                sightings = analyse(frame.rgb)
                self.latest.put(frame.rgb, frame.position_ms, label_boxes(sightings))
                self._labels(sightings, frame, seq, started_ms)
            self.latencies_ms.append(int(time.time() * 1000) - frame.received_ms)
        if self.stop.is_set() or (stop_at is not None and time.time() >= stop_at):
            return STOPPED, None
        if failed:
            return FAILED, failed[-1]
        return STOPPED, ENDED

    def _faces(self, analyse: FaceSearch, frame: LiveFrame, seq: int, started_ms: int) -> None:
        faces = analyse(frame.rgb)
        self.latest.put(frame.rgb, frame.position_ms, face_boxes(faces))
        face_ids = sorted({m["Face"]["FaceId"] for f in faces for m in f["MatchedFaces"]})
        if face_ids:
            self._audit_match(analyse, face_ids, frame)
        self.outputs.face_record(records.face_record(self.stream, frame, seq, started_ms, faces))

    def _audit_match(self, analyse: FaceSearch, face_ids: list[str], frame: LiveFrame) -> None:
        params = {"CollectionId": analyse.collection, "FaceMatchThreshold": analyse.threshold}
        event = event_for(
            "StreamProcessorMatch", params, None, None, None, None, self.session["SessionId"]
        )
        try:
            self.ctx.audit().append(
                {
                    **event,
                    "processor": self.name,
                    "face_ids": face_ids,
                    "position_ms": frame.position_ms,
                }
            )
        except AuditWriteError:
            raise OculiError("The audit log cannot be written: identity matches stopped") from None

    def _labels(
        self, sightings: list[Sighting], frame: LiveFrame, seq: int, started_ms: int
    ) -> None:
        new: dict[str, Sighting] = {}
        for s in sightings:  # most confident first: each new label's best instance
            if s.label not in self.seen and s.label not in new:
                new[s.label] = s
        if not new:
            return
        self.seen.update(new)
        images: dict[str, dict[str, str]] = {}
        if self.ctx.settings.stream_keep_frames and self.outputs.s3:
            stamp = f"{frame.position_ms:010d}"
            self.outputs.put_s3(f"frames/{stamp}.jpg", _jpeg(frame.rgb), "image/jpeg")
            for label, s in new.items():
                leaf = f"frames/{stamp}-{label.lower()}.jpg"
                self.outputs.put_s3(leaf, _jpeg(_crop(frame.rgb, s.box)), "image/jpeg")
                images[label] = {
                    "frameImageUri": self.outputs.s3_uri(f"frames/{stamp}.jpg") or "",
                    "croppedImageUri": self.outputs.s3_uri(leaf) or "",
                }
        message = records.label_message(
            self.stream,
            list(new.values()),
            frame,
            seq,
            started_ms,
            self.session,
            self.name,
            self.tags,
            images,
        )
        self.outputs.label_event(message)


class _Run:
    def __init__(self, attempt: int | None = None) -> None:
        self.attempt = attempt  # a worker's run: its claim (oculi.streams.store)
        self.stop = threading.Event()
        self.shutdown = False
        self.session: Session | None = None
        self.thread: threading.Thread | None = None


class StreamProcessors:
    """The processors of one data directory and their running sessions."""

    def __init__(self, ctx: ServiceContext) -> None:
        directory = ctx.settings.data_dir / "streams"
        self.ctx = ctx
        s = ctx.settings
        self.copies: list[Published | Posted] = []
        if s.stream_mqtt_url:  # UnsupportedOutput for a URL it cannot use
            publisher = MqttPublisher(s.stream_mqtt_url, client_id="oculi-streams")
            self.copies.append(Published(publisher))
        if s.stream_webhook_url:
            self.copies.append(Posted(s.stream_webhook_url, s.stream_webhook_secret))
        self.queued = bool(s.queue_url)
        self._queue: VideoQueue | None = None
        if s.queue_url:
            self.store = ProcessorStore(s.queue_url)
        else:
            self.store = ProcessorStore(directory / "processors.sqlite3")
            self.store.finish_stops()
        self.events: Events = Fanout([EventLog(directory), *self.copies])
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def resume(self) -> int:
        """Run again every processor a stopped server left STARTING or RUNNING (with a
        queue, none: their sessions are in the queue)."""
        if self.queued:
            return 0
        active = self.store.active()
        for p in active:
            self._audit_session(p, "resumed")
            self._launch(p)
        return len(active)

    def start(self, name: str, params: dict[str, Any]) -> str:
        """StartStreamProcessor: a new session of a STOPPED or FAILED processor; its id."""
        p = self.store.get(name)
        session = new_session(p.request, params)
        source_url(p.request["Input"]["KinesisVideoStream"]["Arn"], self.ctx.settings)
        face_search = p.request["Settings"].get("FaceSearch")
        if face_search:
            self.ctx.collections().describe(face_search["CollectionId"])
        if self.queued:
            self.store.start(name, session, self._enqueue)
        else:
            self.store.start(name, session)
            self._launch(self.store.get(name))
        return str(session["SessionId"])

    def _enqueue(self, tx: Tx, name: str) -> None:
        if self._queue is None:
            from oculi.video.queue import VideoQueue  # procrastinate only when asked for

            assert self.ctx.settings.queue_url is not None
            self._queue = VideoQueue(self.ctx.settings.queue_url)
        self._queue.enqueue_processor(tx, name)

    def stop(self, name: str) -> None:
        """StopStreamProcessor: STOPPING now, STOPPED once its session has ended."""
        self.store.stop(name)
        if self.queued:  # the worker that runs it sees the Stop (`run_queued`)
            return
        with self._lock:
            run = self._runs.get(name)
        if run is None:  # no session of this server runs it
            self._set(name, STOPPED, None, (STOPPING,))
        else:
            run.stop.set()

    def run_queued(self, name: str, stopping: Callable[[], bool]) -> bool:
        """A worker's run of processor `name`'s session, until it ends, is stopped (seen
        in the store within WATCH_S) or another run takes it over; True when it
        ended because `stopping()` did (the worker stops: the session goes back to the
        queue, its Status unchanged)."""
        claimed = self.store.claim(name)
        if claimed is None:
            return False  # stopped or deleted while it waited in the queue
        attempt, p = claimed
        self._audit_session(p, "taken")
        run = self._launch(p, attempt)
        assert run.thread is not None
        try:
            while run.thread.is_alive():
                run.thread.join(WATCH_S)
                if stopping():
                    run.shutdown = True
                elif not run.stop.is_set() and run.thread.is_alive():
                    status = self.store.owner(name, attempt)
                    if status is None:  # another run took it over: it writes nothing more
                        log.warning("stream processor %s: another run took its session", name)
                        run.shutdown = True
                    elif status != STOPPING:
                        continue
                run.stop.set()
        except BaseException:  # the store unreachable: the session goes back to the queue
            run.shutdown = True
            run.stop.set()
            run.thread.join()
            raise
        return run.shutdown and stopping()

    def latest_frame(self, name: str) -> LatestFrame | None:
        """The live view of `name`'s session when this process runs it (None otherwise)."""
        with self._lock:
            run = self._runs.get(name)
        return run.session.latest if run is not None and run.session is not None else None

    def _set(
        self,
        name: str,
        status: str,
        message: str | None,
        only_from: tuple[str, ...],
        attempt: int | None = None,
    ) -> None:
        if self.store.set_status(name, status, message, only_from, attempt):
            self.events.append(name, None, "STATUS", {"Status": status, "StatusMessage": message})

    def _launch(self, p: Processor, attempt: int | None = None) -> _Run:
        run = _Run(attempt)
        assert p.session is not None

        def on_status(status: str, message: str | None) -> None:
            if not run.stop.is_set():
                self._set(p.name, status, message, ACTIVE, run.attempt)

        run.session = Session(
            self.ctx, p.name, p.request, p.session, p.tags, self.events, on_status, run.stop
        )
        run.thread = threading.Thread(
            target=self._run, args=(p, run), name=f"oculi-stream {p.name}", daemon=True
        )
        with self._lock:
            self._runs[p.name] = run
        run.thread.start()
        return run

    def _run(self, p: Processor, run: _Run) -> None:
        assert run.session is not None
        try:
            status, message = run.session.run()
            if run.shutdown:
                return  # the next server runs it again
            run.session.finish(message)
            self._set(p.name, status, message, (*ACTIVE, STOPPING), run.attempt)
            self._audit_session(p, "ended", status)
        finally:
            with self._lock:
                if self._runs.get(p.name) is run:
                    del self._runs[p.name]

    def _audit_session(self, p: Processor, phase: str, status: str | None = None) -> None:
        """A session resumed by a new server, taken by a worker, or ended on its own (the
        API's Start and Stop are audited as calls)."""
        face_search = p.request["Settings"].get("FaceSearch") or {}
        event = event_for(
            "StreamProcessorSession",
            face_search,
            None,
            None,
            None,
            None,
            (p.session or {}).get("SessionId", ""),
        )
        record = {**event, "processor": p.name, "phase": phase}
        if status is not None:
            record["status"] = status
        try:
            self.ctx.audit().append(record)
        except AuditWriteError:
            log.error("stream processor %s: its session's %s could not be audited", p.name, phase)

    def close(self, timeout_s: float = 10.0) -> None:
        """End every session without changing its processor's Status (see the module)."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.shutdown = True
            run.stop.set()
        deadline = time.monotonic() + timeout_s
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))
        for copy in self.copies:
            copy.close(max(0.0, deadline - time.monotonic()))
        self.store.close()
