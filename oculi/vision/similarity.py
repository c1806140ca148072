"""Cosine similarity of two face embeddings -> Rekognition's 0-100 Similarity.

A logistic map, fitted by bench/face_match.py on labelled same/different pairs, so that
Similarity reads as a calibrated score: the false-match and miss rates at Similarity
thresholds 80, 90, 95 and 99 are published in docs/face-matching.md.
"""

from __future__ import annotations

import numpy as np

# Fitted by `python bench/face_match.py --fit` (see docs/face-matching.md).
CENTRE = 0.3172
SLOPE = 42.2


def similarity(cosine: np.ndarray | float) -> np.ndarray:
    """0-100, monotonic in cosine."""
    c = np.asarray(cosine, dtype=np.float64)
    return 100.0 / (1.0 + np.exp(-SLOPE * (c - CENTRE)))


def cosine_at(similarity_threshold: float) -> float:
    """The cosine at which Similarity equals the threshold (inverse of `similarity`)."""
    s = min(max(similarity_threshold, 1e-9), 100.0 - 1e-9) / 100.0
    return float(CENTRE + np.log(s / (1.0 - s)) / SLOPE)
