"""What a stream processor finds in each analysed frame, in Rekognition's shapes.

FaceSearch: every face of the frame (DetectFaces' detector and landmarks) searched in the
collection as stored-video face search searches a person's views (oculi.video.analyses.
search_views), at FaceMatchThreshold raised to the operator's identity floor as
StartFaceSearch's is (oculi.api.operations.apply_match_floor) and to what the collection's
size needs: one FaceSearchResponse item per face, with DetectedFace and MatchedFaces.

ConnectedHome: PERSON from the person detector DetectLabels uses (tiled SSDLite); PET (a
label whose parents include Pet: Dog, Cat) and PACKAGE (Box) from DetectLabels' object
detectors, run only when asked for; each at MinConfidence (default 50) or more.

RegionsOfInterest: a face or object counts only when the centre of its box lies in one of
the regions (a BoundingBox, or a Polygon of three or more points, in ratios of the frame);
no regions: the whole frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oculi.api.collection_ops import _matches
from oculi.api.face_detail import face_details
from oculi.errors import InvalidParameter
from oculi.service.context import ServiceContext
from oculi.service.detect_faces import detect_faces
from oculi.service.labels import shared_label_detectors
from oculi.video.analyses import search_views
from oculi.vision.labels import Label, to_labels

DETECTED_FACE = ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")
CONNECTED_HOME_LABELS = ("PERSON", "PET", "PACKAGE")
DEFAULT_MIN_CONFIDENCE = 50.0  # Rekognition's default for ConnectedHome
DEFAULT_FACE_MATCH_THRESHOLD = 80.0


def check_regions(regions: Sequence[dict[str, Any]]) -> None:
    """InvalidParameterException unless each region is one BoundingBox or one Polygon of
    at least three points, inside the frame (ratios from 0 to 1)."""
    for i, r in enumerate(regions, 1):
        where = f"RegionsOfInterest.{i}"
        if ("BoundingBox" in r) == ("Polygon" in r):
            raise InvalidParameter(f"{where} must have exactly one of BoundingBox or Polygon")
        if "BoundingBox" in r:
            box = r["BoundingBox"]
            if set(box) != {"Left", "Top", "Width", "Height"}:
                raise InvalidParameter(f"{where}.BoundingBox needs Left, Top, Width and Height")
            left, top, w, h = box["Left"], box["Top"], box["Width"], box["Height"]
            if min(left, top) < 0 or w <= 0 or h <= 0 or left + w > 1 or top + h > 1:
                raise InvalidParameter(f"{where}.BoundingBox must lie inside the frame (0 to 1)")
        else:
            points = r["Polygon"]
            if len(points) < 3:
                raise InvalidParameter(f"{where}.Polygon needs at least 3 points")
            for p in points:
                if set(p) != {"X", "Y"} or not (0 <= p["X"] <= 1 and 0 <= p["Y"] <= 1):
                    raise InvalidParameter(f"{where}.Polygon points need X and Y from 0 to 1")


def _in_polygon(x: float, y: float, points: Sequence[dict[str, float]]) -> bool:
    inside = False
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]["X"], points[i]["Y"]
        x2, y2 = points[(i + 1) % n]["X"], points[(i + 1) % n]["Y"]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def in_regions(box: dict[str, float], regions: Sequence[dict[str, Any]]) -> bool:
    """Whether the centre of `box` (a Rekognition BoundingBox) lies in one of `regions`."""
    if not regions:
        return True
    x, y = box["Left"] + box["Width"] / 2, box["Top"] + box["Height"] / 2
    for r in regions:
        if "BoundingBox" in r:
            b = r["BoundingBox"]
            if b["Left"] <= x <= b["Left"] + b["Width"] and b["Top"] <= y <= b["Top"] + b["Height"]:
                return True
        elif _in_polygon(x, y, r["Polygon"]):
            return True
    return False


def ratio_box(box: np.ndarray, width: int, height: int) -> dict[str, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {
        "Width": (x2 - x1) / width,
        "Height": (y2 - y1) / height,
        "Left": x1 / width,
        "Top": y1 / height,
    }


def floored_threshold(ctx: ServiceContext, asked: float) -> float:
    """FaceMatchThreshold raised to the operator's identity floor, as StartFaceSearch's."""
    from oculi.api.operations import apply_match_floor  # the API's module imports this one

    params = {"FaceMatchThreshold": asked}
    apply_match_floor("StartFaceSearch", params, ctx.settings.match_floor)
    return float(params["FaceMatchThreshold"])


class FaceSearch:
    """The FaceSearchResponse of each frame, for one processor's settings."""

    def __init__(
        self, ctx: ServiceContext, settings: dict[str, Any], regions: Sequence[dict[str, Any]]
    ) -> None:
        self.ctx, self.regions = ctx, regions
        self.cols = ctx.collections()
        self.collection = settings["CollectionId"]
        self.cols.describe(self.collection)  # ResourceNotFoundException when it is gone
        asked = float(settings.get("FaceMatchThreshold", DEFAULT_FACE_MATCH_THRESHOLD))
        self.threshold = floored_threshold(ctx, asked)

    def __call__(self, rgb: np.ndarray) -> list[dict[str, Any]]:
        result = detect_faces(self.ctx.face_analyzer(), rgb, None)
        details = face_details(result)
        keep = [i for i, d in enumerate(details) if in_regions(d["BoundingBox"], self.regions)]
        if not keep:
            return []
        queries = self.cols.embedder(rgb, result.faces)
        found = []
        for i in keep:
            matches = search_views(self.cols, self.collection, [queries[i]], self.threshold)
            face = {k: details[i][k] for k in DETECTED_FACE if k in details[i]}
            found.append({"DetectedFace": face, "MatchedFaces": _matches(matches)})
        return found


