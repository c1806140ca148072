"""Licence plates from read text: which lines of a photo look like a plate.

There is no permissively licensed plate detector in a registry package (see docs/plates.md),
so plates are found among the lines PP-OCR reads (oculi/vision/text.py), by what a plate's
text looks like:

1. characters: only capital Latin letters, digits and separators (what plates print
   between groups: space, hyphen, dot, middle dot; and what a coat of arms, a seal or a
   sticker between groups reads as: colon, equals sign); once separators are dropped,
   MIN_CHARS to MAX_CHARS characters, at least one letter and at least MIN_DIGITS digits.
   Within a group, a 0 or 1 with only letters beside it is read as O or I, and an O or I
   with only digits beside it as 0 or 1, the group's first character and a short group's
   last excepted (plates keep letters and digits in runs; the recogniser confuses those
   shapes most);
2. shape: a one-row plate's text is a strip between MIN_ASPECT and MAX_ASPECT times as
   wide as high;
3. two-row plates (motorcycles, square car plates) are read as two lines: a line directly
   above another, overlapping it across, of similar height and width, is joined to it
   first (and the two are tried apart when together they do not pass);
4. contrast: the strip's dark and light pixels (Otsu's split) differ by at least
   MIN_CONTRAST grey levels — plates print dark on light or light on dark (plates in dull
   light measured 48 to 59 on the fit half of openalpr_eu, bench/plates_eval.py);
5. reading confidence: every row read with at least MIN_CONFIDENCE.

A plate's box is the box of its characters grown by PAD times the character height on
every side (most of the plate, not its exact border). Coordinates are image pixels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from oculi.vision.text import TextLine, quad_size

SEPARATORS = " -.·:="
MIN_CHARS, MAX_CHARS = 5, 10
MIN_DIGITS = 2
MIN_ASPECT, MAX_ASPECT = 1.8, 12.0
MIN_CONFIDENCE = 0.8
MIN_CONTRAST = 40.0  # grey levels between the strip's dark and light classes
AS_LETTER = {"0": "O", "1": "I"}  # shapes a plate's letter and digit runs share
AS_DIGIT = {v: k for k, v in AS_LETTER.items()}
LONG_GROUP = 5  # a group this long may have its last character read by its neighbour
STACK_GAP = 0.6  # rows of a two-row plate lie within this many row heights of each other
STACK_OVERLAP = 0.6  # ... and overlap across by this share of the narrower row
STACK_HEIGHTS = 2.0  # ... and neither is more than this many times as high as the other
STACK_WIDTHS = 2.0  # ... or as wide
PAD = 0.3


@dataclass(frozen=True)
class Plate:
    """One plate: `text` is its characters without separators (rows joined top to bottom),
    `reading` what was read (rows separated by a space), `confidence` the mean character
    confidence of the reading in [0, 1], `box` (x0, y0, x1, y1) in pixels."""

    text: str
    reading: str
    confidence: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class PlateRules:
    """The settings of the character and contrast rules above (bench/plates_eval.py
    compares them with earlier ones)."""

    separators: str = SEPARATORS
    min_contrast: float = MIN_CONTRAST
    runs: bool = True  # read 0/O and 1/I by their neighbours


RULES = PlateRules()


def in_runs(group: str) -> str:
    """A group's 0/1 beside only letters as O/I, and its O/I beside only digits as 0/1.
    A group's first character is left as read (many plates open with a digit before
    letters: Czech 1B8, Californian 7ABC), and so is its last unless the group holds
    LONG_GROUP characters or more (Vietnamese series such as 59-K1 end in a digit after a
    letter; Slovak BB-135BO, Italian AB-123CD end in letters)."""
    out = [group[:1]]
    for i, c in enumerate(group[1:], 1):
        if i == len(group) - 1 and len(group) < LONG_GROUP:
            out.append(c)
            continue
        beside = group[i - 1] + group[i + 1 : i + 2]
        if c in AS_LETTER and all(b.isalpha() for b in beside):
            c = AS_LETTER[c]
        elif c in AS_DIGIT and all(b.isdigit() for b in beside):
            c = AS_DIGIT[c]
        out.append(c)
    return "".join(out)


def plate_text(reading: str, rules: PlateRules = RULES) -> str | None:
    """The characters of a reading that could be a plate's, separators dropped; None when
    it holds another character or does not have a plate's length and letter/digit mix."""
    if not reading or any(
        not (c in rules.separators or "0" <= c <= "9" or "A" <= c <= "Z") for c in reading
    ):
        return None
    groups = re.split("[" + re.escape(rules.separators) + "]", reading)
    text = "".join(in_runs(g) if rules.runs else g for g in groups)
    digits = sum(c.isdigit() for c in text)
    if not (MIN_CHARS <= len(text) <= MAX_CHARS and digits >= MIN_DIGITS and digits < len(text)):
        return None
    return text


