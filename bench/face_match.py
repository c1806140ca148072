"""Benchmark oculi's face matching (SFace embeddings, cosine -> Similarity) on labelled photos.

Prints three plain-text sections:

1. pair verification, for SFace with and without horizontal-flip test-time augmentation:
   best accuracy, miss rate at false-match rates of 1% and 0, and for the similarity map in
   oculi/vision/similarity.py the false-match rate (FMR: different-person pairs with
   Similarity at or above the threshold) and miss rate (FNMR: same-person pairs below it) at
   Similarity thresholds 80, 90, 95 and 99, with counts. Two pair sets: the labelled pairs
   of deepface_pairs/pairs_all.csv (duplicates merged), and all pairs within and between the
   identities of deepface's identity clusters and of face_recognition's knn examples (no
   pair across the two sets, as their identities were never cross-checked);
2. 1:N search rank-1: face_recognition's knn train photos enrolled, its test photos' faces
   as queries (the named people in two-person photos are told apart by position), and
   deepface's clusters (first photo of each enrolled, the rest queried);
3. embedding milliseconds per face, single-threaded.

The photo's largest face is used, as CompareFaces and SearchFacesByImage do. Everything runs
on the CPU from local files: oculi's models must already be fetched (`oculi models fetch`),
and nothing is downloaded.

    python bench/face_match.py [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import io
import itertools
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from oculi.errors import InvalidImageFormat
from oculi.models.zoo import load_face_analyzer, load_face_embedder
from oculi.vision import similarity as simmap
from oculi.vision.decode import decode
from oculi.vision.embed import DIM, FaceEmbedder
from oculi.vision.types import FaceDetections

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "dev-data"
DEEPFACE = "deepface_pairs"
KNN = "face_recognition_examples/examples/knn_examples"
FLIP, NO_FLIP = "SFace + flip TTA", "SFace, no flip"
VARIANTS = (FLIP, NO_FLIP)
THRESHOLDS = (80.0, 90.0, 95.0, 99.0)
TIMING_RUNS = 3  # each face is embedded this often; the fastest run is its time
# The labelled people of each knn test photo, left to right (from the file names); they are
# its largest faces. Further faces (a child behind Obama and Biden) are not enrolled people.
TEST_PEOPLE: dict[str, tuple[str, ...]] = {
    "alex_lacamoire1.jpg": ("alex_lacamoire",),
    "johnsnow_test1.jpg": ("kit_harington",),  # Kit Harington as Jon Snow
    "kit_with_rose.jpg": ("rose_leslie", "kit_harington"),
    "obama1.jpg": ("obama",),
    "obama_and_biden.jpg": ("biden", "obama"),
}


@dataclass(frozen=True)
class Face:
    identity: str | None  # None: a face of someone not enrolled and not labelled
    name: str  # the photo's file name, with the face's position when it shows several
    emb: dict[str, np.ndarray]  # variant -> (128,) unit vector


@dataclass(frozen=True)
class Pairs:
    title: str
    cos: dict[str, np.ndarray]  # variant -> (P,) cosine of each pair
    same: np.ndarray  # (P,) bool


class Pipeline:
    """YuNet and the two SFace variants, single-threaded on the CPU, from local models."""

    def __init__(self, timing_runs: int) -> None:
        self.timing_runs = timing_runs
        self.analyzer = load_face_analyzer(threads=1, device="cpu", auto_fetch=False)
        flip = load_face_embedder(threads=1, device="cpu", auto_fetch=False)
        self.embedders = {FLIP: flip, NO_FLIP: FaceEmbedder(flip.model, flip=False)}
        self.ms: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}  # per face, per run
        self.via_pillow: list[str] = []

    def read(self, path: Path) -> np.ndarray:
        data = path.read_bytes()
        try:
            return decode(data).rgb
        except InvalidImageFormat:  # deepface's img47.jpg is WebP, which Rekognition refuses
            self.via_pillow.append(path.name)
            with Image.open(io.BytesIO(data)) as im:
                return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))

    def faces(self, path: Path, n: int = 1) -> tuple[FaceDetections, dict[str, np.ndarray]]:
        """The n largest faces of the photo (all if n is 0) and their (k, 128) embeddings by
        variant, each face embedded and timed on its own."""
        rgb = self.read(path)
        faces = self.analyzer.detect(rgb)
        if not len(faces):
            raise SystemExit(f"no face found in {path}")
        faces = faces.take(np.arange(min(n or len(faces), len(faces))))
        out = {}
        for variant, embed in self.embedders.items():
            rows = []
            for i in range(len(faces)):
                one = faces.take(np.array([i]))
                runs = []
                for _ in range(self.timing_runs):
                    t0 = time.perf_counter()
                    e = embed(rgb, one)[0]
                    runs.append((time.perf_counter() - t0) * 1000)
                rows.append(e)
                self.ms[variant].append(runs)
            out[variant] = np.asarray(rows, np.float32).reshape(-1, DIM)
        return faces, out


# ---------------------------------------------------------------- data


def load_deepface(data: Path, pipe: Pipeline) -> tuple[dict[str, Face], list[list[str]]]:
    """The clustered photos by file name (their largest face), and the labelled pair rows."""
    root = data / DEEPFACE
    with open(root / "identity_clusters_from_yes_pairs.csv", newline="") as f:
        clusters = [(r["cluster_id"], r["file"]) for r in csv.DictReader(f)]
    faces = {}
    for cluster, name in clusters:
        _, emb = pipe.faces(root / "images" / name)
        faces[name] = Face(f"deepface cluster {cluster}", name, {v: e[0] for v, e in emb.items()})
    with open(root / "pairs_all.csv", newline="") as f:
        rows = [[r["image_a"], r["image_b"], r["same"]] for r in csv.DictReader(f)]
    return faces, rows


def load_knn(data: Path, pipe: Pipeline) -> tuple[list[Face], list[Face]]:
    """Enrolled faces (train/<person>/*, largest face) and query faces (test/*, all faces;
    the labelled people are the largest ones, named left to right)."""
    root = data / KNN
    train = []
    for path in sorted((root / "train").glob("*/*")):
        _, emb = pipe.faces(path)
        train.append(
            Face(
                path.parent.name,
                f"{path.parent.name}/{path.name}",
                {v: e[0] for v, e in emb.items()},
            )
        )
    test = []
    for name, people in TEST_PEOPLE.items():
        det, emb = pipe.faces(root / "test" / name, n=0)
        if len(det) < len(people):
            raise SystemExit(f"{name}: {len(det)} faces found, {len(people)} people labelled")
        centre_x = (det.boxes[: len(people), 0] + det.boxes[: len(people), 2]) / 2
        identity: dict[int, str | None] = dict(zip(np.argsort(centre_x).tolist(), people))
        for i in range(len(det)):
            where = "" if len(det) == 1 else f" face {i + 1} of {len(det)} by size"
            test.append(Face(identity.get(i), name + where, {v: e[i] for v, e in emb.items()}))
    return train, test


def labelled_pairs(faces: dict[str, Face], rows: list[list[str]]) -> Pairs:
    """pairs_all.csv with repeated pairs merged (its two source files overlap)."""
    label = {tuple(sorted((a, b))): s == "1" for a, b, s in rows}
    keys = sorted(label)
    same = np.array([label[k] for k in keys])
    cos = {v: np.array([faces[a].emb[v] @ faces[b].emb[v] for a, b in keys]) for v in VARIANTS}
    title = (
        f"labelled pairs: deepface pairs_all.csv, {len(rows)} rows = {len(keys)} distinct "
        f"pairs ({same.sum()} same, {(~same).sum()} different person)"
    )
    return Pairs(title, cos, same)


def all_pairs(groups: dict[str, list[Face]]) -> Pairs:
    """Every pair of labelled faces within each group (none across groups)."""
    pairs = [
        p
        for faces in groups.values()
        for p in itertools.combinations([f for f in faces if f.identity], 2)
    ]
    same = np.array([a.identity == b.identity for a, b in pairs])
    cos = {v: np.array([a.emb[v] @ b.emb[v] for a, b in pairs]) for v in VARIANTS}
    parts = []
    for name, faces in groups.items():
        labelled = [f for f in faces if f.identity]
        k = len({f.identity for f in labelled})
        n_same = sum(a.identity == b.identity for a, b in itertools.combinations(labelled, 2))
        n_all = len(labelled) * (len(labelled) - 1) // 2
        parts.append(
            f"{name}: {len(labelled)} faces of {k} identities, {n_same} same + "
            f"{n_all - n_same} different"
        )
    title = (
        f"all pairs: {same.sum()} same, {(~same).sum()} different person ("
        + "; ".join(parts)
        + "; no pairs across the two sets)"
    )
    return Pairs(title, cos, same)


# ---------------------------------------------------------------- measures


def count(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.2f}%)" if n else "0/0"


