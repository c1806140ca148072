"""Rekognition's service model, from botocore, and a validator driven by it.

Operation names, shapes and constraints (required, min, max, pattern, enum) come from
the `service-2.json` that botocore ships, not from hand-written tables. botocore's own
client-side validator checks only types and minimums; this one enforces everything the
model states, and decodes blobs from base64, so handlers get clean Python values. One
rule is oculi's own: a CollectionId of only dots (`.`, `..`), which the pattern allows, is
refused; and one extension: a stream processor's input ARN may be a URL (URL_SCHEMES).
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from oculi.errors import ImageTooLarge, InvalidParameter
from oculi.store.names import only_dots

# oculi's extension: a stream processor's Input.KinesisVideoStream.Arn may be a camera's or
# a file's URL instead of an ARN (docs/streams.md); its pattern admits ARNs only.
URL_ARN_SHAPE = "KinesisVideoArn"
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "file://")


@functools.lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("rekognition")


def operation(name: str) -> OperationModel | None:
    model = service_model()
    return model.operation_model(name) if name in model.operation_names else None


@functools.lru_cache(maxsize=512)
def _pattern(p: str) -> re.Pattern[str] | None:
    try:
        return re.compile(p)
    except re.error:
        return None


def _fail(path: str, message: str) -> InvalidParameter:
    return InvalidParameter(f"1 validation error detected: Value at '{path}' {message}")


def validate(shape: Shape, value: Any, path: str = "") -> Any:
    """Check `value` against `shape`; return it with blobs decoded to bytes."""
    t = shape.type_name
    meta = shape.metadata
    where = path or shape.name
    if t == "structure":
        if not isinstance(value, dict):
            raise _fail(where, "must be an object")
        members = shape.members
        unknown = sorted(set(value) - set(members))
        if unknown:
            raise _fail(where, f"has unknown member(s) {', '.join(unknown)}")
        for req in shape.required_members:
            if value.get(req) is None:
                raise _fail(
                    f"{path + '.' if path else ''}{req}",
                    "failed to satisfy constraint: Member must not be null",
                )
        return {
            k: validate(members[k], v, f"{path + '.' if path else ''}{k}")
            for k, v in value.items()
            if v is not None
        }
    if t == "list":
        if not isinstance(value, list):
            raise _fail(where, "must be a list")
        _check_length(meta, len(value), where, "length")
        return [validate(shape.member, v, f"{where}.{i + 1}") for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict):
            raise _fail(where, "must be a map")
        _check_length(meta, len(value), where, "length")
        return {
            validate(shape.key, k, where): validate(shape.value, v, f"{where}.{k}")
            for k, v in value.items()
        }
    if t == "string":
        if not isinstance(value, str):
            raise _fail(where, "must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: valid JSON, not text
            raise _fail(where, "must be valid Unicode (it holds a lone surrogate)") from None
        _check_length(meta, len(value), where, "length")
        enum = getattr(shape, "enum", None) or []
        if enum and value not in enum:
            raise _fail(
                where,
                "failed to satisfy constraint: Member must satisfy enum value "
                f"set: [{', '.join(enum)}]",
            )
        pattern = meta.get("pattern")
        rx = _pattern(pattern) if pattern else None
        is_url = shape.name == URL_ARN_SHAPE and value.lower().startswith(URL_SCHEMES)
        if rx is not None and not rx.fullmatch(value) and not is_url:
            raise _fail(
                where,
                "failed to satisfy constraint: Member must satisfy regular "
                f"expression pattern: {pattern}",
            )
        if shape.name == "CollectionId" and only_dots(value):
            # The pattern allows "." and ".."; oculi refuses them (SECURITY.md).
            raise _fail(where, "failed to satisfy constraint: Member must not be only dots")
        return value
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, "must be an integer")
        _check_range(meta, value, where)
        return value
    if t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, "must be a number")
        try:
            value = float(value)
        except OverflowError:  # an integer too large for a float (1e400 in digits)
            raise _fail(where, "must be a finite number") from None
        if not math.isfinite(value):
            raise _fail(where, "must be a finite number")
        _check_range(meta, value, where)
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            raise _fail(where, "must be a boolean")
        return value
    if t == "blob":
        if not isinstance(value, str):
            raise _fail(where, "must be a base64-encoded string")
        max_len = meta.get("max")
        if max_len is not None and len(value) > (max_len + 2) // 3 * 4 + 4:
            raise ImageTooLarge(f"{where} is larger than {max_len} bytes")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(where, "is not valid base64") from None
        if max_len is not None and len(data) > max_len:
            raise ImageTooLarge(f"{where} is larger than {max_len} bytes")
        _check_length(meta, len(data), where, "length")
        return data
    if t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _fail(where, "must be a timestamp")
        return value
    raise _fail(where, f"has a type this server does not handle ({t})")


def _check_length(meta: dict[str, Any], n: int, where: str, what: str) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and n < lo:
        raise _fail(
            where,
            f"failed to satisfy constraint: Member must have {what} greater than or equal to {lo}",
        )
    if hi is not None and n > hi:
        raise _fail(
            where,
            f"failed to satisfy constraint: Member must have {what} less than or equal to {hi}",
        )


def _check_range(meta: dict[str, Any], v: float, where: str) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and v < lo:
        raise _fail(
            where,
            f"failed to satisfy constraint: Member must have value greater than or equal to {lo}",
        )
    if hi is not None and v > hi:
        raise _fail(
            where,
            f"failed to satisfy constraint: Member must have value less than or equal to {hi}",
        )
