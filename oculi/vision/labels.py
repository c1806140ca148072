"""Objects with boxes from MediaPipe's SSD MobileNetV2 (Open Images V4, 24 classes) on LiteRT.

The network sees the whole image stretched to 300 x 300 RGB in [-1, 1] (as MediaPipe's
ObjectDetectionOidV4Subgraph feeds it: no letterbox). Each of its 1,917 SSD anchors gives a
box offset (centre y, centre x, log height, log width; scaled by 10, 10, 5, 5) and one
logit per class (index 0 is the background). The anchors and decoding constants are those
of the subgraph's SsdAnchorsCalculator and TensorsToDetectionsCalculator options, as
serialised in the same npm package's WebAssembly module: 6 layers with strides 16 to 512,
scales 0.2 to 0.95, aspect ratios 1, 2, 1/2, 3, 1/3 (and an interpolated scale), the lowest
layer reduced to 3 boxes. Unlike MediaPipe, which keeps each anchor's best class only,
every class above the score floor is kept and NMS runs per class (IoU 0.5, as MediaPipe's).

Class names come from the label map shipped in the same asset bundle; their Rekognition
names, parents, aliases and categories are in oculi/vision/label_taxonomy.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from oculi.vision.label_taxonomy import CLASS_LABEL, TAXONOMY, ancestors
from oculi.vision.nms import nms

Model = Callable[[np.ndarray], list[np.ndarray]]

INPUT_SIZE = 300
STRIDES = (16, 32, 64, 128, 256, 512)
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
BOX_SCALE = np.array([10.0, 10.0, 5.0, 5.0], np.float32)  # y, x, h, w
SCORE_FLOOR = 0.05  # boxes below this are dropped before NMS
NMS_IOU = 0.5
MAX_DETECTIONS = 100


@dataclass(frozen=True)
class Objects:
    """N objects: boxes (N, 4) float32 x1 y1 x2 y2 pixels, scores (N,) in [0, 1],
    classes (N,) int indices into `names`."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.boxes)

    def class_names(self) -> list[str]:
        return [self.names[c] for c in self.classes]


def read_label_map(text: str) -> tuple[str, ...]:
    """MediaPipe's label map: one class name a line, index 0 the background ('???')."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _scale(layer: int, layers: int) -> float:
    return MIN_SCALE + (MAX_SCALE - MIN_SCALE) * layer / (layers - 1)


@functools.cache
def ssd_anchors(size: int = INPUT_SIZE) -> np.ndarray:
    """(1917, 4) anchors: centre y, centre x, height, width in ratios of the input."""
    out = []
    layers = len(STRIDES)
    for layer, stride in enumerate(STRIDES):
        scale = _scale(layer, layers)
        if layer == 0:
            shapes = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            following = 1.0 if layer == layers - 1 else _scale(layer + 1, layers)
            shapes = [(scale, r) for r in ASPECT_RATIOS] + [(np.sqrt(scale * following), 1.0)]
        hw = [(s / np.sqrt(r), s * np.sqrt(r)) for s, r in shapes]
        cells = int(np.ceil(size / stride))
        for y in range(cells):
            for x in range(cells):
                for h, w in hw:
                    out.append(((y + 0.5) / cells, (x + 0.5) / cells, h, w))
    return np.asarray(out, np.float32)


def preprocess(rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """RGB HxWx3 uint8 -> 1xSxSx3 float32 in [-1, 1], stretched to a square."""
    h, w = rgb.shape[:2]
    shrink = h > size and w > size
    resized = cv2.resize(rgb, (size, size),
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return (resized.astype(np.float32) / 127.5 - 1.0)[None]


def decode_boxes(raw: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """SSD box offsets (N, 4) -> boxes x1 y1 x2 y2 in ratios of the input."""
    r = raw / BOX_SCALE
    cy = r[:, 0] * anchors[:, 2] + anchors[:, 0]
    cx = r[:, 1] * anchors[:, 3] + anchors[:, 1]
    h = np.exp(r[:, 2]) * anchors[:, 2]
    w = np.exp(r[:, 3]) * anchors[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def decode(box_offsets: np.ndarray, logits: np.ndarray, width: int, height: int,
           names: Sequence[str], score_floor: float = SCORE_FLOOR, iou: float = NMS_IOU,
           max_detections: int = MAX_DETECTIONS) -> Objects:
    """One image's raw outputs (anchors, 4) and (anchors, classes) -> objects in image
    pixels, most confident first; the background class (0) is never reported."""
    scores = 1.0 / (1.0 + np.exp(-logits[:, 1:].astype(np.float32)))
    anchor, cls = np.nonzero(scores >= score_floor)
    score = scores[anchor, cls]
    boxes = decode_boxes(box_offsets[anchor].astype(np.float32), ssd_anchors()[anchor])
    boxes = np.clip(boxes * [width, height, width, height], 0,
                    [width, height, width, height]).astype(np.float32)
    kept = [idx[nms(boxes[idx], score[idx], iou)]
            for idx in (np.nonzero(cls == c)[0] for c in np.unique(cls))]
    keep = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    keep = keep[np.argsort(-score[keep], kind="stable")][:max_detections]
    return Objects(boxes[keep], score[keep].astype(np.float32),
                   (cls[keep] + 1).astype(np.int64), tuple(names))


class ObjectDetector:
    """Find objects of the model's classes in an RGB image."""

    def __init__(self, model: Model, names: Sequence[str]) -> None:
        self.model = model
        self.names = tuple(names)

    def __call__(self, rgb: np.ndarray, score_floor: float = SCORE_FLOOR) -> Objects:
        h, w = rgb.shape[:2]
        outputs = self.model(preprocess(rgb))
        box_offsets = next(o for o in outputs if o.shape[-1] == 4)
        logits = next(o for o in outputs if o.shape[-1] == len(self.names))
        return decode(box_offsets[0], logits[0], w, h, self.names, score_floor)


@dataclass(frozen=True)
class Instance:
    box: np.ndarray  # x1 y1 x2 y2 in pixels
    confidence: float  # percent


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float  # percent
    instances: tuple[Instance, ...]
    parents: tuple[str, ...]  # every ancestor, nearest first
    aliases: tuple[str, ...]
    categories: tuple[str, ...]


def to_labels(objects: Objects, min_confidence: float) -> list[Label]:
    """Rekognition labels at or above `min_confidence` percent, most confident first.

    A detected class's label keeps its instances at or above `min_confidence`; its
    confidence is its best instance's. Every ancestor is a label too, with the best
    confidence of its descendants and no instances of its own, unless it is a class the
    detector finds itself (Vehicle, Footwear): then it keeps its own instances."""
    best: dict[str, float] = {}
    instances: dict[str, list[Instance]] = {}
    for name, score, box in zip(objects.class_names(), objects.scores, objects.boxes):
        label = CLASS_LABEL.get(name)
        confidence = 100.0 * float(score)
        if label is None or confidence < min_confidence:
            continue
        instances.setdefault(label, []).append(Instance(box, confidence))
        for each in [label, *ancestors(label)]:
            best[each] = max(best.get(each, 0.0), confidence)
    labels = [Label(name, confidence, tuple(instances.get(name, ())),
                    tuple(ancestors(name)), TAXONOMY[name].aliases, TAXONOMY[name].categories)
              for name, confidence in best.items()]
    return sorted(labels, key=lambda lab: (-lab.confidence, len(lab.parents), lab.name))
