"""Rekognition's DetectLabels: JSON in, use case, Labels and ImageProperties out.

Every label carries Name, Confidence, Instances (bounding boxes in ratios of the image;
empty for parent labels), Parents (every ancestor), Aliases and Categories, as Rekognition's
current label model answers. OrientationCorrection is not returned: oculi applies the EXIF
orientation itself, so boxes always refer to the upright image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oculi.service.context import ServiceContext
from oculi.service.image_source import load_image
from oculi.service.label_plates import PlateLabels
from oculi.service.labels import (
    MODEL_VERSION,
    Region,
    detect_labels,
    shared_image_classifier,
    shared_label_detectors,
)
from oculi.service.text import shared_text_reader
from oculi.vision.image_properties import DominantColor
from oculi.vision.labels import Label


def bounding_box(box: np.ndarray, width: int, height: int) -> dict[str, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {
        "Width": (x2 - x1) / width,
        "Height": (y2 - y1) / height,
        "Left": x1 / width,
        "Top": y1 / height,
    }


def dominant_colors(colors: list[DominantColor]) -> list[dict[str, Any]]:
    return [
        {
            "Red": c.rgb[0],
            "Green": c.rgb[1],
            "Blue": c.rgb[2],
            "HexCode": c.hex_code,
            "CSSColor": c.css_color,
            "SimplifiedColor": c.simplified_color,
            "PixelPercent": c.pixel_percent,
        }
        for c in colors
    ]


def label_json(
    label: Label, width: int, height: int, colors: list[list[DominantColor]] | None
) -> dict[str, Any]:
    instances = []
    for i, inst in enumerate(label.instances):
        item: dict[str, Any] = {
            "BoundingBox": bounding_box(inst.box, width, height),
            "Confidence": inst.confidence,
        }
        if colors is not None:
            item["DominantColors"] = dominant_colors(colors[i])
        instances.append(item)
    return {
        "Name": label.name,
        "Confidence": label.confidence,
        "Instances": instances,
        "Parents": [{"Name": p} for p in label.parents],
        "Aliases": [{"Name": a} for a in label.aliases],
        "Categories": [{"Name": c} for c in label.categories],
    }


def region_json(region: Region, contrast: bool) -> dict[str, Any]:
    q = region.quality
    quality = {"Brightness": q.brightness, "Sharpness": q.sharpness}
    if contrast:
        quality["Contrast"] = q.contrast
    return {"Quality": quality, "DominantColors": dominant_colors(region.colors)}


def detect_labels_op(ctx: ServiceContext, params: dict[str, Any]) -> dict[str, Any]:
    image = load_image(params["Image"], ctx.s3)
    s = ctx.settings
    included = ((params.get("Settings") or {}).get("GeneralLabels") or {}).get(
        "LabelInclusionFilters"
    ) or []
    detector = PlateLabels(
        shared_label_detectors(s.model_dir, ctx.threads, s.device),
        shared_text_reader(s.model_dir, ctx.threads, s.device),
        asked="License Plate" in included,
    )
    result = detect_labels(
        detector, image.rgb, params, shared_image_classifier(s.model_dir, ctx.threads, s.device)
    )
    height, width = image.rgb.shape[:2]
    out: dict[str, Any] = {
        "Labels": [
            label_json(
                lab,
                width,
                height,
                result.instance_colors.get(lab.name) if result.properties else None,
            )
            for lab in result.labels
        ],
        "LabelModelVersion": MODEL_VERSION,
    }
    p = result.properties
    if p is not None:
        props = region_json(p.whole, contrast=True)
        if p.foreground and p.background:
            props["Foreground"] = region_json(p.foreground, contrast=False)
            props["Background"] = region_json(p.background, contrast=False)
        out["ImageProperties"] = props
    return out
