"""478-point face mesh (MediaPipe Face Mesh V2) on crops aligned by the detector's eyes.

Each face is cut out as a square 1.5x its box, rotated so the eyes are level, resized to
256x256; the model's points are mapped back to image pixels (z in the same scale).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from oculi.vision.types import FaceDetections

INPUT = 256
CROP_SCALE = 1.5


def crop_transform(box: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """2x3 affine from image pixels to the 256x256 model input for one face."""
    eye_l, eye_r = keypoints[0], keypoints[1]
    angle = float(np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0])))
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
        m = crop_transform(faces.boxes[i], faces.keypoints[i])
        crop = cv2.warpAffine(
            rgb, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        x = (crop.astype(np.float32) / 255.0)[None]
        outs = model(x)
        pts = outs[0].reshape(478, 3)
        score[i] = 1.0 / (1.0 + np.exp(-float(outs[1].reshape(-1)[0])))
        inv = cv2.invertAffineTransform(m)
        xy = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        scale = float(np.hypot(inv[0, 0], inv[0, 1]))
        mesh[i] = np.concatenate([xy, pts[:, 2:3] * scale], axis=1)
    return faces.with_fields(mesh=mesh, extra={**faces.extra, "mesh_score": score})
