"""Reading text in photos: PP-OCR's DBNet detector and CTC recogniser on onnxruntime.

The pipeline is PaddleOCR's three-stage one, written here from the models' conventions:
1. the detector turns the BGR image into a per-pixel text probability map; the map is
   binarised, each connected region becomes a rotated rectangle, and the rectangle is grown
   back by the margin that DBNet's training shrank text regions by ("unclip");
2. each rectangle is cut out upright (perspective warp; tall ones are turned a quarter, and
   an orientation classifier turns upside-down ones round);
3. the recogniser reads the strip as a sequence of character distributions, decoded
   greedily (CTC: collapse repeats, drop blanks). Words are the runs between the model's
   space character, placed along the line by the time steps at which their characters fire.

Coordinates are pixels of the image, origin top-left. Every quadrilateral is given in
reading order: start of the text's top edge, end of its top edge, end of its bottom edge,
start of its bottom edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Model = Callable[[np.ndarray], dict[str, np.ndarray]]

REC_HEIGHT = 48
REC_MIN_WIDTH = 320  # the recogniser's training width: narrower strips are padded to it
REC_BATCH = 6
CLS_SHAPE = (48, 192)
CLS_FLIP_THRESHOLD = 0.9  # upside-down only when the classifier is this sure
TALL_RATIO = 1.5  # a box this much taller than wide holds vertical (rotated) text
SECOND_LOOK = 0.9  # lines read with less mean confidence are also read turned round


@dataclass(frozen=True)
class TextWord:
    """One word: `quad` is (4, 2) float32 pixels in reading order; confidence in [0, 1]."""

    text: str
    confidence: float
    quad: np.ndarray


@dataclass(frozen=True)
class TextLine:
    """One line of text and its words, in reading order."""

    text: str
    confidence: float
    quad: np.ndarray
    words: tuple[TextWord, ...]


@dataclass(frozen=True)
class Decoded:
    """A greedy CTC reading of one strip: characters, their probabilities and the time
    steps at which they fired, out of `steps` steps spanning the strip's input width."""

    chars: tuple[str, ...]
    probs: np.ndarray
    times: np.ndarray
    steps: int


def normalise(bgr: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 3xHxW float32 in [-1, 1], as PP-OCR's networks were trained."""
    return (bgr.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)


def detection_size(
    height: int, width: int, min_side: int, max_side: int, max_upscale: float
) -> tuple[int, int]:
    """The detector's input size: short side raised towards `min_side` (small text needs the
    pixels) by at most `max_upscale` times, long side capped at `max_side` (time), both
    rounded to multiples of 32."""
    scale = min(max(1.0, min_side / min(height, width)), max_upscale)
    scale = min(scale, max_side / max(height, width))
    return (
        max(32, int(round(height * scale / 32)) * 32),
        max(32, int(round(width * scale / 32)) * 32),
    )


def order_box(points: np.ndarray) -> np.ndarray:
    """A rectangle's 4 corners (any order) as top-left, top-right, bottom-right,
    bottom-left, taking the edge nearest to horizontal as the top and bottom."""
    pts = np.asarray(points, np.float32)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # clockwise on screen (y down), starting anywhere
    edges = np.roll(pts, -1, axis=0) - pts
    slope = np.abs(edges[:, 1]) / np.maximum(np.abs(edges[:, 0]), 1e-6)
    # Of the two near-horizontal edges, the top one has the smaller mean y.
    flat = list(np.argsort(slope, kind="stable")[:2])
    top = min(flat, key=lambda i: pts[i, 1] + pts[(i + 1) % 4, 1])
    return np.roll(pts, -top, axis=0)


def region_score(prob: np.ndarray, contour: np.ndarray) -> float:
    """Mean text probability inside a contour (in map pixels)."""
    x, y, w, h = cv2.boundingRect(contour)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [contour.reshape(-1, 2) - np.array([x, y])], 1)
    return float(cv2.mean(prob[y : y + h, x : x + w], mask)[0])


