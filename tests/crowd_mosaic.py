"""A crowd of small, hand-labelled faces: dlib's labelled PASCAL VOC group photos
(tests/fixtures, see ATTRIBUTION.md) scaled down and tiled into one image."""

from __future__ import annotations

import json

import cv2
import numpy as np

from oculi.vision.decode import decode
from tests.conftest import FIXTURES

PHOTOS = ("2007_007763.jpg", "2008_002079.jpg", "2008_004176.jpg", "2008_007676.jpg")
SHRINK, GRID = 3, 6  # each photo scaled by 1/3 into a cell of a 6 x 6 crowd


def crowd(
    shrink: int = SHRINK, columns: int = GRID, rows: int = GRID
) -> tuple[np.ndarray, np.ndarray]:
    """A columns x rows mosaic of four dlib-labelled group photos scaled by 1 / `shrink`
    (by default 996 x 876 pixels, 243 faces 12-18 pixels high), and its labelled x1 y1 x2
    y2 boxes."""
    labels = json.loads((FIXTURES / "dlib_voc_faces.json").read_text())
    cell = (500 // shrink, 440 // shrink)
    out = np.zeros((cell[1] * rows, cell[0] * columns, 3), np.uint8)
    boxes = []
    for i in range(columns * rows):
        name = PHOTOS[i % 4]
        rgb = decode((FIXTURES / name).read_bytes()).rgb
        small = cv2.resize(
            rgb, (rgb.shape[1] // shrink, rgb.shape[0] // shrink), interpolation=cv2.INTER_AREA
        )
        small = small[: cell[1], : cell[0]]
        x0, y0 = (i % columns) * cell[0], (i // columns) * cell[1]
        out[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
        for x, y, w, h in labels[name]:
            boxes.append([x0, y0, x0, y0] + np.array([x, y, x + w, y + h]) / shrink)
    return out, np.array(boxes, np.float32)
