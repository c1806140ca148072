"""Identity matching on LFW's dev photos: fit the Similarity map on half of the people,
measure it and open-set search on the other half.

Each photo of shared/dev-data/eval-dev/lfw_dev goes through IndexFaces' pipeline (YuNet,
mesh, pose and quality, SFace with flip; single-threaded, CPU, local models) and its largest
face is kept, embedded once and cached (~/.cache/oculi/bench-data). The people are split in
two halves with a fixed seed. `--fit` prints, from every different-person pair of the fit
half (about two million), the straight line of decades of false-match rate on cosine that
oculi/vision/similarity.py uses. Without it, on the held-out half:

1. each Similarity level's stated false-match rate against the measured one (95% interval
   from resampling people), and the share of same-person pairs that reach it (TAR), for this
   map and the one it replaced;
2. LFW's 10-fold pair accuracy on pairs.csv, and TAR at FAR 1e-3 and 1e-4;
3. open-set search with galleries of 500 and 1,000 held-out people and 2,000 people of all
   of lfw_dev (fit half included: the held-out half has too few people): rank-1, FNIR at
   FPIR 1% and 0.1%, non-mated searches matched at Similarity 80/90/95/99, and at the
   default threshold (the floor 99 raised for the gallery's size, oculi.service.match_floor);
4. the share of photos IndexFaces indexes with QualityFilter AUTO, why the rest are not, and
   how often each reason's photos are found by search (each photo searched against every
   other photo of its half, at the default threshold) against the photos AUTO accepts; the
   fit half's table of confidence cut-offs that AUTO's bar was chosen from (the highest
   that indexes 97% of the fit half's photos);
5. milliseconds per face;
6. enrolling two photos of a person instead of one, and search with the probes that AUTO
   would refuse against those it accepts;
7. a User's score from their faces' scores, with two photos enrolled: the best face (what
   SearchUsers and SearchUsersByImage did before), the mean of the faces' scores, and the
   cosine to the mean of the faces' vectors (what they do now: oculi/service/users.py);
   then one summary table.

    python -m bench.identity [--fit] [--data DIR] [--cache DIR] [--reps N]
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oculi.models.zoo import load_face_analyzer, load_face_embedder
from oculi.service.collections import quality_reasons
from oculi.service.match_floor import size_floor
from oculi.vision import similarity as simmap
from oculi.vision.decode import decode
from oculi.vision.embed import DIM
from oculi.vision.face_confidence import YUNET, calibrated
from oculi.vision.types import FaceDetections

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "dev-data" / "eval-dev" / "lfw_dev"
DEFAULT_CACHE = Path.home() / ".cache" / "oculi" / "bench-data"
SEED = 13
FIT_DECADES = (3.0, 6.0)  # the false-match rates (decades) the map's line is fitted over
LEVELS = (80.0, 90.0, 95.0, 99.0)
FAR = (1e-3, 1e-4)
FPIR = (1e-2, 1e-3)
GALLERIES = (500, 1000)  # people enrolled from the held-out half
FULL_GALLERY = 2000  # from all of lfw_dev: the held-out half has too few people
FLOOR = 99.0  # OCULI_MATCH_FLOOR's default
SIZES = (10, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
BOOTSTRAP = 1000
TOP = 5  # the highest different-person pairs of the fit half, named by --fit
OLD_CENTRE, OLD_SLOPE = 0.3172, 42.2  # the map this fit replaced (bench/face_match.py --fit)
CONFIDENCE_GRID = (90.0, 93.0, 94.0, 95.0, 95.5, 96.0, 96.5, 97.0)
REASONS = (
    "LOW_CONFIDENCE",
    "SMALL_BOUNDING_BOX",
    "LOW_SHARPNESS",
    "LOW_BRIGHTNESS",
    "EXTREME_POSE",
)


@dataclass(frozen=True)
class Photos:
    """Each photo's largest face as the service sees it (NaN rows where none was found)."""

    files: list[str]
    emb: np.ndarray  # (n, 128) float32 unit vectors (SFace + flip), NaN without a face
    found: np.ndarray  # (n,) bool
    faces: np.ndarray  # (n,) int: faces found in the photo
    pose: np.ndarray  # (n, 3) roll, yaw, pitch of the largest face
    quality: np.ndarray  # (n, 2) brightness, sharpness
    box: np.ndarray  # (n, 4) x1 y1 x2 y2
    score: np.ndarray  # (n,) YuNet's raw score 0-1 (Confidence before calibration)
    ms_analyze: np.ndarray  # (n,) detection + mesh + pose + quality, ms
    ms_embed: np.ndarray  # (n,) alignment + SFace twice (flip), ms