def db_boxes(
    prob: np.ndarray,
    threshold: float = 0.3,
    box_threshold: float = 0.6,
    unclip_ratio: float = 1.5,
    min_side: float = 3.0,
    max_candidates: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """DBNet post-processing: probability map (H, W) -> text rectangles (N, 4, 2) in map
    pixels (top-left first, clockwise) and their scores (N,).

    Each region above `threshold` becomes its minimum-area rectangle, kept when its mean
    probability reaches `box_threshold`, then grown on every side by
    area * unclip_ratio / perimeter, the offset DBNet's labels were shrunk by.
    """
    mask = cv2.dilate((prob > threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    # Largest regions first: speckle on a noisy map must not crowd out the text.
    contours = sorted(contours, key=cv2.contourArea, reverse=True)[:max_candidates]
    boxes, scores = [], []
    for contour in contours:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if min(w, h) < min_side:
            continue
        score = region_score(prob, contour)
        if score < box_threshold:
            continue
        grow = w * h * unclip_ratio / (2.0 * (w + h))
        rect = ((cx, cy), (w + 2 * grow, h + 2 * grow), angle)
        if min(rect[1]) < min_side + 2:
            continue
        boxes.append(order_box(cv2.boxPoints(rect)))
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
    return np.stack(boxes).astype(np.float32), np.asarray(scores, np.float32)


def reading_quad(box: np.ndarray) -> np.ndarray:
    """A rectangle (top-left first) in reading order: tall boxes hold text turned a
    quarter clockwise, whose top edge is the box's right side."""
    width = np.linalg.norm(box[1] - box[0])
    height = np.linalg.norm(box[3] - box[0])
    if height >= TALL_RATIO * width:
        return np.roll(box, -1, axis=0)
    return box


def quad_size(quad: np.ndarray) -> tuple[int, int]:
    """(width, height) in pixels of a reading-order quadrilateral's upright strip."""
    w = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
    h = max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]))
    return max(1, int(round(w))), max(1, int(round(h)))


