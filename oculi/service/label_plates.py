"""DetectLabels' "License Plate" instances: the plates `oculi plates` reads, as a label.

The plate finder runs DetectText's reader (several times the cost of the label detectors),
so it runs only where a plate can be: when the label detectors see a vehicle (Car or
Vehicle at VEHICLE_SCORE or more, well below DetectLabels' default MinConfidence so a
weakly seen car still gets its plate looked for), or when the caller asks for the label by
name in Settings.GeneralLabels.LabelInclusionFilters. bench/plates.py prints how many of
its plate photos open this gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from oculi.service.plates import detect_plates
from oculi.vision.labels import Objects
from oculi.vision.text import TextReader

PLATE_CLASS = "License plate"  # the class name; label_taxonomy maps it to "License Plate"
VEHICLE_CLASSES = ("Car", "Vehicle")
VEHICLE_SCORE = 0.3


def shows_vehicle(objects: Objects) -> bool:
    """Whether the detectors found a car or other vehicle at VEHICLE_SCORE or more."""
    return any(
        name in VEHICLE_CLASSES and score >= VEHICLE_SCORE
        for name, score in zip(objects.class_names(), objects.scores)
    )


def with_plates(objects: Objects, boxes: np.ndarray, scores: np.ndarray) -> Objects:
    """`objects` with plate boxes (N, 4 pixels) and scores (N, in [0, 1]) added as the
    PLATE_CLASS class, most confident first."""
    names = objects.names if PLATE_CLASS in objects.names else (*objects.names, PLATE_CLASS)
    idx = names.index(PLATE_CLASS)
    all_boxes = np.concatenate([objects.boxes, boxes.astype(np.float32)]).reshape(-1, 4)
    all_scores = np.concatenate([objects.scores, scores.astype(np.float32)])
    classes = np.concatenate([objects.classes, np.full(len(boxes), idx, np.int64)])
    order = np.argsort(-all_scores, kind="stable")
    return Objects(all_boxes[order], all_scores[order], classes[order], names)


@dataclass(frozen=True)
class PlateLabels:
    """A label detector that also reports licence plates where `look` says to look."""

    labels: Callable[[np.ndarray], Objects]
    reader: TextReader
    asked: bool = False  # the caller named "License Plate" in an inclusion filter

    def __call__(self, rgb: np.ndarray) -> Objects:
        objects = self.labels(rgb)
        if not (self.asked or shows_vehicle(objects)):
            return objects
        plates = detect_plates(self.reader, rgb)
        boxes = np.array([p.box for p in plates], np.float32).reshape(-1, 4)
        return with_plates(objects, boxes, np.array([p.confidence for p in plates]))
