"""Builders for fuzzing seeds and regression inputs: small PNG/JPEG files of every flavour
decode() must handle, decompression-bomb headers, and structure-aware helpers (PNG CRC
repair, JPEG SOF rewriting) that keep mutated inputs past the cheap checksum/marker checks.

Standard library plus Pillow only; imported by the harnesses in this folder.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

PNG_SIG = b"\x89PNG\r\n\x1a\n"
SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
# Interesting sizes for a side: zero, one, limits either side of MAX_SIDE, 16/32-bit edges.
EDGE_SIDES = (
    0,
    1,
    2,
    7,
    8,
    9,
    255,
    256,
    4096,
    5000,
    8000,
    16_383,
    16_384,
    16_385,
    65_535,
    65_536,
    100_000,
    2**31 - 1,
    2**31,
    2**32 - 1,
)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_raw(
    width: int,
    height: int,
    depth: int = 8,
    color_type: int = 2,
    interlace: int = 0,
    idat: bytes | None = None,
    extra: bytes = b"",
) -> bytes:
    """A PNG from parts; `idat` defaults to a small zlib stream of zeros (a bomb's header
    when the dimensions are large)."""
    ihdr = struct.pack(
        ">IIBBBBB", width & 0xFFFFFFFF, height & 0xFFFFFFFF, depth, color_type, 0, 0, interlace
    )
    plte = png_chunk(b"PLTE", b"\0\0\0\xff\xff\xff") if color_type == 3 else b""
    data = zlib.compress(b"\0" * 1000) if idat is None else idat
    return (
        PNG_SIG
        + png_chunk(b"IHDR", ihdr)
        + extra
        + plte
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every whole chunk's CRC so that mutations reach the chunk parsers."""
    if not data.startswith(PNG_SIG):
        return data
    out = bytearray(data)
    pos = len(PNG_SIG)
    while pos + 12 <= len(out):
        (length,) = struct.unpack_from(">I", out, pos)
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        struct.pack_into(">I", out, end, zlib.crc32(bytes(out[pos + 4 : end])) & 0xFFFFFFFF)
        pos = end + 4
    return bytes(out)


def jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, offset of the marker, offset past its segment) for segments before SOS."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            yield marker, pos, pos + 2
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        yield marker, pos, pos + 2 + length
        if marker in (0xDA, 0xD9):
            return
        pos += 2 + length


def set_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the first SOF's dimensions (16 bits each)."""
    out = bytearray(data)
    for marker, pos, _ in jpeg_segments(data):
        if marker in SOF_MARKERS and pos + 9 <= len(out):
            struct.pack_into(">HH", out, pos + 5, height & 0xFFFF, width & 0xFFFF)
            break
    return bytes(out)


def set_png_size(data: bytes, width: int, height: int) -> bytes:
    if not data.startswith(PNG_SIG) or len(data) < 24:
        return data
    out = bytearray(data)
    struct.pack_into(">II", out, 16, width & 0xFFFFFFFF, height & 0xFFFFFFFF)
    return fix_png_crcs(bytes(out))


def save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pattern(mode: str, size: tuple[int, int]) -> Image.Image:
    grad = Image.linear_gradient("L").resize(size)
    if mode == "L":
        return grad
    if mode in ("RGB", "RGBA", "CMYK", "LA"):
        bands = {"RGB": 3, "RGBA": 4, "CMYK": 4, "LA": 2}[mode]
        return Image.merge(mode, [grad.rotate(90 * i) for i in range(bands)])
    return grad.convert(mode)


def grey16_png(size: tuple[int, int], value: int) -> bytes:
    """A 16-bit greyscale PNG (Pillow mode I;16) filled with `value` (0..65535)."""
    w, h = size
    row = b"\0" + struct.pack(">H", value) * w
    return png_raw(w, h, 16, 0, idat=zlib.compress(row * h))


def exif_with(orientation: object) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    ex[0x010F] = "oculi-fuzz"
    return ex.tobytes()


def many_scans_jpeg(width: int, height: int, scans: int) -> bytes:
    """A progressive greyscale JPEG declaring `width` x `height` whose body is `scans`
    empty DC scans: tiny on the wire, but libjpeg walks every block once per scan."""
    base = save(Image.new("L", (16, 16), 128), "JPEG", progressive=True)
    out = bytearray(base[:2])
    sos = b""
    for marker, start, end in jpeg_segments(base):
        if marker == 0xDA:
            sos = base[start:end]
            break
        if marker != 0xD8:
            out += base[start:end]
    out = bytearray(set_jpeg_size(bytes(out), width, height))
    out += (sos + b"\x00") * scans + b"\xff\xd9"
    return bytes(out)


