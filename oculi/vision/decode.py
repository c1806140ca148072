"""Image bytes -> RGB array, refusing what is not a whole JPEG or PNG before it costs memory.

Rekognition accepts JPEG and PNG only. The header is read first (format, dimensions), so
decompression bombs and absurd sizes are refused without decoding; truncated files are
refused instead of being half-decoded. JPEG EXIF orientation is applied, as Rekognition
does, so that coordinates refer to the upright image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from oculi.errors import ImageTooLarge, InvalidImageFormat

FORMATS = ("JPEG", "PNG")
MAX_PIXELS = 40_000_000  # ~ 8000 x 5000; larger images are refused before decoding
MAX_SIDE = 16_384
MIN_SIDE = 1


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # H x W x 3 uint8, upright
    format: str


def probe(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
            return str(im.format), im.width, im.height
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"Image dimensions are too large: {e}") from None
    except Exception:
        raise InvalidImageFormat(
            "Request has invalid image format: only whole JPEG and PNG images are supported"
        ) from None


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    if not data:
        raise InvalidImageFormat("Request has invalid image format: the image is empty")
    fmt, w, h = probe(data)
    if w > MAX_SIDE or h > MAX_SIDE or w * h > max_pixels:
        raise ImageTooLarge(
            f"Image is {w}x{h} pixels; the limit is {max_pixels} pixels and {MAX_SIDE} "
            "pixels a side"
        )
    if w < MIN_SIDE or h < MIN_SIDE:
        raise InvalidImageFormat("Request has invalid image format: the image is empty")
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
        im.load()  # raises on truncated data (LOAD_TRUNCATED_IMAGES stays False)
        if fmt == "JPEG" and int(im.getexif().get(0x0112, 1) or 1) != 1:
            im = ImageOps.exif_transpose(im)
        rgb = np.asarray(im.convert("RGB"))
    except (ImageTooLarge, InvalidImageFormat):
        raise
    except Exception as e:
        raise InvalidImageFormat(
            f"Request has invalid image format: the {fmt} data is damaged or truncated ({e})"
        ) from None
    return DecodedImage(rgb=np.ascontiguousarray(rgb), format=fmt)