def crop_quad(bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quadrilateral cut out and warped upright (its reading direction left to right)."""
    w, h = quad_size(quad)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(
        bgr, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def fit_height(strip: np.ndarray, height: int, max_width: int | None = None) -> np.ndarray:
    """Resize a strip to `height`, keeping its aspect ratio (width capped if asked)."""
    h, w = strip.shape[:2]
    width = max(1, int(np.ceil(height * w / h)))
    if max_width is not None:
        width = min(width, max_width)
    return cv2.resize(strip, (width, height), interpolation=cv2.INTER_LINEAR)


def pad_batch(images: Sequence[np.ndarray], width: int) -> np.ndarray:
    """Normalised images of equal height, right-padded with zeros to `width`."""
    h = images[0].shape[0]
    batch = np.zeros((len(images), 3, h, width), np.float32)
    for i, im in enumerate(images):
        batch[i, :, :, : im.shape[1]] = normalise(im)
    return batch


def ctc_greedy(probs: np.ndarray, charset: Sequence[str]) -> Decoded:
    """Best path of one (T, C) probability sequence: class 0 is CTC's blank, class i > 0 is
    charset[i - 1]. Repeats collapse unless a blank separates them."""
    best = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    times = np.nonzero(keep)[0]
    return Decoded(
        chars=tuple(charset[int(c) - 1] for c in best[times]),
        probs=conf[times].astype(np.float32),
        times=times,
        steps=len(best),
    )


def mean_confidence(reading: Decoded) -> float:
    """Mean probability of a reading's characters, spaces excluded (0 when empty)."""
    solid = [p for c, p in zip(reading.chars, reading.probs) if c != " "]
    return float(np.mean(solid)) if solid else 0.0


def interpolate_quad(quad: np.ndarray, u0: float, u1: float) -> np.ndarray:
    """The part of a reading-order quadrilateral between fractions u0 and u1 of its
    length (along the top and bottom edges)."""
    top = quad[0] + np.outer([u0, u1], quad[1] - quad[0])
    bottom = quad[3] + np.outer([u0, u1], quad[2] - quad[3])
    return np.stack([top[0], top[1], bottom[1], bottom[0]]).astype(np.float32)


def split_words(reading: Decoded, quad: np.ndarray, used: float) -> tuple[TextWord, ...]:
    """Words of one decoded line, each placed along the line's quadrilateral.

    `used` is the fraction of the recogniser's input width the strip filled (the rest was
    padding). A character fires near its centre, so a word spans from half a character
    pitch before its first character to half a pitch after its last; the line's first and
    last words reach the line's ends.
    """
    chars = reading.chars
    starts = [i for i, c in enumerate(chars) if c != " " and (i == 0 or chars[i - 1] == " ")]
    if not starts:
        return ()
    solid = np.array([c != " " for c in chars])
    step = 1.0 / (reading.steps * used)  # strip fraction per time step
    gaps = np.diff(reading.times[solid])
    pitch = float(np.median(gaps)) if gaps.size else 2.0
    words = []
    for n, first in enumerate(starts):
        last = first
        while last + 1 < len(chars) and chars[last + 1] != " ":
            last += 1
        u0 = 0.0 if n == 0 else (reading.times[first] + 0.5 - pitch / 2) * step
        u1 = 1.0 if n == len(starts) - 1 else (reading.times[last] + 0.5 + pitch / 2) * step
        u0, u1 = float(np.clip(u0, 0, 1)), float(np.clip(u1, 0, 1))
        words.append(
            TextWord(
                text="".join(chars[first : last + 1]),
                confidence=float(reading.probs[first : last + 1].mean()),
                quad=interpolate_quad(quad, u0, max(u1, u0)),
            )
        )
    return tuple(words)


def reading_order(quads: np.ndarray) -> list[int]:
    """Indices of lines in reading order: rows along the text's dominant direction (the
    length-weighted mean direction of the lines' top edges), then along each row. Rows are
    lines whose centres lie within half a line height of each other across that direction."""
    if not len(quads):
        return []
    edges = quads[:, 1] - quads[:, 0]
    direction = edges.sum(axis=0)
    direction = direction / max(float(np.linalg.norm(direction)), 1e-6)
    normal = np.array([-direction[1], direction[0]], np.float32)
    centres = quads.mean(axis=1)
    along, across = centres @ direction, centres @ normal
    heights = np.array([quad_size(q)[1] for q in quads], np.float32)
    rows: list[list[int]] = []
    for i in sorted(range(len(quads)), key=lambda j: across[j]):
        if rows and abs(across[i] - across[rows[-1][0]]) < 0.5 * heights[rows[-1][0]]:
            rows[-1].append(i)
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda j: along[j])]


