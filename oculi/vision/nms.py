"""Non-maximum suppression and greedy matching over axis-aligned boxes."""

from __future__ import annotations

import numpy as np


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """(N,) area of each box of (N, 4), x1 y1 x2 y2 (0 for an inverted box)."""
    return np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) area shared by every box of a (N, 4) and b (M, 4), x1 y1 x2 y2."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(rb - lt, 0, None), axis=2)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of a (N, 4) and b (M, 4), x1 y1 x2 y2."""
    inter = intersections(a, b)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def greedy_match(a: np.ndarray, b: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs (i in a, j in b), each box used once, taken by decreasing IoU while it is at
    least `min_iou`."""
    if not len(a) or not len(b):
        return []
    ious = iou_matrix(
        np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    )
    pairs: list[tuple[int, int]] = []
    used_a: set[int] = set()
    used_b: set[int] = set()
    for i, j in zip(*np.unravel_index(np.argsort(-ious, axis=None, kind="stable"), ious.shape)):
        if ious[i, j] < min_iou:
            break
        if i in used_a or j in used_b:
            continue
        pairs.append((int(i), int(j)))
        used_a.add(int(i))
        used_b.add(int(j))
    return pairs


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept, highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        ious = iou_matrix(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
