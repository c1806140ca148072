"""Stream processors: latency from a frame entering oculi to its event leaving it.

A stream processor session (oculi.streams.runtime.Session, as `oculi serve` runs it) reads
a 1280x720 H.264 file source played at its own frame rate (bench/video.py's 30 s 720p
clip, made once with PyAV into the cache folder) at `--fps` analysed frames a second, and
sends its events to a local sink (the event log's place; no network). Latency is, for each
analysed frame, the time from the source decoding it (LiveFrame.received_ms: waiting for
the analysis to be free counts) to its outputs having been sent; frames the analysis could
not keep up with are dropped by the source and counted, never queued.

FaceSearch searches every face of every frame in a collection of the clip's two performers
(their reference stills); ConnectedHome looks for PERSON. Each setting runs `--runs` times;
the script prints each run's p50, p99, analysed and dropped frames, and the medians.

Agreement (`--agreement`): the clip itself (640x360) analysed by stored-video face search
(StartFaceSearch's analysis: faces tracked, each track searched once with its best views)
and by a FaceSearch stream processor (every face of every analysed frame searched), both at
`--fps` and FaceMatchThreshold 80 (the identity floor lowered to 80, as the tests do, so
that there is something to compare); for each second of the clip, who each named. Prints
the (second, person) pairs both named, the pairs only one did, and the agreement (both /
either).

    python bench/stream.py [--fps 5] [--runs 3] [--threads N]
    python bench/stream.py --agreement [--fps 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from video import CACHE, CLIP, make_720p

from oculi.api.collection_ops import create_collection, index_faces
from oculi.service.context import ServiceContext
from oculi.settings import Settings
from oculi.streams.runtime import Session

REFERENCES = {
    "lin-manuel-miranda": CLIP.parent / "lin-manuel-miranda_reference.png",
    "alex-lacamoire": CLIP.parent / "alex-lacamoire_reference.png",
}


class Sink:
    """Where events go: counted, not written."""

    def __init__(self) -> None:
        self.count = 0

    def append(self, processor: str, session: str | None, kind: str, event: Any) -> None:
        self.count += 1


def run_once(ctx: ServiceContext, clip: Path, settings: dict[str, Any]) -> dict[str, float]:
    request = {
        "Input": {"KinesisVideoStream": {"Arn": clip.as_uri()}},
        "Output": {},
        "Settings": settings,
    }
    session = {"SessionId": str(uuid.uuid4()), "started": time.time()}
    sink = Sink()
    run = Session(ctx, "bench", request, session, {}, sink, lambda s, m: None, threading.Event())
    status, message = run.run()
    if status != "STOPPED":
        raise SystemExit(f"the session ended {status}: {message}")
    lat = np.array(run.latencies_ms, dtype=float)
    return {
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "analysed": float(len(lat)),
        "dropped": float(run.stats.frames_dropped),
        "still": float(run.still),
        "events": float(sink.count),
    }


def cast_context(s: Settings) -> ServiceContext:
    """A context whose data directory holds the collection `cast` of the two performers."""
    ctx = ServiceContext(s)
    create_collection(ctx, {"CollectionId": "cast"})
    for name, path in REFERENCES.items():
        index_faces(
            ctx,
            {
                "CollectionId": "cast",
                "Image": {"Bytes": path.read_bytes()},
                "ExternalImageId": name,
                "MaxFaces": 1,
            },
        )
    return ctx


def agreement(ctx: ServiceContext, fps: float) -> None:
    from oculi.video.analyses import ANALYSES, TIMESTAMPS
    from oculi.video.cli import Collected
    from oculi.video.decode import probe, sample_frames

    params = {"CollectionId": "cast", "FaceMatchThreshold": 80.0}
    out = Collected()
    info = probe(CLIP)
    ANALYSES["FaceSearch"](ctx, params, sample_frames(CLIP, info, fps), info, out)
    stored = {
        (row.ts // 1000, out.matches[row.idx][0]["Face"]["ExternalImageId"])
        for row in out.rows.get(TIMESTAMPS, [])
        if row.idx in out.matches
    }
    live: set[tuple[int, str]] = set()

    class Named:
        def append(self, processor: str, session: str | None, kind: str, event: Any) -> None:
            if kind != "FaceSearch":
                return
            second = int(event["InputInformation"]["KinesisVideo"]["FrameOffsetInSeconds"])
            for face in event["FaceSearchResponse"]:
                if face["MatchedFaces"]:
                    live.add((second, face["MatchedFaces"][0]["Face"]["ExternalImageId"]))

    request = {
        "Input": {"KinesisVideoStream": {"Arn": CLIP.as_uri()}},
        "Output": {},
        "Settings": {"FaceSearch": params},
    }
    session = {"SessionId": str(uuid.uuid4()), "started": time.time()}
    run = Session(ctx, "bench", request, session, {}, Named(), lambda s, m: None, threading.Event())
    run.run()
    both, either = stored & live, stored | live
    print(f"{CLIP.name} at {fps:g} frames/s, FaceMatchThreshold 80: (second, person) pairs")
    print(f"  named by both: {len(both)}")
    print(f"  only stored-video face search: {sorted(stored - live)}")
    print(f"  only the stream processor: {sorted(live - stored)}")
    print(f"  stream frames analysed {len(run.latencies_ms)}, dropped {run.stats.frames_dropped}")
    print(f"agreement (both / either): {len(both) / max(1, len(either)):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--agreement", action="store_true", help="stored video against the stream")
    args = ap.parse_args()
    if args.agreement:
        with tempfile.TemporaryDirectory() as tmp:
            s = Settings(data_dir=Path(tmp), threads=args.threads, match_floor=80.0)
            s.stream_fps, s.stream_file_dir = args.fps, CLIP.parent
            ctx = cast_context(s)
            agreement(ctx, args.fps)
            ctx.close()
        return
    clip = CACHE / "hamilton_720p_30s.mp4"
    if not clip.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        make_720p(CLIP, clip)
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings(data_dir=Path(tmp), threads=args.threads)
        s.stream_fps, s.stream_file_dir = args.fps, clip.parent
        ctx = cast_context(s)
        settings = {
            "FaceSearch": {"FaceSearch": {"CollectionId": "cast", "FaceMatchThreshold": 80.0}},
            "ConnectedHome PERSON": {"ConnectedHome": {"Labels": ["PERSON"]}},
        }
        print(f"720p H.264 file source, {args.fps:g} analysed frames/s, {args.runs} runs")
        for name, setting in settings.items():
            runs = []
            for i in range(args.runs):
                r = run_once(ctx, clip, setting)
                runs.append(r)
                print(
                    f"  {name} run {i + 1}: p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms, "
                    f"{r['analysed']:.0f} frames analysed, {r['still']:.0f} still (skipped), "
                    f"{r['dropped']:.0f} dropped"
                )
            p50 = statistics.median(r["p50"] for r in runs)
            p99 = statistics.median(r["p99"] for r in runs)
            print(f"{name}: median p50 {p50:.0f} ms, median p99 {p99:.0f} ms")
        ctx.close()


if __name__ == "__main__":
    main()
