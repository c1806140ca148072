"""DetectText: lines and words of text in one image, filtered as Rekognition filters them.

Filters work on words, as Rekognition documents them: a word is kept when its confidence
reaches WordFilter.MinConfidence (default 80), its axis-aligned box is at least
MinBoundingBoxWidth wide and MinBoundingBoxHeight high (ratios of the image), and, when
RegionsOfInterest are given, more than half of it lies in one of them. A line keeps the
words that pass and is rebuilt from them (text, confidence, outline); a line left with no
word is dropped. At most 100 words are returned, in reading order, as Rekognition does;
lines are read only until those are found, and lines outside every region of interest
are not read at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from oculi.errors import InvalidParameter
from oculi.models.fetch import model_paths
from oculi.models.runtime import OnnxModel
from oculi.models.shared import shared
from oculi.vision.text import TextLine, TextReader, TextWord

MAX_WORDS = 100
READ_CHUNK = 12  # lines read at a time while the word budget lasts
DEFAULT_MIN_CONFIDENCE = 80.0
TEXT_MODELS = ("text_det", "text_rec", "text_cls")
MODEL_VERSION = "oculi-ppocrv6-small"
INSIDE = 0.5  # a word is in a region when more than this share of it lies there
SAMPLES = (16, 6)  # points along and across a word used to measure that share
RATIO_LIMIT = 1e6  # region coordinates are clipped to +/- this many image widths/heights


@dataclass(frozen=True)
class WordFilter:
    min_confidence: float = DEFAULT_MIN_CONFIDENCE  # percent
    min_width: float = 0.0  # ratio of the image width
    min_height: float = 0.0  # ratio of the image height


def load_text_reader(
    model_dir: Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    auto_fetch: bool = True,
) -> TextReader:
    """A TextReader on verified model files, fetching missing ones if allowed. The
    recogniser's character list is the model file's own `character` metadata. The models
    run without onnxruntime's memory arena: their input sizes follow the image and its
    lines, and the arena kept the largest (a page of text: RSS 0.93 GB after reading it,
    0.34 GB without the arena, 0.16 GB once freed memory is trimmed; tools/native_memory.py)."""
    det, rec, cls = (
        OnnxModel(path, threads, device, arena=False)
        for path in model_paths(TEXT_MODELS, model_dir, auto_fetch)
    )
    charset = rec.session.get_modelmeta().custom_metadata_map["character"].split("\n")
    return TextReader(det, rec, charset, cls)


shared_text_reader = shared(load_text_reader)


def word_filter(params: dict[str, Any] | None) -> WordFilter:
    """Rekognition's DetectionFilter (validated by the service model) as a WordFilter."""
    p = params or {}
    return WordFilter(
        min_confidence=float(p.get("MinConfidence", DEFAULT_MIN_CONFIDENCE)),
        min_width=float(p.get("MinBoundingBoxWidth", 0.0)),
        min_height=float(p.get("MinBoundingBoxHeight", 0.0)),
    )


