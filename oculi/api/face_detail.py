"""FaceDetections -> Rekognition's FaceDetail JSON (ratios of the image's size)."""

from __future__ import annotations

from typing import Any

from oculi.service.detect_faces import FaceResult
from oculi.vision.landmarks import LANDMARK_NAMES, named_landmarks


def face_details(result: FaceResult) -> list[dict[str, Any]]:
    faces, w, h = result.faces, float(result.width), float(result.height)
    lms = named_landmarks(faces.mesh) if faces.mesh is not None else None
    out = []
    for i in range(len(faces)):
        x1, y1, x2, y2 = (float(v) for v in faces.boxes[i])
        d: dict[str, Any] = {
            "BoundingBox": {
                "Width": (x2 - x1) / w,
                "Height": (y2 - y1) / h,
                "Left": x1 / w,
                "Top": y1 / h,
            },
        }
        if lms is not None:
            d["Landmarks"] = [
                {"Type": name, "X": float(p[0]) / w, "Y": float(p[1]) / h}
                for name, p in zip(LANDMARK_NAMES, lms[i])
            ]
        if faces.pose is not None:
            roll, yaw, pitch = (float(v) for v in faces.pose[i])
            d["Pose"] = {"Roll": roll, "Yaw": yaw, "Pitch": pitch}
        if faces.quality is not None:
            b, s = (float(v) for v in faces.quality[i])
            d["Quality"] = {"Brightness": b, "Sharpness": s}
        d["Confidence"] = float(faces.scores[i]) * 100.0
        d.update(
            {name: values[i] for name, values in result.details.items() if values[i] is not None}
        )
        out.append(d)
    return out
