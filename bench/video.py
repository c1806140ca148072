"""Stored-video analysis: speed, and person tracking without ground truth.

Speed (`--speed`): persons with their faces as GetPersonTracking computes them (SSDLite
persons, tiled; YuNet faces with mesh, pose and quality; the tracker restarted at shot
cuts) at `--fps` analysed frames per second of video, on a 1280x720 H.264 clip, run two
ways in the same command, alternating, `--repeat` times each (medians): as before (every
frame tiled, every face described, decode in the analysis's thread) and as now
(oculi.video.persons: tiles where the tracks need them, still frames skipped; faces looked
for around tracked persons and only theirs described; decode a thread ahead). The clip is
the dev-data performance clip upscaled to 720p and played forwards and backwards to 30 s,
written once with PyAV (`pip install av`, bench-only: oculi reads video with OpenCV) into
the cache folder. Prints frames decoded and analysed per second, detector views per frame,
the time in each stage (decode: waiting for the next frame; persons; faces; track), the
real-time factor (seconds of video per second of work; above 1 is faster than real time),
the CPU time (steadier than wall time on a shared machine), the ratios, and how many of
the person rows (and faces) found before are found now.

Tracking (`--tracking`): the person detector's five views of every analysed frame of
`vtest.avi` (Debian's opencv-doc: `apt-get download opencv-doc`, then extract
`usr/share/doc/opencv-doc/examples/data/vtest.avi`; 795 frames at 10 fps, a fixed camera,
about 19 people walk through), cached, then tracked at `--fps` by oculi's tracker over
every frame tiled, by oculi's tracker over tiles as needed without and with motion gating
(the latter what a job runs), and by the plain IoU tracker that video redaction uses (15
missed frames, no shot cuts). Without ground truth, it prints what can be counted:
distinct indexes (fewer is better down to the real number of people), tracks shorter than
one second (fragments), indexes started per 100 analysed frames, detector views per frame,
and how many of the tracked person rows of tiling every frame tiling as needed finds too
(`--hold S` first holds the clip's first frame still for S seconds, with the people in it
standing: what gating saves, and whether it loses them).

    python bench/video.py --speed [--fps 5] [--threads N] [--repeat 3]
    python bench/video.py --tracking --vtest PATH [--fps 5] [--hold SECONDS]
    python bench/video.py --memory [--minutes 3] [--fps 5]

Memory (`--memory`): GetPersonTracking's analysis (oculi.video.analyses) over the
dev-data clip looped to `--minutes` (written once with OpenCV into the cache folder), its
rows counted and dropped; prints the process's resident memory at every tenth of the
video: it should not grow with the video's length (no frame list is held).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from oculi.service.context import ServiceContext
from oculi.service.labels import shared_label_detectors
from oculi.settings import Settings
from oculi.video.analyses import ANALYSES, PERSON_START, ShotTracker, _faces
from oculi.video.decode import READ_AHEAD, Frame, VideoInfo, probe, sample_frames
from oculi.video.persons import KEY_S, PersonFaces, PersonFinder
from oculi.video.tracks import face_in_person
from oculi.vision.labels import SCORE_FLOOR, Candidates, tiles
from oculi.vision.nms import greedy_match, iou_matrix
from oculi.vision.track import IouTracker

DEV = Path(__file__).resolve().parents[2] / "shared" / "dev-data"
CLIP = DEV / "video" / "short_hamilton_clip.mp4"
CACHE = Path.home() / ".cache" / "oculi-bench"


def make_720p(src: Path, dest: Path, seconds: float = 30.0) -> None:
    """`src` upscaled to 1280x720, forwards then backwards until `seconds` long, as H.264
    (libx264, crf 23) in MP4."""
    import av
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(bgr, (1280, 720), interpolation=cv2.INTER_CUBIC))
    cap.release()
    order = frames + frames[::-1]
    total = int(seconds * fps)
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"crf": "23"}
        for i in range(total):
            frame = av.VideoFrame.from_ndarray(order[i % len(order)], format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@dataclass(frozen=True)
class Config:
    """How person tracking is run: `key_s` 0 tiles every frame (as before the tracker
    chose the tiles), `ahead` 0 decodes in the analysis's thread, `all_faces` describes
    every face (mesh, pose, quality) rather than those of tracked persons."""

    name: str
    key_s: float
    ahead: int
    all_faces: bool


BEFORE = Config("before: tiled every frame, all faces, decode inline", 0.0, 0, True)
NOW = Config("now: tiles as tracks need, persons' faces, decode ahead", KEY_S, READ_AHEAD, False)


@dataclass
class Run:
    wall: float
    cpu: float
    stages: dict[str, list[float]]  # stage -> [wall, CPU of the analysis's thread]
    views: int
    analysed: int
    rows: dict[int, list[tuple[np.ndarray, np.ndarray | None]]]  # ts -> (person, face box)


def lap(stages: dict[str, list[float]], stage: str, since: tuple[float, float]) -> tuple:
    """Add the wall and this thread's CPU time since `since` to `stage`; now."""
    now = time.perf_counter(), time.thread_time()
    stages[stage][0] += now[0] - since[0]
    stages[stage][1] += now[1] - since[1]
    return now


