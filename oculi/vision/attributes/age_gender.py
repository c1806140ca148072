"""Apparent age and gender with Cydral's dlib networks (CC0), run through onnxruntime.

Inputs are dlib face chips (64x64 for age, 32x32 for gender; see `align`), RGB, minus
the channel means, divided by 256, NCHW. The age network gives 81 class probabilities
for ages 0 (weighted 0.25) to 80; the gender network P(female), P(male).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oculi.vision.attributes.align import dlib_chip

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


def _probabilities(model: OnnxRunner, x: np.ndarray) -> np.ndarray:
    return np.asarray(next(iter(model(x).values())), np.float64)


def age_probabilities(model: OnnxRunner, faces: list[Face]) -> np.ndarray:
    """(N, 81) probabilities of ages 0..80."""
    if not faces:
        return np.zeros((0, len(AGES)))
    return _probabilities(model, chips_tensor(faces, AGE_CHIP))


def male_probability(model: OnnxRunner, faces: list[Face]) -> np.ndarray:
    """(N,) the network's P(male)."""
    if not faces:
        return np.zeros((0,))
    return _probabilities(model, chips_tensor(faces, GENDER_CHIP))[:, 1]


def expected_age(probs: np.ndarray) -> np.ndarray:
    """(N,) the mean of each face's age distribution, in years."""
    return probs @ AGES


def age_range(probs: np.ndarray, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) whole years: the expected age +- `half_width`, kept inside 0..100."""
    age = expected_age(probs)
    low = np.clip(np.rint(age - half_width), 0, None).astype(int)
    high = np.clip(np.rint(age + half_width), None, 100).astype(int)
    return low, high
