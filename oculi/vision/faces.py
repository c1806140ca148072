"""The face pipeline: detect, then (as asked) mesh landmarks, pose and quality.

Pure orchestration over model callables; `oculi.models.zoo` wires in real sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from oculi.vision.mesh import run_mesh
from oculi.vision.nms import nms
from oculi.vision.pose import face_pose
from oculi.vision.quality import face_quality
from oculi.vision.types import FaceDetections

Detector = Callable[[np.ndarray], FaceDetections]
MAX_FACES = 100


@dataclass
class Timings:
    """Milliseconds spent per stage of one call."""

    ms: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - since) * 1000.0
        return now


def resize_for_detection(rgb: np.ndarray, max_side: int, min_side: int) -> tuple[np.ndarray, float]:
    """Scale the image so its long side lies in [min_side, max_side]; return it and the
    factor that maps detector pixels back to image pixels."""
    h, w = rgb.shape[:2]
    long = max(h, w)
    scale = 1.0
    if long > max_side:
        scale = max_side / long
    elif long < min_side:
        scale = min_side / long
    if scale == 1.0:
        return rgb, 1.0
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp
    )
    return out, 1.0 / scale


def rescale(faces: FaceDetections, factor: float) -> FaceDetections:
    if factor == 1.0:
        return faces
    return faces.with_fields(boxes=faces.boxes * factor, keypoints=faces.keypoints * factor)


@dataclass
class FaceAnalyzer:
    detectors: list[Detector]
    mesh_model: Callable[[np.ndarray], list[np.ndarray]] | None = None
    max_side: int = 1920
    min_side: int = 640
    merge_iou: float = 0.4

    def detect(self, rgb: np.ndarray, timings: Timings | None = None) -> FaceDetections:
        """All faces, largest first, from every detector merged (NMS across detectors)."""
        t = time.perf_counter()
        img, factor = resize_for_detection(rgb, self.max_side, self.min_side)
        if timings:
            t = timings.add("resize", t)
        parts = []
        for i, det in enumerate(self.detectors):
            parts.append(det(img))
            if timings:
                t = timings.add(f"detect[{i}]", t)
        faces = FaceDetections.concat(parts) if len(parts) > 1 else parts[0]
        if len(parts) > 1 and len(faces):
            # Ranked by the detectors' raw scores, as before Confidence was calibrated, so
            # that calibration changes no box (bench/redact.py's coverage still holds).
            rank = faces.extra.get("raw_score", faces.scores)
            faces = faces.take(nms(faces.boxes, rank, self.merge_iou))
        faces = rescale(faces, factor)
        h, w = rgb.shape[:2]
        boxes = faces.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        faces = faces.with_fields(boxes=boxes)
        keep = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        faces = faces.take(np.nonzero(keep)[0])
        return faces.take(np.argsort(-faces.areas, kind="stable"))

    def analyze(
        self,
        rgb: np.ndarray,
        max_faces: int = MAX_FACES,
        landmarks: bool = True,
        timings: Timings | None = None,
    ) -> FaceDetections:
        """Detect up to `max_faces` largest faces; add mesh, pose and quality if
        `landmarks` (Rekognition's DEFAULT attributes)."""
        faces = self.detect(rgb, timings)
        faces = faces.take(np.arange(min(len(faces), max_faces)))
        if not landmarks or not len(faces):
            return faces
        if self.mesh_model is None:
            raise RuntimeError("no mesh model loaded")
        t = time.perf_counter()
        faces = run_mesh(self.mesh_model, rgb, faces)
        if timings:
            t = timings.add("mesh", t)
        pose = face_pose(faces.mesh, faces.extra["mesh_score"], faces.keypoints, faces.boxes)
        faces = faces.with_fields(pose=pose)
        faces = face_quality(rgb, faces)
        if timings:
            timings.add("pose+quality", t)
        return faces
