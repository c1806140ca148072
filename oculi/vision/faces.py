"""The face pipeline: detect, then (as asked) mesh landmarks, pose and quality.

Pure orchestration over model callables; `oculi.models.zoo` wires in real sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from oculi.vision.close_ups import looks_broken, whole_faces
from oculi.vision.detector import SingleStageDetector
from oculi.vision.mesh import run_mesh
from oculi.vision.pose import face_pose
from oculi.vision.pyramid import detect_upscaled, merge, shift
from oculi.vision.quality import face_quality
from oculi.vision.types import FaceDetections

Detector = Callable[[np.ndarray], FaceDetections]
MAX_FACES = 100
# When nothing is found, `analyze` looks once more on a copy with a mid-grey border of
# this share of the image's long side on each side, the copy's long side brought to the
# analyzer's min_side: the detector misses many faces that fill the whole frame (a face
# cut out of a photo, a close-up), and finds most of them with room around. Held-out
# FER-2013 crops upscaled 4x: face found 0.647 -> 0.955; 91 faces of real photos cut from
# forehead to chin and sent at 1000 px: none found 0.187 -> 0.044 (bench/attributes_eval.py).
# The same second look runs when a large face overlaps another found face as the
# detector's pieces of one face do (oculi.vision.close_ups); the whole face found then
# replaces its pieces.
PAD_RETRY = 0.5
PAD_GREY = 128


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


def finish(faces: FaceDetections, factor: float, width: int, height: int) -> FaceDetections:
    """Merged faces of an image scaled by 1 / `factor`: in the image's pixels, clipped to
    its width x height, at least 2 pixels a side, largest first."""
    faces = rescale(faces, factor)
    boxes = faces.boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    faces = faces.with_fields(boxes=boxes)
    keep = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
    faces = faces.take(np.nonzero(keep)[0])
    return faces.take(np.argsort(-faces.areas, kind="stable"))


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

    def detect(
        self,
        rgb: np.ndarray,
        timings: Timings | None = None,
        scales: Sequence[float] = (1.0,),
        check: Callable[[], None] | None = None,
    ) -> FaceDetections:
        """All faces, largest first, from every detector merged (NMS across detectors).

        `scales` above 1 add passes on upscaled copies (oculi.vision.pyramid) that find
        smaller faces, at the cost of about scale² the time; `check` runs between them."""
        t = time.perf_counter()
        img, factor = resize_for_detection(rgb, self.max_side, self.min_side)
        if timings:
            timings.add("resize", t)
        parts = self.passes(img, scales, timings, check)
        h, w = rgb.shape[:2]
        return finish(merge(parts, self.merge_iou), factor, w, h)

    def passes(
        self,
        img: np.ndarray,
        scales: Sequence[float] = (1.0,),
        timings: Timings | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[FaceDetections]:
        """Each detector's faces at each scale of `img` (already sized for detection), in
        `img`'s pixels, scale by scale, not yet merged."""
        t = time.perf_counter()
        parts = []
        for scale in scales:
            for i, det in enumerate(self.detectors):
                if scale == 1.0:
                    parts.append(det(img))
                else:
                    parts.append(detect_upscaled(det, img, scale, check))
                if timings:
                    t = timings.add(f"detect[{i}]", t)
        return parts

    def detect_padded(self, rgb: np.ndarray, timings: Timings | None = None) -> FaceDetections:
        """The faces found on `rgb` framed by a grey border (PAD_RETRY), in `rgb`'s pixels
        (boxes clipped to it), largest first. The image is shrunk before it is framed, so
        the copy never holds more than min_side² pixels."""
        t = time.perf_counter()
        h, w = rgb.shape[:2]
        scale = self.min_side / (max(h, w) * (1.0 + 2.0 * PAD_RETRY))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(rgb, size, interpolation=interp)
        pad = max(1, round(PAD_RETRY * max(size)))
        framed = cv2.copyMakeBorder(
            small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(PAD_GREY,) * 3
        )
        faces = merge(self.passes(framed), self.merge_iou)
        faces = shift(faces, -pad, -pad, 1.0 / scale)
        if timings:
            timings.add("detect-padded", t)
        return finish(faces, 1.0, w, h)

    def lowered(self, min_score: float) -> FaceAnalyzer:
        """This analyzer with its detectors' raw score thresholds lowered to `min_score`
        (redaction's: a doubtful face is covered rather than left visible)."""
        dets: list[Detector] = [
            replace(d, score_threshold=min(min_score, d.score_threshold))
            if isinstance(d, SingleStageDetector)
            else d
            for d in self.detectors
        ]
        return replace(self, detectors=dets)

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
        h, w = rgb.shape[:2]
        if not len(faces):
            faces = self.detect_padded(rgb, timings)
        elif looks_broken(faces, w, h):
            whole = whole_faces(faces, self.detect_padded(rgb, timings))
            faces = whole.take(np.argsort(-whole.areas, kind="stable"))
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
