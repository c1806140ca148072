"""DetectLabels: objects with boxes and their parent labels, and image-level labels from an
ImageNet classifier (GENERAL_LABELS), and image quality and colours (IMAGE_PROPERTIES),
filtered as Rekognition filters them.

A label that both an object detector (with instances) and the classifier (without) give is
reported once, with the detector's instances and the higher of the two confidences.

Labels below MinConfidence (default 55) are dropped first; then Settings.GeneralLabels'
filters: a label is kept when it is named in LabelInclusionFilters (if given) or has a
category in LabelCategoryInclusionFilters (if given), and is neither named in
LabelExclusionFilters nor has a category in LabelCategoryExclusionFilters; then the
MaxLabels most confident are returned. Foreground and Background are the pixels inside and
outside the boxes of the objects found at MinConfidence; they are reported only when both
are non-empty (no segmentation model is used).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from oculi.models.fetch import model_paths
from oculi.models.runtime import OnnxModel, TfliteModel
from oculi.models.shared import shared
from oculi.vision import image_properties as props
from oculi.vision.classify import CENTRE, image_labels, probabilities
from oculi.vision.label_calibration import fuse_detectors
from oculi.vision.labels import (
    PERSON_IOU,
    Label,
    ObjectDetector,
    Objects,
    read_label_map,
    to_labels,
    with_class_from,
    with_image_labels,
)
from oculi.vision.nanodet import NanoDetector

DEFAULT_MIN_CONFIDENCE = 55.0
GENERAL_LABELS = "GENERAL_LABELS"
IMAGE_PROPERTIES = "IMAGE_PROPERTIES"
LABEL_MODELS = ("objects_oidv4", "objects_oidv4_labels", "persons_ssdlite", "objects_coco_nanodet")
CLASSIFIER_MODEL = "imagenet_efficientnet_lite2"
# The classifier's views of the image for DetectLabels, each label at its best view: the
# centre crop the weights were evaluated on, and the whole image squashed to the input
# size, which sees the edges of a wide photo (bench/classify.py: at MinConfidence 55 recall
# 0.31 -> 0.39 on its photos, every added label right; twice the classifier's cost).
LABEL_VIEWS = ("centre", "whole squashed")
# Image-level labels under this confidence (percent) are never reported, whatever the
# MinConfidence: the detectors drop boxes under 5% too (oculi.vision.labels.SCORE_FLOOR).
IMAGE_LABEL_FLOOR = 5.0
MODEL_VERSION = "oculi-oidv4-ssd+ssdlite-person+nanodet-coco+efficientnet-lite2-imagenet"
PERSON = "Person"


@dataclass(frozen=True)
class Region:
    quality: props.Quality
    colors: list[props.DominantColor]


@dataclass(frozen=True)
class ImageProperties:
    whole: Region
    foreground: Region | None = None
    background: Region | None = None


@dataclass(frozen=True)
class LabelsResult:
    labels: list[Label] = field(default_factory=list)
    # Per label name and instance: the instance's dominant colours (IMAGE_PROPERTIES only).
    instance_colors: dict[str, list[list[props.DominantColor]]] = field(default_factory=dict)
    properties: ImageProperties | None = None


@dataclass(frozen=True)
class LabelDetectors:
    """The OpenImages SSD on the whole image for its 23 object classes, the SSDLite
    person detector, tiled, for Person: far more confident and better placed on people
    than the OpenImages model, and tiling finds the smaller people; its views' boxes are
    fused at PERSON_IOU with their scores combined (bench/labels.py); and NanoDet on the
    whole image for COCO's 80 classes; their boxes grouped per label and scored by a
    calibration fitted on labelled photos (oculi/vision/label_calibration.py). Without
    `coco`, the first two alone."""

    objects: ObjectDetector
    persons: ObjectDetector
    coco: NanoDetector | None = None

    def parts(self, rgb: np.ndarray) -> list[Objects]:
        """Each detector's objects: the OpenImages SSD on the whole image, the SSDLite
        persons on the whole image and in the four crops (their views voting), and
        NanoDet on the whole image (label_calibration.fuse_detectors' parts)."""
        views = self.persons.views(rgb)
        return [
            self.objects(rgb, tiled=False),
            self.persons.fused(views[:1]),
            self.persons.fused(views[1:]),
            *([] if self.coco is None else [self.coco(rgb)]),
        ]

    def __call__(self, rgb: np.ndarray) -> Objects:
        if self.coco is None:
            views = self.persons.views(rgb)
            return with_class_from(
                self.objects(rgb, tiled=False), self.persons.fused(views), PERSON
            )
        return fuse_detectors(self.parts(rgb), rgb.shape[1], rgb.shape[0])


def load_label_detectors(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> LabelDetectors:
    """The three detectors on their verified model files (the OpenImages class names from the
    label map shipped beside the model), fetching them if allowed."""
    ssd, names, person, nanodet = model_paths(LABEL_MODELS, model_dir, auto_fetch)
    onnx = OnnxModel(person, threads, device)
    return LabelDetectors(
        objects=ObjectDetector(TfliteModel(ssd, threads), read_label_map(names.read_text())),
        persons=ObjectDetector(
            lambda x: list(onnx(x).values()), ("???", PERSON), iou=PERSON_IOU, vote=True
        ),
        coco=NanoDetector(OnnxModel(nanodet, threads, device)),
    )


class Classifier(Protocol):
    def __call__(self, rgb: np.ndarray, views: tuple[str, ...] = CENTRE) -> np.ndarray:
        """RGB image -> the 1000 class probabilities of each named view, (views, 1000)."""
        ...


def load_image_classifier(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> Classifier:
    """EfficientNet-Lite2 on its verified model file, fetching it if allowed."""
    (path,) = model_paths([CLASSIFIER_MODEL], model_dir, auto_fetch)
    model = OnnxModel(path, threads, device)
    return lambda rgb, views=CENTRE: probabilities(model, rgb, views)


shared_label_detectors = shared(load_label_detectors)
shared_image_classifier = shared(load_image_classifier)


def keep_label(label: Label, settings: dict[str, Any]) -> bool:
    """Settings.GeneralLabels' inclusion and exclusion filters for one label."""
    names_in = settings.get("LabelInclusionFilters") or []
    cats_in = settings.get("LabelCategoryInclusionFilters") or []
    if (names_in or cats_in) and not (
        label.name in names_in or any(c in cats_in for c in label.categories)
    ):
        return False
    if label.name in (settings.get("LabelExclusionFilters") or []):
        return False
    return not any(
        c in (settings.get("LabelCategoryExclusionFilters") or []) for c in label.categories
    )


def region(rgb: np.ndarray, mask: np.ndarray | None, max_colors: int) -> Region:
    return Region(props.quality(rgb, mask), props.dominant_colors(rgb, mask, max_colors))


def image_properties(rgb: np.ndarray, labels: list[Label], max_colors: int) -> ImageProperties:
    """Quality and colours of the image, and of its foreground (inside the labels' instance
    boxes) and background (the rest) when both exist."""
    whole = region(rgb, None, max_colors)
    boxes = [inst.box for lab in labels for inst in lab.instances]
    if not boxes:
        return ImageProperties(whole)
    inside = props.boxes_mask(np.array(boxes), *rgb.shape[:2])
    if inside.all() or not inside.any():
        return ImageProperties(whole)
    return ImageProperties(whole, region(rgb, inside, max_colors), region(rgb, ~inside, max_colors))


def detect_labels(
    detector: Callable[[np.ndarray], Objects],
    rgb: np.ndarray,
    params: dict[str, Any],
    classifier: Classifier | None = None,
) -> LabelsResult:
    """DetectLabels' use case on validated parameters; the classifier's image-level labels
    join the detector's when GENERAL_LABELS are asked for and a classifier is given."""
    features = params.get("Features") or [GENERAL_LABELS]
    settings = params.get("Settings") or {}
    min_confidence = float(params.get("MinConfidence", DEFAULT_MIN_CONFIDENCE))
    max_colors = int(
        (settings.get("ImageProperties") or {}).get("MaxDominantColors", props.MAX_COLORS)
    )
    found = to_labels(detector(rgb), min_confidence)
    labels: list[Label] = []
    if GENERAL_LABELS in features:
        general = settings.get("GeneralLabels") or {}
        merged = (
            found
            if classifier is None
            else with_image_labels(
                found,
                image_labels(classifier(rgb, LABEL_VIEWS), max(min_confidence, IMAGE_LABEL_FLOOR)),
            )
        )
        labels = [lab for lab in merged if keep_label(lab, general)]
        if "MaxLabels" in params:
            labels = labels[: int(params["MaxLabels"])]
    if IMAGE_PROPERTIES not in features:
        return LabelsResult(labels)
    h, w = rgb.shape[:2]
    colors = {
        lab.name: [
            props.dominant_colors(rgb, props.boxes_mask(inst.box[None], h, w), max_colors)
            for inst in lab.instances
        ]
        for lab in labels
        if lab.instances
    }
    return LabelsResult(labels, colors, image_properties(rgb, found, max_colors))
