"""Face detection at several scales, for small faces in crowds.

A single-stage detector finds faces down to about 10-16 pixels; the faces at the back of a
crowd are smaller. Running it again on an upscaled copy of the image finds them: the copy
is cut into overlapping tiles (bounded memory, and a budget can be checked between tiles),
each tile's faces are moved back into the image's pixels, and the passes are merged by
non-maximum suppression. Only the small faces of an upscaled pass are kept: the large ones
are found at scale 1, and cut ones at tile edges would only add broken boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from oculi.vision.nms import nms
from oculi.vision.types import FaceDetections

Detector = Callable[[np.ndarray], FaceDetections]
TILE = 1024  # tile side, in pixels of the upscaled copy
# Tiles overlap by this much of the upscaled copy: a kept face (at most SMALL_FACE pixels
# of the original, times the scale) lies whole in at least one tile.
OVERLAP = 160
SMALL_FACE = 64.0  # upscaled passes keep faces at most this high, in original pixels


def tiles(
    width: int, height: int, tile: int = TILE, overlap: int = OVERLAP
) -> list[tuple[int, int, int, int]]:
    """x0 y0 x1 y1 windows of at most `tile` a side covering a width x height image, each
    overlapping its neighbours by `overlap` pixels."""

    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        step = tile - overlap
        count = -(-(n - overlap) // step)
        return [min(i * step, n - tile) for i in range(count)]

    return [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in starts(height)
        for x in starts(width)
    ]


def shift(faces: FaceDetections, dx: float, dy: float, factor: float) -> FaceDetections:
    """Faces found in a window at (dx, dy) of a copy scaled by 1 / `factor`, in the
    original image's pixels."""
    off = np.array([dx, dy], np.float32)
    boxes = (faces.boxes.reshape(-1, 2, 2) + off).reshape(-1, 4) * factor
    return faces.with_fields(boxes=boxes, keypoints=(faces.keypoints + off) * factor)


def detect_upscaled(
    detector: Detector,
    rgb: np.ndarray,
    scale: float,
    check: Callable[[], None] | None = None,
    max_height: float = SMALL_FACE,
) -> FaceDetections:
    """The faces at most `max_height` pixels high that `detector` finds on `rgb` scaled
    by `scale`, tile by tile, in `rgb`'s pixels. `check` runs before each tile (a budget)."""
    h, w = rgb.shape[:2]
    big = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    parts = []
    for x0, y0, x1, y1 in tiles(big.shape[1], big.shape[0]):
        if check is not None:
            check()
        found = detector(np.ascontiguousarray(big[y0:y1, x0:x1]))
        parts.append(shift(found, x0, y0, 1.0 / scale))
    faces = FaceDetections.concat(parts)
    return faces.take(np.nonzero(faces.boxes[:, 3] - faces.boxes[:, 1] <= max_height)[0])


def merge(parts: Sequence[FaceDetections], iou: float) -> FaceDetections:
    """Faces from several detectors or passes, overlaps suppressed, ranked by the networks'
    raw scores (calibration changes no box)."""
    faces = FaceDetections.concat(list(parts)) if len(parts) != 1 else parts[0]
    if len(parts) < 2 or not len(faces):
        return faces
    rank = faces.extra.get("raw_score", faces.scores)
    return faces.take(nms(faces.boxes, rank, iou))