def embed_photos(root: Path, files: list[str]) -> Photos:
    """Run oculi's IndexFaces pipeline (YuNet, mesh, pose, quality; SFace with flip) on each
    photo, single-threaded, and keep the largest face."""
    analyzer = load_face_analyzer(detector="yunet", threads=1, device="cpu", auto_fetch=False)
    embedder = load_face_embedder(threads=1, device="cpu", auto_fetch=False)
    n = len(files)
    out = {
        "emb": np.full((n, DIM), np.nan, np.float32),
        "found": np.zeros(n, bool),
        "faces": np.zeros(n, np.int64),
        "pose": np.full((n, 3), np.nan, np.float32),
        "quality": np.full((n, 2), np.nan, np.float32),
        "box": np.full((n, 4), np.nan, np.float32),
        "score": np.full(n, np.nan, np.float32),
        "ms_analyze": np.full(n, np.nan),
        "ms_embed": np.full(n, np.nan),
    }
    for i, name in enumerate(files):
        rgb = decode((root / "images" / name).read_bytes()).rgb
        t0 = time.perf_counter()
        faces = analyzer.analyze(rgb)
        t1 = time.perf_counter()
        out["ms_analyze"][i] = (t1 - t0) * 1000
        out["faces"][i] = len(faces)
        if not len(faces):
            continue
        one = faces.take(np.array([0]))
        out["emb"][i] = embedder(rgb, one)[0]
        out["ms_embed"][i] = (time.perf_counter() - t1) * 1000
        out["found"][i] = True
        out["pose"][i] = one.pose[0]
        out["quality"][i] = one.quality[0]
        out["box"][i] = one.boxes[0]
        out["score"][i] = one.extra["raw_score"][0]
        if i % 250 == 0:
            print(f"embedded {i}/{n}", flush=True)
    return Photos(files=files, **out)


def load_photos(root: Path, files: list[str], cache: Path) -> Photos:
    """Embeddings from the cache file when it holds these photos, else computed and saved."""
    path = cache / "identity-lfw_dev-yunet-sface-flip-1.0.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        if list(z["files"]) == files:
            # "auto" (reasons under the bars of the day) is recomputed: see refusals().
            keep = [k for k in z.files if k not in ("files", "auto")]
            return Photos(files=files, **{k: z[k] for k in keep})
    photos = embed_photos(root, files)
    cache.mkdir(parents=True, exist_ok=True)
    arrays = {k: v for k, v in vars(photos).items() if k != "files"}
    np.savez(path, files=np.asarray(files), **arrays)
    return photos


# ---------------------------------------------------------------- data


def read_lfw(root: Path) -> tuple[list[str], np.ndarray]:
    """The photos' file names (sorted) and each one's identity."""
    with open(root / "identities.csv", newline="") as f:
        rows = sorted((r["file"], r["identity"]) for r in csv.DictReader(f))
    return [r[0] for r in rows], np.asarray([r[1] for r in rows])


def read_pairs(root: Path) -> list[tuple[int, str, str, bool]]:
    """LFW's verification pairs: (fold, image a, image b, same person)."""
    with open(root / "pairs.csv", newline="") as f:
        return [
            (int(r["fold"]), r["image_a"], r["image_b"], r["same"] == "1")
            for r in csv.DictReader(f)
        ]


