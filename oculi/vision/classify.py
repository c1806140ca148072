"""Image-level labels from an ImageNet-1k classifier, EfficientNet-Lite2 (converted to ONNX
by oculi/models/efficientnet_lite.py).

Each class maps to at most one Rekognition label (oculi/vision/imagenet_labels.py; 108 of
the 1000 are not reported). A label's confidence is the summed softmax probability of the
classes under it, its own and those of its descendants in the taxonomy (the probability
that the image's class lies in that part of the tree): "Dog" sums 118 breeds, "Animal"
every animal class. Image-level labels have no Instances.

The classifier can look at several views of the image (VIEWS: the centre crop below, its
mirror image, the whole image squashed or letterboxed to the input size); a label then takes
its best view's confidence. DetectLabels' views (oculi.service.labels.LABEL_VIEWS) and the
measurement that chose them are in docs/labels.md.

Preprocessing is the one the weights were trained and evaluated with in TensorFlow's
EfficientNet-Lite code (efficientnet/lite/efficientnet_lite_builder.py: MEAN_RGB 127,
STDDEV_RGB 128; preprocessing.py's eval path): the centre square of the image's shorter
side, shrunk by 260 / (260 + 32), resized to 260 x 260 with bicubic interpolation, RGB
scaled to (x - 127) / 128. (efficientnet_lite_pytorch's README shows torchvision's
ImageNet mean and standard deviation, copied from the original EfficientNet package's
README; the Lite checkpoints it converted were trained with 127 / 128.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from oculi.vision.imagenet_labels import IMAGENET_LABELS
from oculi.vision.label_taxonomy import TAXONOMY, ancestors
from oculi.vision.labels import Label, ranked

Model = Callable[[np.ndarray], dict[str, np.ndarray]]

INPUT_SIZE = 260
CROP_PADDING = 32
MEAN, STD = 127.0, 128.0


@dataclass(frozen=True)
class ImageClass:
    index: int  # ImageNet-1k class index (0-999)
    probability: float  # softmax, 0-1


def centre_crop(rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The centre square of the shorter side, shrunk by size / (size + 32), resized to
    size x size (bicubic): the eval preprocessing the weights were trained for."""
    h, w = rgb.shape[:2]
    side = max(1, round(size / (size + CROP_PADDING) * min(h, w)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = rgb[y0 : y0 + side, x0 : x0 + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)


def squashed(rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The whole image resized to size x size (bicubic), its aspect ratio not kept."""
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC)


def letterboxed(rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The whole image resized (bicubic) to fit size x size with its aspect ratio kept,
    centred on grey 127 (0 after normalising)."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    out = np.full((size, size, 3), int(MEAN), np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_CUBIC)
    return out


def _flipped(
    view: Callable[[np.ndarray, int], np.ndarray],
) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda rgb, size: view(rgb, size)[:, ::-1]


# Test-time views of an image, by name: each an RGB image -> size x size RGB.
VIEWS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "centre": centre_crop,
    "centre flipped": _flipped(centre_crop),
    "whole squashed": squashed,
    "whole squashed flipped": _flipped(squashed),
    "whole letterboxed": letterboxed,
}
CENTRE = ("centre",)


def normalised(square: np.ndarray) -> np.ndarray:
    """size x size x 3 uint8 RGB -> 1x3xSxS float32, (x - 127) / 128."""
    x = (square.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max()
    e = np.exp(z)
    return e / e.sum()


def probabilities(model: Model, rgb: np.ndarray, views: tuple[str, ...] = CENTRE) -> np.ndarray:
    """The 1000 ImageNet class probabilities of each of the named `views` (VIEWS) of an RGB
    image, one row per view: (len(views), 1000)."""
    return np.stack(
        [softmax(model(normalised(VIEWS[v](rgb, INPUT_SIZE)))["logits"][0]) for v in views]
    )


def top_classes(probs: np.ndarray, top: int = 5) -> list[ImageClass]:
    """The `top` most probable classes, most probable first."""
    order = np.argsort(-probs, kind="stable")[:top]
    return [ImageClass(int(i), float(probs[i])) for i in order]


@functools.cache
def _label_matrix() -> tuple[tuple[str, ...], np.ndarray]:
    """Every label the classes map to or descend from, and a (labels, 1000) 0/1 matrix:
    row i marks the classes under label i (its own and its descendants')."""
    names = sorted(
        {
            each
            for label in IMAGENET_LABELS
            if label is not None
            for each in [label, *ancestors(label)]
        }
    )
    row = {name: i for i, name in enumerate(names)}
    under = np.zeros((len(names), len(IMAGENET_LABELS)), np.float64)
    for k, label in enumerate(IMAGENET_LABELS):
        if label is not None:
            for each in [label, *ancestors(label)]:
                under[row[each], k] = 1.0
    return tuple(names), under


def image_labels(probs: np.ndarray, min_confidence: float) -> list[Label]:
    """Labels at or above `min_confidence` percent from the class probabilities of one view
    (1000,) or of several (views, 1000): in each view a label's confidence is the summed
    probability of its classes and its descendants' classes, and it takes its best view's;
    most confident first."""
    names, under = _label_matrix()
    per_view = 100.0 * (np.atleast_2d(probs).astype(np.float64) @ under.T)
    confidence = np.minimum(100.0, per_view.max(axis=0))
    return ranked(
        [
            Label(
                names[i],
                float(confidence[i]),
                (),
                tuple(ancestors(names[i])),
                TAXONOMY[names[i]].aliases,
                TAXONOMY[names[i]].categories,
            )
            for i in np.nonzero(confidence >= min_confidence)[0]
        ]
    )
