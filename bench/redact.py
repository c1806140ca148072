"""Redaction coverage and speed.

Coverage: the strongest detector setting oculi has (YuNet + RetinaFace) is run on each
original photo/frame. A face it finds there is "left uncovered" when fewer than half the
pixels of its box's inner 60% are covered; that is read off a run with `--mode fill`
(black, so every covered pixel changes; the boxes do not depend on the mode — a blur can
leave a smooth face's pixels within a few grey levels and would look uncovered). A face it
finds again in the blurred (or pixelated) output, overlapping a face of the original, is
"still detectable".
Speed: frames per second of `oculi redact` on a video, as a multiple of real time, at the
clip's own size and upscaled to 1280x720.

    python bench/redact.py [--video PATH] [--photos DIR ...] [--threads 2] [--video-only]
                           [--baseline-rev REV] [--sizes native,720p] [--every 1,2]
                           [--repeats 3] [--video-settings default,old,x2]

Videos run as `oculi redact` runs them: YuNet + RetinaFace (`--video-detector`) with one
inference thread, `--threads` frames detected at once. --baseline-rev runs the video
redaction code of an earlier git revision too (YuNet with `--threads` inference threads and
one detection at a time, as its `oculi redact` did), in the same run, so that a change is
measured under the same load; each setting is timed --repeats times, interleaved, and the
median printed. --video-settings times each named setting (VIDEO_SETTINGS: today's
defaults, the score and margin before bench/crowd.py chose them, and an x2 pass on every
detected frame) in the same run.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from oculi.models.zoo import load_face_analyzer
from oculi.service.redact import RedactOptions, redact_image, redact_video
from oculi.vision.decode import decode
from oculi.vision.nms import iou_matrix

DEV = Path(__file__).resolve().parents[2] / "shared" / "dev-data"


def uncovered(
    best, original: np.ndarray, filled: np.ndarray, redacted: np.ndarray
) -> tuple[int, int, int]:
    """(faces the strong detector finds in the original, of which left uncovered — fewer
    than half the pixels of the box's inner 60% changed in the black-`filled` output —, of
    which still detected in the `redacted` output)."""
    before = best.detect(original)
    if not len(before):
        return 0, 0, 0
    diff = np.abs(original.astype(np.int16) - filled.astype(np.int16)).max(axis=2) > 8
    missed = 0
    for x1, y1, x2, y2 in before.boxes:
        dx, dy = (x2 - x1) * 0.2, (y2 - y1) * 0.2
        inner = diff[int(y1 + dy) : int(np.ceil(y2 - dy)), int(x1 + dx) : int(np.ceil(x2 - dx))]
        missed += int(inner.size == 0 or inner.mean() < 0.5)
    after = best.detect(redacted)
    found = (
        int((iou_matrix(before.boxes, after.boxes) > 0.3).any(axis=1).sum()) if len(after) else 0
    )
    return len(before), missed, found


def photos(best, redactor, name: str, paths: list[str], mode: str) -> None:
    total = missed = found = 0
    where = []
    for p in paths:
        rgb = decode(Path(p).read_bytes()).rgb
        out, _ = redact_image(redactor, None, rgb, RedactOptions(mode=mode))  # type: ignore[arg-type]
        filled, _ = redact_image(redactor, None, rgb, RedactOptions(mode="fill"))  # type: ignore[arg-type]
        n, m, f = uncovered(best, rgb, filled, out)
        total, missed, found = total + n, missed + m, found + f
        if m:
            where.append(f"{Path(p).name}:{m}")
    print(
        f"photos ({len(paths)}), detector {name}, mode {mode}: {missed}/{total} faces left "
        f"uncovered {' '.join(where)}; {found}/{total} still detectable after redaction"
    )


def scaled_copy(src: Path, dst: Path, size: tuple[int, int]) -> None:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25
    w = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    while True:
        ok, f = cap.read()
        if not ok:
            break
        w.write(cv2.resize(f, size, interpolation=cv2.INTER_LINEAR))
    w.release()


def load_revision(rev: str, tmp: Path) -> Callable[..., object]:
    """redact_video as it was at git revision `rev` (its service and vision modules)."""
    root = Path(__file__).resolve().parents[1]
    modules: dict[str, ModuleType] = {}
    for name, path in (
        ("vision", "oculi/vision/redact.py"),
        ("service", "oculi/service/redact.py"),
    ):
        file = tmp / f"baseline_{name}_redact.py"
        file.write_text(
            subprocess.run(
                ["git", "show", f"{rev}:{path}"],
                cwd=root,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        spec = importlib.util.spec_from_file_location(f"baseline_{name}_redact", file)
        assert spec is not None and spec.loader is not None
        modules[name] = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    modules["service"].redact = modules["vision"].redact  # type: ignore[attr-defined]
    return modules["service"].redact_video  # type: ignore[no-any-return]


# redact_video, its analyzer, a label, the options of its runs (None: RedactOptions' defaults)
Run = tuple[Callable[..., object], object, str, RedactOptions | None]
# --video-settings: the redaction options each named setting runs with
VIDEO_SETTINGS = {
    "default": RedactOptions(),
    "old": RedactOptions(min_score=0.6, margin=0.25),  # before bench/crowd.py's settings
    "x2": RedactOptions(video_scales=(1.0, 2.0)),
}


def coverage(best, src: Path, filled: Path, dst: Path) -> tuple[int, int, int, int, int]:
    """(width, height, face-frames, left uncovered, still detectable), every third frame of
    the original `src` against its black-`filled` and its redacted `dst` copies."""
    a, c, b = (cv2.VideoCapture(str(x)) for x in (src, filled, dst))
    total = missed = found = frames = 0
    h = w = 0
    while True:
        ok1, f1 = a.read()
        ok3, f3 = c.read()
        ok2, f2 = b.read()
        if not (ok1 and ok2 and ok3):
            break
        frames += 1
        h, w = f1.shape[:2]
        if frames % 3:  # check every third frame: the strong detector is slow
            continue
        n, m, f = uncovered(best, *(np.ascontiguousarray(x[:, :, ::-1]) for x in (f1, f3, f2)))
        total, missed, found = total + n, missed + m, found + f
    return w, h, total, missed, found


def video(best, src: Path, tmp: Path, every: int, runs: list[Run], repeats: int) -> None:
    """Time each run `repeats` times, interleaved (the load on a shared machine drifts), and
    check the coverage of its output once (the boxes do not depend on timing), with one more
    run in fill mode for the boxes' coverage."""
    speeds: dict[str, list[float]] = {label: [] for _, _, label, _ in runs}
    for _ in range(repeats):
        for run, analyzer, label, opts in runs:
            stats = run(
                analyzer,
                None,
                src,
                tmp / f"out_{src.stem}_{every}{label}.mp4",
                replace(opts or RedactOptions(), detect_every=every),
            )
            speeds[label].append(stats.seconds_of_video / stats.seconds_taken)  # type: ignore[attr-defined]
    mark = " (default)" if every == RedactOptions().detect_every else ""
    for run, analyzer, label, opts in runs:
        filled = tmp / f"fill_{src.stem}_{every}{label}.mp4"
        run(
            analyzer,
            None,
            src,
            filled,
            replace(opts or RedactOptions(), detect_every=every, mode="fill"),
        )
        w, h, total, missed, found = coverage(
            best, src, filled, tmp / f"out_{src.stem}_{every}{label}.mp4"
        )
        x = sorted(speeds[label])
        print(
            f"video{label} {src.name} {w}x{h}, detect every {every}{mark}: "
            f"{float(np.median(x)):.2f}x real time (median of {len(x)}, {x[0]:.2f}-{x[-1]:.2f});"
            f" {missed}/{total} face-frames left uncovered, {found}/{total} still detectable "
            "(every 3rd frame checked)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEV / "video" / "short_hamilton_clip.mp4"))
    ap.add_argument(
        "--photos",
        nargs="*",
        default=sorted(
            glob.glob(str(DEV / "dlib_faces_voc" / "*.jpg"))
            + glob.glob(str(DEV / "face_recognition_examples" / "**" / "*.jpg"), recursive=True)
        ),
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--video-only", action="store_true")
    ap.add_argument("--baseline-rev", help="also time this git revision's video redaction")
    ap.add_argument("--sizes", default="native,720p", help="video sizes: native and/or 720p")
    ap.add_argument("--every", default="1,2", help="--detect-every values to run")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each video setting")
    ap.add_argument(
        "--video-settings",
        default="default",
        help=f"video redaction settings to time, of {','.join(VIDEO_SETTINGS)}",
    )
    ap.add_argument(
        "--video-detector",
        default="yunet+retinaface",
        choices=["yunet", "retinaface", "yunet+retinaface"],
        help="the detector(s) of the video runs (oculi redact's default)",
    )
    a = ap.parse_args()
    best = load_face_analyzer(detector="yunet+retinaface", threads=a.threads)
    default = load_face_analyzer(threads=a.threads)
    for name, redactor in (("yunet", default), ("yunet+retinaface", best)):
        for mode in ("blur", "pixelate"):
            if not a.video_only:
                photos(best, redactor, name, a.photos, mode)
    src = Path(a.video)
    with tempfile.TemporaryDirectory() as tmp:
        hd = Path(tmp) / f"{src.stem}_720p.mp4"
        scaled_copy(src, hd, (1280, 720))
        single = load_face_analyzer(detector=a.video_detector, threads=1)
        runs: list[Run] = [
            (
                partial(redact_video, detectors=a.threads),
                single,
                f" ({a.video_detector}, {name}: {VIDEO_SETTINGS[name].describe(video=True)})",
                VIDEO_SETTINGS[name],
            )
            for name in a.video_settings.split(",")
        ]
        if a.baseline_rev:
            runs.append(
                (load_revision(a.baseline_rev, Path(tmp)), default, f" [{a.baseline_rev}]", None)
            )
        sizes = a.sizes.split(",")
        for clip in [c for c, size in ((src, "native"), (hd, "720p")) if size in sizes]:
            for every in map(int, a.every.split(",")):
                t = time.perf_counter()
                video(best, clip, Path(tmp), every, runs, a.repeats)
                print(f"  (bench wall time {time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