def split_people(identity: np.ndarray, seed: int) -> np.ndarray:
    """Per photo: is its person in the fit half? Half of the people, drawn with `seed`."""
    people = np.unique(identity)
    fit = np.random.default_rng(seed).permutation(people)[: len(people) // 2]
    return np.isin(identity, fit)


# ---------------------------------------------------------------- pairs


@dataclass(frozen=True)
class PairScores:
    """Every pair of photos (with a face) in a set of people, split by whether they show
    the same person."""

    cos: np.ndarray  # (n, n) cosine of every two photos
    person: np.ndarray  # (n,) int: each photo's person, 0..P-1
    impostor: np.ndarray  # cosines of the different-person pairs, highest first
    genuine: np.ndarray  # cosines of the same-person pairs, highest first
    files: np.ndarray  # (n,) each photo's file name


def pair_scores(emb: np.ndarray, identity: np.ndarray, files: np.ndarray) -> PairScores:
    _, person = np.unique(identity, return_inverse=True)
    cos = emb @ emb.T
    upper = np.triu(np.ones(cos.shape, bool), 1)
    same = person[:, None] == person[None, :]
    return PairScores(
        cos=cos,
        person=person,
        impostor=-np.sort(-cos[upper & ~same]),
        genuine=-np.sort(-cos[upper & same]),
        files=files,
    )


def impostors_above(p: PairScores, cosine: float) -> str:
    """The different-person pairs at or above `cosine`, highest first, by file name."""
    i, j = np.nonzero(np.triu(p.cos >= cosine, 1) & (p.person[:, None] != p.person[None, :]))
    top = sorted(zip(p.cos[i, j], p.files[i], p.files[j]), reverse=True)
    return ", ".join(f"{a} {b} {c:.3f}" for c, a, b in top)


def rate_at(desc: np.ndarray, cosine: float) -> int:
    """How many of the scores (highest first) are at or above `cosine`."""
    return int(np.searchsorted(-desc, -cosine, side="right"))


def cosine_at_rate(desc: np.ndarray, rate: float) -> float:
    """The lowest cosine at which at most `rate` of the scores (highest first) reach it."""
    k = int(rate * len(desc))
    return float(np.nextafter(desc[k], np.inf)) if k < len(desc) else float(desc[-1])


def bootstrap_rate(p: PairScores, cosine: float, reps: int, seed: int) -> tuple[float, float]:
    """95% interval of the false-match rate at `cosine`, resampling people (a photo's pairs
    are not independent of each other; its person is the unit)."""
    i, j = np.nonzero(np.triu(p.cos >= cosine, 1) & (p.person[:, None] != p.person[None, :]))
    people = p.person.max() + 1
    photos = np.bincount(p.person, minlength=people).astype(np.float64)
    w = np.random.default_rng(seed).multinomial(people, np.full(people, 1 / people), reps)
    w = w.astype(np.float64)
    hits = (w[:, p.person[i]] * w[:, p.person[j]]).sum(1)
    total = ((w @ photos) ** 2 - (w**2) @ photos**2) / 2
    lo, hi = np.percentile(hits / total, [2.5, 97.5])
    return float(lo), float(hi)


def fit_map(impostor: np.ndarray, lo: float, hi: float) -> tuple[float, float, np.ndarray]:
    """Least-squares line of decades (-log10 false-match rate) on cosine over the measured
    rates 10^-lo .. 10^-hi: (cosine at 1e-6, decades per cosine, the points used)."""
    decades = np.linspace(lo, hi, 26)
    cosines = np.array([cosine_at_rate(impostor, 10.0**-d) for d in decades])
    slope, intercept = np.polyfit(cosines, decades, 1)
    return float((6.0 - intercept) / slope), float(slope), np.stack([decades, cosines], 1)


def ten_fold(
    pairs: list[tuple[int, str, str, bool]], emb: dict[str, np.ndarray]
) -> tuple[float, float, int]:
    """LFW's protocol: each fold judged at the threshold best on the other nine. A pair
    with a photo where no face was found counts as 'different'. (mean, std, pairs with
    such a photo)."""
    fold = np.array([f for f, *_ in pairs])
    same = np.array([s for *_, s in pairs])
    cos = np.array([float(emb[a] @ emb[b]) for _, a, b, _ in pairs])
    missing = int(np.isnan(cos).sum())
    cos = np.nan_to_num(cos, nan=-2.0)
    accs = []
    for f in np.unique(fold):
        train, test = fold != f, fold == f
        cands = np.unique(cos[train])
        acc = [((cos[train] >= t) == same[train]).mean() for t in cands]
        t = cands[int(np.argmax(acc))]
        accs.append(((cos[test] >= t) == same[test]).mean())
    return float(np.mean(accs)), float(np.std(accs)), missing


# ---------------------------------------------------------------- open-set search


@dataclass(frozen=True)
class OpenSet:
    gallery: int  # people enrolled, one photo each
    mate: np.ndarray  # (m,) mated searches' score of the enrolled photo (-2: no face found)
    rank1: np.ndarray  # (m,) bool: the mate outscored every other enrolled person
    stranger: np.ndarray  # (s,) non-mated searches' best score (own person left out)
    pairs: np.ndarray  # (s, 2) str: each non-mated search's photo, its best enrolled photo

    def fnir(self, cosine: float) -> float:
        return float(1.0 - (self.rank1 & (self.mate >= cosine)).mean())

    def strangers_at(self, cosine: float) -> int:
        return int((self.stranger >= cosine).sum())


def open_set(
    emb: np.ndarray, identity: np.ndarray, files: np.ndarray, gallery: int, seed: int
) -> OpenSet:
    """Enrol `gallery` people drawn at random (their first photo with a face); search every
    other photo of theirs (mated: rank-1 and the mate's score) and every photo with a face
    as a stranger (non-mated: the best score over the enrolled photos of other people, so
    enrolled people's photos are searched against the gallery less themselves)."""
    found = ~np.isnan(emb[:, 0])
    candidates = np.unique(identity[found])
    enrolled = np.random.default_rng(seed).choice(candidates, gallery, replace=False)
    first = {}
    for i in np.nonzero(found)[0]:
        first.setdefault(identity[i], i)
    gal = np.array([first[p] for p in enrolled])
    cos = np.nan_to_num(emb @ emb[gal].T, nan=-2.0)  # (photos, gallery)
    own = identity[:, None] == enrolled[None, :]
    others = np.where(own, -np.inf, cos).max(1)
    best = files[gal][np.where(own, -np.inf, cos).argmax(1)]
    mated = np.isin(identity, enrolled) & ~np.isin(np.arange(len(identity)), gal)
    mate = np.where(own, cos, -np.inf).max(1)
    return OpenSet(
        gallery=gallery,
        mate=mate[mated],
        rank1=(mate > others)[mated] & found[mated],
        stranger=others[found],
        pairs=np.stack([files, best], 1)[found],
    )


def routes(emb: np.ndarray, identity: np.ndarray, auto_ok: np.ndarray) -> list[list[str]]:
    """Multi-photo enrolment and the AUTO filter on search: every person's first photo
    enrolled, and for people with 3+ photos also their second; their 3rd and later photos
    searched (the same probes for both galleries). A person's score is their best face.
    Rows: one photo enrolled, two, and the one-photo gallery's probes split by AUTO."""
    found = ~np.isnan(emb[:, 0])
    order = np.full(len(emb), -1)
    seen: dict[str, int] = {}
    for i in np.nonzero(found)[0]:
        order[i] = seen.get(identity[i], 0)
        seen[identity[i]] = order[i] + 1
    many = np.isin(identity, [p for p, n in seen.items() if n >= 3])
    probe = many & (order >= 2)
    people, person = np.unique(identity, return_inverse=True)
    rows = []
    for title, gal, pick in (
        ("1 photo enrolled", order == 0, probe),
        ("2 photos (3+ photo people)", (order == 0) | (many & (order == 1)), probe),
        ("1 photo, AUTO-accepted probes", order == 0, probe & auto_ok),
        ("1 photo, AUTO-refused probes", order == 0, probe & ~auto_ok),
    ):
        g = np.nonzero(gal)[0]
        score = np.full((len(emb), len(people)), -np.inf)
        np.maximum.at(score.T, person[g], np.nan_to_num(emb @ emb[g].T, nan=-2.0).T)
        own = np.zeros_like(score, dtype=bool)
        own[np.arange(len(emb)), person] = True
        others = np.where(own, -np.inf, score).max(1)
        mate = score[np.arange(len(emb)), person]
        c = simmap.cosine_at(max(FLOOR, size_floor(len(g))))
        hit = (mate > others) & (mate >= c)
        rows.append(
            [
                title,
                f"{len(g)}",
                f"{pick.sum()}",
                f"{(mate > others)[pick].mean():.3f}",
                f"{1 - hit[pick].mean():.3f}",
                f"{(others[found] >= c).sum()}/{found.sum()}",
            ]
        )
    return rows


def user_scores(emb: np.ndarray, identity: np.ndarray) -> list[list[str]]:
    """A person's score from several enrolled faces, three ways, on routes()'s two-photo
    gallery and probes: rank-1, FNIR at FPIR 1% (each way's own threshold from its
    non-mated scores), and FNIR and strangers matched at the default threshold."""
    found = ~np.isnan(emb[:, 0])
    order = np.full(len(emb), -1)
    seen: dict[str, int] = {}
    for i in np.nonzero(found)[0]:
        order[i] = seen.get(identity[i], 0)
        seen[identity[i]] = order[i] + 1
    many = np.isin(identity, [p for p, n in seen.items() if n >= 3])
    probe = many & (order >= 2)
    g = np.nonzero((order == 0) | (many & (order == 1)))[0]
    people, person = np.unique(identity, return_inverse=True)
    e = np.nan_to_num(emb, nan=0.0)
    cos = np.where(found[:, None], e @ e[g].T, -2.0)
    best = np.full((len(emb), len(people)), -np.inf)
    np.maximum.at(best.T, person[g], cos.T)
    total = np.zeros((len(emb), len(people)))
    np.add.at(total.T, person[g], cos.T)
    count = np.bincount(person[g], minlength=len(people))
    centre = np.zeros((len(people), e.shape[1]))
    np.add.at(centre, person[g], e[g])
    centre /= np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-12)
    own = np.zeros_like(best, dtype=bool)
    own[np.arange(len(emb)), person] = True
    c = simmap.cosine_at(max(FLOOR, size_floor(len(g))))
    rows = []
    for title, score in (
        ("best face (before)", best),
        ("mean of the faces' scores", np.where(count > 0, total / np.maximum(count, 1), -np.inf)),
        ("cosine to the mean vector (now)", np.where(found[:, None], e @ centre.T, -2.0)),
    ):
        score = np.where(count > 0, score, -np.inf)
        others = np.where(own, -np.inf, score).max(1)
        mate = score[np.arange(len(emb)), person]
        first = mate > others
        stranger = -np.sort(-others[found])
        at = cosine_at_rate(stranger, FPIR[0])
        rows.append(
            [
                title,
                f"{first[probe].mean():.3f}",
                f"{1 - (first & (mate >= at))[probe].mean():.3f}",
                f"{1 - (first & (mate >= c))[probe].mean():.3f}",
                f"{(stranger >= c).sum()}/{found.sum()}",
            ]
        )
    return rows


