"""Cosine similarity of two face embeddings -> Rekognition's 0-100 Similarity.

Similarity states a false-match rate: the share of comparisons between two different
people that reach it. Two steps, each a straight line or a fixed curve:

1. decades: -log10 of the false-match rate at cosine c. Over the measured range it is close
   to a straight line in c, fitted by `python -m bench.identity --fit` on all
   different-person pairs of one half of LFW's dev people (docs/face-matching.md);
2. Similarity = 100 / (1 + exp(-K * (decades - D50))), with K and D50 fixed so that
   Similarity 80 states a false-match rate of 1e-4 and Similarity 99 one of 1e-6.

Beyond the rates the data measured (about 1e-6) the line is extrapolated.
"""

from __future__ import annotations

import math

import numpy as np

# Fitted by `python -m bench.identity --fit` (see docs/face-matching.md).
COSINE_1E6 = 0.5423  # the cosine at which one different-person pair in a million matches
DECADES_PER_COSINE = 16.0  # how fast the false-match rate falls as cosine rises

# Fixed: Similarity 80 <-> false-match rate 1e-4, Similarity 99 <-> 1e-6.
K = (math.log(99) - math.log(4)) / 2.0
D50 = 4.0 - math.log(4) / K  # the decades at Similarity 50


def _decades_at(similarity_threshold: float) -> float:
    s = min(max(similarity_threshold, 1e-9), 100.0 - 1e-9) / 100.0
    return D50 + math.log(s / (1.0 - s)) / K


def similarity(cosine: np.ndarray | float) -> np.ndarray:
    """0-100, monotonic in cosine."""
    decades = 6.0 + DECADES_PER_COSINE * (np.asarray(cosine, dtype=np.float64) - COSINE_1E6)
    return 100.0 / (1.0 + np.exp(-K * (decades - D50)))


def cosine_at(similarity_threshold: float) -> float:
    """The cosine at which Similarity equals the threshold (inverse of `similarity`)."""
    return COSINE_1E6 + (_decades_at(similarity_threshold) - 6.0) / DECADES_PER_COSINE


def false_match_rate(similarity_threshold: float) -> float:
    """The share of different-person comparisons that reach this Similarity."""
    return 10.0 ** -_decades_at(similarity_threshold)


def similarity_at(rate: float) -> float:
    """The Similarity threshold whose false-match rate is `rate` (inverse of
    `false_match_rate`)."""
    decades = -math.log10(min(max(rate, 1e-300), 1.0))
    return 100.0 / (1.0 + math.exp(-K * (decades - D50)))
