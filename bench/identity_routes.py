"""Routes to fewer misses in open-set search, side by side on lfw_dev (issue 13): each
route's weights fitted on bench/identity.py's fit half of the people, reported on the
held-out half, with bench/identity.py's protocol (a gallery of 1,000 people, one photo
each, seed 13; mated searches are their other photos, every photo is a non-mated search
against the others).

1. SFace with flip (oculi today), dlib's ResNet (bench/dlib_embed.py; skipped
   when neither its cache nor dlib is there), and their fusion: the sum of the two cosines,
   each standardised by the fit half's different-person scores, dlib's weighted (the same
   as one vector of both, weighted and concatenated), the weight fitted on the fit half for
   FNIR at FPIR 1%; and what SFace's misses there are;
2. quality-aware scoring: a threshold that moves with the probe's quality, or a score that
   moves with the enrolled photo's quality (box height, sharpness or detector score,
   standardised on the fit half), the weight fitted on the fit half;
3. a User's score from two enrolled faces (people with 3+ photos): how often a stranger's
   photo reaches each Similarity level against a User scored by the cosine to the mean of
   their faces' vectors, against one scored by their best face, per comparison; and how
   far the mean vector's cosine can exceed the best face's (the candidates' margin of
   oculi/service/users.py).

    python -m bench.identity_routes [--data DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.dlib_embed import load_dlib
from bench.identity import (
    DEFAULT_CACHE,
    DEFAULT_DATA,
    FPIR,
    LEVELS,
    SEED,
    Photos,
    cosine_at_rate,
    load_photos,
    read_lfw,
    split_people,
    table,
)
from oculi.vision import similarity as simmap

GALLERY = 1000
FUSION_WEIGHTS = np.round(np.arange(0.0, 2.01, 0.1), 2)  # dlib's weight, SFace's is 1
QUALITY_WEIGHTS = np.round(np.arange(-0.06, 0.0601, 0.01), 3)  # cosine per standard deviation


def enrolled(identity: np.ndarray, found: np.ndarray, gallery: int, seed: int) -> np.ndarray:
    """The gallery's photo indices, drawn as bench.identity.open_set draws them."""
    people = np.random.default_rng(seed).choice(np.unique(identity[found]), gallery, False)
    first: dict[str, int] = {}
    for i in np.nonzero(found)[0]:
        first.setdefault(identity[i], i)
    return np.array([first[p] for p in people])


def fnir_at_fpir(
    score: np.ndarray,
    identity: np.ndarray,
    found: np.ndarray,
    gal: np.ndarray,
    shift: np.ndarray | None = None,
) -> tuple[float, list[float]]:
    """rank-1 and FNIR at each FPIR of a (photos, gallery) score matrix; `shift` (per
    photo) is added to the threshold a probe must reach (a probe-dependent threshold)."""
    score = np.where(found[:, None], score, -2.0)
    own = identity[:, None] == identity[gal][None, :]
    others = np.where(own, -np.inf, score).max(1)
    mate = np.where(own, score, -np.inf).max(1)
    mated = np.isin(identity, identity[gal]) & ~np.isin(np.arange(len(identity)), gal)
    s = np.zeros(len(identity)) if shift is None else shift
    first = (mate > others) & found
    stranger = -np.sort(-(others - s)[found])
    fnirs = []
    for x in FPIR:
        at = cosine_at_rate(stranger, x)
        fnirs.append(float(1 - (first & (mate - s >= at))[mated].mean()))
    return float(first[mated].mean()), fnirs


def misses(h: Half, photos: Photos) -> str:
    """What SFace's misses at FPIR 1% are: another enrolled person outscoring the mate, or
    the mate below the threshold; and the detector score of the missed probes."""
    score = np.where(h.found[:, None], h.cos["sface"], -2.0)
    own = h.identity[:, None] == h.identity[h.gal][None, :]
    others = np.where(own, -np.inf, score).max(1)
    mate = np.where(own, score, -np.inf).max(1)
    mated = np.isin(h.identity, h.identity[h.gal]) & ~np.isin(np.arange(len(h.identity)), h.gal)
    at = cosine_at_rate(-np.sort(-others[h.found]), FPIR[0])
    beaten = mated & ~((mate > others) & h.found)
    low = mated & ~beaten & (mate < at)
    conf = photos.score
    return (
        f"SFace's {(beaten | low).sum()} misses of {mated.sum()} mated searches at FPIR 1% "
        f"(threshold cosine {at:.3f}, Similarity {simmap.similarity(at):.1f}): "
        f"{beaten.sum()} outscored by another enrolled person, {low.sum()} with the mate "
        f"below the threshold (their cosine median {np.median(mate[low]):.3f}); detector "
        f"score median of the missed probes {np.median(conf[beaten | low]):.3f}, of the "
        f"found {np.median(conf[mated & ~beaten & ~low]):.3f}"
    )