# ---------------------------------------------------------------- quality filter


def refusals(ph: Photos, level: str) -> np.ndarray:
    """(n, len(REASONS)) bool: the largest face's UnindexedFaces reasons under QualityFilter
    `level`, from the cached detection (the service's own rule, today's bars)."""
    n = len(ph.files)
    box = np.nan_to_num(ph.box)
    faces = FaceDetections(
        boxes=box,
        scores=calibrated(np.nan_to_num(ph.score), YUNET),
        keypoints=np.zeros((n, 5, 2), np.float32),
        pose=np.nan_to_num(ph.pose),
        quality=np.nan_to_num(ph.quality),
    )
    reasons = quality_reasons(faces, level)
    return np.array([[r in rs for r in REASONS] for rs in reasons]) & ph.found[:, None]


def found_by_search(emb: np.ndarray, identity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each photo searched against every other photo of the set: (hit, mated), hit when a
    photo of its own person scores highest and reaches the default threshold for the set's
    size; mated when its person has another photo with a face."""
    found = ~np.isnan(emb[:, 0])
    e = np.nan_to_num(emb, nan=0.0)
    cos = np.where(found[:, None] & found[None, :], e @ e.T, -2.0)
    np.fill_diagonal(cos, -np.inf)
    same = identity[:, None] == identity[None, :]
    np.fill_diagonal(same, False)
    mate = np.where(same, cos, -np.inf).max(1)
    other = np.where(same, -np.inf, cos).max(1)
    c = simmap.cosine_at(max(FLOOR, size_floor(int(found.sum()))))
    return (mate > other) & (mate >= c), found & (same & found[None, :]).any(1)


def confidence_cutoffs(ph: Photos, identity: np.ndarray, half: np.ndarray) -> list[list[str]]:
    """Rows: each candidate AUTO confidence bar (other bars as AUTO's), the share of the
    half's photos indexed and the FNIR of the indexed ones."""
    hit, mated = found_by_search(ph.emb[half], identity[half])
    conf = calibrated(np.nan_to_num(ph.score[half]), YUNET) * 100
    others = refusals(ph, "AUTO")[half][:, [REASONS.index(r) for r in REASONS[1:]]].any(1)
    rows = []
    for bar in CONFIDENCE_GRID:
        ok = ph.found[half] & (conf >= bar) & ~others
        rows.append(
            [
                f"{bar:g}",
                f"{ok.mean():.4f}",
                f"{1 - hit[ok & mated].mean():.4f}",
                f"{1 - hit[~ok & mated].mean():.3f} of {(~ok & mated).sum()}",
            ]
        )
    return rows


def filter_rows(ph: Photos, identity: np.ndarray, half: np.ndarray) -> list[list[str]]:
    """Rows per QualityFilter level and reason: photos refused, and the FNIR of the refused
    against the accepted photos of the half (each searched against the rest of the half)."""
    hit, mated = found_by_search(ph.emb[half], identity[half])
    rows = []
    for level in ("MEDIUM", "AUTO"):
        why = refusals(ph, level)[half]
        ok = ph.found[half] & ~why.any(1)
        acc = f"{1 - hit[ok & mated].mean():.3f} of {(ok & mated).sum()}"
        rows.append([level, "indexed", f"{ok.sum()}/{half.sum()}", acc])
        for r, name in enumerate(REASONS):
            bad = why[:, r]
            fnir = f"{1 - hit[bad & mated].mean():.3f}" if (bad & mated).any() else "-"
            rows.append([level, name, f"{bad.sum()}", f"{fnir} of {(bad & mated).sum()}"])
    return rows


# ---------------------------------------------------------------- report


def old_cosine_at(level: float) -> float:
    """The cosine of a Similarity level under the map this fit replaced."""
    s = level / 100.0
    return OLD_CENTRE + float(np.log(s / (1.0 - s))) / OLD_SLOPE


def table(rows: list[list[str]], head: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def fit_report(p: PairScores) -> None:
    c6, slope, points = fit_map(p.impostor, *FIT_DECADES)
    print(f"fit half: {len(p.impostor):,} different-person pairs, {len(p.genuine):,} same")
    table(
        [
            [f"{d:.1f}", f"{c:.4f}", f"{6 + slope * (c - c6):.2f}", rate_at(p.impostor, c)]
            for d, c in points[::5]
        ],
        ["decades", "cosine", "line", "pairs at or above"],
    )
    print(f"COSINE_1E6 = {c6:.4f}\nDECADES_PER_COSINE = {slope:.2f}")
    print(f"highest different-person pairs: {impostors_above(p, p.impostor[TOP - 1])}")


def levels_report(p: PairScores, reps: int) -> None:
    rows = []
    for level in LEVELS:
        for name, c in (("new", simmap.cosine_at(level)), ("old", old_cosine_at(level))):
            k = rate_at(p.impostor, c)
            lo, hi = bootstrap_rate(p, c, reps, SEED)
            tar = rate_at(p.genuine, c) / len(p.genuine)
            rows.append(
                [
                    f"{level:g}",
                    name,
                    f"{c:.4f}",
                    f"{simmap.false_match_rate(level):.1e}" if name == "new" else "",
                    f"{k}/{len(p.impostor):,} = {k / len(p.impostor):.1e}",
                    f"{lo:.1e}-{hi:.1e}",
                    f"{tar:.4f}",
                ]
            )
    table(
        rows,
        ["Similarity", "map", "cosine", "stated FMR", "held-out FMR", "95% (people)", "TAR"],
    )


def open_set_rows(sets: list[tuple[str, OpenSet]]) -> list[list[str]]:
    rows = []
    for title, o in sets:
        n = len(o.stranger)
        default = max(FLOOR, size_floor(o.gallery))
        at = {x: cosine_at_rate(-np.sort(-o.stranger), x) for x in FPIR}
        new = " ".join(f"{o.strangers_at(simmap.cosine_at(v))}" for v in LEVELS)
        old = " ".join(f"{o.strangers_at(old_cosine_at(v))}" for v in LEVELS)
        rows.append(
            [
                title,
                f"{o.gallery}",
                f"{len(o.mate)}/{n}",
                f"{o.rank1.mean():.3f}",
                " ".join(f"{o.fnir(at[x]):.3f}" for x in FPIR),
                new,
                old,
                f"{default:.3f}",
                f"{o.strangers_at(simmap.cosine_at(default))}",
                f"{o.fnir(simmap.cosine_at(default)):.3f}",
            ]
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--fit", action="store_true", help="print the map's constants and stop")
    ap.add_argument("--reps", type=int, default=BOOTSTRAP, help="people-bootstrap samples")
    args = ap.parse_args()
    files, identity = read_lfw(args.data)
    ph = load_photos(args.data, files, args.cache)
    fit = split_people(identity, SEED)
    print(
        f"lfw_dev: {len(files)} photos of {len(np.unique(identity))} people, a face found in "
        f"{ph.found.sum()}; people split in halves (seed {SEED}): fit half "
        f"{len(np.unique(identity[fit]))} people / {fit.sum()} photos, held-out half "
        f"{len(np.unique(identity[~fit]))} people / {(~fit).sum()} photos"
    )
    if args.fit:
        keep = fit & ph.found
        fit_report(pair_scores(ph.emb[keep], identity[keep], np.asarray(files)[keep]))
        return
    held = ~fit
    keep = held & ph.found
    p = pair_scores(ph.emb[keep], identity[keep], np.asarray(files)[keep])
    print(
        f"\n== 1. Similarity levels, held-out half: {len(p.impostor):,} different-person "
        f"pairs, {len(p.genuine):,} same-person pairs; 'old' is the map this fit replaced =="
    )
    levels_report(p, args.reps)
    print(f"different-person pairs at 99: {impostors_above(p, simmap.cosine_at(99))}")
    tar = {x: rate_at(p.genuine, cosine_at_rate(p.impostor, x)) / len(p.genuine) for x in FAR}

    print("\n== 2. LFW pair verification (pairs.csv), 10 folds ==")
    by_file = dict(zip(files, ph.emb))
    in_held = set(np.asarray(files)[held])
    pairs = read_pairs(args.data)
    held_pairs = [r for r in pairs if r[1] in in_held]
    accuracy = {}
    for title, rows in (("all lfw_dev pairs", pairs), ("held-out half's pairs", held_pairs)):
        mean, std, missing = ten_fold(rows, by_file)
        accuracy[title] = mean
        print(f"{title}: {len(rows)} pairs, {mean:.4f} +- {std:.4f} ({missing} without a face)")
    print(
        "held-out TAR at FAR "
        + ", ".join(f"{x:g}: {t:.4f}" for x, t in tar.items())
        + " (all pairs of the half)"
    )

    print(
        "\n== 3. Open-set search: one photo per enrolled person; every other photo of an "
        "enrolled person searched (mated), every photo searched against the others "
        "(non-mated) =="
    )
    names = np.asarray(files)
    sets = [
        (f"held-out {g}", open_set(ph.emb[held], identity[held], names[held], g, SEED))
        for g in GALLERIES
    ]
    sets.append(
        ("all lfw_dev (incl. fit half)", open_set(ph.emb, identity, names, FULL_GALLERY, SEED))
    )
    rows = open_set_rows(sets)
    table(
        rows,
        [
            "people",
            "gallery",
            "mated/non-mated",
            "rank-1",
            "FNIR at FPIR 1% 0.1%",
            "strangers >= 80 90 95 99",
            "old map",
            "default threshold",
            "strangers",
            "FNIR",
        ],
    )

    for title, o in sets:
        c = simmap.cosine_at(max(FLOOR, size_floor(o.gallery)))
        hits = [f"{a} -> {b}" for a, b in o.pairs[o.stranger >= c]]
        print(f"{title}: non-mated searches matched at the default: {', '.join(hits) or 'none'}")

    print(
        "threshold the collection's size needs (the default is the higher of it and the "
        "floor 99), by faces: " + ", ".join(f"{n:,}: {size_floor(n):.4f}" for n in SIZES)
    )

    print(
        "\n== 4. IndexFaces' QualityFilter, largest face; FNIR: each photo searched against "
        "every other photo of its half, at the default threshold =="
    )
    print(
        "fit half, AUTO's confidence bar (AUTO's other bars applied): share indexed, FNIR of "
        "the indexed photos, FNIR of the refused"
    )
    table(
        confidence_cutoffs(ph, identity, fit),
        ["confidence >=", "indexed", "FNIR indexed", "FNIR refused"],
    )
    print(f"held-out half (no face found: {(~ph.found[held]).sum()}); MEDIUM was AUTO's bar before")
    table(filter_rows(ph, identity, held), ["level", "reason", "photos", "FNIR (of mated)"])
    ok = ph.found & ~refusals(ph, "AUTO").any(1)

    ms_a, ms_e = np.nanmedian(ph.ms_analyze), np.nanmedian(ph.ms_embed)
    print(
        f"\n== 5. ms per face (1 thread, median over {ph.found.sum()} photos, while embedding): "
        f"detection+mesh+pose+quality {ms_a:.1f}, alignment+SFace+flip {ms_e:.1f} =="
    )

    print(
        "\n== 6. Enrolling more photos, and the AUTO filter's effect on search (held-out "
        "half, every person enrolled) =="
    )
    table(
        routes(ph.emb[held], identity[held], ok[held]),
        ["gallery", "faces", "probes", "rank-1", "FNIR at default", "strangers at default"],
    )

    print(
        "\n== 7. A User's score from two enrolled faces (held-out half, the gallery and 490 "
        "probes of section 6's second row) =="
    )
    table(
        user_scores(ph.emb[held], identity[held]),
        ["user score", "rank-1", "FNIR at FPIR 1%", "FNIR at default", "strangers at default"],
    )

    o = sets[1][1]
    n = len(o.stranger)
    print("\n== Summary: held-out half, gallery of 1,000 people ==")
    table(
        [
            ["SearchFacesByImage rank-1", f"{o.rank1.mean():.3f}"],
            ["FNIR at FPIR 1% / 0.1%", rows[1][4]],
            ["strangers matched at 99 (map alone)", f"{o.strangers_at(simmap.cosine_at(99))}/{n}"],
            ["strangers matched at 80 (map alone)", f"{o.strangers_at(simmap.cosine_at(80))}/{n}"],
            [f"strangers matched at the default {rows[1][7]}", f"{rows[1][8]}/{n}"],
            ["IndexFaces AUTO indexed", f"{ok[held].sum()}/{held.sum()}"],
            ["10-fold pair accuracy (all lfw_dev pairs)", f"{accuracy['all lfw_dev pairs']:.4f}"],
            ["TAR at FAR 1e-3 / 1e-4", f"{tar[1e-3]:.4f} / {tar[1e-4]:.4f}"],
            ["ms per face (analysis + embedding)", f"{ms_a + ms_e:.0f}"],
        ],
        ["measure", "oculi"],
    )


if __name__ == "__main__":
    main()
