"""MediaPipe's face blendshapes (52 ARKit-style expression scores) from the face mesh.

The model (face_blendshapes.tflite, the same MediaPipe face_landmarker.task as the mesh)
reads 146 of the 478 mesh points, x and y only, as a (1, 146, 2) float tensor. MediaPipe
feeds them in the image's pixels (its normalised landmarks times the image size); the
model normalises them itself, so a shift or a uniform scale of the points does not change
its answer, and oculi's mesh, already in image pixels, goes in as it is. The output is 52
scores in [0, 1] in `NAMES` order (the first, "_neutral", MediaPipe says to ignore).
Point subset and names: MediaPipe's face_blendshapes_graph.cc.

No attribute uses it: bench/face_attributes.py measures MouthOpen and EyesOpen from it
beside the mesh geometry, which read the labelled faces better (docs/face-attributes.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# The mesh points the model reads, in its input order (MediaPipe's kLandmarksSubsetIdxs).
LANDMARKS = (
    *(0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58),
    *(61, 63, 65, 66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109),
    *(127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159),
    *(160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249),
    *(251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300),
    *(308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362),
    *(365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390),
    *(397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474, 475),
    *(476, 477),
)
NAMES = (
    *("_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft"),
    *("browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight"),
    *("eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight"),
    *("eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight"),
    *("eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight"),
    *("eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight"),
    *("mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft"),
    *("mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft"),
    *("mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker"),
    *("mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower"),
    *("mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft"),
    *("mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft"),
    *("noseSneerRight",),
)


def blendshape_scores(
    model: Callable[[np.ndarray], list[np.ndarray]], mesh: np.ndarray
) -> np.ndarray:
    """(N, 52) scores in NAMES order for (N, 478, 3) meshes in image pixels."""
    out = np.zeros((len(mesh), len(NAMES)), np.float64)
    for i, points in enumerate(mesh):
        x = np.ascontiguousarray(points[list(LANDMARKS), :2], np.float32)[None]
        out[i] = np.asarray(model(x)[0], np.float64).reshape(-1)
    return out


def named(scores: np.ndarray, *names: str) -> np.ndarray:
    """The columns of `scores` for the given blendshape names, (N, len(names))."""
    return scores[:, [NAMES.index(n) for n in names]]
