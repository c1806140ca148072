"""Stored-video analysis: speed, and person tracking without ground truth.

Speed (`--speed`): faces + persons as GetPersonTracking computes them (SSDLite persons,
tiled; YuNet faces with mesh, pose and quality; IoU tracking restarted at shot cuts) at
`--fps` analysed frames per second of video, on a 1280x720 H.264 clip. The clip is the
dev-data performance clip upscaled to 720p and played forwards and backwards to 30 s,
written once with PyAV (`pip install av`, bench-only: oculi reads video with OpenCV) into
the cache folder. Prints frames decoded and analysed per second, the time spent in each
stage (decode, persons, faces, track), and the real-time factor (seconds of video per
second of work; above 1 is faster than real time).

Tracking (`--tracking`): person detections on every frame of `vtest.avi` (Debian's
opencv-doc: `apt-get download opencv-doc`, then extract
`usr/share/doc/opencv-doc/examples/data/vtest.avi`; 795 frames at 10 fps, a fixed camera,
about 19 people walk through), cached, then tracked at `--fps` by oculi's tracker and by
the plain IoU tracker that video redaction uses (15 missed frames, no shot cuts). Without
ground truth, it prints what can be counted: distinct indexes (fewer is better down to the
real number of people), tracks shorter than one second (fragments), indexes started per
100 analysed frames.

    python bench/video.py --speed [--fps 5] [--threads N]
    python bench/video.py --tracking --vtest PATH [--fps 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from oculi.service.context import ServiceContext
from oculi.settings import Settings
from oculi.video.analyses import PERSON_START, ShotTracker, persons_in
from oculi.video.decode import probe, sample_frames
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


def speed(ctx: ServiceContext, path: Path, fps: float) -> None:
    from oculi.video.analyses import _faces

    info = probe(path)
    timer = {"decode": 0.0, "persons": 0.0, "faces": 0.0, "track": 0.0}
    tracker = ShotTracker(fps, PERSON_START)
    analysed = 0
    frames = iter(sample_frames(path, info, fps))
    persons_in(ctx, np.zeros((info.height, info.width, 3), np.uint8))  # load the models
    _faces(ctx, np.zeros((info.height, info.width, 3), np.uint8), None)
    start = time.perf_counter()
    while True:
        t = time.perf_counter()
        frame = next(frames, None)
        timer["decode"] += time.perf_counter() - t
        if frame is None:
            break
        analysed += 1
        t = time.perf_counter()
        boxes, scores = persons_in(ctx, frame.rgb)
        timer["persons"] += time.perf_counter() - t
        t = time.perf_counter()
        _faces(ctx, frame.rgb, None)
        timer["faces"] += time.perf_counter() - t
        t = time.perf_counter()
        tracker.update(frame.rgb, boxes, scores)
        timer["track"] += time.perf_counter() - t
    total = time.perf_counter() - start
    seconds = info.duration_ms / 1000
    print(
        f"{path.name}: {info.width}x{info.height} {info.codec}, {seconds:.1f} s, "
        f"{info.frames} frames; {analysed} analysed at {fps:g}/s; "
        f"{ctx.threads} inference thread(s)"
    )
    print(f"decoded {info.frames / total:.1f} frames/s, analysed {analysed / total:.2f} frames/s")
    for stage, spent in timer.items():
        print(f"  {stage:8s} {spent:7.2f} s  {spent / analysed * 1000:7.1f} ms/analysed frame")
    print(f"total {total:.2f} s: real-time factor {seconds / total:.2f}x")


def tracking(ctx: ServiceContext, path: Path, fps: float) -> None:
    info = probe(path)
    cache = CACHE / f"{path.stem}-persons-{info.frames}-{fps:g}fps.npz"
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        stamps = list(stored["stamps"])
        boxes = [stored[f"b{i}"] for i in range(len(stamps))]
        scores = [stored[f"s{i}"] for i in range(len(stamps))]
    else:
        boxes, scores, stamps = [], [], []
        for frame in sample_frames(path, info, fps):
            b, s = persons_in(ctx, frame.rgb)
            boxes.append(b)
            scores.append(s)
            stamps.append(frame.timestamp_ms)
        CACHE.mkdir(parents=True, exist_ok=True)
        arrays = {f"b{i}": b for i, b in enumerate(boxes)} | {
            f"s{i}": s for i, s in enumerate(scores)
        }
        np.savez(cache, stamps=np.asarray(stamps), **arrays)
    blank = np.zeros((8, 8, 3), np.uint8)  # a fixed camera: no shot cut to find
    half = len(stamps) // 2
    print(
        f"{path.name}: {info.frames} frames, {len(stamps)} analysed at {fps:g}/s; "
        f"first half (analysed frames 0-{half - 1}) used to choose the tracker's settings, "
        "second half reported"
    )
    for part, frames in (("fit", range(half)), ("held-out", range(half, len(stamps)))):
        for name in ("oculi two-stage", "plain IoU (redaction's)"):
            seen: dict[int, list[int]] = {}
            if name.startswith("oculi"):
                shot = ShotTracker(fps, PERSON_START)
                for i in frames:
                    for t in shot.update(blank, boxes[i], scores[i]):
                        if t.confirmed:
                            seen.setdefault(t.track_id, []).append(stamps[i])
            else:
                plain = IouTracker(iou_threshold=0.2, max_missed=15)
                for i in frames:
                    for t in plain.update(boxes[i][scores[i] >= 0.5]):
                        if t.detection >= 0:
                            seen.setdefault(t.track_id, []).append(stamps[i])
            spans = [max(s) - min(s) for s in seen.values()]
            short = sum(1 for s in spans if s < 1000)
            print(
                f"  {part:8s} {name:24s} distinct indexes {len(seen):3d}, shorter than 1 s "
                f"{short:3d}, indexes per 100 frames {100 * len(seen) / len(frames):5.1f}, "
                f"median track {np.median(spans) / 1000:.1f} s"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--tracking", action="store_true")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=None, help="default: the server's")
    ap.add_argument("--video", type=Path, default=None, help="default: the 720p clip")
    ap.add_argument("--vtest", type=Path, default=None)
    args = ap.parse_args()
    ctx = ServiceContext(Settings(data_dir=Path(tempfile.mkdtemp()), threads=args.threads))
    if args.speed:
        video = args.video
        if video is None:
            video = CACHE / "hamilton_720p_30s.mp4"
            if not video.exists():
                CACHE.mkdir(parents=True, exist_ok=True)
                make_720p(CLIP, video)
        speed(ctx, video, args.fps)
    if args.tracking:
        if args.vtest is None:
            ap.error("--tracking needs --vtest PATH (see the module's docstring)")
        tracking(ctx, args.vtest, args.fps)


if __name__ == "__main__":
    main()
