"""Maps from raw model scores to probabilities that mean what they say.

Each binary attribute is a logistic curve p = 1 / (1 + exp(-(slope * x + bias))) over one
raw score x. The constants were fitted by bench/face_attributes.py (`--fit`) on the
hand-labelled faces in bench/face_attributes_labels.csv and are checked there with a
reliability table (and a cross-validated one, because fit and check share the data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Logistic:
    slope: float
    bias: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = np.clip(self.slope * np.asarray(x, np.float64) + self.bias, -30.0, 30.0)
        return 1.0 / (1.0 + np.exp(-z))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 200) -> Logistic:
    """Maximum-likelihood logistic fit of binary labels `y` on one feature `x` (Newton's
    method, a little L2 on the slope so that separable data stays finite)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mu, sd = float(x.mean()), float(x.std() or 1.0)
    z = (x - mu) / sd
    w = np.zeros(2)
    a = np.stack([z, np.ones_like(z)], axis=1)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (p - y) + l2 * np.array([w[0], 0.0]) * len(z)
        hess = (a * (p * (1 - p))[:, None]).T @ a + l2 * len(z) * np.diag([1.0, 0.0])
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return Logistic(slope=float(w[0] / sd), bias=float(w[1] - w[0] * mu / sd))


def binary_answer(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, confidence 50..100) from P(true)."""
    p = np.asarray(p, np.float64)
    value = p >= 0.5
    return value, np.where(value, p, 1.0 - p) * 100.0