def best_accuracy(cos: np.ndarray, same: np.ndarray) -> str:
    """Best accuracy of 'match if cosine >= t' over t, and the interval of t reaching it."""
    scores = np.unique(cos)
    correct = np.array([np.sum((cos >= t) == same) for t in scores])
    best = int(correct.max())
    hi = float(scores[correct == best].max())
    lo = float(scores[scores < scores[correct == best].min()].max(initial=-1.0))
    return f"{100 * best / len(cos):.2f}% at t in ({lo:.3f}, {hi:.3f}]"


def fmr_edge(cos: np.ndarray, same: np.ndarray, fmr: float) -> float:
    """The cosine above which at most `fmr` of the different-person pairs lie (-1 if all
    may)."""
    diff = np.sort(cos[~same])[::-1]
    allowed = int(math.floor(fmr * len(diff) + 1e-9))
    return float(diff[allowed]) if allowed < len(diff) else -1.0


def miss_at_fmr(cos: np.ndarray, same: np.ndarray, fmr: float) -> str:
    """FNMR when matches must lie above `fmr_edge`, and that edge."""
    edge = fmr_edge(cos, same, fmr)
    return f"{count(int(np.sum(cos[same] <= edge)), int(same.sum()))} above {edge:.3f}"


# ---------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(data: Path) -> None:
    def version(p: str) -> str:
        try:
            return importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    print("oculi face matching benchmark")
    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"cpu: {cpu_name()}, {os.cpu_count()} logical cores; "
        f"python {platform.python_version()}; onnxruntime {version('onnxruntime')}; "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(f"data: {data}; detector YuNet, largest face; threads=1, CPU, local models")
    print(
        f"similarity map (fitted by bench/identity.py): Similarity 99 at cosine "
        f"{simmap.COSINE_1E6:g}, {simmap.DECADES_PER_COSINE:g} decades of false-match rate "
        "per unit of cosine; "
        + ", ".join(
            f"Similarity {t:g} at cosine {simmap.cosine_at(t):.3f}" for t in (50.0, *THRESHOLDS)
        )
    )
    print()


