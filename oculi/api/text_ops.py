"""Rekognition's DetectText: JSON in, use case, TextDetections out.

Every LINE comes first (Ids 0..L-1), then every WORD (Ids from L on), each word's
ParentId naming its line, as Rekognition orders them. Geometry is in ratios of the image:
an axis-aligned BoundingBox and a 4-point Polygon in reading order (start of the top edge,
end of the top edge, end of the bottom edge, start of the bottom edge).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oculi.service.context import ServiceContext
from oculi.service.image_source import load_image
from oculi.service.text import MODEL_VERSION, detect_text, shared_text_reader
from oculi.vision.text import TextLine


def geometry(quad: np.ndarray, width: int, height: int) -> dict[str, Any]:
    """A pixel quadrilateral as Rekognition's Geometry, clipped to the image."""
    pts = np.clip(quad / np.array([width, height], np.float32), 0.0, 1.0)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return {
        "BoundingBox": {
            "Width": float(x1 - x0),
            "Height": float(y1 - y0),
            "Left": float(x0),
            "Top": float(y0),
        },
        "Polygon": [{"X": float(x), "Y": float(y)} for x, y in pts],
    }


def text_detections(lines: list[TextLine], width: int, height: int) -> list[dict[str, Any]]:
    """Lines, then words, as Rekognition's TextDetection list."""
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        out.append(
            {
                "DetectedText": line.text,
                "Type": "LINE",
                "Id": i,
                "Confidence": 100.0 * line.confidence,
                "Geometry": geometry(line.quad, width, height),
            }
        )
    next_id = len(lines)
    for i, line in enumerate(lines):
        for word in line.words:
            out.append(
                {
                    "DetectedText": word.text,
                    "Type": "WORD",
                    "Id": next_id,
                    "ParentId": i,
                    "Confidence": 100.0 * word.confidence,
                    "Geometry": geometry(word.quad, width, height),
                }
            )
            next_id += 1
    return out


def detect_text_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    image = load_image(params["Image"], ctx.s3)
    s = ctx.settings
    reader = shared_text_reader(s.model_dir, ctx.threads, s.device)
    lines = detect_text(reader, image.rgb, params.get("Filters"))
    height, width = image.rgb.shape[:2]
    return {
        "TextDetections": text_detections(lines, width, height),
        "TextModelVersion": MODEL_VERSION,
    }
