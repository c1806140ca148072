"""Apparent age and gender with Cydral's dlib networks (CC0), run through onnxruntime.

Inputs are dlib face chips (64x64 for age, 32x32 for gender; see `align`), RGB, minus
the channel means, divided by 256, NCHW. The age network gives 81 class probabilities
for ages 0 (weighted 0.25) to 80; the gender network P(female), P(male). The gender
network reads the chip and its mirror image and the two answers are averaged (on
held-out UTKFace faces 13+: Asian 0.929 to 0.943, Indian 0.938 to 0.947, others the same;
a second 32x32 run costs a fraction of a millisecond). For age the mirror cut the mean
error only from 5.94 to 5.87 years at twice the cost (the 64x64 network is the costly
one), so it is not used.

AgeRange is a split-conformal interval in log(age + 1), fitted on half of UTKFace
(`age_interval`, constants in `AGE_INTERVALS`): the network's distribution gives a centre
(its mean log age) and a spread (its standard deviation in log age), and per band of the
expected age the interval spans the fit half's quantiles of the true age's offset from the
centre in units of the spread. A baby's range is a few years wide, an old face's decades.

Gender Confidence goes through a logistic curve over the network's logit and that logit
times a child weight (1 at age 0, 0 from 13 years), so that the confidence of a child's
answer is as low as the network's accuracy on children (`gender_features`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oculi.vision.attributes.align import dlib_chip
from oculi.vision.attributes.calibration import Logistic

MEANS = np.array([122.781998, 117.000999, 104.297997], np.float32)
AGE_CHIP, GENDER_CHIP = 64, 32
AGES = np.array([0.25, *range(1, 81)], np.float64)

OnnxRunner = Callable[[np.ndarray], dict[str, np.ndarray]]


Face = tuple[np.ndarray, np.ndarray]  # (image, mesh in its pixels), see align.face_canvas


def chips_tensor(faces: list[Face], size: int) -> np.ndarray:
    """(N, 3, size, size) float32 network input, one chip per face."""
    chips = np.stack([dlib_chip(image, mesh, size) for image, mesh in faces])
    chips = chips.astype(np.float32)
    return np.ascontiguousarray(((chips - MEANS) / 256.0).transpose(0, 3, 1, 2))


# AgeRange (split-conformal, see module doc): per band of expected age [edge, next edge),
# the (low, high) quantiles of (log(true age + 1) - centre) / (SPREAD_FLOOR + spread),
# 9th and 91st percentiles. Fitted on the even rows of utkface_dev by
# `python bench/attributes_eval.py --data ../shared/dev-data/eval-dev --fit`.
SPREAD_FLOOR = 0.1
AGE_INTERVALS: tuple[tuple[float, float, float], ...] = (
    (0.0, -0.6, 4.39),
    (6.0, -1.23, 1.39),
    (13.0, -2.02, 0.6),
    (20.0, -2.84, 1.0),
    (30.0, -2.05, 1.85),
    (45.0, -1.32, 1.14),
    (60.0, -1.06, 0.99),
)
# Gender: fitted there too (the curve is symmetric: no bias, so the answer is the network's).
CHILD_AGE = 13.0
GENDER = Logistic(slope=(0.5051, -0.3514), bias=0.0)


def _probabilities(model: OnnxRunner, x: np.ndarray) -> np.ndarray:
    return np.asarray(next(iter(model(x).values())), np.float64)


def _mirrored_probabilities(model: OnnxRunner, x: np.ndarray) -> np.ndarray:
    """The network's probabilities for `x` and its mirror image, averaged."""
    both = np.ascontiguousarray(np.concatenate([x, x[:, :, :, ::-1]]))
    p = _probabilities(model, both)
    return (p[: len(x)] + p[len(x) :]) / 2.0


def age_probabilities(model: OnnxRunner, faces: list[Face]) -> np.ndarray:
    """(N, 81) probabilities of ages 0..80."""
    if not faces:
        return np.zeros((0, len(AGES)))
    return _probabilities(model, chips_tensor(faces, AGE_CHIP))


def male_probability(model: OnnxRunner, faces: list[Face]) -> np.ndarray:
    """(N,) the network's P(male)."""
    if not faces:
        return np.zeros((0,))
    return _mirrored_probabilities(model, chips_tensor(faces, GENDER_CHIP))[:, 1]


def expected_age(probs: np.ndarray) -> np.ndarray:
    """(N,) the mean of each face's age distribution, in years."""
    return probs @ AGES


def log_age_spread(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) mean and (N,) standard deviation of log(age + 1) under each distribution."""
    log_ages = np.log(AGES + 1.0)
    centre = probs @ log_ages
    spread = np.sqrt(np.clip(probs @ log_ages**2 - centre**2, 0.0, None))
    return centre, spread


def age_offsets(probs: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """(N,) the conformal score of true `ages`: offset from the centre in spread units."""
    centre, spread = log_age_spread(probs)
    return (np.log(np.asarray(ages, np.float64) + 1.0) - centre) / (SPREAD_FLOOR + spread)


def age_band(probs: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """(N,) index of the band of `edges` (ascending, first 0) holding the expected age."""
    return np.searchsorted(np.array(edges), expected_age(probs), side="right") - 1


def fit_age_intervals(
    probs: np.ndarray, ages: np.ndarray, coverage: float = 0.82
) -> tuple[tuple[float, float, float], ...]:
    """AGE_INTERVALS rows for the given labelled faces, band edges as in AGE_INTERVALS."""
    edges = tuple(row[0] for row in AGE_INTERVALS)
    bands = age_band(probs, edges)
    score = age_offsets(probs, ages)
    tails = ((1.0 - coverage) / 2.0, (1.0 + coverage) / 2.0)
    rows = []
    for k, edge in enumerate(edges):
        low, high = np.quantile(score[bands == k], tails)
        rows.append((edge, round(float(low), 2), round(float(high), 2)))
    return tuple(rows)


def age_interval(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) whole years of AgeRange per face, kept inside 0..100."""
    edges = tuple(row[0] for row in AGE_INTERVALS)
    table = np.array([row[1:] for row in AGE_INTERVALS])[age_band(probs, edges)]
    centre, spread = log_age_spread(probs)
    width = SPREAD_FLOOR + spread
    low = np.exp(centre + table[:, 0] * width) - 1.0
    high = np.exp(centre + table[:, 1] * width) - 1.0
    low = np.clip(np.rint(low), 0, 100).astype(int)
    high = np.clip(np.rint(high), 0, 100).astype(int)
    return low, np.maximum(high, low)


def gender_features(male: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(N, 2) the gender curve's inputs: logit P(male), and it times the child weight."""
    p = np.clip(np.asarray(male, np.float64), 1e-6, 1.0 - 1e-6)
    logit = np.log(p / (1.0 - p))
    child = np.clip((CHILD_AGE - expected_age(probs)) / CHILD_AGE, 0.0, 1.0)
    return np.stack([logit, logit * child], axis=1)


def male_confidence(male: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(N,) calibrated P(male) from the network's P(male) and the age distribution."""
    return GENDER(gender_features(male, probs))