def track_persons(ctx: ServiceContext, path: Path, info: VideoInfo, fps: float, c: Config) -> Run:
    """GetPersonTracking's work (oculi.video.analyses.person_tracking) with each stage
    timed: decode (time waiting for the next frame), persons, faces, track."""
    stages = {k: [0.0, 0.0] for k in ("decode", "persons", "faces", "track")}
    tracker = ShotTracker(fps, PERSON_START)
    finder = PersonFinder(PersonFinder.of(ctx, fps).detector, fps, c.key_s)
    faces_of = PersonFaces(ctx)
    rows: dict[int, list[tuple[np.ndarray, np.ndarray | None]]] = {}
    analysed = 0
    frames = iter(sample_frames(path, info, fps, c.ahead))
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        t = time.perf_counter(), time.thread_time()
        frame = next(frames, None)
        t = lap(stages, "decode", t)
        if frame is None:
            break
        analysed += 1
        cut = tracker.new_frame(frame.rgb)
        t = lap(stages, "track", t)
        boxes, scores = finder(frame.rgb, tracker.expected(), cut)
        t = lap(stages, "persons", t)
        matched = tracker.match(boxes, scores)
        t = lap(stages, "track", t)
        if not matched:
            continue
        mine = boxes[[m.detection for m in matched]]
        if c.all_faces:
            faces, details = _faces(ctx, frame, None)
            which = [face_in_person(b, faces.boxes) for b in mine]
            found = [details[f] if f >= 0 else None for f in which]
        else:
            found = faces_of(frame.rgb, boxes, [m.detection for m in matched], finder.fresh)
        lap(stages, "faces", t)
        rows[frame.timestamp_ms] = [
            (b, None if f is None else box_of(f["BoundingBox"], info)) for b, f in zip(mine, found)
        ]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Run(wall, cpu, stages, finder.views_run, analysed, rows)


def box_of(box: dict[str, float], info: VideoInfo) -> np.ndarray:
    """A BoundingBox (ratios) as x1 y1 x2 y2 pixels."""
    x, y = box["Left"] * info.width, box["Top"] * info.height
    return np.float32([x, y, x + box["Width"] * info.width, y + box["Height"] * info.height])


def same_rows(a: dict[int, list[np.ndarray]], b: dict[int, list[np.ndarray]]) -> list[tuple]:
    """Pairs (frame, row of `a`, row of `b`) of the same person: same frame, boxes
    overlapping by IoU 0.5 or more, matched greedily."""
    pairs = []
    for at, mine in a.items():
        theirs = b.get(at, [])
        if len(mine) and len(theirs):
            for i, j in greedy_match(np.stack(mine), np.stack(theirs), 0.5):
                pairs.append((at, i, j))
    return pairs


