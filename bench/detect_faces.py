"""Benchmark oculi's DetectFaces pipeline against face_recognition's HOG detector (dlib).

Prints four plain-text tables:

1. throughput (images/s) on a 640x480 portrait and a 1280x720 group photo, for oculi
   detection only (yunet, retinaface), oculi's full DEFAULT analysis (yunet + mesh + pose +
   quality) and the HOG detector (upsample 1, its default, and 0), single-threaded and with
   two threads (oculi: intra-op threads=2 on one stream, and two workers with threads=1
   each; HOG: two Python threads); oculi/HOG ratios are taken within each run;
2. milliseconds per stage of the full analysis (oculi's Timings);
3. face-detection recall and precision on dlib's 9 labelled PASCAL VOC photos;
4. landmark error of oculi's named landmarks against dlib's 68 points on those photos,
   normalised by inter-ocular distance.

Everything runs on the CPU from local files: oculi's models must already be fetched
(`oculi models fetch`), and nothing is downloaded. The peer rows are skipped with a
message when face_recognition is not importable (see bench/README.md to install it).

    python bench/detect_faces.py [--repeat N] [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import importlib.util
import itertools
import os
import platform
import statistics
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from oculi.models.zoo import load_face_analyzer
from oculi.vision.faces import FaceAnalyzer, Timings
from oculi.vision.landmarks import LANDMARK_NAMES, named_landmarks

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "dev-data"
PORTRAIT = "face_recognition_examples/examples/obama-720p.jpg"
GROUP = "dlib_faces_voc/2007_007763.jpg"
VOC_DIR = "dlib_faces_voc"
VOC_SPLITS = ("training", "testing")
MATCH_IOU = 0.3
SUSPICIOUS = 0.3

# Rekognition landmark -> (dlib 68-point indices averaged, approximate correspondence).
DLIB68: dict[str, tuple[tuple[int, ...], bool]] = {
    "eyeLeft": (tuple(range(36, 42)), False),
    "eyeRight": (tuple(range(42, 48)), False),
    "nose": ((30,), False),
    "mouthLeft": ((48,), False),
    "mouthRight": ((54,), False),
    "leftEyeBrowLeft": ((17,), False),
    "leftEyeBrowRight": ((21,), False),
    "leftEyeBrowUp": ((19,), False),
    "rightEyeBrowLeft": ((22,), False),
    "rightEyeBrowRight": ((26,), False),
    "rightEyeBrowUp": ((24,), False),
    "leftEyeLeft": ((36,), False),
    "leftEyeRight": ((39,), False),
    "rightEyeLeft": ((42,), False),
    "rightEyeRight": ((45,), False),
    "leftEyeUp": ((37, 38), False),
    "leftEyeDown": ((40, 41), False),
    "rightEyeUp": ((43, 44), False),
    "rightEyeDown": ((46, 47), False),
    "noseLeft": ((31,), False),
    "noseRight": ((35,), False),
    "mouthUp": ((51,), False),
    "mouthDown": ((57,), False),
    "chinBottom": ((8,), False),
    "upperJawlineLeft": ((2,), True),
    "midJawlineLeft": ((5,), True),
    "midJawlineRight": ((11,), True),
    "upperJawlineRight": ((14,), True),
}

Fn = Callable[[np.ndarray], object]


@dataclass(frozen=True)
class Settings:
    repeat: int
    target_s: float  # wall time aimed at for one single-threaded measurement
    min_images: int
    stage_calls: int


@dataclass(frozen=True)
class VocImage:
    name: str
    rgb: np.ndarray
    boxes: np.ndarray  # (L, 4) x1 y1 x2 y2, from training.xml / testing.xml
    lm_boxes: np.ndarray  # (L, 4) the boxes of *_with_face_landmarks.xml
    parts: np.ndarray  # (L, 68, 2) dlib's points for lm_boxes


@dataclass(frozen=True)
class Config:
    """One row of the throughput table: a method run in one way."""

    method: str
    mode: str  # one of MODES
    fn: Fn
    workers: int
    peer: bool


MODES = ("1 thread", "intra-op threads=2", "2 workers x threads=1", "2 Python threads")
SINGLE, INTRA2, WORKERS2, PY2 = MODES


# ---------------------------------------------------------------- data


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def portrait_640x480(data: Path) -> np.ndarray:
    """obama-720p.jpg (1280x720), centre-cropped to 4:3 (960x720), resized to 640x480."""
    rgb = read_rgb(data / PORTRAIT)
    h, w = rgb.shape[:2]
    cw = h * 4 // 3
    x0 = (w - cw) // 2
    crop = np.ascontiguousarray(rgb[:, x0 : x0 + cw])
    return cv2.resize(crop, (640, 480), interpolation=cv2.INTER_AREA)


def group_1280x720(data: Path) -> np.ndarray:
    """2007_007763.jpg (500x375, 7 labelled faces), upscaled to 960x720 and padded with
    black to 1280x720."""
    rgb = read_rgb(data / GROUP)
    up = cv2.resize(rgb, (960, 720), interpolation=cv2.INTER_LINEAR)
    return cv2.copyMakeBorder(up, 0, 0, 160, 160, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def xml_boxes(image: ET.Element) -> np.ndarray:
    boxes = [
        [int(b.get(k, "0")) for k in ("left", "top", "width", "height")]
        for b in image.findall("box")
    ]
    xywh = np.array(boxes, np.float32).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def load_voc(data: Path) -> list[VocImage]:
    out = []
    for split in VOC_SPLITS:
        plain = ET.parse(data / VOC_DIR / f"{split}.xml").findall(".//image")
        marked = {
            im.get("file"): im
            for im in ET.parse(data / VOC_DIR / f"{split}_with_face_landmarks.xml").findall(
                ".//image"
            )
        }
        for im in plain:
            name = im.get("file", "")
            lm = marked[name]
            parts = [
                sorted(
                    (int(p.get("name", "0")), float(p.get("x", "0")), float(p.get("y", "0")))
                    for p in b.findall("part")
                )
                for b in lm.findall("box")
            ]
            pts = np.array([[xy[1:] for xy in face] for face in parts], np.float32)
            out.append(
                VocImage(
                    name=name,
                    rgb=read_rgb(data / VOC_DIR / name),
                    boxes=xml_boxes(im),
                    lm_boxes=xml_boxes(lm),
                    parts=pts.reshape(-1, 68, 2),
                )
            )
    return out


# ---------------------------------------------------------------- peer


def load_peer() -> tuple[dict[str, Fn], str]:
    """HOG detectors by name, or none and the reason."""
    # face_recognition_models needs pkg_resources (setuptools < 82); face_recognition
    # quits the interpreter when face_recognition_models fails to import.
    missing = [
        m
        for m in ("dlib", "pkg_resources", "face_recognition_models", "face_recognition")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        return {}, (
            f"SKIPPED peer rows: {', '.join(missing)} not importable; install the "
            "peer with bench/requirements-peers.txt (see bench/README.md)"
        )
    import face_recognition

    return {
        f"HOG upsample={up}" + (" (default)" if up == 1 else ""): functools.partial(
            face_recognition.face_locations, number_of_times_to_upsample=up, model="hog"
        )
        for up in (1, 0)
    }, ""


def peer_boxes(hog: Fn, rgb: np.ndarray) -> np.ndarray:
    """HOG's faces as (N, 4) x1 y1 x2 y2, in dlib's order (descending score)."""
    css = np.array(hog(rgb), np.float32).reshape(-1, 4)  # top, right, bottom, left
    return css[:, [3, 0, 1, 2]]


# ---------------------------------------------------------------- timing


def run_images(
    fn: Fn, images: Sequence[np.ndarray], workers: int, pool: ThreadPoolExecutor
) -> tuple[float, float]:
    """Run fn over all images, on this thread or on `workers` pool threads taking the next
    image as they finish one: images/s, and this process's CPU time over wall time (cores
    kept busy; shows whether threads really ran in parallel)."""
    t0, c0 = time.perf_counter(), time.process_time()
    if workers == 1:
        for img in images:
            fn(img)
    else:
        counter = itertools.count()

        def work() -> None:
            while (i := next(counter)) < len(images):
                fn(images[i])

        for f in [pool.submit(work) for _ in range(workers)]:
            f.result()
    wall = time.perf_counter() - t0
    return len(images) / wall, (time.process_time() - c0) / wall


def warm_pool(fn: Fn, img: np.ndarray, pool: ThreadPoolExecutor, workers: int) -> None:
    """Call fn twice on every pool thread (per-thread interpreters get made here)."""
    barrier = threading.Barrier(workers)

    def warm() -> None:
        barrier.wait()
        fn(img)
        fn(img)

    for f in [pool.submit(warm) for _ in range(workers)]:
        f.result()


def images_for(fn: Fn, img: np.ndarray, s: Settings) -> int:
    """An even number of calls that takes about s.target_s single-threaded."""
    t0 = time.perf_counter()
    for _ in range(3):
        fn(img)
    per_call = (time.perf_counter() - t0) / 3
    n = max(s.min_images, int(np.ceil(s.target_s / max(per_call, 1e-6))))
    return n + n % 2


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def fmt_rate(xs: Sequence[float]) -> str:
    return f"{median(xs):7.1f} ({min(xs):.1f}-{max(xs):.1f})"


# ---------------------------------------------------------------- matching


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    lt = np.maximum(box[:2], others[:, :2])
    rb = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-9)


def match(dets: np.ndarray, labels: np.ndarray) -> list[tuple[int, int]]:
    """(detection, label) pairs, one-to-one; dets must be in descending score order. A
    detection takes the free label of highest IoU among those with IoU >= MATCH_IOU or
    whose centre lies inside the detection."""
    pairs: list[tuple[int, int]] = []
    free = np.ones(len(labels), bool)
    centres = (labels[:, :2] + labels[:, 2:]) / 2
    for i, d in enumerate(dets):
        if not free.any():
            break
        overlap = iou(d, labels)
        inside = np.all((centres >= d[:2]) & (centres <= d[2:]), axis=1)
        ok = ((overlap >= MATCH_IOU) | inside) & free
        if ok.any():
            j = int(np.argmax(np.where(ok, overlap, -1.0)))
            pairs.append((i, j))
            free[j] = False
    return pairs


def by_score(
    analyzer: FaceAnalyzer, rgb: np.ndarray, full: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """oculi's boxes (and named landmarks if `full`), in descending score order."""
    faces = analyzer.analyze(rgb) if full else analyzer.detect(rgb)
    order = np.argsort(-faces.scores, kind="stable")
    lms = named_landmarks(faces.mesh)[order] if full and faces.mesh is not None else None
    return faces.boxes[order], lms


