"""Draw faces (boxes, scores, landmarks) onto an image copy."""

from __future__ import annotations

import cv2
import numpy as np

from oculi.vision.landmarks import named_landmarks
from oculi.vision.types import FaceDetections


def draw_faces(rgb: np.ndarray, faces: FaceDetections) -> np.ndarray:
    out = np.ascontiguousarray(rgb.copy())
    thick = max(1, round(max(rgb.shape[:2]) / 500))
    lms = named_landmarks(faces.mesh) if faces.mesh is not None else None
    for i in range(len(faces)):
        x1, y1, x2, y2 = (int(round(v)) for v in faces.boxes[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 220, 0), thick)
        cv2.putText(
            out,
            f"{faces.scores[i] * 100:.0f}",
            (x1, max(0, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4 * thick,
            (0, 220, 0),
            thick,
        )
        points = lms[i] if lms is not None else faces.keypoints[i]
        for x, y in points:
            cv2.circle(out, (int(round(x)), int(round(y))), thick + 1, (255, 40, 40), -1)
    return out
