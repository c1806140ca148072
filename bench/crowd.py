"""Faces in crowds: detection recall and redaction coverage by face height, per setting.

    python bench/crowd.py ../shared/dev-data/eval-dev/wider_crowd_dev [--half fit|held-out]
                          [--limit N] [--scales 1,2] [--persons] [--time REPEAT]

The photos (WIDER FACE's format: gt.txt holds each file, its face count, then
`x y w h blur expression illumination invalid occlusion pose` per face; faces marked
invalid are skipped) are split into two fixed halves by their sorted names: even positions
are the fit half (settings are chosen on it), odd ones the held-out half (figures are
reported from it).

Each detector runs once per photo and scale, as oculi runs it (FaceAnalyzer.passes: the
photo sized for detection, upscaled passes tiled), with a low raw score threshold (0.3);
its boxes, raw scores and milliseconds are cached under ~/.cache/oculi-bench/crowd. A
setting keeps the boxes above its threshold from its detectors and scales and merges them
as FaceAnalyzer.detect does; the same result as running it (a box over a threshold is
suppressed only by a higher-scoring box), at a fraction of the time.

Per face-height band (labelled box height, 8-16, 16-32, 32-64, 64+ pixels):
- detected: a box with IoU >= 0.5 with the labelled box (WIDER's criterion);
- covered: at least 90% of the labelled box's pixels lie under the redaction mask, the
  very mask oculi's `redact` draws (ellipses over the boxes grown by the margin);
false detections per photo: boxes with IoU < 0.3 with every labelled box (invalid and
tiny ones included; WIDER leaves some faces unlabelled, so this is an upper bound);
ms per photo: the detection passes' time summed, as cached when first run (redaction
itself adds a few ms); median and mean over the photos.

DetectFaces rows answer the 100 largest faces; "crowd search" rows are DetectFaces as it
runs now (FaceAnalyzer.detect_in_crowds): YuNet at scale 1 and, where it finds a face under
the given height, both detectors at scales 1 and 2 instead, from the given raw score (tiny
faces from a higher one). `--time REPEAT` also times DetectFaces end to end (detection,
mesh, pose, quality) before and with the crowd search, on two ordinary photos and four
group photos of tests/fixtures and the half's first photos.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from oculi.models.zoo import load_face_analyzer
from oculi.service.detect_faces import detect_faces
from oculi.service.labels import shared_label_detectors
from oculi.service.ppe import PersonFinder, person_finder
from oculi.service.redact import RedactOptions
from oculi.vision.decode import decode
from oculi.vision.faces import CROWD_SEARCH, CrowdSearch, FaceAnalyzer, finish, resize_for_detection
from oculi.vision.nms import iou_matrix
from oculi.vision.pyramid import merge
from oculi.vision.redact import redact
from oculi.vision.types import FaceDetections

BANDS = ((8, 16), (16, 32), (32, 64), (64, 1 << 30))
DETECTORS = ("yunet", "retinaface")
CACHE_SCORE = 0.3
CACHE = Path.home() / ".cache" / "oculi-bench" / "crowd"
MERGE_IOU = FaceAnalyzer(detectors=[]).merge_iou
ORDINARY = ("two_people.jpg", "obama-480p.jpg")  # tests/fixtures: one or two faces
# tests/fixtures: group photos of 7-10 faces (dlib's labelled PASCAL VOC photos)
GROUPS = ("2007_007763.jpg", "2008_002079.jpg", "2008_004176.jpg", "2008_007676.jpg")
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


@dataclass(frozen=True)
class Photo:
    path: Path
    boxes: np.ndarray  # (N, 4) x1 y1 x2 y2 of the valid labelled faces
    others: np.ndarray  # every labelled box, invalid ones too


@dataclass(frozen=True)
class Setting:
    name: str
    detectors: tuple[str, ...]
    scales: tuple[float, ...]
    min_score: float
    margin: float
    largest: int | None = None  # DetectFaces answers the 100 largest
    persons: bool = False  # persons=1: every person box covered too
    # DetectFaces' crowd search: where the pass above finds a small face, both detectors
    # at the search's scales and score instead (FaceAnalyzer.detect_in_crowds)
    crowd: CrowdSearch | None = None


def read_gt(root: Path) -> list[Photo]:
    lines = (root / "gt.txt").read_text().split("\n")
    out, i = [], 0
    while i < len(lines) and lines[i].strip():
        name, n = lines[i].strip(), int(lines[i + 1])
        rows = [list(map(int, lines[i + 2 + k].split()[:8])) for k in range(n)]
        i += 2 + max(n, 1)
        every = np.array([[x, y, x + w, y + h] for x, y, w, h, *_ in rows], np.float32)
        valid = np.array([r[7] == 0 and r[2] > 0 and r[3] > 0 for r in rows], bool)
        out.append(Photo(root / "images" / name, every[valid].reshape(-1, 4), every.reshape(-1, 4)))
    return sorted(out, key=lambda p: str(p.path))


Parts = dict[tuple[str, float], tuple[FaceDetections, float]]  # (detector, scale) -> faces, ms


def cached_parts(
    analyzers: dict[str, FaceAnalyzer],
    photo: Photo,
    scales: tuple[float, ...],
    persons: PersonFinder | None = None,
) -> tuple[Parts, float, tuple[int, int]]:
    """Each detector's faces at each scale (in the detection-sized image's pixels), with
    the ms it took, and with `persons` the person boxes (in the photo's pixels, part
    ("persons", 0)); the factor back to the photo's pixels; its width and height."""
    rgb = decode(photo.path.read_bytes()).rgb
    h, w = rgb.shape[:2]
    any_analyzer = next(iter(analyzers.values()))
    img, factor = resize_for_detection(rgb, any_analyzer.max_side, any_analyzer.min_side)
    parts: Parts = {}
    runs: list[tuple[str, float, Callable[[], FaceDetections]]] = [
        (name, scale, partial(lambda a, sc: a.passes(img, (sc,))[0], analyzer, scale))
        for name, analyzer in analyzers.items()
        for scale in scales
    ]
    if persons is not None:
        runs.append(("persons", 0.0, partial(as_faces, persons, rgb)))
    for name, scale, run in runs:
        file = CACHE / f"{photo.path.parent.name}_{photo.path.stem}_{name}_{scale:g}.npz"
        if not file.exists():
            t = time.perf_counter()
            faces = run()
            ms = (time.perf_counter() - t) * 1000
            raw = faces.extra.get("raw_score", faces.scores)
            CACHE.mkdir(parents=True, exist_ok=True)
            np.savez(file, boxes=faces.boxes, raw=raw, ms=ms)
        z = np.load(file)
        n = len(z["boxes"])
        faces = FaceDetections(
            boxes=z["boxes"],
            scores=z["raw"],
            keypoints=np.zeros((n, 5, 2), np.float32),
            extra={"raw_score": z["raw"]},
        )
        parts[(name, scale)] = (faces, float(z["ms"]))
    return parts, factor, (w, h)