def oculi_boxes(analyzer: FaceAnalyzer, rgb: np.ndarray) -> np.ndarray:
    return by_score(analyzer, rgb, False)[0]


# ---------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cols = list(zip(headers, *rows, strict=True))
    widths = [max(len(c) for c in col) for col in cols]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def load() -> str:
    """1, 5 and 15 minute load averages: other work competing for the cores."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_name() -> str:
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def header(s: Settings, peer_note: str) -> None:
    print("oculi DetectFaces benchmark")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"cpu: {cpu_name()}, {os.cpu_count()} logical cores; python {platform.python_version()}")
    pkgs = [
        "onnxruntime",
        "ai-edge-litert",
        "opencv-python-headless",
        "numpy",
        "dlib-bin",
        "face-recognition",
    ]
    print(
        "versions: "
        + ", ".join(f"{p} {version(p)}" for p in pkgs)
        + f"; cv2 threads {cv2.getNumThreads()}"
    )
    print(f"load average at start: {load()}")
    print(
        f"runs: {s.repeat} repeats, ~{s.target_s:g} s per single-threaded measurement "
        f"(at least {s.min_images} images); oculi on CPU, models from the local cache"
    )
    if peer_note:
        print(peer_note)
    print()


# ---------------------------------------------------------------- sections


def throughput(
    images: dict[str, np.ndarray],
    oculi1: dict[str, FaceAnalyzer],
    oculi2: dict[str, FaceAnalyzer],
    peers: dict[str, Fn],
    s: Settings,
    pool: ThreadPoolExecutor,
) -> None:
    print("== 1. Throughput, images/s: median (min-max) over repeats ==")
    methods: list[tuple[str, Fn, Fn | None, bool]] = [
        ("oculi yunet detect", oculi1["yunet"].detect, oculi2["yunet"].detect, False),
        (
            "oculi DEFAULT (yunet+mesh+pose+quality)",
            oculi1["yunet"].analyze,
            oculi2["yunet"].analyze,
            False,
        ),
        (
            "oculi retinaface detect",
            oculi1["retinaface"].detect,
            oculi2["retinaface"].detect,
            False,
        ),
        *[(name, fn, None, True) for name, fn in peers.items()],
    ]
    configs: list[Config] = []
    for name, fn1, fn2, peer in methods:
        configs.append(Config(name, SINGLE, fn1, 1, peer))
        if fn2 is not None:
            configs.append(Config(name, INTRA2, fn2, 1, peer))
        configs.append(Config(name, PY2 if peer else WORKERS2, fn1, 2, peer))
    hog_names = list(peers)
    for label, img in images.items():
        counts: dict[str, int] = {}
        for c in configs:
            if c.workers > 1:
                warm_pool(c.fn, img, pool, c.workers)
                continue
            c.fn(img)
            c.fn(img)
            if c.mode == SINGLE:
                counts[c.method] = images_for(c.fn, img, s)
        rates: dict[tuple[str, str], list[float]] = {(c.method, c.mode): [] for c in configs}
        cpu: dict[tuple[str, str], list[float]] = {(c.method, c.mode): [] for c in configs}
        for _ in range(s.repeat):
            for c in configs:
                batch = [img] * counts[c.method]
                rate, busy = run_images(c.fn, batch, c.workers, pool)
                rates[(c.method, c.mode)].append(rate)
                cpu[(c.method, c.mode)].append(busy)
        print(f"\n{label}")
        rows = []
        for c in configs:
            r = rates[(c.method, c.mode)]
            scale = np.array(r) / np.array(rates[(c.method, SINGLE)])
            row = [
                c.method,
                c.mode,
                str(counts[c.method]),
                fmt_rate(r),
                f"{median(cpu[(c.method, c.mode)]):.2f}",
                f"{np.median(scale):.2f}x",
            ]
            for hog in hog_names:
                if c.peer:
                    row.append("")
                    continue
                base = rates[(hog, SINGLE if c.mode == SINGLE else PY2)]
                row.append(f"{np.median(np.array(r) / np.array(base)):.1f}x")
            rows.append(row)
        print(
            table(
                [
                    "method",
                    "parallelism",
                    "n/run",
                    "images/s",
                    "CPU/wall",
                    "vs own 1 thread",
                    *(f"oculi/{h.split(' (')[0]}" for h in hog_names),
                ],
                rows,
            )
        )
    print(
        "\nn/run: images per timed run. CPU/wall: this process's CPU seconds per wall "
        "second (median), i.e. cores it kept busy. Ratios are medians of per-repeat ratios "
        "(same repeat, same image)."
        + (
            " oculi/HOG compares like parallelism: 1 thread with HOG 1 thread, and both "
            "2-thread modes with HOG on 2 Python threads."
            if peers
            else ""
        )
        + "\n"
    )


def stages(
    images: dict[str, np.ndarray],
    oculi1: dict[str, FaceAnalyzer],
    oculi2: dict[str, FaceAnalyzer],
    s: Settings,
) -> None:
    print(
        "== 2. Full DEFAULT analysis (yunet), ms per stage: median over "
        f"{s.stage_calls * s.repeat} calls =="
    )
    cols: list[tuple[str, dict[str, float], int]] = []
    for label, img in images.items():
        size = label.split()[0]
        for threads, analyzer in ((1, oculi1["yunet"]), (2, oculi2["yunet"])):
            per_call: list[dict[str, float]] = []
            for _ in range(s.stage_calls * s.repeat):
                t = Timings()
                t0 = time.perf_counter()
                faces = analyzer.analyze(img, timings=t)
                per_call.append({**t.ms, "total (wall)": (time.perf_counter() - t0) * 1000})
            keys = dict.fromkeys(k for c in per_call for k in c)
            med = {k: median([c.get(k, 0.0) for c in per_call]) for k in keys}
            cols.append((f"{size} threads={threads}", med, len(faces)))
    names = list(cols[0][1])
    rows = [[n, *(f"{c[1][n]:.2f}" for c in cols)] for n in names]
    rows.append(["mesh per face", *(f"{c[1]['mesh'] / max(c[2], 1):.2f}" for c in cols)])
    rows.append(["faces", *(str(c[2]) for c in cols)])
    print(table(["stage", *(c[0] for c in cols)], rows))
    print()


def detection_accuracy(
    voc: list[VocImage], oculi1: dict[str, FaceAnalyzer], peers: dict[str, Fn], s: Settings
) -> None:
    n_labels = sum(len(v.boxes) for v in voc)
    print(
        f"== 3. Face detection on dlib's PASCAL VOC photos ({len(voc)} images, {n_labels} "
        "faces; match: IoU >= 0.3 or label centre in box, one-to-one, greedy by score) =="
    )
    dets: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        f"oculi {name}": functools.partial(oculi_boxes, a) for name, a in oculi1.items()
    }
    dets.update({name: functools.partial(peer_boxes, f) for name, f in peers.items()})
    timed: dict[str, Fn] = {**dets, **{f"oculi {n} DEFAULT": a.analyze for n, a in oculi1.items()}}
    for fn in timed.values():
        fn(voc[0].rgb)
    rates: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(s.repeat):
        for name, fn in timed.items():
            t0 = time.perf_counter()
            for v in voc:
                fn(v.rgb)
            rates[name].append(len(voc) / (time.perf_counter() - t0))
    rows = []
    for name, det in dets.items():
        found = fps = 0
        for v in voc:
            boxes = det(v.rgb)
            pairs = match(boxes, v.boxes)
            found += len(pairs)
            fps += len(boxes) - len(pairs)
        full = rates.get(f"{name} DEFAULT")
        rows.append(
            [
                name,
                f"{found}/{n_labels}",
                str(fps),
                f"{found / n_labels:.2f}",
                f"{found / max(found + fps, 1):.2f}",
                fmt_rate(rates[name]),
                fmt_rate(full) if full else "-",
            ]
        )
    print(
        table(
            [
                "detector",
                "found",
                "false pos",
                "recall",
                "precision",
                "detect images/s",
                "DEFAULT images/s",
            ],
            rows,
        )
    )
    print(
        "single-threaded (oculi threads=1); images/s: median (min-max) over "
        f"{s.repeat} passes over the {len(voc)} photos. oculi upscales images whose long "
        "side is under 640 px to 640 before detecting. Unlabelled real faces count as "
        "false positives.\n"
    )


def landmark_accuracy(voc: list[VocImage], oculi1: dict[str, FaceAnalyzer]) -> None:
    print(
        "== 4. Landmark error vs dlib's 68 points (from dlib's shape predictor), mean "
        "|oculi - dlib| / inter-ocular distance, on matched faces =="
    )
    errors: dict[str, dict[str, list[float]]] = {}
    jaw: dict[str, list[np.ndarray]] = {}  # approx landmark -> per face, error to 0..16
    for det, analyzer in oculi1.items():
        errs: dict[str, list[float]] = {n: [] for n in DLIB68}
        for v in voc:
            boxes, lms = by_score(analyzer, v.rgb, True)
            for i, j in match(boxes, v.lm_boxes):
                pts = v.parts[j]
                iod = float(np.linalg.norm(pts[42:48].mean(0) - pts[36:42].mean(0)))
                for name, (idx, approx) in DLIB68.items():
                    got = lms[i, LANDMARK_NAMES.index(name)]
                    errs[name].append(float(np.linalg.norm(got - pts[list(idx)].mean(0))) / iod)
                    if approx and det == "yunet":
                        jaw.setdefault(name, []).append(
                            np.linalg.norm(pts[:17] - got, axis=1) / iod
                        )
        errors[det] = errs
    dets = list(errors)
    rows = []
    for name, (idx, approx) in DLIB68.items():
        ref = (
            f"mean({idx[0]}..{idx[-1]})"
            if len(idx) > 2
            else (f"mean({idx[0]},{idx[1]})" if len(idx) == 2 else str(idx[0]))
        )
        cells = [
            f"{np.mean(errors[d][name]):.3f}"
            + (" !" if np.mean(errors[d][name]) > SUSPICIOUS else "")
            for d in dets
        ]
        rows.append([name, ref + (" (approx)" if approx else ""), *cells])
    exact = [n for n, (_, approx) in DLIB68.items() if not approx]
    rows.append(
        [
            "overall, exact only",
            f"{len(exact)} landmarks",
            *(f"{np.mean([np.mean(errors[d][n]) for n in exact]):.3f}" for d in dets),
        ]
    )
    rows.append(
        [
            "overall, all",
            f"{len(DLIB68)} landmarks",
            *(f"{np.mean([np.mean(errors[d][n]) for n in DLIB68]):.3f}" for d in dets),
        ]
    )
    rows.append(["faces matched", "", *(str(len(errors[d]["nose"])) for d in dets)])
    print(table(["landmark", "dlib 68 index", *(f"oculi {d}" for d in dets)], rows))
    skipped = [n for n in LANDMARK_NAMES if n not in DLIB68]
    print(
        f"'!' marks a mean error > {SUSPICIOUS}. Not compared (no dlib counterpart): "
        f"{', '.join(skipped)}. (approx): dlib's jaw contour point nearest in meaning."
    )
    nearest = []
    for name, per_face in jaw.items():
        mean = np.mean(per_face, axis=0)
        nearest.append(f"{name} {int(np.argmin(mean))} ({mean.min():.3f})")
    print(
        "Nearest dlib jaw point (0-16) on average to oculi yunet's jaw landmarks (error): "
        + ", ".join(nearest)
        + "."
    )


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, help="repeats per measurement (default 7, 2 if --quick)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="short measurements and 2 repeats: a smoke run, not numbers to quote",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"the dev-data folder (default {DEFAULT_DATA})",
    )
    a = p.parse_args(argv)
    repeat = a.repeat or (2 if a.quick else 7)
    if repeat < 1:
        p.error("--repeat must be at least 1")
    if a.quick:
        return Settings(repeat, target_s=0.25, min_images=2, stage_calls=3), a.data
    return Settings(repeat, target_s=1.0, min_images=4, stage_calls=10), a.data


def main(argv: Sequence[str] | None = None) -> None:
    s, data = parse_args(argv)
    if not (data / VOC_DIR).is_dir():
        raise SystemExit(f"no dev-data at {data}; pass --data DIR")
    peers, peer_note = load_peer()
    header(s, peer_note)
    oculi1 = {
        d: load_face_analyzer(detector=d, threads=1, device="cpu", auto_fetch=False)
        for d in ("yunet", "retinaface", "yunet+retinaface")
    }
    oculi2 = {
        d: load_face_analyzer(detector=d, threads=2, device="cpu", auto_fetch=False)
        for d in ("yunet", "retinaface")
    }
    images = {
        "640x480 portrait: obama-720p.jpg centre-cropped to 4:3 and resized, "
        "1 face": portrait_640x480(data),
        "1280x720 group: dlib_faces_voc/2007_007763.jpg (500x375, 7 labelled faces) upscaled "
        "1.92x to 960x720, padded with black to 1280x720": group_1280x720(data),
    }
    voc = load_voc(data)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        throughput(images, oculi1, oculi2, peers, s, pool)
    stages(images, oculi1, oculi2, s)
    detection_accuracy(voc, oculi1, peers, s)
    landmark_accuracy(voc, oculi1)
    print(f"\nbench time {time.perf_counter() - t0:.0f} s; load average at end: {load()}")


if __name__ == "__main__":
    main()