def small_seeds() -> dict[str, bytes]:
    """Named small inputs covering the formats, modes and headers decode() meets."""
    seeds: dict[str, bytes] = {}
    size = (23, 17)
    for mode in ("RGB", "RGBA", "L", "LA", "P", "1"):
        seeds[f"png-{mode}"] = save(_pattern(mode, size), "PNG")
    seeds["png-I16"] = grey16_png(size, 0x8000)
    seeds["png-p-trns"] = save(_pattern("P", size), "PNG", transparency=0)
    seeds["png-text"] = save(_pattern("RGB", size), "PNG", pnginfo=_pnginfo())
    seeds["png-16bit-rgb"] = png_raw(
        3,
        2,
        16,
        2,
        idat=zlib.compress(
            b"".join(b"\0" + bytes(range(36))[i * 18 : (i + 1) * 18] for i in range(2))
        ),
    )
    seeds["png-16bit-rgba"] = png_raw(
        2, 2, 16, 6, idat=zlib.compress(b"\0" + b"\x80" * 16 + b"\0" + b"\x40" * 16)
    )
    seeds["png-16bit-grey-alpha"] = png_raw(
        2, 2, 16, 4, idat=zlib.compress((b"\0" + b"\x12\x34\xff\xff" * 2) * 2)
    )
    seeds["png-adam7"] = png_raw(9, 9, 8, 0, interlace=1, idat=zlib.compress(b"\0" * 200))
    seeds["apng"] = save(
        _pattern("RGB", size),
        "PNG",
        save_all=True,
        append_images=[_pattern("RGB", size).rotate(90)],
    )
    for mode in ("RGB", "L", "CMYK"):
        seeds[f"jpeg-{mode}"] = save(_pattern(mode, size), "JPEG", quality=80)
    seeds["jpeg-progressive"] = save(_pattern("RGB", size), "JPEG", progressive=True)
    seeds["jpeg-progressive-cmyk"] = save(_pattern("CMYK", size), "JPEG", progressive=True)
    seeds["jpeg-444"] = save(_pattern("RGB", size), "JPEG", subsampling=0)
    seeds["jpeg-422"] = save(_pattern("RGB", size), "JPEG", subsampling=1)
    seeds["jpeg-optimized"] = save(_pattern("RGB", size), "JPEG", optimize=True)
    seeds["jpeg-restart"] = save(_pattern("RGB", (64, 48)), "JPEG", restart_marker_blocks=1)
    seeds["jpeg-icc"] = save(_pattern("RGB", size), "JPEG", icc_profile=b"\0" * 200)
    seeds["jpeg-comment"] = save(_pattern("RGB", size), "JPEG", comment=b"hello")
    for o in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 65535):
        seeds[f"jpeg-exif-orientation-{o}"] = save(_pattern("RGB", size), "JPEG", exif=exif_with(o))
    seeds["mpo"] = save(
        _pattern("RGB", size),
        "MPO",
        save_all=True,
        append_images=[_pattern("RGB", size).rotate(90)],
    )
    seeds["jpeg-many-scans"] = many_scans_jpeg(64, 64, 40)
    jpeg = seeds["jpeg-RGB"]
    png = seeds["png-RGB"]
    for n in (10, len(jpeg) // 2, len(jpeg) - 2):
        seeds[f"jpeg-truncated-{n}"] = jpeg[:n]
    for n in (8, 33, len(png) // 2, len(png) - 12):
        seeds[f"png-truncated-{n}"] = png[:n]
    for w, h in (
        (100_000, 100_000),
        (16_385, 10),
        (9_000, 9_000),
        (0, 0),
        (1, 0),
        (2**31 - 1, 1),
        (8_000, 5_000),
    ):
        seeds[f"png-bomb-{w}x{h}"] = png_raw(w, h)
        seeds[f"jpeg-bomb-{w}x{h}"] = set_jpeg_size(jpeg, w, h)
    seeds["jpeg-bomb-progressive-65535"] = set_jpeg_size(seeds["jpeg-progressive"], 65535, 65535)
    seeds["empty"] = b""
    seeds["gif"] = b"GIF89a" + b"\0" * 20
    seeds["bmp"] = save(_pattern("RGB", (4, 4)), "BMP")
    return seeds


def _pnginfo() -> object:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "plain")
    info.add_text("Title", "compressed" * 10, zip=True)
    info.add_itxt("Author", "internationalisé", lang="fr", tkey="Auteur")
    return info


def fixture_seeds() -> dict[str, bytes]:
    """Every JPEG/PNG under tests/fixtures."""
    return {
        str(p.relative_to(FIXTURES)): p.read_bytes()
        for p in sorted(FIXTURES.rglob("*"))
        if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    }


def structured_mutation(data: bytes, rng: random.Random) -> bytes:
    """A mutation libFuzzer would rarely make: new dimensions, or a repeated segment."""
    choice = rng.randrange(3)
    if choice == 0:
        w, h = rng.choice(EDGE_SIDES), rng.choice(EDGE_SIDES)
        if data.startswith(PNG_SIG):
            return set_png_size(data, w, h)
        return set_jpeg_size(data, w, h)
    if choice == 1 and data.startswith(b"\xff\xd8"):
        segs = [s for s in jpeg_segments(data) if s[2] <= len(data)]
        if segs:
            _, start, end = rng.choice(segs)
            return data[:end] + data[start:end] * rng.randint(1, 64) + data[end:]
    if data.startswith(PNG_SIG) and len(data) > 33:
        kind = rng.choice(
            [
                b"tEXt",
                b"zTXt",
                b"iTXt",
                b"eXIf",
                b"iCCP",
                b"sRGB",
                b"gAMA",
                b"pHYs",
                b"tRNS",
                b"acTL",
                b"fcTL",
                b"fdAT",
                b"IDAT",
                b"abCd",
            ]
        )
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
        return data[:33] + png_chunk(kind, body) * rng.randint(1, 16) + data[33:]
    return data
