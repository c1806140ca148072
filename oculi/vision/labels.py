"""Objects with boxes from SSD detectors: MediaPipe's SSD MobileNetV2 (Open Images V4, 24
classes, on LiteRT) and an SSDLite MobileNetV2 person detector (converted to ONNX).

Both have the TensorFlow Object Detection API's SSD layout, decoded here. The network sees
the whole image (or a crop) stretched to 300 x 300 RGB in [-1, 1] (as MediaPipe's
ObjectDetectionOidV4Subgraph feeds it: no letterbox). Each of its 1,917 SSD anchors gives a
box offset (centre y, centre x, log height, log width; scaled by 10, 10, 5, 5) and one
logit per class (index 0 is the background). The anchors and decoding constants are those
of the subgraph's SsdAnchorsCalculator and TensorsToDetectionsCalculator options, as
serialised in the same npm package's WebAssembly module: 6 layers with strides 16 to 512,
scales 0.2 to 0.95, aspect ratios 1, 2, 1/2, 3, 1/3 (and an interpolated scale), the lowest
layer reduced to 3 boxes; the SSDLite person model has the same 1,917 anchors. Unlike
MediaPipe, which keeps each anchor's best class only, every class above the score floor is
kept and NMS runs per class (IoU 0.5, as MediaPipe's). Person boxes from several views
(the whole image and its tiles) are fused at IoU 0.7 with their scores combined (`fuse`).

Class names come from the label map shipped in the same asset bundle; their Rekognition
names, parents, aliases and categories are in oculi/vision/label_taxonomy.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from oculi.vision.label_taxonomy import CLASS_LABEL, TAXONOMY, ancestors
from oculi.vision.nms import iou_matrix, nms

Model = Callable[[np.ndarray], list[np.ndarray]]

INPUT_SIZE = 300
STRIDES = (16, 32, 64, 128, 256, 512)
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
BOX_SCALE = np.array([10.0, 10.0, 5.0, 5.0], np.float32)  # y, x, h, w
SCORE_FLOOR = 0.05  # boxes below this are dropped before NMS
NMS_IOU = 0.5
# Person boxes are fused at this IoU, not 0.5: people side by side in group photos overlap
# by more than half, and at 0.5 one box swallowed its neighbour (bench/labels.py).
PERSON_IOU = 0.7
MAX_DETECTIONS = 100
TILE = 0.6  # share of the image's width and height that each crop spans
TILE_OFFSETS = (0.0, 0.4)  # crop origins, in shares of the width and height
# A crop's box this close to an edge where the crop cuts the image (share of the crop's
# side) is dropped: at 0.01 the upper and lower halves of large people survived and
# replaced their whole boxes (bench/labels.py: person AP50 57.6 against 69.8 at 0.03).
CUT_MARGIN = 0.03


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
    resized = cv2.resize(
        rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return (resized.astype(np.float32) / 127.5 - 1.0)[None]


def decode_boxes(raw: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """SSD box offsets (N, 4) -> boxes x1 y1 x2 y2 in ratios of the input."""
    r = raw / BOX_SCALE
    cy = r[:, 0] * anchors[:, 2] + anchors[:, 0]
    cx = r[:, 1] * anchors[:, 3] + anchors[:, 1]
    h = np.exp(r[:, 2]) * anchors[:, 2]
    w = np.exp(r[:, 3]) * anchors[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


@dataclass(frozen=True)
class Candidates:
    """Boxes before suppression: x1 y1 x2 y2 pixels (N, 4), scores (N,), classes (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


def candidates(
    box_offsets: np.ndarray,
    logits: np.ndarray,
    width: int,
    height: int,
    score_floor: float = SCORE_FLOOR,
) -> Candidates:
    """One input's raw outputs (anchors, 4) and (anchors, classes) -> every (anchor, class)
    scoring at least `score_floor`, in pixels of a width x height image; the background
    class (0) is never reported."""
    scores = 1.0 / (1.0 + np.exp(-logits[:, 1:].astype(np.float32)))
    anchor, cls = np.nonzero(scores >= score_floor)
    boxes = decode_boxes(box_offsets[anchor].astype(np.float32), ssd_anchors()[anchor])
    boxes = np.clip(
        boxes * [width, height, width, height], 0, [width, height, width, height]
    ).astype(np.float32)
    return Candidates(boxes, scores[anchor, cls].astype(np.float32), cls + 1)


def _per_class_nms(found: Candidates, iou: float) -> Candidates:
    kept = [
        idx[nms(found.boxes[idx], found.scores[idx], iou)]
        for idx in (np.nonzero(found.classes == c)[0] for c in np.unique(found.classes))
    ]
    keep = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return Candidates(found.boxes[keep], found.scores[keep], found.classes[keep])


def fuse(views: Sequence[Candidates], iou: float = NMS_IOU, vote: bool = False) -> Candidates:
    """Candidates of several views of one image (in the image's pixels) -> one per object.

    Each view is thinned by NMS per class at `iou`; then, most confident first, each box
    takes in every remaining box of its class (from any view) overlapping it by more than
    `iou`, and keeps its own place. Its score stays its own or, with `vote`, becomes
    1 - prod(1 - s) over the best score of each view in its group: an object seen in
    several views is surer than in any one of them. With one view this is per-class NMS."""
    thinned = [_per_class_nms(v, iou) for v in views]
    boxes = np.concatenate([v.boxes for v in thinned]).reshape(-1, 4)
    scores = np.concatenate([v.scores for v in thinned])
    classes = np.concatenate([v.classes for v in thinned])
    view = np.concatenate([np.full(len(v.boxes), k) for k, v in enumerate(thinned)])
    keep, fused = [], []
    for c in np.unique(classes):
        idx = np.nonzero(classes == c)[0]
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        ious = iou_matrix(boxes[idx], boxes[idx])
        left = np.ones(len(idx), bool)
        for i in range(len(idx)):
            if not left[i]:
                continue
            group = idx[left & (ious[i] > iou)]
            left &= ious[i] <= iou
            left[i] = False
            score = scores[idx[i]]
            if vote and len(group):
                # np.unique's first index per view is its best box (the group is sorted)
                _, first = np.unique(view[group], return_index=True)
                others = group[first][view[group[first]] != view[idx[i]]]
                score = 1.0 - (1.0 - score) * np.prod(1.0 - scores[others])
            keep.append(idx[i])
            fused.append(score)
    at = np.asarray(keep, np.int64)
    return Candidates(boxes[at], np.asarray(fused, np.float32), classes[at])


def to_objects(
    found: Candidates, names: Sequence[str], max_detections: int = MAX_DETECTIONS
) -> Objects:
    """The most confident `max_detections` candidates, best first."""
    order = np.argsort(-found.scores, kind="stable")[:max_detections]
    return Objects(
        found.boxes[order], found.scores[order], found.classes[order].astype(np.int64), tuple(names)
    )


def tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The whole image, then TILE-sized crops at TILE_OFFSETS (x0, y0, x1, y1 pixels)."""
    out = [(0, 0, width, height)]
    for fy in TILE_OFFSETS:
        for fx in TILE_OFFSETS:
            x0, y0 = round(fx * width), round(fy * height)
            out.append(
                (
                    x0,
                    y0,
                    min(width, x0 + round(TILE * width)),
                    min(height, y0 + round(TILE * height)),
                )
            )
    return out


def away_from_cuts(
    found: Candidates, tile: tuple[int, int, int, int], width: int, height: int
) -> Candidates:
    """A tile's candidates (in image pixels) minus those touching an edge where the tile
    cuts the image: an object cut there is whole in another tile or in the full view."""
    x0, y0, x1, y1 = tile
    mx, my = CUT_MARGIN * (x1 - x0), CUT_MARGIN * (y1 - y0)
    b = found.boxes
    keep = np.ones(len(b), bool)
    if x0 > 0:
        keep &= b[:, 0] > x0 + mx
    if y0 > 0:
        keep &= b[:, 1] > y0 + my
    if x1 < width:
        keep &= b[:, 2] < x1 - mx
    if y1 < height:
        keep &= b[:, 3] < y1 - my
    return Candidates(b[keep], found.scores[keep], found.classes[keep])


class ObjectDetector:
    """Find objects of the model's classes in an RGB image: in the whole image and, with
    `tiled`, also in four overlapping crops (each TILE of the width and height), which
    find people and objects too small for the network's 300 x 300 view of the whole. The
    views' boxes are fused (`fuse`) at IoU `iou`, their scores combined with `vote`."""

    def __init__(
        self, model: Model, names: Sequence[str], iou: float = NMS_IOU, vote: bool = False
    ) -> None:
        self.model = model
        self.names = tuple(names)
        self.iou = iou
        self.vote = vote

    def _candidates(self, rgb: np.ndarray, score_floor: float) -> Candidates:
        h, w = rgb.shape[:2]
        outputs = self.model(preprocess(rgb))
        box_offsets = next(o for o in outputs if o.shape[-1] == 4)
        logits = next(o for o in outputs if o.shape[-1] == len(self.names))
        return candidates(box_offsets[0], logits[0], w, h, score_floor)

    def views(
        self, rgb: np.ndarray, score_floor: float = SCORE_FLOOR, tiled: bool = True
    ) -> list[Candidates]:
        """Each view's candidates (`view`): the whole image, then (`tiled`) the crops."""
        h, w = rgb.shape[:2]
        return [self.view(rgb, k, score_floor) for k in range(len(tiles(w, h)) if tiled else 1)]

    def view(self, rgb: np.ndarray, k: int, score_floor: float = SCORE_FLOOR) -> Candidates:
        """The candidates of view `k` of `tiles` (0: the whole image), in the image's
        pixels; a tile's without those touching an edge where it cuts the image."""
        h, w = rgb.shape[:2]
        if k == 0:
            return self._candidates(rgb, score_floor)
        tile = x0, y0, x1, y1 = tiles(w, h)[k]
        found = self._candidates(rgb[y0:y1, x0:x1], score_floor)
        shifted = Candidates(
            found.boxes + np.float32([x0, y0, x0, y0]), found.scores, found.classes
        )
        return away_from_cuts(shifted, tile, w, h)

    def fused(self, views: Sequence[Candidates]) -> Objects:
        """Several views' candidates (`view`) as one detection per object (`fuse`)."""
        return to_objects(fuse(views, self.iou, self.vote), self.names)

    def __call__(
        self, rgb: np.ndarray, score_floor: float = SCORE_FLOOR, tiled: bool = True
    ) -> Objects:
        return self.fused(self.views(rgb, score_floor, tiled))


def with_class_from(objects: Objects, other: Objects, name: str) -> Objects:
    """`objects` with its detections of class `name` replaced by `other`'s (a detector
    better at that class), most confident first."""
    idx = objects.names.index(name)
    mine = objects.classes != idx
    theirs = np.array([n == name for n in other.class_names()], bool)
    boxes = np.concatenate([objects.boxes[mine], other.boxes[theirs]]).reshape(-1, 4)
    scores = np.concatenate([objects.scores[mine], other.scores[theirs]])
    classes = np.concatenate([objects.classes[mine], np.full(int(theirs.sum()), idx)])
    order = np.argsort(-scores, kind="stable")
    return Objects(boxes[order], scores[order], classes[order].astype(np.int64), objects.names)


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
    labels = [
        Label(
            name,
            confidence,
            tuple(instances.get(name, ())),
            tuple(ancestors(name)),
            TAXONOMY[name].aliases,
            TAXONOMY[name].categories,
        )
        for name, confidence in best.items()
    ]
    return ranked(labels)


def ranked(labels: Sequence[Label]) -> list[Label]:
    """Most confident first; at equal confidence the more specific label (more ancestors)
    first, then by name. A parent takes its best child's confidence, so it ties with it:
    child first, as Rekognition lists them, keeps Dog when MaxLabels cuts the list."""
    return sorted(labels, key=lambda lab: (-lab.confidence, -len(lab.parents), lab.name))


def with_image_labels(objects: Sequence[Label], image: Sequence[Label]) -> list[Label]:
    """Object labels (with instances) and image-level labels (without) as one list: a
    label both give keeps the object label's instances and takes the higher of the two
    confidences; most confident first."""
    merged = {lab.name: lab for lab in image}
    for lab in objects:
        other = merged.get(lab.name)
        merged[lab.name] = (
            lab
            if other is None or lab.confidence >= other.confidence
            else replace(lab, confidence=other.confidence)
        )
    return ranked(list(merged.values()))
