"""Redaction coverage and speed.

Coverage: the strongest detector setting oculi has (YuNet + RetinaFace) is run on each
original photo/frame and again on the redacted output; a face it finds in the output that
overlaps a face of the original is a face left unblurred.
Speed: frames per second of `oculi redact` on a video, as a multiple of real time, at the
clip's own size and upscaled to 1280x720.

    python bench/redact.py [--video PATH] [--photos DIR ...] [--threads 2] [--video-only]
                           [--baseline-rev REV]

--baseline-rev runs the video redaction code of an earlier git revision too, in the same
run, so that a speed-up is measured under the same load.
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
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from oculi.models.zoo import load_face_analyzer
from oculi.service.redact import RedactOptions, redact_image, redact_video
from oculi.vision.decode import decode
from oculi.vision.nms import iou_matrix

DEV = Path(__file__).resolve().parents[2] / "shared" / "dev-data"


def uncovered(best, original: np.ndarray, redacted: np.ndarray) -> tuple[int, int, int]:
    """(faces the strong detector finds in the original, of which left uncovered — fewer
    than half the pixels of the box's inner 60% changed —, of which still detected in the
    redacted image)."""
    before = best.detect(original)
    if not len(before):
        return 0, 0, 0
    diff = np.abs(original.astype(np.int16) - redacted.astype(np.int16)).max(axis=2) > 8
    missed = 0
    for x1, y1, x2, y2 in before.boxes:
        dx, dy = (x2 - x1) * 0.2, (y2 - y1) * 0.2
        inner = diff[int(y1 + dy):int(np.ceil(y2 - dy)), int(x1 + dx):int(np.ceil(x2 - dx))]
        missed += int(inner.size == 0 or inner.mean() < 0.5)
    after = best.detect(redacted)
    found = int((iou_matrix(before.boxes, after.boxes) > 0.3).any(axis=1).sum()) \
        if len(after) else 0
    return len(before), missed, found


def photos(best, redactor, name: str, paths: list[str], mode: str) -> None:
    total = missed = found = 0
    where = []
    for p in paths:
        rgb = decode(Path(p).read_bytes()).rgb
        out, _ = redact_image(redactor, None, rgb, RedactOptions(mode=mode))  # type: ignore[arg-type]
        n, m, f = uncovered(best, rgb, out)
        total, missed, found = total + n, missed + m, found + f
        if m:
            where.append(f"{Path(p).name}:{m}")
    print(f"photos ({len(paths)}), detector {name}, mode {mode}: {missed}/{total} faces left "
          f"uncovered {' '.join(where)}; {found}/{total} still detectable after redaction")


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
    for name, path in (("vision", "oculi/vision/redact.py"),
                       ("service", "oculi/service/redact.py")):
        file = tmp / f"baseline_{name}_redact.py"
        file.write_text(subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, check=True,
                                       capture_output=True, text=True).stdout)
        spec = importlib.util.spec_from_file_location(f"baseline_{name}_redact", file)
        assert spec is not None and spec.loader is not None
        modules[name] = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    modules["service"].redact = modules["vision"].redact  # type: ignore[attr-defined]
    return modules["service"].redact_video  # type: ignore[no-any-return]


def video(best, default, src: Path, tmp: Path, every: int,
          run: Callable[..., object] = redact_video, label: str = "") -> None:
    dst = tmp / f"out_{src.stem}_{every}{label}.mp4"
    stats = run(default, None, src, dst, RedactOptions(detect_every=every))
    a, b = cv2.VideoCapture(str(src)), cv2.VideoCapture(str(dst))
    total = missed = found = frames = 0
    h = w = 0
    while True:
        ok1, f1 = a.read()
        ok2, f2 = b.read()
        if not (ok1 and ok2):
            break
        frames += 1
        h, w = f1.shape[:2]
        if frames % 3:  # check every third frame: the strong detector is slow
            continue
        n, m, f = uncovered(best, np.ascontiguousarray(f1[:, :, ::-1]),
                            np.ascontiguousarray(f2[:, :, ::-1]))
        total, missed, found = total + n, missed + m, found + f
    print(f"video{label} {src.name} {w}x{h}, detect every {every}: "
          f"{stats.frames / stats.seconds_taken:.1f} fps = "
          f"{stats.seconds_of_video / stats.seconds_taken:.2f}x real time; "
          f"{missed}/{total} face-frames left uncovered, {found}/{total} still detectable "
          "(every 3rd frame checked)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEV / "video" / "short_hamilton_clip.mp4"))
    ap.add_argument("--photos", nargs="*", default=sorted(
        glob.glob(str(DEV / "dlib_faces_voc" / "*.jpg"))
        + glob.glob(str(DEV / "face_recognition_examples" / "**" / "*.jpg"), recursive=True)))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--video-only", action="store_true")
    ap.add_argument("--baseline-rev", help="also time this git revision's video redaction")
    ap.add_argument("--sizes", default="native,720p", help="video sizes: native and/or 720p")
    ap.add_argument("--every", default="1,2", help="--detect-every values to run")
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
        runs: list[tuple[Callable[..., object], str]] = [(redact_video, "")]
        if a.baseline_rev:
            runs.append((load_revision(a.baseline_rev, Path(tmp)), f" [{a.baseline_rev}]"))
        sizes = a.sizes.split(",")
        for clip in [c for c, size in ((src, "native"), (hd, "720p")) if size in sizes]:
            for every in map(int, a.every.split(",")):
                for run, label in runs:
                    t = time.perf_counter()
                    video(best, default, clip, Path(tmp), every, run, label)
                    print(f"  (bench wall time {time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
