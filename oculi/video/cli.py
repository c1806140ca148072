"""`oculi video analyze FILE`: the stored-video analyses run on a local file, with a
progress bar, their results printed as JSON in the Get* answers' shapes; with `--draw
OUT`, also an annotated copy of the video (oculi.video.draw). The video is decoded once
for all the analyses asked for, which run side by side (oculi.video.fanout)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# option -> (analysis, the Get* answer field it fills)
CHOICES = {
    "faces": ("FaceDetection", "Faces"),
    "people": ("PersonTracking", "Persons"),
    "labels": ("LabelDetection", "Labels"),
    "text": ("TextDetection", "TextDetections"),
    "moderation": ("ContentModeration", "ModerationLabels"),
}


class Collected:
    """Results held in memory, by kind (a command-line run of one local file)."""

    job_id = "local"

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {}
        self.matches: dict[int, list[dict[str, Any]]] = {}

    def add(self, kind: str, row: Any) -> None:
        self.rows.setdefault(kind, []).append(row)

    def set_matches(self, matches: dict[int, list[dict[str, Any]]], names: dict[int, str]) -> None:
        self.matches = matches


def _analysis(
    ctx: Any, api: str, params: dict[str, Any], info: Any, out: Collected
) -> Callable[[Iterator[Any]], None]:
    """The analysis `api` as a reader of frames (oculi.video.fanout)."""
    from oculi.video.analyses import ANALYSES

    return lambda frames: ANALYSES[api](ctx, params, frames, info, out)


def _cmd_analyze(args: argparse.Namespace) -> int:
    from oculi.api.operations import apply_match_floor
    from oculi.cli import _settings
    from oculi.errors import OculiError
    from oculi.progress import Progress, counted
    from oculi.service.context import ServiceContext
    from oculi.video.analyses import TIMESTAMPS
    from oculi.video.decode import UnreadableVideo, probe, sample_frames
    from oculi.video.draw import FOURCC, Mark, draw_video, marks_of
    from oculi.video.fanout import fan_out
    from oculi.video.runner import video_metadata

    s = _settings(args)
    if args.data_dir:
        s.data_dir = Path(args.data_dir)
    if args.fps:
        s.video_fps = args.fps
    asked = [name for name in CHOICES if getattr(args, name)]
    if args.collection:
        asked.append("search")
    if not asked:
        print(
            "error: ask for at least one of --faces --people --labels --text "
            "--moderation --collection C",
            file=sys.stderr,
        )
        return 2
    path = Path(args.file)
    try:
        info = probe(path)
    except (OSError, UnreadableVideo) as e:
        print(f"error: {path}: {e}", file=sys.stderr)
        return 1
    ctx = ServiceContext(s)
    answer: dict[str, Any] = {"VideoMetadata": video_metadata(info)}
    marks: dict[int, list[Mark]] = {}
    expected = math.ceil(info.duration_ms / 1000 * s.video_fps) if info.duration_ms else None
    if args.draw and Path(args.draw).suffix.lower() not in FOURCC:
        print(f"error: --draw writes {', '.join(FOURCC)}, not {args.draw}", file=sys.stderr)
        return 2
    try:
        runs = []  # (name, field, its output, what reads the frames)
        for name in asked:
            params: dict[str, Any] = {}
            if name == "search":
                api, field = "FaceSearch", "FaceSearch"
                params = {"CollectionId": args.collection, "FaceMatchThreshold": args.threshold}
                ctx.collections().describe(args.collection)
                notice = apply_match_floor("StartFaceSearch", params, s.match_floor)
                if notice:
                    print(f"note: {notice}", file=sys.stderr)
            else:
                api, field = CHOICES[name]
            out = Collected()
            runs.append((name, field, out, _analysis(ctx, api, params, info, out)))
        with Progress(f"{' '.join(asked)} {path.name}", expected) as bar:
            frames = counted(sample_frames(path, info, s.video_fps), bar)
            fan_out(frames, [run for *_, run in runs])
        for name, field, out, _ in runs:
            rows = sorted(out.rows.get(TIMESTAMPS, []), key=lambda r: (r.ts, r.idx))
            items = [r.body for r in rows]
            if name == "search":
                items = [
                    {**i, "FaceMatches": out.matches.get(r.idx, [])} for i, r in zip(items, rows)
                ]
            for ts, mark in marks_of(field, items):
                marks.setdefault(ts, []).append(mark)
            answer[field] = [i for i in items if name != "search" or i["FaceMatches"]]
        if args.draw:
            dest = Path(args.draw)
            with Progress(f"drawing {dest.name}", info.frames or None) as bar:
                for i in draw_video(path, info, marks, 1000.0 / s.video_fps, dest):
                    bar.update(i + 1)
    except OculiError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 1
    except OSError as e:  # --draw's file
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0


def register(
    sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the `video` command to the `oculi` parser."""
    vp = sub.add_parser("video", help="analyse a local video file (docs/video.md)")
    vsub = vp.add_subparsers(dest="video_command", required=True)
    ap = vsub.add_parser(
        "analyze", help="faces, people, labels, text, moderation or a face search; JSON"
    )
    ap.add_argument("file")
    for name in CHOICES:
        ap.add_argument(f"--{name}", action="store_true", help=f"as Start{CHOICES[name][0]}")
    ap.add_argument("--collection", help="search the faces in this collection (StartFaceSearch)")
    ap.add_argument(
        "--threshold", type=float, default=80.0, help="FaceMatchThreshold (raised to the floor)"
    )
    ap.add_argument("--fps", type=float, help="frames analysed a second (default 5)")
    ap.add_argument("--data-dir", help="the server's data directory (for --collection)")
    ap.add_argument(
        "--draw",
        metavar="OUT",
        help="also write the video with boxes, indexes and matched names drawn "
        "(.mp4, .mov, .mkv: MPEG-4 Part 2; .avi: MJPEG)",
    )
    common(ap)
    ap.set_defaults(func=_cmd_analyze)
