"""Licence plates in one image: the shared text reader's lines, then the plate filters.

Used by `oculi plates` and the native endpoint POST /oculi/plates (both answer the JSON
that `plates_json` writes), and by `oculi redact --plates` and POST /oculi/redact?plates=1
(`redact_plates`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from oculi.errors import InvalidParameter
from oculi.service.budget import Budget
from oculi.service.context import ServiceContext
from oculi.service.redact import RedactOptions
from oculi.service.text import READ_CHUNK, shared_text_reader
from oculi.vision.decode import decode
from oculi.vision.plates import RULES, Plate, PlateRules, find_plates
from oculi.vision.redact import redact
from oculi.vision.text import TextReader

METHOD = "oculi-plates-ppocrv6-small"  # plate filters on DetectText's reader
# "fine": the text detector sees the image at twice DetectText's size (short side 1472
# instead of 736, long side up to 2944), which finds plates about half as wide, at 2-3
# times the time (bench/plates.py, docs/plates.md).
FINE_SIDES = (1472, 2944)


def plate_reader(reader: TextReader, fine: bool) -> TextReader:
    """The reader as plates use it: DetectText's own sizes, or the fine ones (same models)."""
    if not fine:
        return reader
    finer = copy.copy(reader)
    finer.min_side, finer.max_side = FINE_SIDES
    return finer


def detect_plates(
    reader: TextReader,
    rgb: np.ndarray,
    fine: bool = False,
    budget: Budget | None = None,
    rules: PlateRules = RULES,
) -> list[Plate]:
    """The plates in an RGB image, most confident first. A `budget` limits the text regions
    read and the time (checked between chunks of regions)."""
    budget = budget or Budget()
    quads, strips = plate_reader(reader, fine).locate(np.ascontiguousarray(rgb[:, :, ::-1]))
    budget.check_regions(len(quads))
    lines = []
    for start in range(0, len(quads), READ_CHUNK):
        budget.check("reading text regions")
        lines += reader.read(quads[start : start + READ_CHUNK], strips[start : start + READ_CHUNK])
    return find_plates(rgb, lines, rules)


def query_flag(query: Mapping[str, str], name: str) -> bool:
    """A native endpoint's on/off query parameter: 0, 1, false or true (absent: off);
    InvalidParameterException for anything else."""
    flag = query.get(name, "0").lower()
    if flag not in ("0", "1", "false", "true"):
        raise InvalidParameter(f"{name} must be 0, 1, false or true")
    return flag in ("1", "true")


def plates_json(plates: list[Plate], width: int, height: int) -> dict[str, Any]:
    """Plates as JSON: text, what was read, confidence in percent, and the box both in
    ratios of the image (as Rekognition's BoundingBox) and in pixels."""
    out = []
    for p in plates:
        x0, y0, x1, y1 = p.box
        out.append(
            {
                "Text": p.text,
                "Reading": p.reading,
                "Confidence": 100.0 * p.confidence,
                "BoundingBox": {
                    "Width": (x1 - x0) / width,
                    "Height": (y1 - y0) / height,
                    "Left": x0 / width,
                    "Top": y0 / height,
                },
                "Box": [x0, y0, x1, y1],
            }
        )
    return {"Plates": out, "ImageWidth": width, "ImageHeight": height, "Method": METHOD}


def plates_for_bytes(
    ctx: ServiceContext, body: bytes, fine: bool, budget: Budget | None = None
) -> dict[str, Any]:
    """The native endpoint's work: decode a JPEG or PNG (InvalidImageFormatException
    otherwise), find its plates with the server's shared text reader (at the fine
    detection size with `fine`), answer JSON."""
    image = decode(body)
    s = ctx.settings
    reader = shared_text_reader(s.model_dir, ctx.threads, s.device)
    plates = detect_plates(reader, image.rgb, fine, budget)
    height, width = image.rgb.shape[:2]
    return plates_json(plates, width, height)


def plate_boxes(
    reader: TextReader, rgb: np.ndarray, fine: bool = True, budget: Budget | None = None
) -> np.ndarray:
    """(N, 4) x0 y0 x1 y1 pixel boxes of the plates read in an RGB image, for redaction
    (the fine size by default: a plate missed is a plate left readable)."""
    boxes = [p.box for p in detect_plates(reader, rgb, fine, budget)]
    return np.array(boxes, np.float32).reshape(-1, 4)


PLATE_MARGIN = 0.25


def redact_plates(
    reader: TextReader,
    original: np.ndarray,
    out: np.ndarray,
    opts: RedactOptions,
    budget: Budget | None = None,
) -> tuple[np.ndarray, int]:
    """`out`, a redaction of the RGB image `original`, with the plates read in `original`
    covered too (same mode as the faces, PLATE_MARGIN a side: a plate's box is tight, and the
    faces' wider margin is for faces found smaller than they are), and how many plates
    that was."""
    boxes = plate_boxes(reader, original, budget=budget)
    return redact(out, boxes, opts.mode, PLATE_MARGIN), len(boxes)
