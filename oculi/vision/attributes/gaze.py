"""Eye direction (EyeDirection): where the eyes look relative to the head, in degrees.

Geometric model: each eye is a ball that turns about its centre, and the iris centre
(mesh points 468 and 473) sits on the ball's surface. The ball's radius is EYEBALL_RATIO
times the eye's corner-to-corner width (an adult eyeball's radius is about 12 mm, the
eye's width about 30 mm), the width taken in 3-D so that a turned head does not shrink
it. The eye's corners lie about as deep as the ball's centre, so in the image the iris
centre's offset from the corners' midpoint, along the corner-to-corner line (yaw) and
across it (pitch), divided by the radius, is the sine of the eye's direction as seen from
the camera. Rekognition's EyeDirection is independent of the head's pose, so the head's
yaw and pitch (`oculi.vision.pose`) are taken off. The two eyes are averaged. When an iris
centre lies off its ball (a sine beyond 1: the mesh missed the iris) there is no estimate
(NaN here; the face's answer leaves EyeDirection out).

Conventions are the head pose's (docs/faces.md): yaw > 0 when the eyes turn toward the
image's right edge, pitch > 0 when they look up. No ground-truth gaze was available, so
the model is checked for consistency only (bench/face_attributes.py,
docs/face-attributes.md), and the answer has no Confidence.
"""

from __future__ import annotations

import numpy as np

from oculi.vision.attributes.geometry import EYE_CORNERS
from oculi.vision.pose import head_pose

IRIS_CENTRES = (468, 473)
EYEBALL_RATIO = 0.4
# The iris centre of an eye looking straight ahead sits above the corners' midpoint: on
# the labelled faces that look at the camera with a frontal head (|yaw|, |pitch| < 10) the
# median raw pitch was this (bench/face_attributes.py --fit).
PITCH_OFFSET_DEG = 10.2


def gaze_from_camera(mesh: np.ndarray) -> np.ndarray:
    """(N, 2) yaw, pitch in degrees of the eyes' direction as seen from the camera."""
    xy = mesh[:, :, :2].astype(np.float64)
    yaw, pitch = [], []
    for (a, b), iris in zip(EYE_CORNERS, IRIS_CENTRES):
        along = xy[:, b] - xy[:, a]
        along /= np.maximum(np.linalg.norm(along, axis=1), 1e-6)[:, None]
        down = np.stack([-along[:, 1], along[:, 0]], axis=1)
        offset = xy[:, iris] - (xy[:, a] + xy[:, b]) / 2.0
        width = np.linalg.norm(mesh[:, b].astype(np.float64) - mesh[:, a], axis=1)
        radius = EYEBALL_RATIO * np.maximum(width, 1e-6)
        with np.errstate(invalid="ignore"):
            yaw.append(np.arcsin((offset * along).sum(1) / radius))
            pitch.append(np.arcsin(-(offset * down).sum(1) / radius))
    out = np.degrees(np.stack([np.mean(yaw, axis=0), np.mean(pitch, axis=0)], axis=1))
    out[:, 1] -= PITCH_OFFSET_DEG
    out[np.isnan(out).any(axis=1)] = np.nan
    return out


def eye_direction(mesh: np.ndarray) -> np.ndarray:
    """(N, 2) yaw, pitch in degrees of the eyes relative to the head, for (N, 478, 3)
    meshes; NaN where an iris was missed."""
    return gaze_from_camera(mesh) - head_pose(mesh)[:, 1:].astype(np.float64)
