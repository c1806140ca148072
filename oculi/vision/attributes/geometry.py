"""Measurements read straight off the 478-point mesh.

The mouth's opening is the gap between the inner lips (points 13 and 14) divided by the
mouth's width (corners 61 and 291), so it does not depend on the face's size.
"""

from __future__ import annotations

import numpy as np

LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291


def mouth_opening(mesh: np.ndarray) -> np.ndarray:
    """(N,) inner-lip gap / mouth width for (N, 478, 3) meshes."""
    gap = np.linalg.norm(mesh[:, LIP_UPPER_INNER, :2] - mesh[:, LIP_LOWER_INNER, :2], axis=1)
    width = np.linalg.norm(mesh[:, MOUTH_LEFT, :2] - mesh[:, MOUTH_RIGHT, :2], axis=1)
    return gap / np.maximum(width, 1e-6)