def quality_features(ph: Photos) -> dict[str, np.ndarray]:
    h = np.nan_to_num(ph.box[:, 3] - ph.box[:, 1], nan=1.0)
    return {
        "box height (log)": np.log(np.maximum(h, 1.0)),
        "sharpness": np.nan_to_num(ph.quality[:, 1]),
        "detector score": np.nan_to_num(ph.score),
    }


def photos_of(ph: Photos, m: np.ndarray) -> Photos:
    """The photos of a mask."""
    return Photos(
        files=[f for f, k in zip(ph.files, m) if k],
        **{k: v[m] for k, v in vars(ph).items() if k != "files"},
    )


class Half:
    """One half's photos, gallery and score matrices."""

    def __init__(self, emb: dict[str, np.ndarray], identity: np.ndarray, found: np.ndarray):
        self.identity, self.found = identity, found
        self.gal = enrolled(identity, found, GALLERY, SEED)
        self.cos = {
            k: np.nan_to_num(e, nan=0.0) @ np.nan_to_num(e[self.gal], nan=0.0).T
            for k, e in emb.items()
        }

    def run(self, score: np.ndarray, shift: np.ndarray | None = None) -> tuple[float, list[float]]:
        return fnir_at_fpir(score, self.identity, self.found, self.gal, shift)


def best_weight(weights: np.ndarray, fnir: Callable[[float], float]) -> float:
    """The weight with the lowest FNIR at FPIR 1% on the fit half (ties: the smallest in
    size, so no effect wins a tie)."""
    scores = [(fnir(w), abs(w)) for w in weights]
    return float(weights[min(range(len(weights)), key=lambda i: scores[i])])


def row(title: str, result: tuple[float, list[float]], extra: str) -> list[str]:
    rank1, fnirs = result
    return [title, f"{rank1:.3f}", " ".join(f"{f:.3f}" for f in fnirs), extra]


def impostor_stats(h: Half, key: str) -> tuple[float, float]:
    """Mean and standard deviation of an embedding's different-person scores in a half (to
    put two embeddings' cosines on one scale)."""
    own = h.identity[:, None] == h.identity[h.gal][None, :]
    s = h.cos[key][h.found[:, None] & ~own]
    return float(s.mean()), float(s.std())


def embedding_rows(fit: Half, held: Half) -> list[list[str]]:
    rows = [row("SFace + flip (today)", held.run(held.cos["sface"]), "")]
    if "dlib" not in held.cos:
        return rows
    rows.append(row("dlib ResNet", held.run(held.cos["dlib"]), ""))

    stats = {k: impostor_stats(fit, k) for k in ("sface", "dlib")}

    def fused(h: Half, w: float) -> np.ndarray:
        (ms, ss), (md, sd) = stats["sface"], stats["dlib"]
        return (h.cos["sface"] - ms) / ss + w * (h.cos["dlib"] - md) / sd

    w = best_weight(FUSION_WEIGHTS, lambda w: fit.run(fused(fit, w))[1][0])
    rows.append(row("fusion SFace + dlib", held.run(fused(held, w)), f"dlib weight {w:g}"))
    return rows


def quality_rows(
    fit: Half, held: Half, feats: dict[str, np.ndarray], is_fit: np.ndarray
) -> list[list[str]]:
    rows = []
    for name, f in feats.items():
        mu, sd = f[is_fit].mean(), f[is_fit].std()
        z = (f - mu) / sd
        zf, zh = z[is_fit], z[~is_fit]

        def probe(h: Half, zz: np.ndarray, w: float) -> tuple[float, list[float]]:
            return h.run(h.cos["sface"], shift=w * zz)

        def enrolled_q(h: Half, zz: np.ndarray, w: float) -> tuple[float, list[float]]:
            return h.run(h.cos["sface"] - w * zz[h.gal][None, :])

        for kind, fn in (("probe threshold", probe), ("enrolled photo score", enrolled_q)):
            w = best_weight(QUALITY_WEIGHTS, lambda w, fn=fn, zf=zf: fn(fit, zf, w)[1][0])
            rows.append(row(f"{kind} by {name}", fn(held, zh, w), f"weight {w:g}"))
    return rows


