"""Head pose (roll, yaw, pitch in degrees) from the 3-D face mesh, or from the detector's
five points where the mesh model found no face.

The face's own axes are read off the mesh: x from the image-left eye's outer corner to
the image-right one, y from between the brows to the chin, z their cross product. The
rotation they form is split into Tait-Bryan angles. Conventions (documented in
docs/faces.md): roll > 0 when the face is turned clockwise in the image, yaw > 0 when it
turns toward the image's left edge, pitch > 0 when it tilts up.

The mesh model fails on faces turned far from the camera (a profile, say): it scores them
near 0 and returns points that are no face's, whose axes give any angle at all (an upright
profile read roll 161). For those faces the pose is the rotation that best carries FACE5, a
frontal face's five points in the same axes, onto the detector's five points (SQPnP).
"""

from __future__ import annotations

import cv2
import numpy as np

EYE_OUTER_LEFT, EYE_OUTER_RIGHT = 33, 263
BROW_MID, CHIN = 168, 152
# The brow-to-chin line leans back from the vertical: on the 88 near-frontal portraits of
# ../shared/dev-data (deepface_pairs, face_recognition_examples) the median raw pitch was 10.7.
PITCH_OFFSET_DEG = 10.7
# Below this mesh score (0-1) the mesh model found no face and pose comes from the detector.
MESH_FOUND = 0.5
# Eye centres, nose tip and mouth corners (the detector's order: image-left first) of a
# frontal face in the mesh's axes (x right, y down, z away from the camera), in units of
# the distance between the eye centres: the symmetrised mean of the meshes of two
# near-frontal portraits (obama-480p, biden in dev-data's face_recognition_examples).
FACE5 = np.array(
    [[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.56, -0.72], [-0.5, 1.02, -0.11], [0.5, 1.02, -0.11]]
)
# The pitch the five points read on faces whose mesh pitch is 0: on the 44 faces of
# dev-data's dlib_faces_voc with a confident mesh, the five points' raw pitch sat a median
# 9.1 degrees below the mesh's.
FIVE_PITCH_OFFSET_DEG = PITCH_OFFSET_DEG - 9.1
# Focal length in face sizes: a face filling a quarter of an ordinary lens's view.
FOCAL_PER_FACE = 4.0


def _angles(r: np.ndarray, pitch_offset: float) -> tuple[float, float, float]:
    """Rotation whose columns are the face's axes in camera coordinates -> roll, yaw, pitch."""
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2])) - pitch_offset
    return float(roll), float(yaw), float(pitch)


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
        out[i] = _angles(np.stack([x, y, z], axis=1), PITCH_OFFSET_DEG)
    return out


def keypoint_pose(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 5, 2) detector points and (N, 4) boxes -> (N, 3) roll, yaw, pitch in degrees."""
    out = np.zeros((len(keypoints), 3), np.float32)
    for i, (kp, box) in enumerate(zip(keypoints, boxes)):
        f = FOCAL_PER_FACE * max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        camera = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
        ok, rvec, _ = cv2.solvePnP(
            FACE5, kp.astype(np.float64), camera, None, flags=cv2.SOLVEPNP_SQPNP
        )
        if ok:
            out[i] = _angles(cv2.Rodrigues(rvec)[0], FIVE_PITCH_OFFSET_DEG)
    return out


def face_pose(
    mesh: np.ndarray, mesh_score: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray
) -> np.ndarray:
    """(N, 3) roll, yaw, pitch: from the mesh where the mesh model found the face, else
    from the detector's five points."""
    pose = head_pose(mesh)
    lost = np.nonzero(mesh_score < MESH_FOUND)[0]
    if len(lost):
        pose[lost] = keypoint_pose(keypoints[lost], boxes[lost])
    return pose
