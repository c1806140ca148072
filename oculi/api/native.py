"""The native endpoints, POST /oculi/redact and POST /oculi/plates: what each call asks
for, the rights it needs, and its work.

`plan_redact` and `plan_plates` read a call's query into a `NativeCall`; the server
(oculi/api/server.py) then authorizes it, applies the back-pressure caps and runs
`NativeCall.handler` through the same audited path as the Rekognition operations, on the
native workers. Each call is limited to `Settings.native_budget_s` seconds (checked between
stages) and, when it reads plates, to MAX_PLATE_REGIONS text regions; the memory its
large buffers took is handed back to the system after it.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import Any

import numpy as np

from oculi.api.operations import Handler, apply_match_floor
from oculi.errors import InvalidParameter
from oculi.permissions import native_rights
from oculi.service.budget import MAX_PLATE_REGIONS, Budget
from oculi.service.context import ServiceContext
from oculi.service.labels import shared_label_detectors
from oculi.service.plates import plates_for_bytes, query_flag, redact_plates
from oculi.service.ppe import person_finder
from oculi.service.redact import RedactOptions, redact_image
from oculi.service.text import shared_text_reader
from oculi.settings import Settings
from oculi.vision.decode import decode, looks_like_video


@dataclass(frozen=True)
class NativeCall:
    """One native call, planned: `params` are what the audit records (CollectionId,
    FaceMatchThreshold), `rights` the Rekognition operations whose rights it needs,
    `notice` the x-oculi-notice answer header (a threshold raised to the floor), and
    `handler(ctx, params)` its work, answering {"Body", "MediaType", "Headers", ...}."""

    params: dict[str, Any]
    rights: list[tuple[str, dict[str, Any]]]
    notice: str | None
    handler: Handler


def _budget(settings: Settings, plates: bool) -> Budget:
    return Budget(settings.native_budget_s, MAX_PLATE_REGIONS if plates else None)


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def trim_memory() -> None:
    """Hand the heap's free memory back to the system (glibc's malloc_trim): a large call's
    buffers otherwise stay in the process after it. Nothing where the C library lacks it."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def plan_redact(body: bytes, query: Mapping[str, str], settings: Settings) -> NativeCall:
    """POST /oculi/redact?mode=blur|pixelate|fill&faces=all|except|only&collection=C
    &threshold=T&plates=0|1&persons=0|1&scales=1,2&min_score=S&margin=M&report=0|1.
    A threshold under the operator's identity floor is raised to it, as the Rekognition
    searches' are. `persons=1` also covers every person the person detector finds (it needs
    DetectLabels' right); `report=1` answers JSON: the image (base64) and what was covered."""
    default = RedactOptions()
    try:
        opts = RedactOptions(
            mode=query.get("mode", "blur"),
            which=query.get("faces", "all"),
            collection=query.get("collection"),
            threshold=float(query.get("threshold", settings.match_floor)),
            scales=tuple(float(x) for x in query["scales"].split(","))
            if "scales" in query
            else default.scales,
            min_score=float(query.get("min_score", default.min_score)),
            margin=float(query.get("margin", default.margin)),
            persons=query_flag(query, "persons"),
        )
    except (TypeError, ValueError):
        raise InvalidParameter("bad redaction parameters") from None
    if opts.mode not in ("blur", "pixelate", "fill") or opts.which not in ("all", "except", "only"):
        raise InvalidParameter("mode must be blur|pixelate|fill and faces all|except|only")
    plates = query_flag(query, "plates")
    report = query_flag(query, "report")
    if plates and looks_like_video(body):
        raise InvalidParameter(
            "plates=1 covers plates in JPEG and PNG images only: videos "
            "with plates are refused, reading plates in every frame is far "
            "slower than real time"
        )
    collection = opts.collection if opts.which != "all" else None
    params: dict[str, Any] = {}
    notice = None
    if collection is not None:
        params = {"CollectionId": collection, "FaceMatchThreshold": opts.threshold}
        notice = apply_match_floor("SearchFacesByImage", params, settings.match_floor)
        opts = replace(opts, threshold=params["FaceMatchThreshold"])

    def handler(ctx: ServiceContext, _: dict[str, Any]) -> dict[str, Any]:
        try:
            out = redact_bytes(ctx, body, opts, plates, _budget(ctx.settings, plates))
        finally:
            trim_memory()
        return as_report(out) if report else out

    rights = native_rights(opts.which, collection, plates)
    if opts.persons:
        rights.append(("DetectLabels", {}))
    return NativeCall(params, rights, notice, handler)


