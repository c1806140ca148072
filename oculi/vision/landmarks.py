"""Rekognition's 30 named landmarks, read off the 478-point mesh.

Names follow Rekognition: "left" and "right" are as seen in the image (eyeLeft is the
eye nearer the image's left edge). Points that are centres (eyes, pupils) average
several mesh points.
"""

from __future__ import annotations

import numpy as np

# name -> mesh indices averaged (MediaPipe canonical topology; the subject's right side
# is the image's left side for a face looking at the camera).
LANDMARK_MESH_INDICES: dict[str, tuple[int, ...]] = {
    "eyeLeft": (33, 133, 159, 145),
    "eyeRight": (263, 362, 386, 374),
    "nose": (1,),
    "mouthLeft": (61,),
    "mouthRight": (291,),
    "leftEyeBrowLeft": (70,),
    "leftEyeBrowRight": (107,),
    "leftEyeBrowUp": (105,),
    "rightEyeBrowLeft": (336,),
    "rightEyeBrowRight": (300,),
    "rightEyeBrowUp": (334,),
    "leftEyeLeft": (33,),
    "leftEyeRight": (133,),
    "leftEyeUp": (159,),
    "leftEyeDown": (145,),
    "rightEyeLeft": (362,),
    "rightEyeRight": (263,),
    "rightEyeUp": (386,),
    "rightEyeDown": (374,),
    "noseLeft": (98,),
    "noseRight": (327,),
    "mouthUp": (0,),
    "mouthDown": (17,),
    "leftPupil": (468,),
    "rightPupil": (473,),
    "upperJawlineLeft": (234,),
    "midJawlineLeft": (172,),
    "chinBottom": (152,),
    "midJawlineRight": (397,),
    "upperJawlineRight": (454,),
}

LANDMARK_NAMES: tuple[str, ...] = tuple(LANDMARK_MESH_INDICES)


def named_landmarks(mesh: np.ndarray) -> np.ndarray:
    """(N, 478, 3) mesh -> (N, 30, 2) points in LANDMARK_NAMES order, in pixels."""
    cols = [mesh[:, list(ix), :2].mean(axis=1) for ix in LANDMARK_MESH_INDICES.values()]
    return np.stack(cols, axis=1) if len(mesh) else np.zeros((0, 30, 2), np.float32)
