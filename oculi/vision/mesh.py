"""478-point face mesh (MediaPipe Face Mesh V2) on crops aligned by the detector's eyes.

Each face is cut out as a square 1.5x its box, rotated so the eyes are level, resized to
256x256; the model's points are mapped back to image pixels (z in the same scale).

The detector's eye points assume an upright head: on a face turned far in the image plane
(or upside down) they mislead the crop, and the mesh model then reports no face (its score
near 0) and returns points that are no face's, from which pose reads nonsense. When the
score is below MESH_OK the crop is turned by a half and by a quarter either way in turn,
and a turned crop's mesh is kept only if the model scores it MESH_OK or more (on small or
profile faces turned crops often score a little higher than the upright one while being
no better), so the extra cost falls only on faces the model doubts.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from oculi.vision.types import FaceDetections

INPUT = 256
CROP_SCALE = 1.5
MESH_OK = 0.99
RETRY_TURNS_DEG = (180.0, 90.0, -90.0)


def crop_transform(box: np.ndarray, keypoints: np.ndarray, turn: float = 0.0) -> np.ndarray:
    """2x3 affine from image pixels to the 256x256 model input for one face, the crop
    turned a further `turn` degrees (counter-clockwise) from eyes-level."""
    eye_l, eye_r = keypoints[0], keypoints[1]
    angle = float(np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))) + turn
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * CROP_SCALE
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, INPUT / max(side, 1.0))
    m[:, 2] += (INPUT / 2 - cx, INPUT / 2 - cy)
    return m


def run_mesh(
    model: Callable[[np.ndarray], list[np.ndarray]], rgb: np.ndarray, faces: FaceDetections
) -> FaceDetections:
    """Add `mesh` (N, 478, 3) and `extra['mesh_score']` (N,) to the faces."""
    n = len(faces)
    mesh = np.zeros((n, 478, 3), np.float32)
    score = np.zeros((n,), np.float32)
    for i in range(n):
        mesh[i], score[i] = _mesh_one(model, rgb, faces.boxes[i], faces.keypoints[i], 0.0)
        for turn in RETRY_TURNS_DEG:
            if score[i] >= MESH_OK:
                break
            pts, s = _mesh_one(model, rgb, faces.boxes[i], faces.keypoints[i], turn)
            if s >= MESH_OK:
                mesh[i], score[i] = pts, s
    return faces.with_fields(mesh=mesh, extra={**faces.extra, "mesh_score": score})


def _mesh_one(
    model: Callable[[np.ndarray], list[np.ndarray]],
    rgb: np.ndarray,
    box: np.ndarray,
    keypoints: np.ndarray,
    turn: float,
) -> tuple[np.ndarray, float]:
    """One face's (478, 3) mesh in image pixels and the model's face score (0-1)."""
    m = crop_transform(box, keypoints, turn)
    crop = cv2.warpAffine(
        rgb, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    outs = model((crop.astype(np.float32) / 255.0)[None])
    pts = outs[0].reshape(478, 3)
    score = 1.0 / (1.0 + np.exp(-float(outs[1].reshape(-1)[0])))
    inv = cv2.invertAffineTransform(m)
    xy = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
    scale = float(np.hypot(inv[0, 0], inv[0, 1]))
    return np.concatenate([xy, pts[:, 2:3] * scale], axis=1), score