class TextReader:
    """Detect and read lines of text in an RGB image."""

    def __init__(
        self,
        detector: Model,
        recogniser: Model,
        charset: Sequence[str],
        orientation: Model | None = None,
        min_side: int = 736,
        max_side: int = 2000,
        max_upscale: float = 4.0,
        min_line_confidence: float = 0.5,
    ) -> None:
        self.detector = detector
        self.recogniser = recogniser
        self.charset = tuple(charset) + (" ",)  # PP-OCR appends the space class
        self.orientation = orientation
        self.min_side = min_side
        self.max_side = max_side
        self.max_upscale = max_upscale
        self.min_line_confidence = min_line_confidence

    def detect(self, bgr: np.ndarray) -> np.ndarray:
        """Reading-order quadrilaterals (N, 4, 2) of the text regions, in image pixels."""
        h, w = bgr.shape[:2]
        th, tw = detection_size(h, w, self.min_side, self.max_side, self.max_upscale)
        x = normalise(cv2.resize(bgr, (tw, th), interpolation=cv2.INTER_LINEAR))[None]
        prob = next(iter(self.detector(x).values()))[0, 0]
        boxes, _ = db_boxes(prob)
        if not len(boxes):
            return boxes
        boxes = boxes * np.array([w / tw, h / th], np.float32)
        boxes[..., 0] = np.clip(boxes[..., 0], 0, w - 1)
        boxes[..., 1] = np.clip(boxes[..., 1], 0, h - 1)
        return np.stack([reading_quad(b) for b in boxes])

    def upside_down(self, strips: Sequence[np.ndarray]) -> np.ndarray:
        """Which strips the orientation classifier reads as turned 180 degrees."""
        flags = np.zeros(len(strips), bool)
        if self.orientation is None:
            return flags
        ch, cw = CLS_SHAPE
        for s in range(0, len(strips), REC_BATCH):
            part = [fit_height(im, ch, cw) for im in strips[s : s + REC_BATCH]]
            probs = next(iter(self.orientation(pad_batch(part, cw)).values()))
            flags[s : s + len(part)] = (probs.argmax(1) == 1) & (probs.max(1) >= CLS_FLIP_THRESHOLD)
        return flags

    def recognise(self, strips: Sequence[np.ndarray]) -> list[tuple[Decoded, float]]:
        """Each strip's CTC reading and the fraction of the input width it filled. Strips
        are batched by width, so that little of each batch is padding."""
        resized = [fit_height(im, REC_HEIGHT) for im in strips]
        order = np.argsort([im.shape[1] for im in resized], kind="stable")
        out: dict[int, tuple[Decoded, float]] = {}
        for s in range(0, len(order), REC_BATCH):
            idx = order[s : s + REC_BATCH]
            width = max(REC_MIN_WIDTH, max(resized[i].shape[1] for i in idx))
            batch = pad_batch([resized[i] for i in idx], width)
            probs = next(iter(self.recogniser(batch).values()))
            for k, i in enumerate(idx):
                out[int(i)] = (ctc_greedy(probs[k], self.charset), resized[i].shape[1] / width)
        return [out[i] for i in range(len(strips))]

    def locate(self, bgr: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The text regions of a BGR image in reading order: their reading-order
        quadrilaterals (N, 4, 2) and their strips cut out upright (the orientation
        classifier turns upside-down ones round)."""
        quads = self.detect(bgr)
        if not len(quads):
            return quads, []
        strips = [crop_quad(bgr, q) for q in quads]
        for i in np.nonzero(self.upside_down(strips))[0]:
            quads[i] = np.roll(quads[i], 2, axis=0)
            strips[i] = strips[i][::-1, ::-1]
        order = reading_order(quads)
        return quads[order], [strips[i] for i in order]

    def read(self, quads: np.ndarray, strips: Sequence[np.ndarray]) -> list[TextLine]:
        """Lines read from strips that `locate` found, in the same order; strips that read
        as nothing, or with mean confidence under `min_line_confidence`, are dropped."""
        quads = quads.copy()
        readings = self.recognise(strips)
        # A weak reading gets a second look the other way up (the orientation classifier
        # is unsure on short or sparse strips); the more confident reading wins.
        weak = [i for i, (r, _) in enumerate(readings) if mean_confidence(r) < SECOND_LOOK]
        for i, again in zip(weak, self.recognise([strips[i][::-1, ::-1] for i in weak])):
            if mean_confidence(again[0]) > mean_confidence(readings[i][0]):
                readings[i] = again
                quads[i] = np.roll(quads[i], 2, axis=0)
        lines = []
        for quad, (reading, used) in zip(quads, readings):
            words = split_words(reading, quad, used)
            confidence = mean_confidence(reading)
            if words and confidence >= self.min_line_confidence:
                lines.append(
                    TextLine(
                        text=" ".join(w.text for w in words),
                        confidence=confidence,
                        quad=quad,
                        words=words,
                    )
                )
        return lines

    def __call__(self, rgb: np.ndarray) -> list[TextLine]:
        """Lines of text in reading order, with their words."""
        return self.read(*self.locate(np.ascontiguousarray(rgb[:, :, ::-1])))