def verification(sets: list[Pairs]) -> None:
    print(
        "== 1. Pair verification (match: cosine >= t; FMR: different-person pairs at or above "
        "the threshold, FNMR: same-person pairs below it) =="
    )
    for pairs in sets:
        same = pairs.same
        print(f"\n{pairs.title}")
        print(
            table(
                ["embedding", "best accuracy", "FNMR at FMR <= 1%", "FNMR at FMR = 0"],
                [
                    [
                        v,
                        best_accuracy(pairs.cos[v], same),
                        miss_at_fmr(pairs.cos[v], same, 0.01),
                        miss_at_fmr(pairs.cos[v], same, 0.0),
                    ]
                    for v in VARIANTS
                ],
            )
        )
        rows = []
        for t in THRESHOLDS:
            for v in VARIANTS:
                hit = simmap.similarity(pairs.cos[v]) >= t
                rows.append(
                    [
                        f"{t:g}",
                        f"{simmap.cosine_at(t):.3f}",
                        v,
                        count(int(np.sum(hit & ~same)), int((~same).sum())),
                        count(int(np.sum(~hit & same)), int(same.sum())),
                    ]
                )
        print(table(["Similarity >=", "cosine", "embedding", "FMR", "FNMR"], rows))
    print()


@dataclass(frozen=True)
class Hit:
    query: Face
    top: Face  # the enrolled face of highest Similarity
    cosine: float
    similarity: float
    other: float  # the highest Similarity among enrolled faces of other identities


def search(gallery: list[Face], probes: list[Face], variant: str) -> list[Hit]:
    g = np.stack([f.emb[variant] for f in gallery])
    hits = []
    for q in probes:
        cos = g @ q.emb[variant]
        sims = simmap.similarity(cos)
        top = int(np.argmax(cos))
        other = max(s for f, s in zip(gallery, sims) if f.identity != q.identity)
        hits.append(Hit(q, gallery[top], float(cos[top]), float(sims[top]), float(other)))
    return hits


