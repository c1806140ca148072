"""Image properties as Rekognition's IMAGE_PROPERTIES feature reports them: quality
(brightness, sharpness, contrast on 0-100) and dominant colours, for the whole image or a
region of it given as a mask.

- Brightness: the mean grey level (BT.601 luma) in percent.
- Contrast: RMS contrast, the standard deviation of the grey level over 127.5 in percent
  (0 for a flat image, 100 for half black, half white).
- Sharpness: the variance v of the Laplacian of the grey image shrunk to at most
  SHARPNESS_SIDE px a side, on a log scale: 100 * log10(1 + v) / SHARPNESS_LOG_MAX, capped
  at 100. On photos at 512 px, v ran from 300 to 12,000 for sharp ones, 26-320 after a
  Gaussian blur of sigma 1, 5-20 after sigma 2 and 2-5 after sigma 3, so sharp photos
  read 70-100 and a sigma-2 blur 20-40 (tests/test_labels_api.py checks the order).
- Dominant colours: every pixel of the image shrunk to at most COLOR_SIDE px a side is
  given the nearest of the 148 CSS colours in CIELAB (Pillow's colour table; of names with
  the same value, the first alphabetically); the colours covering at least MIN_PERCENT of
  the pixels are reported, largest first, at most MAX_COLORS (or as asked), each with the
  mean RGB of its pixels, that mean's hex code, and the nearest of eleven basic colour terms
  (SimplifiedColor, prototypes in BASIC) to that mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ImageColor

SHARPNESS_SIDE = 512
SHARPNESS_LOG_MAX = 3.5  # log10 of the Laplacian variance that reads as 100
COLOR_SIDE = 128
MIN_PERCENT = 1.0
MAX_COLORS = 10

# Basic colour terms (Berlin and Kay's eleven) with a typical sRGB value for each.
BASIC: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "red": (200, 30, 30),
    "orange": (250, 140, 20),
    "yellow": (245, 220, 40),
    "green": (40, 150, 50),
    "blue": (30, 80, 200),
    "purple": (128, 40, 150),
    "pink": (250, 160, 190),
    "brown": (130, 80, 40),
}


@dataclass(frozen=True)
class Quality:
    brightness: float
    sharpness: float
    contrast: float


@dataclass(frozen=True)
class DominantColor:
    rgb: tuple[int, int, int]
    hex_code: str
    css_color: str
    simplified_color: str
    pixel_percent: float


def _lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 sRGB -> (N, 3) float32 CIELAB."""
    px = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def _palette(colors: dict[str, tuple[int, int, int]]) -> tuple[list[str], np.ndarray]:
    names = list(colors)
    return names, _lab(np.array([colors[n] for n in names], np.uint8))


def _css_colors() -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for name in sorted(ImageColor.colormap):
        rgb = ImageColor.getrgb(name)[:3]
        if rgb not in out.values():
            out[name] = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
    return out


CSS_NAMES, CSS_LAB = _palette(_css_colors())
BASIC_NAMES, BASIC_LAB = _palette(BASIC)


def _nearest(lab: np.ndarray, palette: np.ndarray) -> np.ndarray:
    d = ((lab[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _mask_at(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if mask is None:
        return np.ones(shape[:2], bool)
    return cv2.resize(
        mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST
    ).astype(bool)


def quality(rgb: np.ndarray, mask: np.ndarray | None = None) -> Quality:
    """Brightness, sharpness and contrast (0-100) of the image, or of the pixels where
    `mask` (H x W bool) is set."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    inside = _mask_at(mask, grey.shape)
    values = grey[inside].astype(np.float64)
    small = _shrink(grey, SHARPNESS_SIDE)
    lap = cv2.Laplacian(small, cv2.CV_64F)[_mask_at(mask, small.shape)]
    var = float(lap.var()) if lap.size else 0.0
    return Quality(
        brightness=float(values.mean()) / 255.0 * 100.0 if values.size else 0.0,
        sharpness=min(100.0, 100.0 * float(np.log10(1.0 + var)) / SHARPNESS_LOG_MAX),
        contrast=min(100.0, float(values.std()) / 127.5 * 100.0) if values.size else 0.0,
    )


def dominant_colors(
    rgb: np.ndarray, mask: np.ndarray | None = None, max_colors: int = MAX_COLORS
) -> list[DominantColor]:
    """The image's (or the masked region's) dominant colours, largest share first."""
    small = _shrink(rgb, COLOR_SIDE)
    pixels = small[_mask_at(mask, small.shape)]
    if not len(pixels):
        return []
    nearest = _nearest(_lab(pixels), CSS_LAB)
    counts = np.bincount(nearest, minlength=len(CSS_NAMES))
    out: list[DominantColor] = []
    for idx in np.argsort(-counts, kind="stable")[:max_colors]:
        percent = 100.0 * counts[idx] / len(pixels)
        if percent < MIN_PERCENT:
            break
        mean = pixels[nearest == idx].mean(axis=0)
        r, g, b = (int(round(v)) for v in mean)
        simple = BASIC_NAMES[int(_nearest(_lab(np.array([[r, g, b]], np.uint8)), BASIC_LAB)[0])]
        out.append(
            DominantColor(
                (r, g, b), f"#{r:02x}{g:02x}{b:02x}", CSS_NAMES[idx], simple, float(percent)
            )
        )
    return out


def boxes_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """H x W bool: True inside any of the boxes (N, 4) x1 y1 x2 y2 in pixels."""
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        mask[
            int(max(0, np.floor(y1))) : int(min(height, np.ceil(y2))),
            int(max(0, np.floor(x1))) : int(min(width, np.ceil(x2))),
        ] = True
    return mask
