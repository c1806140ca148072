"""Head pose (roll, yaw, pitch in degrees) from the 3-D face mesh.

The face's own axes are read off the mesh: x from the image-left eye's outer corner to
the image-right one, y from between the brows to the chin, z their cross product. The
rotation they form is split into Tait-Bryan angles. Conventions (documented in
docs/faces.md): roll > 0 when the face is turned clockwise in the image, yaw > 0 when it
turns toward the image's right edge, pitch > 0 when it tilts up.
"""

from __future__ import annotations

import numpy as np

EYE_OUTER_LEFT, EYE_OUTER_RIGHT = 33, 263
BROW_MID, CHIN = 168, 152
# The brow-to-chin line leans back from the vertical: on the 88 near-frontal portraits of
# ../shared/dev-data (deepface_pairs, face_recognition_examples) the median raw pitch was 10.7.
PITCH_OFFSET_DEG = 10.7


def head_pose(mesh: np.ndarray) -> np.ndarray:
    """(N, 478, 3) -> (N, 3) roll, yaw, pitch in degrees."""
    out = np.zeros((len(mesh), 3), np.float32)
    for i, m in enumerate(mesh):
        x = m[EYE_OUTER_RIGHT] - m[EYE_OUTER_LEFT]
        y = m[CHIN] - m[BROW_MID]
        x = x / (np.linalg.norm(x) + 1e-9)
        y = y - x * float(x @ y)
        y = y / (np.linalg.norm(y) + 1e-9)
        z = np.cross(x, y)
        # Columns are the face axes in camera coordinates (x right, y down, z away).
        r = np.stack([x, y, z], axis=1)
        yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
        roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
        pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2])) - PITCH_OFFSET_DEG
        out[i] = (roll, yaw, pitch)
    return out