def summary(hits: list[Hit]) -> str:
    known = [h for h in hits if h.query.identity]
    right = [h for h in known if h.top.identity == h.query.identity]
    parts = [f"rank-1 correct {len(right)}/{len(known)}"]
    for t in THRESHOLDS[0], THRESHOLDS[-1]:
        ok = sum(h.similarity >= t for h in right)
        wrong = sum(h.other >= t for h in known)
        parts.append(
            f"correct and >= {t:g}: {ok}/{len(known)}, another identity >= {t:g}: "
            f"{wrong}/{len(known)}"
        )
    strangers = [h.similarity for h in hits if not h.query.identity]
    if strangers:
        parts.append(
            f"not-enrolled faces >= {THRESHOLDS[0]:g}: "
            f"{sum(s >= THRESHOLDS[0] for s in strangers)}/{len(strangers)} "
            f"(top Similarity {max(strangers):.2f})"
        )
    return "; ".join(parts)


def one_to_n(train: list[Face], test: list[Face], deepface: dict[str, Face]) -> None:
    print("== 2. 1:N search, rank-1 (SearchFacesByImage-like: best enrolled face) ==")
    people = len({f.identity for f in train})
    print(
        f"\nface_recognition knn: {len(train)} train photos of {people} people enrolled, "
        f"{len(test)} faces of {len(TEST_PEOPLE)} test photos queried"
    )
    rows = [
        [
            h.query.name,
            h.query.identity or "(not enrolled)",
            str(h.top.identity),
            f"{h.cosine:.3f}",
            f"{h.similarity:.2f}",
            f"{h.other:.2f}",
        ]
        for h in search(train, test, FLIP)
    ]
    print(f"{FLIP}:")
    print(
        table(
            [
                "query face",
                "expected",
                "rank-1 identity",
                "cosine",
                "Similarity",
                "best other identity",
            ],
            rows,
        )
    )
    for v in VARIANTS:
        print(f"{v}: {summary(search(train, test, v))}")
    first: dict[str | None, Face] = {}
    for f in deepface.values():
        first.setdefault(f.identity, f)
    gallery = list(first.values())
    enrolled = {f.name for f in gallery}
    queries = [f for f in deepface.values() if f.name not in enrolled]
    print(
        f"\ndeepface clusters: first photo of each of {len(gallery)} clusters enrolled, "
        f"the other {len(queries)} queried"
    )
    for v in VARIANTS:
        print(f"{v}: {summary(search(gallery, queries, v))}")
    print()


def speed(pipe: Pipeline) -> None:
    print(
        f"== 3. Embedding time per face (alignment + SFace, 1 thread, CPU; each face embedded "
        f"{TIMING_RUNS} times) =="
    )
    rows = []
    for v, per_face in pipe.ms.items():
        best = [min(runs) for runs in per_face]
        every = [t for runs in per_face for t in runs]
        rows.append(
            [
                v,
                str(len(per_face)),
                f"{np.median(best):.1f}",
                f"{min(best):.1f}-{max(best):.1f}",
                f"{np.median(every):.1f}",
            ]
        )
    print(
        table(
            [
                "embedding",
                "faces",
                "median of fastest run, ms",
                "min-max",
                "median of all runs, ms",
            ],
            rows,
        )
    )
    print(
        f"load average {os.getloadavg()[0]:.1f} at the end (other processes slow the runs; "
        "the fastest of each face's runs is the least disturbed)\n"
    )


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"the dev-data folder (default {DEFAULT_DATA})",
    )
    a = p.parse_args(argv)
    if not (a.data / DEEPFACE).is_dir() or not (a.data / KNN).is_dir():
        raise SystemExit(f"no dev-data at {a.data}; pass --data DIR")
    t0 = time.perf_counter()
    header(a.data)
    pipe = Pipeline(TIMING_RUNS)
    deepface, rows = load_deepface(a.data, pipe)
    train, test = load_knn(a.data, pipe)
    everything = all_pairs(
        {
            "deepface clusters": list(deepface.values()),
            "face_recognition knn train+test": train + test,
        }
    )
    if pipe.via_pillow:
        print(
            f"decoded with Pillow (not JPEG or PNG, refused by oculi's decoder): "
            f"{', '.join(pipe.via_pillow)}\n"
        )
    verification([labelled_pairs(deepface, rows), everything])
    one_to_n(train, test, deepface)
    speed(pipe)
    print(f"run time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