@dataclass(frozen=True)
class Sighting:
    label: str  # PERSON, PET or PACKAGE
    confidence: float  # percent
    box: dict[str, float]  # Rekognition BoundingBox (ratios)


def home_label(label: Label) -> str | None:
    """The ConnectedHome label a DetectLabels label counts as, if any."""
    if label.name == "Person":
        return "PERSON"
    if label.name == "Box":
        return "PACKAGE"
    if "Pet" in label.parents:
        return "PET"
    return None


class ConnectedHome:
    """The PERSON, PET and PACKAGE instances of each frame, for one processor's settings."""

    def __init__(
        self, ctx: ServiceContext, settings: dict[str, Any], regions: Sequence[dict[str, Any]]
    ) -> None:
        asked = set(settings["Labels"])
        self.labels = set(CONNECTED_HOME_LABELS) if "ALL" in asked else asked
        self.min_confidence = float(settings.get("MinConfidence", DEFAULT_MIN_CONFIDENCE))
        s = ctx.settings
        self.detector = shared_label_detectors(s.model_dir, ctx.threads, s.device)
        self.regions = regions

    def __call__(self, rgb: np.ndarray) -> list[Sighting]:
        h, w = rgb.shape[:2]
        if self.labels == {"PERSON"}:
            objects = self.detector.persons(rgb, tiled=True)
        else:
            objects = self.detector(rgb)
        found = []
        for label in to_labels(objects, self.min_confidence):
            kind = home_label(label)
            if kind not in self.labels:
                continue
            for inst in label.instances:
                box = ratio_box(inst.box, w, h)
                if in_regions(box, self.regions):
                    found.append(Sighting(kind, inst.confidence, box))
        return sorted(found, key=lambda s: -s.confidence)


def check_labels(labels: Sequence[str]) -> None:
    for label in labels:
        if label not in (*CONNECTED_HOME_LABELS, "ALL"):
            raise InvalidParameter(
                f"ConnectedHome.Labels: {label!r} is not one of PERSON, PET, PACKAGE, ALL"
            )
