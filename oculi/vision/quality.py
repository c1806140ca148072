"""Face image quality: brightness and sharpness on Rekognition's 0-100 scales.

Both are measured on the face box normalised to 112x112 grey pixels (the resolution a
face matcher sees), so a small, upscaled face reads as less sharp than a large one.
Brightness is the mean grey level in percent. Sharpness maps the variance of the
Laplacian v to 100 * (1 - exp(-v / SHARPNESS_SCALE)): a sharp, well focused face reads
above 60, a Gaussian blur of sigma 3 below 20 (tests/test_quality.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from oculi.vision.types import FaceDetections

SIZE = 112
SHARPNESS_SCALE = 150.0


def face_quality(rgb: np.ndarray, faces: FaceDetections) -> FaceDetections:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    q = np.zeros((len(faces), 2), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(faces.boxes):
        xa, ya = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
        xb, yb = int(min(w, np.ceil(x2))), int(min(h, np.ceil(y2)))
        if xb - xa < 2 or yb - ya < 2:
            continue
        crop = cv2.resize(grey[ya:yb, xa:xb], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        brightness = float(crop.mean()) / 255.0 * 100.0
        var = float(cv2.Laplacian(crop, cv2.CV_64F).var())
        sharpness = 100.0 * (1.0 - np.exp(-var / SHARPNESS_SCALE))
        q[i] = (brightness, sharpness)
    return faces.with_fields(quality=q)