def as_faces(persons: PersonFinder, rgb: np.ndarray) -> FaceDetections:
    """Person boxes and scores as FaceDetections (no keypoints), to be cached as one."""
    boxes, scores = persons(rgb)
    n = len(boxes)
    return FaceDetections(
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        scores=np.asarray(scores, np.float32),
        keypoints=np.zeros((n, 5, 2), np.float32),
    )


def faces_of(
    detectors: tuple[str, ...],
    scales: tuple[float, ...],
    min_score: float,
    parts: Parts,
    factor: float,
    size: tuple[int, int],
) -> tuple[FaceDetections, float]:
    """The detectors' faces at these scales from `min_score`, merged, in the photo's
    pixels, and the ms their passes took."""
    chosen = [parts[(d, sc)] for sc in scales for d in detectors]
    kept = [f.take(np.nonzero(f.extra["raw_score"] >= min_score)[0]) for f, _ in chosen]
    return finish(merge(kept, MERGE_IOU), factor, *size), sum(ms for _, ms in chosen)


def boxes_of(
    s: Setting, parts: Parts, factor: float, size: tuple[int, int]
) -> tuple[np.ndarray, float, bool]:
    """The setting's merged boxes in the photo's pixels, the ms its passes took, and
    whether DetectFaces' crowd search ran."""
    faces, ms = faces_of(s.detectors, s.scales, s.min_score, parts, factor, size)
    searched = s.crowd is not None and s.crowd.needed(faces, 1.0 / factor)
    if s.crowd is not None and searched:
        faces, more = faces_of(DETECTORS, s.crowd.scales, s.crowd.min_score, parts, factor, size)
        faces = s.crowd.kept(faces, 1.0 / factor)
        ms += more
    if s.largest is not None:
        faces = faces.take(np.arange(min(len(faces), s.largest)))
    if not s.persons:
        return faces.boxes, ms, searched
    people, t = parts[("persons", 0.0)]
    return np.concatenate([faces.boxes, people.boxes]), ms + t, searched


