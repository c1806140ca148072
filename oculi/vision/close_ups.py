"""Faces that fill the frame: the detector's pieces of one face, and the whole face.

On a close-up (a face cut out of a photo and sent large) the detector often returns
several overlapping boxes that are each a part of the one face (its upper half, its lower
two thirds), each with a middling score, and no box around the whole face. The analyzer
then looks again on the image framed by a grey border (`FaceAnalyzer.detect_padded`),
where the face has room around it and is found whole; `whole_faces` keeps that face in
place of its pieces.
"""

from __future__ import annotations

import numpy as np

from oculi.vision.nms import box_areas, intersections, iou_matrix
from oculi.vision.types import FaceDetections

# A face is a close-up's when its box's longer side is at least this share of the
# image's shorter side.
CLOSE_UP = 0.4
# Two boxes are pieces of one face when the intersection holds at least this share of the
# smaller box (where the faces of a group photo overlap this much, the second look finds
# each of them again, matching the boxes found, which are kept).
PIECE_OVERLAP = 0.1
# A box is inside a face found whole when the intersection holds this share of it.
INSIDE = 0.5
SAME_FACE_IOU = 0.5


def _cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) the share of each box of `a` that lies inside each box of `b`."""
    return intersections(a, b) / np.maximum(box_areas(a), 1e-9)[:, None]


def looks_broken(faces: FaceDetections, width: int, height: int) -> bool:
    """Whether a large face overlaps another found face as pieces of one face do."""
    if len(faces) < 2:
        return False
    boxes = faces.boxes.astype(np.float64)
    big = (boxes[:, 2:] - boxes[:, :2]).max(axis=1) >= CLOSE_UP * min(width, height)
    cover = _cover(boxes, boxes)
    shared = np.maximum(cover, cover.T)
    np.fill_diagonal(shared, 0.0)
    return bool((shared[big] >= PIECE_OVERLAP).any())


def whole_faces(found: FaceDetections, whole: FaceDetections) -> FaceDetections:
    """`found` with the pieces of each face of `whole` (found faces mostly inside it)
    replaced: by the found face that matches it (IoU >= SAME_FACE_IOU) when there is one,
    else by the whole face itself. Found faces inside no whole face are kept."""
    if not len(found) or not len(whole):
        return found
    boxes = found.boxes.astype(np.float64)
    inside = _cover(boxes, whole.boxes.astype(np.float64)) >= INSIDE
    iou = iou_matrix(boxes, whole.boxes.astype(np.float64))
    keep = np.ones(len(found), bool)
    added = []
    for j in range(len(whole)):
        pieces = np.flatnonzero(inside[:, j] & keep)
        if not len(pieces):
            continue
        keep[pieces] = False
        best = pieces[np.argmax(iou[pieces, j])]
        if iou[best, j] >= SAME_FACE_IOU:
            keep[best] = True
        else:
            added.append(j)
    return FaceDetections.concat(
        [found.take(np.flatnonzero(keep)), whole.take(np.array(added, int))]
    )
