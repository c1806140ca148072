"""The latest analysed frame of a session running in this process, for the console's live
view: one frame (downscaled to at most MAX_WIDTH px wide) and what was found in it, kept
in memory only and replaced by the next analysed frame; never written anywhere. The JPEG
is encoded when asked for, once a frame."""

from __future__ import annotations

import threading
import time
from typing import Any

import cv2
import numpy as np

from oculi.streams.analysis import Sighting

MAX_WIDTH = 640
JPEG_QUALITY = 80


def label_boxes(sightings: list[Sighting]) -> list[dict[str, Any]]:
    """A ConnectedHome frame's sightings as the live view draws them."""
    return [{"Label": s.label, "Confidence": s.confidence, "BoundingBox": s.box} for s in sightings]


def face_boxes(faces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A FaceSearch frame's faces as the live view draws them: the best match's
    ExternalImageId (or FaceId) as the name, when there is one."""
    out = []
    for f in faces:
        detected = f["DetectedFace"]
        box: dict[str, Any] = {
            "Label": "FACE",
            "Confidence": detected.get("Confidence"),
            "BoundingBox": detected["BoundingBox"],
        }
        if f["MatchedFaces"]:
            best = f["MatchedFaces"][0]
            box["Name"] = best["Face"].get("ExternalImageId") or best["Face"]["FaceId"]
            box["Similarity"] = best["Similarity"]
        out.append(box)
    return out


class LatestFrame:
    """The latest analysed frame of one session, shared between its thread and readers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rgb: np.ndarray | None = None
        self._jpeg: bytes | None = None
        self._meta: dict[str, Any] = {}

    def put(self, rgb: np.ndarray, position_ms: int, detections: list[dict[str, Any]]) -> None:
        """Keep `rgb` (downscaled) and its detections (boxes are ratios: unchanged)."""
        height, width = rgb.shape[:2]
        if width > MAX_WIDTH:
            size = (MAX_WIDTH, max(1, round(height * MAX_WIDTH / width)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        meta = {
            "PositionMs": position_ms,
            "Time": time.time(),
            "Width": int(rgb.shape[1]),
            "Height": int(rgb.shape[0]),
            "Detections": detections,
        }
        with self._lock:
            self._rgb, self._jpeg, self._meta = rgb, None, meta

    def get(self) -> tuple[bytes, dict[str, Any]] | None:
        """The JPEG and what goes with it (None before the first analysed frame)."""
        with self._lock:
            rgb, jpeg, meta = self._rgb, self._jpeg, self._meta
        if rgb is None:
            return None
        if jpeg is None:
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            jpeg = data.tobytes() if ok else b""
            with self._lock:
                if self._rgb is rgb:
                    self._jpeg = jpeg
        return jpeg, meta
