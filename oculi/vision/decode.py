"""Image bytes -> RGB array, refusing what is not a whole JPEG or PNG before it costs memory.

Rekognition accepts JPEG and PNG only. The header is read first (format, dimensions), so
decompression bombs and absurd sizes are refused without decoding; truncated files are
refused instead of being half-decoded. JPEG EXIF orientation is applied, as Rekognition
does, so that coordinates refer to the upright image.

Many phones write MPO (CIPA's Multi-Picture Format: a JPEG followed by more JPEG frames,
such as a depth map or a preview), which Pillow names "MPO". It is a JPEG in every way that
matters here, and is decoded, checked and rotated as one (its first frame), so its format
is reported as "JPEG". HEIC/HEIF, the other format phones write, is refused by name.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from oculi.errors import ImageTooLarge, InvalidImageFormat

FORMATS = ("JPEG", "PNG")  # Pillow opens an MPO file through its JPEG plugin
JPEG_FAMILY = ("JPEG", "MPO")  # Pillow's names for a JPEG stream
# ISO base media brands of HEIF images (HEIC, AVIF and the like), at byte 8 after "ftyp".
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")
MAX_PIXELS = 40_000_000  # ~ 8000 x 5000; larger images are refused before decoding
MAX_SIDE = 16_384
MIN_SIDE = 1
# Work that grows with the count of structures, not pixels: libjpeg walks every block once
# per progressive scan, and Pillow walks JPEG segments, stray bytes and PNG chunks in Python.
MAX_JPEG_SCANS = 100  # libjpeg's standard progressive scripts write 6 to 10
MAX_HEADER_STEPS = 2_000  # JPEG segments and stray bytes before the first scan
MAX_PNG_CHUNKS = 20_000  # 5 MB of 8 KiB IDAT chunks is 640
# Inside entropy-coded data 0xFF is followed only by a stuffed 0x00 or a restart marker.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_MARKER = re.compile(rb"\xff+[^\xff]")
# Bytes (no 0xFF) put after every scan by scan_data_runs_short(): a decoder that has all its
# data never reads them, one that ran out of data decodes them instead of zeros.
_PROBE_FILL = bytes(range(0x11, 0xF1, 3)) * 2


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # H x W x 3 uint8, upright
    format: str


def probe(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header only; format is "JPEG" (MPO included) or
    "PNG"."""
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise InvalidImageFormat(
            "Request has invalid image format: HEIC/HEIF images are not supported, only "
            "JPEG and PNG (convert the photo to JPEG, or set the phone to save JPEG)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
            fmt = "JPEG" if im.format in JPEG_FAMILY else str(im.format)
            return fmt, im.width, im.height
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"Image dimensions are too large: {e}") from None
    except Exception:
        raise InvalidImageFormat(
            "Request has invalid image format: only whole JPEG and PNG images are supported"
        ) from None


def check_structure(data: bytes) -> None:
    """Refuse JPEG/PNG whose scan, segment or chunk count would cost seconds to walk."""
    if data.startswith(b"\xff\xd8"):
        # Entropy-coded data stuffs every 0xFF, so this counts at least every SOS marker.
        if data.count(b"\xff\xda") > MAX_JPEG_SCANS:
            raise InvalidImageFormat(
                f"Request has invalid image format: the JPEG has more than {MAX_JPEG_SCANS} scans"
            )
        pos, steps, end = 2, 0, len(data) - 1
        while pos < end:
            steps += 1
            if steps > MAX_HEADER_STEPS:
                raise InvalidImageFormat(
                    "Request has invalid image format: the JPEG header "
                    "has too many segments or stray bytes"
                )
            marker = data[pos + 1]
            if data[pos] != 0xFF or marker == 0xFF:
                pos += 1  # a stray or fill byte, which Pillow skips one at a time
            elif marker == 0xDA:
                break
            elif marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
                pos += 2
            else:
                pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        pos, chunks = 8, 0
        while pos + 8 <= len(data):
            chunks += 1
            if chunks > MAX_PNG_CHUNKS:
                raise InvalidImageFormat(
                    "Request has invalid image format: the PNG has more "
                    f"than {MAX_PNG_CHUNKS} chunks"
                )
            pos += 12 + int.from_bytes(data[pos : pos + 4], "big")


