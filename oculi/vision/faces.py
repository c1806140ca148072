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


def detection_scale(width: int, height: int, max_side: int, min_side: int) -> float:
    """The scale that brings an image's long side into [min_side, max_side]."""
    long = max(height, width)
    if long > max_side:
        return max_side / long
    if long < min_side:
        return min_side / long
    return 1.0


def resize_for_detection(rgb: np.ndarray, max_side: int, min_side: int) -> tuple[np.ndarray, float]:
    """Scale the image so its long side lies in [min_side, max_side]; return it and the
    factor that maps detector pixels back to image pixels."""
    h, w = rgb.shape[:2]
    scale = detection_scale(w, h, max_side, min_side)
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


@dataclass(frozen=True)
class CrowdSearch:
    """When DetectFaces looks again for the small faces of a crowd, and how: when the first
    pass finds a face under `below` pixels high (in the image sized for detection), every
    detector of the crowd analyzer runs at `scales` (oculi.vision.pyramid), keeping faces
    from the raw score `min_score`, and faces under `tiny` pixels high from `tiny_score`
    (most of the tiny ones below it are no face); photos without small faces keep the
    single pass. Chosen on the fit half of bench/crowd.py's photos (docs/faces.md)."""

    below: float = 48.0
    scales: tuple[float, ...] = (1.0, 2.0)
    min_score: float = 0.5
    tiny: float = 16.0
    tiny_score: float = 0.7

    def needed(self, faces: FaceDetections, scale: float) -> bool:
        """Do `faces` (in the image's pixels; `scale` maps them to the detection-sized
        image) include a small one?"""
        heights = (faces.boxes[:, 3] - faces.boxes[:, 1]) * scale
        return bool((heights < self.below).any())

    def kept(self, faces: FaceDetections, scale: float) -> FaceDetections:
        """`faces` less the tiny ones under `tiny_score` (raw score)."""
        heights = (faces.boxes[:, 3] - faces.boxes[:, 1]) * scale
        raw = faces.extra.get("raw_score", faces.scores)
        return faces.take(np.nonzero((heights >= self.tiny) | (raw >= self.tiny_score))[0])


CROWD_SEARCH = CrowdSearch()


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
        min_score: float | None = None,
    ) -> FaceDetections:
        """All faces, largest first, from every detector merged (NMS across detectors).

        `scales` above 1 add passes on upscaled copies (oculi.vision.pyramid) that find
        smaller faces, at the cost of about scale² the time; `check` runs between them.
        `min_score` lowers the detectors' raw score thresholds (`lowered`)."""
        t = time.perf_counter()
        img, factor = resize_for_detection(rgb, self.max_side, self.min_side)
        if timings:
            timings.add("resize", t)
        analyzer = self if min_score is None else self.lowered(min_score)
        parts = analyzer.passes(img, scales, timings, check)
        h, w = rgb.shape[:2]
        return finish(merge(parts, self.merge_iou), factor, w, h)

    def detect_in(self, rgb: np.ndarray, region: tuple[int, int, int, int]) -> FaceDetections:
        """The faces in `region` (x0 y0 x1 y1 pixels) of `rgb`, seen at the scale `detect`
        sees the whole image at (the same faces are found as large), in `rgb`'s pixels,
        largest first."""
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = region
        scale = detection_scale(w, h, self.max_side, self.min_side)
        crop = rgb[y0:y1, x0:x1]
        if scale != 1.0:
            size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
            crop = cv2.resize(
                crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            )
        faces = finish(merge(self.passes(crop), self.merge_iou), 1.0 / scale, x1 - x0, y1 - y0)
        return faces.with_fields(
            boxes=faces.boxes + np.float32([x0, y0, x0, y0]),
            keypoints=faces.keypoints + np.float32([x0, y0]),
        )

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

    def detect_in_crowds(
        self,
        rgb: np.ndarray,
        crowd: Callable[[], FaceAnalyzer],
        timings: Timings | None = None,
        search: CrowdSearch = CROWD_SEARCH,
    ) -> FaceDetections:
        """`detect`, then, where it found a small face, the detectors of the analyzer
        `crowd` loads at the scales and score of `search` instead (their faces include the
        first pass's)."""
        faces = self.detect(rgb, timings)
        h, w = rgb.shape[:2]
        scale = detection_scale(w, h, self.max_side, self.min_side)
        if not search.needed(faces, scale):
            return faces
        found = crowd().detect(rgb, timings, scales=search.scales, min_score=search.min_score)
        return search.kept(found, scale)

    def analyze(
        self,
        rgb: np.ndarray,
        max_faces: int = MAX_FACES,
        landmarks: bool = True,
        timings: Timings | None = None,
        crowd: Callable[[], FaceAnalyzer] | None = None,
    ) -> FaceDetections:
        """Detect up to `max_faces` largest faces (looking again for small ones with
        `crowd`'s detectors, `detect_in_crowds`); add mesh, pose and quality if
        `landmarks` (Rekognition's DEFAULT attributes)."""
        if crowd is None:
            faces = self.detect(rgb, timings)
        else:
            faces = self.detect_in_crowds(rgb, crowd, timings)
        h, w = rgb.shape[:2]
        if not len(faces):
            faces = self.detect_padded(rgb, timings)
        elif looks_broken(faces, w, h):
            whole = whole_faces(faces, self.detect_padded(rgb, timings))
            faces = whole.take(np.argsort(-whole.areas, kind="stable"))
        faces = faces.take(np.arange(min(len(faces), max_faces)))
        if not landmarks:
            return faces
        return self.describe(rgb, faces, timings)

    def describe(
        self, rgb: np.ndarray, faces: FaceDetections, timings: Timings | None = None
    ) -> FaceDetections:
        """`faces` (detected in `rgb`) with their mesh, pose and quality."""
        if not len(faces):
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
