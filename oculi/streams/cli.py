"""`oculi watch URL`: one stream processor run from the command line, its events printed
as they happen; `oculi events`: the server's stream-processor event log, printed or
followed."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oculi.streams.analysis import CONNECTED_HOME_LABELS

HOME_CHOICES = (*CONNECTED_HOME_LABELS, "ALL")


def _line(kind: str, event: Any, started: float) -> str:
    """One event, short: when, what, who."""
    at = f"{time.time() - started:7.1f}s"
    if kind == "FaceSearch":
        parts = []
        for face in event["FaceSearchResponse"]:
            matches = face["MatchedFaces"]
            if matches:
                best = matches[0]
                who = best["Face"].get("ExternalImageId") or best["Face"]["FaceId"]
                parts.append(f"{who} ({best['Similarity']:.1f})")
            else:
                parts.append("unknown face")
        offset = event["InputInformation"]["KinesisVideo"]["FrameOffsetInSeconds"]
        return f"{at} frame {offset:.2f}s: " + ", ".join(parts)
    if kind == "LABEL_DETECTED":
        labels = ", ".join(f"{x['name']} ({x['confidence']:.0f})" for x in event["labels"])
        return f"{at} first seen: {labels}"
    if kind == "STREAM_PROCESSING_COMPLETE":
        ms = event["inputInformation"]["kinesisVideo"]["processedVideoDurationMillis"]
        return (
            f"{at} session complete ({ms / 1000:.1f}s of video): "
            + (event["streamProcessingResults"]["message"])
        )
    message = f": {event['StatusMessage']}" if event.get("StatusMessage") else ""
    return f"{at} {event['Status']}{message}"


class Printed:
    """Events as `oculi watch` prints them (oculi.streams.events.Events)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json, self.started = as_json, time.time()
        self._lock = threading.Lock()

    def append(self, processor: str, session: str | None, kind: str, event: Any) -> None:
        text = json.dumps({"type": kind, "event": event}) if self.as_json else None
        with self._lock:
            print(text or _line(kind, event, self.started), flush=True)


def _request(args: argparse.Namespace, url: str) -> dict[str, Any] | str:
    """The CreateStreamProcessor request `watch` runs, or what is wrong with its options."""
    settings: dict[str, Any]
    if bool(args.collection) == bool(args.labels):
        return "give one of --collection C (face search) or --labels PERSON,PET,PACKAGE"
    if args.collection:
        settings = {"FaceSearch": {"CollectionId": args.collection}}
        if args.threshold is not None:
            settings["FaceSearch"]["FaceMatchThreshold"] = args.threshold
    else:
        labels = [x.strip().upper() for x in args.labels.split(",") if x.strip()]
        if not labels or any(x not in HOME_CHOICES for x in labels):
            return f"--labels takes a comma-separated list of {', '.join(HOME_CHOICES)}"
        settings = {"ConnectedHome": {"Labels": labels}}
        if args.min_confidence is not None:
            settings["ConnectedHome"]["MinConfidence"] = args.min_confidence
    return {"Input": {"KinesisVideoStream": {"Arn": url}}, "Settings": settings, "Output": {}}


def _cmd_watch(args: argparse.Namespace) -> int:
    from oculi.cli import _settings
    from oculi.service.context import ServiceContext
    from oculi.streams.runtime import Session
    from oculi.streams.sources import redact_url

    s = _settings(args)
    if args.data_dir:
        s.data_dir = Path(args.data_dir)
    if args.fps:
        s.stream_fps = args.fps
    url = args.url
    if "://" not in url:  # a local file: the user's own, read with the user's rights
        path = Path(url).resolve()
        url = path.as_uri()
        s.stream_file_dir = s.stream_file_dir or path.parent
    elif url.lower().startswith("file://") and s.stream_file_dir is None:
        s.stream_file_dir = Path(url[len("file://") :]).resolve().parent
    request = _request(args, url)
    if isinstance(request, str):
        print(f"error: {request}", file=sys.stderr)
        return 2
    ctx = ServiceContext(s)
    stop = threading.Event()
    session: dict[str, Any] = {"SessionId": str(uuid.uuid4()), "started": time.time()}
    if args.seconds:
        session["stop_at"] = session["started"] + args.seconds
    printed = Printed(args.json)

    def status(state: str, message: str | None) -> None:
        printed.append("watch", None, "STATUS", {"Status": state, "StatusMessage": message})

    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"watching {redact_url(url)}", file=sys.stderr, flush=True)
    run = Session(ctx, "watch", request, session, {}, printed, status, stop)
    try:
        state, message = run.run()
        run.finish(message)
    finally:
        signal.signal(signal.SIGINT, previous)
        ctx.close()
    status(state, message)
    return 1 if state == "FAILED" else 0


def _cmd_events(args: argparse.Namespace) -> int:
    from oculi.settings import default_data_dir
    from oculi.streams.events import read_events

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        for entry in read_events(data_dir / "streams", args.processor, args.follow, stop):
            print(json.dumps(entry), flush=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def register(
    sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the `watch` and `events` commands to the `oculi` parser."""
    wp = sub.add_parser(
        "watch", help="run one stream processor on a camera or file; print its events"
    )
    wp.add_argument("url", help="rtsp://..., http(s)://... (MJPEG or HLS), file:///... or a path")
    wp.add_argument("--collection", help="search every analysed frame's faces in this collection")
    wp.add_argument(
        "--threshold", type=float, help="FaceMatchThreshold (raised to the identity floor)"
    )
    wp.add_argument("--labels", help="ConnectedHome labels: PERSON,PET,PACKAGE or ALL")
    wp.add_argument("--min-confidence", type=float, help="ConnectedHome MinConfidence (50)")
    wp.add_argument("--fps", type=float, help="frames analysed a second (default 5)")
    wp.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    wp.add_argument("--json", action="store_true", help="print each event's full JSON")
    wp.add_argument("--data-dir", help="the server's data directory (for --collection)")
    common(wp)
    wp.set_defaults(func=_cmd_watch)
    ep = sub.add_parser("events", help="print the stream processors' event log")
    ep.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    ep.add_argument("--processor", help="only this processor's events")
    ep.add_argument("--data-dir", help="the server's data directory")
    ep.set_defaults(func=_cmd_events)