def speed(ctx: ServiceContext, path: Path, fps: float, repeat: int) -> None:
    info = probe(path)
    seconds = info.duration_ms / 1000
    blank = np.zeros((info.height, info.width, 3), np.uint8)
    PersonFinder.of(ctx, fps)(blank, np.zeros((0, 4)), True)  # load the models
    _faces(ctx, Frame(0, 0, blank), None)
    print(
        f"{path.name}: {info.width}x{info.height} {info.codec}, {seconds:.1f} s, "
        f"{info.frames} frames; analysed at {fps:g}/s; {ctx.threads} inference thread(s); "
        f"{repeat} run(s) of each, alternating; medians"
    )
    runs: dict[Config, list[Run]] = {BEFORE: [], NOW: []}
    for _ in range(repeat):
        for c, done in runs.items():
            done.append(track_persons(ctx, path, info, fps, c))
    wall = {c: float(np.median([r.wall for r in done])) for c, done in runs.items()}
    cpu = {c: float(np.median([r.cpu for r in done])) for c, done in runs.items()}
    for c, done in runs.items():
        n = done[0].analysed
        print(c.name)
        print(
            f"  decoded {info.frames / wall[c]:.1f} frames/s, analysed {n / wall[c]:.2f} "
            f"frames/s, {done[0].views / n:.2f} detector views a frame"
        )
        for stage in done[0].stages:
            spent = float(np.median([r.stages[stage][0] for r in done]))
            used = float(np.median([r.stages[stage][1] for r in done]))
            print(
                f"  {stage:8s} {spent:7.2f} s  {spent / n * 1000:7.1f} ms/analysed frame"
                f"  (CPU {used / n * 1000:5.1f} ms)"
            )
        aside = float(np.median([r.cpu - sum(v[1] for v in r.stages.values()) for r in done]))
        print(
            f"  CPU in other threads (decoding, OpenCV) {aside / n * 1000:5.1f} ms/analysed frame"
        )
        print(
            f"  total {wall[c]:.2f} s: real-time factor {seconds / wall[c]:.2f}x; "
            f"CPU {cpu[c]:.2f} s: {seconds / cpu[c]:.2f} s of video per CPU second"
        )
    print(
        f"now against before: {wall[BEFORE] / wall[NOW]:.2f}x as fast by wall time, "
        f"{cpu[BEFORE] / cpu[NOW]:.2f}x by CPU time"
    )
    before, now = runs[BEFORE][0].rows, runs[NOW][0].rows
    pairs = same_rows(
        {t: [b for b, _ in r] for t, r in before.items()},
        {t: [b for b, _ in r] for t, r in now.items()},
    )
    total = sum(len(r) for r in before.values())
    faces = sum(1 for r in before.values() for _, f in r if f is not None)
    both = [
        (before[t][i][1], now[t][j][1])
        for t, i, j in pairs
        if before[t][i][1] is not None and now[t][j][1] is not None
    ]
    ious = [float(iou_matrix(a[None], b[None])[0, 0]) for a, b in both]
    print(
        f"person rows: before {total}, now {sum(len(r) for r in now.values())}; "
        f"{len(pairs)} of before's found now ({100 * len(pairs) / max(1, total):.1f}%); "
        f"{faces} of before's with a face, {len(both)} of them with a face now, "
        f"{sum(1 for v in ious if v >= 0.5)} of those with face boxes overlapping by IoU "
        f"0.5 or more (median {np.median(ious) if ious else 0:.2f})"
    )