def plan_plates(body: bytes, query: Mapping[str, str], settings: Settings) -> NativeCall:
    """POST /oculi/plates[?fine=1]: the plates as JSON."""
    fine = query_flag(query, "fine")

    def handler(ctx: ServiceContext, _: dict[str, Any]) -> dict[str, Any]:
        try:
            result = plates_for_bytes(ctx, body, fine, _budget(ctx.settings, True))
        finally:
            trim_memory()
        return {
            "Body": json.dumps(result).encode(),
            "MediaType": "application/json",
            "Headers": {},
            "Plates": result["Plates"],
        }

    return NativeCall({}, native_rights(None, None, True), None, handler)


def redact_bytes(
    ctx: ServiceContext, body: bytes, opts: RedactOptions, plates: bool, budget: Budget
) -> dict[str, Any]:
    """Decode, redact and re-encode one image: the answer's bytes, media type and count
    headers. `plates` also covers licence plates."""
    import cv2

    image = decode(body)
    budget.check("finding faces")
    collections = ctx.collections() if opts.which != "all" else None
    persons = None
    if opts.persons:
        s = ctx.settings
        persons, _ = person_finder(
            shared_label_detectors(s.model_dir, ctx.threads, s.device).persons
        )(image.rgb)
        budget.check("finding faces")
    out, faces = redact_image(
        ctx.redaction_analyzer(),
        collections,
        image.rgb,
        opts,
        partial(budget.check, "finding small faces"),
        persons,
    )
    headers = {"x-oculi-faces-redacted": str(len(faces)), "x-oculi-redaction": opts.describe()}
    if persons is not None:
        headers["x-oculi-persons-redacted"] = str(len(persons))
    if plates:
        budget.check("reading plates")
        s = ctx.settings
        reader = shared_text_reader(s.model_dir, ctx.threads, s.device)
        out, covered = redact_plates(reader, image.rgb, out, opts, budget)
        headers["x-oculi-plates-redacted"] = str(covered)
    budget.check("encoding the answer")
    ext, media = (".png", "image/png") if image.format == "PNG" else (".jpg", "image/jpeg")
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(out[:, :, ::-1]))
    if not ok:
        raise InvalidParameter("could not encode the redacted image")
    height, width = image.rgb.shape[:2]
    covered = {"Faces": _relative(faces, width, height)}
    if persons is not None:
        covered["Persons"] = _relative(persons, width, height)
    return {"Body": buf.tobytes(), "MediaType": media, "Headers": headers, "Covered": covered}


def _relative(boxes: np.ndarray, width: int, height: int) -> list[dict[str, float]]:
    """x1 y1 x2 y2 pixel boxes as Rekognition's BoundingBox (ratios of the image)."""
    return [
        {
            "Left": float(x1) / width,
            "Top": float(y1) / height,
            "Width": float(x2 - x1) / width,
            "Height": float(y2 - y1) / height,
        }
        for x1, y1, x2, y2 in boxes
    ]


def as_report(answer: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer of report=1: the redacted image in base64, its media type, the
    boxes covered (before the margin) and the headers' counts and settings."""
    report = {
        "Image": base64.b64encode(answer["Body"]).decode(),
        "MediaType": answer["MediaType"],
        **answer["Covered"],
        "Settings": answer["Headers"]["x-oculi-redaction"],
    }
    return {**answer, "Body": json.dumps(report).encode(), "MediaType": "application/json"}