def two_face_users(emb: np.ndarray, identity: np.ndarray) -> tuple[np.ndarray, ...]:
    """Users of two faces (the first two photos of people with 3+): (found, people, first
    face's cosines, second's, cosine to the mean vector), per photo and User."""
    found = ~np.isnan(emb[:, 0])
    e = np.nan_to_num(emb, nan=0.0)
    order = np.full(len(emb), -1)
    seen: dict[str, int] = {}
    for i in np.nonzero(found)[0]:
        order[i] = seen.get(identity[i], 0)
        seen[identity[i]] = order[i] + 1
    people = np.asarray([p for p, n in seen.items() if n >= 3])
    a = np.array([np.nonzero((identity == p) & (order == 0))[0][0] for p in people])
    b = np.array([np.nonzero((identity == p) & (order == 1))[0][0] for p in people])
    centre = e[a] + e[b]
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    return found, people, e @ e[a].T, e @ e[b].T, e @ centre.T


def user_rows(emb: np.ndarray, identity: np.ndarray) -> list[list[str]]:
    """Per comparison of a photo with a User of two faces who is not its person: the share
    reaching each Similarity level, the User scored by their best face and by the cosine
    to their faces' mean vector; and the first face alone for reference."""
    found, people, first, second, mean = two_face_users(emb, identity)
    other = found[:, None] & (identity[:, None] != people[None, :])
    n = int(other.sum())
    scores = {
        "one face (the first)": first,
        "best of two faces": np.maximum(first, second),
        "cosine to the mean vector": mean,
    }
    rows = []
    for title, s in scores.items():
        hits = [int((s[other] >= simmap.cosine_at(v)).sum()) for v in LEVELS]
        rows.append([title, " ".join(f"{k / n:.1e}" for k in hits), " ".join(map(str, hits))])
    stated = " ".join(f"{simmap.false_match_rate(v):.1e}" for v in LEVELS)
    rows.append(["stated by the map", stated, f"of {n:,}"])
    return rows


def mean_over_best(emb: np.ndarray, identity: np.ndarray) -> float:
    """The most the cosine to a User's mean vector exceeds their best face's, over the
    photo-User pairs (same person or not) whose mean-vector score reaches Similarity 80."""
    found, _, first, second, mean = two_face_users(emb, identity)
    reach = found[:, None] & (mean >= simmap.cosine_at(80))
    return float((mean - np.maximum(first, second))[reach].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    files, identity = read_lfw(args.data)
    ph = load_photos(args.data, files, args.cache)
    emb = {"sface": ph.emb}
    dl = load_dlib(args.data, files, args.cache)
    if dl is not None:
        emb["dlib"] = dl["emb"]
    is_fit = split_people(identity, SEED)
    halves = [
        Half({k: e[m] for k, e in emb.items()}, identity[m], ph.found[m]) for m in (is_fit, ~is_fit)
    ]
    fit, held = halves
    print(
        f"held-out half, gallery of {GALLERY} people (bench/identity.py's protocol); "
        "weights fitted on the fit half"
    )
    head = ["route", "rank-1", "FNIR at FPIR 1% 0.1%", "fitted"]
    print("\n== 1. Embeddings ==")
    table(embedding_rows(fit, held), head)
    print(misses(held, photos_of(ph, ~is_fit)))
    if dl is None:
        print("dlib: not importable and not cached (see bench/dlib_embed.py)")
    else:
        ms = np.nanmedian(dl["ms"])
        print(f"dlib ms per face (5-point chip + ResNet, 1 thread, median): {ms:.1f}")
    print("\n== 2. Quality-aware scoring (SFace + flip) ==")
    table(quality_rows(fit, held, quality_features(ph), is_fit), head)
    print(
        "\n== 3. Strangers against Users of two faces, per comparison (held-out half): share "
        f"and count at Similarity {' '.join(f'{v:g}' for v in LEVELS)} =="
    )
    table(user_rows(ph.emb[~is_fit], identity[~is_fit]), ["user score", "share", "count"])
    print(
        "the most a User's mean-vector cosine exceeds their best face's, over pairs reaching "
        "Similarity 80 with it: "
        + ", ".join(
            f"{name} half {mean_over_best(ph.emb[m], identity[m]):.3f}"
            for name, m in (("fit", is_fit), ("held-out", ~is_fit))
        )
    )


if __name__ == "__main__":
    main()