class CachedViews:
    """The person detector's views of each analysed frame of a video, computed once and
    cached on disk: a ViewDetector (oculi.video.persons) answering for frame `at`."""

    def __init__(self, ctx: ServiceContext, path: Path, info: VideoInfo, fps: float) -> None:
        s = ctx.settings
        live = shared_label_detectors(s.model_dir, ctx.threads, s.device).persons
        self.names, self.fused = live.names, live.fused
        cache = CACHE / f"{path.stem}-person-views-{info.frames}-{fps:g}fps.npz"
        if not cache.exists():
            n = len(tiles(info.width, info.height))
            stamps, parts = [], []
            for frame in sample_frames(path, info, fps):
                stamps.append(frame.timestamp_ms)
                parts += [live.view(frame.rgb, k) for k in range(n)]
            CACHE.mkdir(parents=True, exist_ok=True)
            np.savez(
                cache,
                stamps=np.asarray(stamps),
                counts=np.asarray([len(p.scores) for p in parts]).reshape(len(stamps), n),
                boxes=np.concatenate([p.boxes for p in parts]).reshape(-1, 4),
                scores=np.concatenate([p.scores for p in parts]),
                classes=np.concatenate([p.classes for p in parts]),
            )
        stored = np.load(cache, allow_pickle=False)
        self.stamps = [int(t) for t in stored["stamps"]]
        counts = stored["counts"]
        ends = np.cumsum(counts.reshape(-1)).reshape(counts.shape)
        boxes, scores, classes = stored["boxes"], stored["scores"], stored["classes"]
        self.views = [
            [Candidates(boxes[e - c : e], scores[e - c : e], classes[e - c : e]) for c, e in row]
            for row in (zip(cs, es) for cs, es in zip(counts, ends))
        ]
        self.at = 0

    def view(self, rgb: np.ndarray, k: int, score_floor: float = SCORE_FLOOR) -> Candidates:
        return self.views[self.at][k]


def tracking(ctx: ServiceContext, path: Path, fps: float) -> None:
    info = probe(path)
    cached = CachedViews(ctx, path, info, fps)
    stamps = cached.stamps
    half = len(stamps) // 2
    print(
        f"{path.name}: {info.frames} frames, {len(stamps)} analysed at {fps:g}/s; "
        f"first half (analysed frames 0-{half - 1}) used to choose the tracker's settings, "
        f"second half reported; tiles as needed: all of them every {KEY_S:g} s"
    )
    ways = (
        ("oculi, tiled every frame", 0.0, False),
        ("oculi, tiles as needed", KEY_S, False),
        ("oculi, as needed, gated", KEY_S, True),
        ("plain IoU (redaction's)", 0.0, False),
    )
    for part, frames in (("fit", range(half)), ("held-out", range(half, len(stamps)))):
        tracked: dict[str, dict[int, list[np.ndarray]]] = {}
        for name, key_s, gate in ways:
            seen: dict[int, list[int]] = {}
            rows: dict[int, list[np.ndarray]] = {}
            finder = PersonFinder(cached, fps, key_s, gate)
            shot = ShotTracker(fps, PERSON_START)
            plain = IouTracker(iou_threshold=0.2, max_missed=15)
            for i, frame in enumerate(sample_frames(path, info, fps)):
                if i not in frames:
                    continue
                cached.at = i
                if name.startswith("oculi"):
                    cut = False  # a fixed camera: no shot cut
                    boxes, scores = finder(frame.rgb, shot.expected(), cut)
                    for t in shot.match(boxes, scores):
                        if t.confirmed:
                            seen.setdefault(t.track_id, []).append(stamps[i])
                            rows.setdefault(i, []).append(boxes[t.detection])
                else:
                    boxes, scores = finder(frame.rgb, np.zeros((0, 4)), False)
                    for t in plain.update(boxes[scores >= 0.5]):
                        if t.detection >= 0:
                            seen.setdefault(t.track_id, []).append(stamps[i])
            spans = [max(s) - min(s) for s in seen.values()]
            short = sum(1 for s in spans if s < 1000)
            print(
                f"  {part:8s} {name:25s} distinct indexes {len(seen):3d}, shorter than 1 s "
                f"{short:3d}, indexes per 100 frames {100 * len(seen) / len(frames):5.1f}, "
                f"median track {np.median(spans) / 1000:.1f} s, "
                f"{finder.views_run / len(frames):.2f} views a frame"
            )
            tracked[name] = rows
        every = tracked[ways[0][0]]
        total = sum(len(r) for r in every.values())
        for name, _, _ in ways[1:3]:
            kept = len(same_rows(every, tracked[name]))
            print(
                f"  {part:8s} tracked person rows: {total} tiling every frame, "
                f"{sum(len(r) for r in tracked[name].values())} {name[7:]}, which finds "
                f"{kept} of the first ({100 * kept / max(1, total):.1f}%; same frame, IoU 0.5)"
            )


