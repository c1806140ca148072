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
    """One slope for one raw score (x of shape (N,)), or a tuple of slopes, one per
    column of x (shape (N, k)), for a curve over several scores."""

    slope: float | tuple[float, ...]
    bias: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        z = x @ np.array(self.slope) if isinstance(self.slope, tuple) else self.slope * x
        z = np.clip(z + self.bias, -30.0, 30.0)
        return 1.0 / (1.0 + np.exp(-z))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 200) -> Logistic:
    """Maximum-likelihood logistic fit of binary labels `y` on one feature `x` (N,) or
    several (N, k) (Newton's method, a little L2 on the slopes so that separable data
    stays finite)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    cols = x.reshape(len(x), -1)
    mu, sd = cols.mean(axis=0), cols.std(axis=0)
    sd[sd == 0] = 1.0
    z = (cols - mu) / sd
    k = z.shape[1]
    a = np.concatenate([z, np.ones((len(z), 1))], axis=1)
    penalty = l2 * len(z) * np.diag([1.0] * k + [0.0])
    w = np.zeros(k + 1)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (p - y) + penalty @ w
        hess = (a * (p * (1 - p))[:, None]).T @ a + penalty
        step = np.linalg.solve(hess + 1e-9 * np.eye(k + 1), grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    slopes = w[:k] / sd
    bias = float(w[k] - slopes @ mu)
    if x.ndim == 1:
        return Logistic(slope=float(slopes[0]), bias=bias)
    return Logistic(slope=tuple(float(s) for s in slopes), bias=bias)


def binary_answer(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, confidence 50..100) from P(true)."""
    p = np.asarray(p, np.float64)
    value = p >= 0.5
    return value, np.where(value, p, 1.0 - p) * 100.0
