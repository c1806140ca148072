"""Measurements read straight off the 478-point mesh.

The mouth's opening is the gap between the inner lips (points 13 and 14) divided by the
mouth's width (corners 61 and 291), so it does not depend on the face's size. The eyes'
opening is the same ratio for each eye: the mean gap between three pairs of upper and
lower eyelid points divided by the distance between the eye's corners, averaged over
both eyes.
"""

from __future__ import annotations

import numpy as np

LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
# Per eye: its two corners, and (upper, lower) eyelid points from one corner to the other.
# The first eye is the one on the image's left in a frontal face (iris centre 468).
EYE_CORNERS = ((33, 133), (362, 263))
EYELIDS = (((160, 144), (159, 145), (158, 153)), ((385, 380), (386, 374), (387, 373)))


def _distance(mesh: np.ndarray, a: int | list[int], b: int | list[int]) -> np.ndarray:
    return np.linalg.norm(mesh[:, a, :2] - mesh[:, b, :2], axis=-1)


def mouth_opening(mesh: np.ndarray) -> np.ndarray:
    """(N,) inner-lip gap / mouth width for (N, 478, 3) meshes."""
    gap = _distance(mesh, LIP_UPPER_INNER, LIP_LOWER_INNER)
    return gap / np.maximum(_distance(mesh, MOUTH_LEFT, MOUTH_RIGHT), 1e-6)


def eye_opening(mesh: np.ndarray) -> np.ndarray:
    """(N,) eyelid gap / eye width, the mean of both eyes, for (N, 478, 3) meshes."""
    per_eye = []
    for (a, b), lids in zip(EYE_CORNERS, EYELIDS):
        upper, lower = [p for p, _ in lids], [q for _, q in lids]
        gap = _distance(mesh, upper, lower).mean(axis=1)
        per_eye.append(gap / np.maximum(_distance(mesh, a, b), 1e-6))
    return np.mean(per_eye, axis=0)