def make_held(src: Path, dest: Path, seconds: float) -> None:
    """`src` with its first frame held still for `seconds` before it plays, as MPEG-4 Part
    2 in MP4 (a still stretch, for motion gating)."""
    import cv2

    info = probe(src)
    out = cv2.VideoWriter(
        str(dest), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height)
    )
    cap = cv2.VideoCapture(str(src))
    ok, first = cap.read()
    for _ in range(int(seconds * info.fps)):
        out.write(first)
    while ok:
        out.write(first)
        ok, first = cap.read()
    cap.release()
    out.release()


def make_long(src: Path, dest: Path, minutes: float) -> None:
    """`src` played over and over until `minutes` long, as MPEG-4 Part 2 in MP4 (the
    encoder OpenCV's bundled FFmpeg has), one frame in memory at a time."""
    import cv2

    info = probe(src)
    out = cv2.VideoWriter(
        str(dest), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height)
    )
    total = int(minutes * 60 * info.fps)
    written = 0
    while written < total:
        cap = cv2.VideoCapture(str(src))
        while written < total:
            ok, bgr = cap.read()
            if not ok:
                break
            out.write(bgr)
            written += 1
        cap.release()
    out.release()


class Discard:
    """An analysis's Output that counts its rows and keeps none (a job writes them to its
    store in batches)."""

    job_id = "bench"

    def __init__(self) -> None:
        self.rows = 0

    def add(self, kind: str, row: object) -> None:
        self.rows += 1

    def set_matches(self, matches: object, names: object) -> None:
        pass


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(ctx: ServiceContext, fps: float, minutes: float) -> None:
    """GetPersonTracking's analysis over a long video, the process's resident memory read
    at every tenth of it."""
    video = CACHE / f"hamilton_looped_{minutes:g}min.mp4"
    if not video.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        make_long(CLIP, video, minutes)
    info = probe(video)
    ctx.settings.video_fps = fps
    expected = int(info.duration_ms / 1000 * fps)
    readings: list[tuple[int, float]] = []

    def watched(frames: Iterator[Frame]) -> Iterator[Frame]:
        for n, frame in enumerate(frames, start=1):
            if n % max(1, expected // 10) == 0:
                readings.append((frame.timestamp_ms, rss_mb()))
            yield frame

    out = Discard()
    start = rss_mb()
    ANALYSES["PersonTracking"](ctx, {}, watched(sample_frames(video, info, fps)), info, out)
    print(
        f"{video.name}: {info.width}x{info.height}, {info.duration_ms / 60000:.1f} min, "
        f"{expected} frames analysed at {fps:g}/s, {out.rows} person rows; "
        f"resident memory {start:.0f} MB before"
    )
    for ts, mb in readings:
        print(f"  at {ts / 60000:5.2f} min  {mb:6.0f} MB")
    print(f"growth from the first tenth to the end: {readings[-1][1] - readings[0][1]:+.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--tracking", action="store_true")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--minutes", type=float, default=3.0, help="--memory's video length")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=None, help="default: the server's")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each way (--speed)")
    ap.add_argument("--video", type=Path, default=None, help="default: the 720p clip")
    ap.add_argument("--vtest", type=Path, default=None)
    ap.add_argument(
        "--hold", type=float, default=0.0, help="--tracking: hold the first frame this long"
    )
    args = ap.parse_args()
    ctx = ServiceContext(Settings(data_dir=Path(tempfile.mkdtemp()), threads=args.threads))
    if args.speed:
        video = args.video
        if video is None:
            video = CACHE / "hamilton_720p_30s.mp4"
            if not video.exists():
                CACHE.mkdir(parents=True, exist_ok=True)
                make_720p(CLIP, video)
        speed(ctx, video, args.fps, args.repeat)
    if args.memory:
        memory(ctx, args.fps, args.minutes)
    if args.tracking:
        if args.vtest is None:
            ap.error("--tracking needs --vtest PATH (see the module's docstring)")
        video = args.vtest
        if args.hold:
            video = CACHE / f"{args.vtest.stem}_held_{args.hold:g}s.mp4"
            if not video.exists():
                CACHE.mkdir(parents=True, exist_ok=True)
                make_held(args.vtest, video, args.hold)
        tracking(ctx, video, args.fps)


if __name__ == "__main__":
    main()