def jpeg_scan_ends(data: bytes) -> list[int]:
    """Offsets at which each scan's entropy-coded data ends (the marker after it), up to EOI."""
    ends: list[int] = []
    pos, segments = 2, 0
    while (found := _MARKER.search(data, pos)) is not None:  # skips stray and fill bytes
        segments += 1
        if segments > MAX_HEADER_STEPS:
            raise InvalidImageFormat(
                "Request has invalid image format: the JPEG has too many segments"
            )
        marker, pos = data[found.end() - 1], found.end()
        if marker == 0xD9:
            break
        if marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            continue
        pos += int.from_bytes(data[pos : pos + 2], "big")
        if marker == 0xDA:
            scan_end = _SCAN_END.search(data, pos)
            pos = scan_end.start() if scan_end else len(data)
            ends.append(pos)
    return ends


def scan_data_runs_short(
    data: bytes, decoded: np.ndarray, load: Callable[[bytes], Image.Image]
) -> bool:
    """True when a scan of JPEG `data` ends before the image does.

    libjpeg fills what a scan lacks with zeros (grey) and only warns, which Pillow drops, so a
    truncated file that still ends in EOI decodes without error. Decoding again with bytes
    after every scan shows it: a whole scan never reads them, a short one decodes them.
    `decoded` is `load(data)` as an array; `load` must decode the same way."""
    ends = jpeg_scan_ends(data)
    if not ends:
        return True
    pieces = [data[a:b] for a, b in zip([0, *ends], [*ends, len(data)], strict=True)]
    return not np.array_equal(np.asarray(load(_PROBE_FILL.join(pieces))), decoded)


def decode(data: bytes, max_pixels: int = MAX_PIXELS, reduce_to: int | None = None) -> DecodedImage:
    """Decode `data`. With `reduce_to`, a large JPEG is decoded at 1/2, 1/4 or 1/8 scale
    inside libjpeg (much cheaper) as long as its long side stays at least `reduce_to`;
    analysis answers in ratios of the image size, so they do not change."""
    if not data:
        raise InvalidImageFormat("Request has invalid image format: the image is empty")
    check_structure(data)
    fmt, w, h = probe(data)
    if w > MAX_SIDE or h > MAX_SIDE or w * h > max_pixels:
        raise ImageTooLarge(
            f"Image is {w}x{h} pixels; the limit is {max_pixels} pixels and {MAX_SIDE} "
            "pixels a side"
        )
    if w < MIN_SIDE or h < MIN_SIDE:
        raise InvalidImageFormat("Request has invalid image format: the image is empty")

    def load(raw: bytes) -> Image.Image:
        im = Image.open(io.BytesIO(raw), formats=FORMATS)
        if reduce_to and fmt == "JPEG" and max(w, h) > 2 * reduce_to:
            scale = reduce_to / max(w, h)
            im.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
        im.load()  # raises on truncated data (LOAD_TRUNCATED_IMAGES stays False)
        return im

    try:
        im = load(data)
        if fmt == "JPEG" and scan_data_runs_short(data, np.asarray(im), load):
            raise InvalidImageFormat(
                "Request has invalid image format: the JPEG data is "
                "truncated (a scan ends before the image does)"
            )
        if fmt == "JPEG" and int(im.getexif().get(0x0112, 1) or 1) != 1:
            im = ImageOps.exif_transpose(im)
        if im.mode.startswith("I;16") or im.mode == "I":
            # 16-bit greyscale PNG: convert("RGB") would clip every sample above 255.
            grey = np.asarray(im).astype(np.uint32) >> 8
            im = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
        rgb = np.asarray(im.convert("RGB"))
    except (ImageTooLarge, InvalidImageFormat):
        raise
    except Exception as e:
        raise InvalidImageFormat(
            f"Request has invalid image format: the {fmt} data is damaged or truncated ({e})"
        ) from None
    return DecodedImage(rgb=np.ascontiguousarray(rgb), format=fmt)


# Signatures of the common video containers: ISO media (MP4, MOV, 3GP) has its box type at
# byte 4; Matroska/WebM, AVI, MPEG program streams, FLV and ASF/WMV start with a magic.
_VIDEO_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free")
_VIDEO_MAGIC = (
    b"\x1a\x45\xdf\xa3",
    b"\x00\x00\x01\xba",
    b"FLV\x01",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",
)


def looks_like_video(data: bytes) -> bool:
    """Whether `data` starts like a video file (to name the refusal), not a full check."""
    return (
        data[4:8] in _VIDEO_BOXES
        or data.startswith(_VIDEO_MAGIC)
        or (data[:4] == b"RIFF" and data[8:12] == b"AVI ")
        or (len(data) > 376 and data[0] == data[188] == data[376] == 0x47)
    )  # MPEG-TS