def regions(params: list[dict[str, Any]] | None, width: int, height: int) -> list[np.ndarray]:
    """RegionsOfInterest as pixel polygons (K, 2); a region's Polygon wins over its box."""
    out = []
    for i, region in enumerate(params or []):
        where = f"Filters.RegionsOfInterest[{i}]"
        if region.get("Polygon"):
            pts = region["Polygon"]
            if len(pts) < 3:
                raise InvalidParameter(f"{where}.Polygon needs at least 3 points")
            if any("X" not in p or "Y" not in p for p in pts):
                raise InvalidParameter(f"{where}.Polygon points need X and Y")
            poly = np.array([[p["X"], p["Y"]] for p in pts], np.float64)
        elif region.get("BoundingBox"):
            box = region["BoundingBox"]
            if any(k not in box for k in ("Left", "Top", "Width", "Height")):
                raise InvalidParameter(f"{where}.BoundingBox needs Left, Top, Width and Height")
            x0, y0 = box["Left"], box["Top"]
            x1, y1 = x0 + box["Width"], y0 + box["Height"]
            poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
        else:
            raise InvalidParameter(f"{where} needs a BoundingBox or a Polygon")
        # Clipping vertices a million images away barely moves a region's edges inside the
        # image, and keeps the arithmetic finite.
        out.append(np.clip(poly, -RATIO_LIMIT, RATIO_LIMIT) * np.array([width, height]))
    return out


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: which of the points (N, 2) lie inside the polygon (K, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    a, b = polygon, np.roll(polygon, -1, axis=0)
    ax, ay, bx, by = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    crosses = (ay > y) != (by > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = ax + (y - ay) * (bx - ax) / (by - ay)
    return np.count_nonzero(crosses & (x < at), axis=1) % 2 == 1


def quad_samples(quad: np.ndarray, along: int = SAMPLES[0], across: int = SAMPLES[1]) -> np.ndarray:
    """Points spread evenly over a quadrilateral (cell centres of an along x across grid)."""
    u = (np.arange(along) + 0.5) / along
    v = (np.arange(across) + 0.5) / across
    top = quad[0] + np.outer(u, quad[1] - quad[0])
    bottom = quad[3] + np.outer(u, quad[2] - quad[3])
    return (top[:, None, :] + v[None, :, None] * (bottom - top)[:, None, :]).reshape(-1, 2)


def in_regions(quad: np.ndarray, polygons: list[np.ndarray]) -> bool:
    """Whether more than half of the quadrilateral lies inside one of the polygons."""
    pts = quad_samples(quad)
    return any(inside_polygon(pts, poly).mean() > INSIDE for poly in polygons)


def keep_word(
    word: TextWord, rule: WordFilter, polygons: list[np.ndarray], width: int, height: int
) -> bool:
    (x0, y0), (x1, y1) = word.quad.min(axis=0), word.quad.max(axis=0)
    return (
        100.0 * word.confidence >= rule.min_confidence
        and (x1 - x0) / width >= rule.min_width
        and (y1 - y0) / height >= rule.min_height
        and (not polygons or in_regions(word.quad, polygons))
    )


def rebuild(line: TextLine, words: tuple[TextWord, ...]) -> TextLine:
    """The line made of some of its words: their text, their character-weighted mean
    confidence, and the line's outline from the first word's start to the last's end."""
    if words == line.words:
        return line
    sizes = np.array([len(w.text) for w in words], np.float64)
    confidence = float(np.dot(sizes, [w.confidence for w in words]) / sizes.sum())
    first, last = words[0].quad, words[-1].quad
    quad = np.stack([first[0], last[1], last[2], first[3]]).astype(np.float32)
    return replace(
        line, text=" ".join(w.text for w in words), confidence=confidence, quad=quad, words=words
    )


def filter_lines(
    lines: list[TextLine],
    rule: WordFilter,
    polygons: list[np.ndarray],
    width: int,
    height: int,
    max_words: int = MAX_WORDS,
) -> list[TextLine]:
    """The lines with only the words that pass, at most `max_words` words in all."""
    out: list[TextLine] = []
    budget = max_words
    for line in lines:
        words = tuple(w for w in line.words if keep_word(w, rule, polygons, width, height))
        words = words[:budget]
        if words:
            out.append(rebuild(line, words))
            budget -= len(words)
    return out


def may_reach(quad: np.ndarray, polygons: list[np.ndarray]) -> bool:
    """Whether a line's bounding box meets any region's: a line outside every region
    cannot hold a word that is more than half inside one, and is not worth reading."""
    (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
    return any(
        x0 <= p[:, 0].max() and p[:, 0].min() <= x1 and y0 <= p[:, 1].max() and p[:, 1].min() <= y1
        for p in polygons
    )


def detect_text(
    reader: TextReader, rgb: np.ndarray, filters: dict[str, Any] | None = None
) -> list[TextLine]:
    """DetectText's use case: find the lines, then read them in reading order, a few at a
    time, applying Rekognition's filters, until 100 words are kept or no line is left
    (reading is the costly step: a page of small print holds far more than 100 words)."""
    height, width = rgb.shape[:2]
    f = filters or {}
    rule = word_filter(f.get("WordFilter"))
    polygons = regions(f.get("RegionsOfInterest"), width, height)
    quads, strips = reader.locate(np.ascontiguousarray(rgb[:, :, ::-1]))
    wanted = [i for i in range(len(quads)) if not polygons or may_reach(quads[i], polygons)]
    out: list[TextLine] = []
    budget = MAX_WORDS
    for start in range(0, len(wanted), READ_CHUNK):
        if budget <= 0:
            break
        idx = wanted[start : start + READ_CHUNK]
        lines = reader.read(quads[idx], [strips[i] for i in idx])
        kept = filter_lines(lines, rule, polygons, width, height, budget)
        out += kept
        budget -= sum(len(line.words) for line in kept)
    return out