def contrast(gray: np.ndarray) -> float:
    """Grey levels between the mean of a patch's dark and light pixels (Otsu's split)."""
    t, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark, light = gray[gray <= t], gray[gray > t]
    if not dark.size or not light.size:
        return 0.0
    return float(light.mean() - dark.mean())


def line_box(line: TextLine) -> np.ndarray:
    """Axis-aligned (x0, y0, x1, y1) of a line's quadrilateral."""
    return np.concatenate([line.quad.min(axis=0), line.quad.max(axis=0)]).astype(np.float32)


def stacked(upper: np.ndarray, lower: np.ndarray) -> bool:
    """Whether two line boxes are the rows of one two-row plate, `upper` above `lower`."""
    hu, hl = upper[3] - upper[1], lower[3] - lower[1]
    wu, wl = upper[2] - upper[0], lower[2] - lower[0]
    if max(hu, hl) > STACK_HEIGHTS * min(hu, hl) or max(wu, wl) > STACK_WIDTHS * min(wu, wl):
        return False
    gap = lower[1] - upper[3]
    if not -0.5 * min(hu, hl) <= gap <= STACK_GAP * max(hu, hl):
        return False
    overlap = min(upper[2], lower[2]) - max(upper[0], lower[0])
    return overlap >= STACK_OVERLAP * min(wu, wl)


def group_rows(lines: Sequence[TextLine]) -> list[tuple[int, ...]]:
    """Lines grouped into candidate plates: pairs of stacked rows first (the closest pairs
    win), then every line left on its own."""
    boxes = [line_box(line) for line in lines]
    pairs = sorted(
        (boxes[j][1] - boxes[i][3], i, j)
        for i in range(len(lines))
        for j in range(len(lines))
        if i != j and stacked(boxes[i], boxes[j])
    )
    used: set[int] = set()
    groups: list[tuple[int, ...]] = []
    for _, i, j in pairs:
        if i not in used and j not in used:
            groups.append((i, j))
            used |= {i, j}
    return groups + [(i,) for i in range(len(lines)) if i not in used]


def grown(
    box: np.ndarray, height: float, width: int, image_height: int
) -> tuple[int, int, int, int]:
    """A box grown by PAD x `height` on every side, clipped to the image."""
    pad = PAD * height
    x0, y0 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
    x1, y1 = min(width, int(np.ceil(box[2] + pad))), min(image_height, int(np.ceil(box[3] + pad)))
    return x0, y0, x1, y1


def candidate(
    gray: np.ndarray, lines: Sequence[TextLine], rules: PlateRules = RULES
) -> Plate | None:
    """The plate that these rows (top to bottom) make, or None when they do not look like
    one."""
    reading = " ".join(line.text for line in lines)
    text = plate_text(reading, rules)
    if text is None or min(line.confidence for line in lines) < MIN_CONFIDENCE:
        return None
    if len(lines) == 1:
        w, h = quad_size(lines[0].quad)
        if not MIN_ASPECT <= w / h <= MAX_ASPECT:
            return None
    box = np.stack([line_box(line) for line in lines])
    box = np.concatenate([box[:, :2].min(axis=0), box[:, 2:].max(axis=0)])
    x0, y0, x1, y1 = (int(v) for v in box)
    if contrast(gray[y0 : y1 + 1, x0 : x1 + 1]) < rules.min_contrast:
        return None
    row_height = float(np.mean([quad_size(line.quad)[1] for line in lines]))
    sizes = np.array([len(line.text) for line in lines], np.float64)
    confidence = float(np.dot(sizes, [line.confidence for line in lines]) / sizes.sum())
    return Plate(
        text=text,
        reading=reading,
        confidence=confidence,
        box=grown(box, row_height, gray.shape[1], gray.shape[0]),
    )


def find_plates(
    rgb: np.ndarray, lines: Sequence[TextLine], rules: PlateRules = RULES
) -> list[Plate]:
    """The plates among an RGB image's lines of text, most confident first. Two stacked
    rows that do not make a plate together are tried one by one."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    plates = []
    for group in group_rows(lines):
        found = [candidate(gray, [lines[i] for i in group], rules)]
        if len(group) == 2 and found[0] is None:
            found = [candidate(gray, [lines[i]], rules) for i in group]
        plates += [p for p in found if p is not None]
    return sorted(plates, key=lambda p: -p.confidence)