def covered_fraction(
    gt: np.ndarray, boxes: np.ndarray, margin: float, size: tuple[int, int]
) -> np.ndarray:
    """For each labelled box, the fraction of its pixels under oculi's redaction mask."""
    w, h = size
    mask = redact(np.full((h, w), 255, np.uint8), boxes, "fill", margin) == 0
    out = np.zeros(len(gt))
    for i, (x1, y1, x2, y2) in enumerate(gt.astype(int)):
        region = mask[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
        out[i] = region.mean() if region.size else 1.0
    return out


def evaluate(s: Setting, photos: list[Photo], data: list) -> str:
    det = np.zeros((len(BANDS), 2), int)
    cov = np.zeros((len(BANDS), 2), int)
    false = searched = 0
    ms = []
    for photo, (parts, factor, size) in zip(photos, data, strict=True):
        boxes, t, search = boxes_of(s, parts, factor, size)
        ms.append(t)
        searched += search
        gt = photo.boxes
        heights = gt[:, 3] - gt[:, 1]
        hit = (iou_matrix(gt, boxes) >= 0.5).any(axis=1) if len(boxes) else np.zeros(len(gt), bool)
        under = covered_fraction(gt, boxes, s.margin, size) >= 0.9
        for b, (lo, hi) in enumerate(BANDS):
            inband = (heights >= lo) & (heights < hi)
            det[b] += int((hit & inband).sum()), int(inband.sum())
            cov[b] += int((under & inband).sum()), int(inband.sum())
        if len(boxes):
            false += int((iou_matrix(boxes, photo.others).max(axis=1, initial=0) < 0.3).sum())
    bands = " ".join(f"{d[0] / max(1, d[1]):.2f}" for d in det)
    covs = " ".join(f"{c[0] / max(1, c[1]):.2f}" for c in cov)
    return (
        f"{s.name:<44} detected {bands} | covered {covs} | "
        f"false/photo {false / len(photos):5.1f} | ms/photo median {np.median(ms):5.0f} "
        f"mean {np.mean(ms):5.0f}" + (f" | searched {searched}" if s.crowd else "")
    )


def settings(scales: tuple[float, ...], persons: bool) -> list[Setting]:
    both = DETECTORS
    out = [
        Setting("DetectFaces (yunet, 0.6, 100 largest)", ("yunet",), (1.0,), 0.6, 0.25, 100),
    ]
    up = (1.0, *(s for s in scales if s > 1))
    searches = [CrowdSearch(48.0, up, score, tiny_score=score) for score in (0.6, 0.5)] + [
        CrowdSearch(below, up, score, tiny_score=0.7)
        for below, score in ((32.0, 0.5), (48.0, 0.5), (48.0, 0.4))
    ]
    for search in searches if len(up) > 1 else []:
        out.append(
            Setting(
                f"DetectFaces, crowd search <{search.below:g}px both "
                f"{search.min_score} (<{search.tiny:g}px {search.tiny_score})",
                ("yunet",),
                (1.0,),
                0.6,
                0.25,
                100,
                crowd=search,
            )
        )
    out += [
        Setting("old redact (both, x1, 0.6, m0.25)", both, (1.0,), 0.6, 0.25),
    ]
    for up in [s for s in scales if s > 1]:
        for dets in (("yunet",), both):
            name = "+".join(dets)
            out.append(
                Setting(
                    f"DetectFaces x1+x{up:g} ({name}, 0.6, 100)", dets, (1.0, up), 0.6, 0.25, 100
                )
            )
    for combo in [(1.0,)] + [(1.0, s) for s in scales if s > 1]:
        tag = "+".join(f"x{c:g}" for c in combo)
        for score in (0.5, 0.4, 0.3):
            for margin in (0.25, 0.4, 0.5, 0.6):
                out.append(
                    Setting(f"redact both {tag} {score} m{margin}", both, combo, score, margin)
                )
    if persons:
        d = RedactOptions()
        out.append(
            Setting("default + persons=1", both, d.scales, d.min_score, d.margin, None, True)
        )
    return out


def is_default(s: Setting) -> bool:
    d = RedactOptions()
    return (s.detectors, s.scales, s.min_score, s.margin, s.largest, s.persons) == (
        DETECTORS,
        d.scales,
        d.min_score,
        d.margin,
        None,
        d.persons,
    )


def time_detect_faces(photos: list[Path], repeat: int, threads: int) -> None:
    """DetectFaces as the API runs it (detection, mesh, pose, quality), without and with
    the crowd search, in turns: the median ms of `repeat` runs per photo, and its faces."""
    first = load_face_analyzer(detector="yunet", threads=threads)
    both = load_face_analyzer(detector="yunet+retinaface", threads=threads)
    runs = {
        "before (yunet, one pass)": lambda rgb: detect_faces(first, rgb, None),
        "now (crowd search)": lambda rgb: detect_faces(first, rgb, None, crowd=lambda: both),
    }
    for path in photos:
        rgb = decode(path.read_bytes()).rgb
        ms: dict[str, list[float]] = {name: [] for name in runs}
        found = {}
        for _ in range(repeat):
            for name, run in runs.items():
                t = time.perf_counter()
                found[name] = len(run(rgb).faces)
                ms[name].append((time.perf_counter() - t) * 1000)
        cells = " | ".join(
            f"{name}: {found[name]:3d} faces {np.median(ms[name]):6.0f} ms" for name in runs
        )
        print(f"{path.name:<36} {cells}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--half", choices=["fit", "held-out"], default="fit")
    ap.add_argument("--limit", type=int, help="first N photos of the half (exploring)")
    ap.add_argument("--scales", default="1,2", help="detection scales to run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--persons", action="store_true", help="also time persons=1")
    ap.add_argument(
        "--time",
        type=int,
        metavar="REPEAT",
        help="also time DetectFaces on tests/fixtures' ordinary and group photos and the "
        "half's first --time-crowd photos (median of REPEAT runs each)",
    )
    ap.add_argument("--time-crowd", type=int, default=5)
    a = ap.parse_args()
    photos = read_gt(a.root)[0 if a.half == "fit" else 1 :: 2][: a.limit]
    scales = tuple(float(s) for s in a.scales.split(","))
    analyzers = {
        d: load_face_analyzer(detector=d, threads=a.threads).lowered(CACHE_SCORE) for d in DETECTORS
    }
    finder = None
    if a.persons:
        finder = person_finder(shared_label_detectors(None, a.threads, "auto").persons)
    data = [cached_parts(analyzers, p, scales, finder) for p in photos]
    faces = sum(len(p.boxes) for p in photos)
    counts = [
        sum(
            int(((h := p.boxes[:, 3] - p.boxes[:, 1]) >= lo).sum() - (h >= hi).sum())
            for p in photos
        )
        for lo, hi in BANDS
    ]
    print(
        f"{a.half} half: {len(photos)} photos, {faces} labelled faces; per band "
        f"{'/'.join(f'{lo}-{hi}' if hi < 1e6 else f'{lo}+' for lo, hi in BANDS)} px high: "
        f"{' '.join(map(str, counts))} faces"
    )
    for s in settings(scales, a.persons):
        mark = " (default)" if is_default(s) else ""
        if s.crowd == CROWD_SEARCH:
            mark = " (DetectFaces default)"
        print(evaluate(s, photos, data) + mark, flush=True)
    if a.time:
        ordinary = [FIXTURES / name for name in ORDINARY + GROUPS]
        crowd = [p.path for p in photos[: a.time_crowd]]
        time_detect_faces(ordinary + crowd, a.time, a.threads)


if __name__ == "__main__":
    main()
