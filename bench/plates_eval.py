"""Licence plates on eval-dev's openalpr_eu photos, fit and report halves, before and now.

Run by `python bench/plates.py --data ../shared/dev-data/eval-dev` (bench/plates.py hands
an eval-dev folder here). openalpr_eu: 108 photos of European cars, one labelled plate
each (`file x y w h PLATE`); the fit half is every other photo in file-name order, the
report half the rest. Each photo is decoded and reduced as the API does. Printed per half:

- `oculi plates` (oculi/service/plates.py, DetectText's detection size): a plate counts
  as read when a plate found in its photo reads exactly its label; CER is the edit
  distance from the label to the nearest plate found (a plate not found counts all its
  characters), over the labels' characters. Before (the character and contrast rules
  until 2026-12-08: separators space, hyphen, dot and middle dot only, contrast 60, no
  0/O or 1/I by neighbours) and now (oculi/vision/plates.py RULES).
- DetectText as a Rekognition user reads a plate: each LINE DetectText returns (default
  filters, 100-word cap) whose box centre lies in the labelled plate box, and those LINEs
  joined in reading order, keeping only letters and digits (a user drops the separators),
  upper case; exact when one of those is the label, CER from the nearest. DetectText does
  not use the plate rules.
- "O=0": the same exact rates with O and 0, and I and 1, taken as one character: the
  labels themselves mix them (Slovak plates whose digit group is labelled with an O).
- milliseconds per photo (median): the plates service path, and DetectText.

Then the ordinary photos of bench/plates.py without eval-dev (../shared/dev-data and
tests/fixtures): plates found there (every one false), before and now.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.plates import ordinary
from bench.text import edit_distance
from oculi.service.image_source import ANALYSIS_SIDE
from oculi.service.plates import detect_plates
from oculi.service.text import detect_text, load_text_reader
from oculi.vision.decode import decode
from oculi.vision.plates import RULES, PlateRules, find_plates
from oculi.vision.text import TextLine, TextReader

BEFORE = PlateRules(separators=" -.·", min_contrast=60.0, runs=False)
ALIKE = str.maketrans("OI", "01")
T = TypeVar("T")


@dataclass(frozen=True)
class Labelled:
    path: Path
    box: tuple[int, int, int, int]  # x, y, w, h
    plate: str


@dataclass
class Tally:
    exact: int = 0
    alike: int = 0
    edits: int = 0
    chars: int = 0
    n: int = 0

    def add(self, label: str, readings: list[str]) -> None:
        self.n += 1
        self.chars += len(label)
        self.exact += label in readings
        self.alike += label.translate(ALIKE) in [r.translate(ALIKE) for r in readings]
        self.edits += min((edit_distance(label, r) for r in readings), default=len(label))

    def line(self, name: str, ms: list[float]) -> str:
        return (
            f"  {name:34} exact {self.exact:3d}/{self.n} = {self.exact / self.n:.3f}   "
            f"O=0 {self.alike / self.n:.3f}   CER {100 * self.edits / self.chars:5.2f}%   "
            f"{statistics.median(ms):5.0f} ms/photo"
        )


def load(folder: Path) -> list[Labelled]:
    rows = []
    for txt in sorted(folder.glob("*.txt")):
        for row in txt.read_text().splitlines():
            if row.strip():
                name, x, y, w, h, plate = row.split()[:6]
                rows.append(Labelled(folder / name, (int(x), int(y), int(w), int(h)), plate))
    return sorted(rows, key=lambda r: r.path.name)


def as_user_reads(lines: list[TextLine], box: tuple[int, int, int, int]) -> list[str]:
    """What a user can take for the plate: each LINE whose centre lies in the box, and all
    of them joined in reading order; letters and digits only, upper case."""
    x, y, w, h = box
    inside = []
    for line in lines:
        cx, cy = line.quad.mean(axis=0)
        if x <= cx <= x + w and y <= cy <= y + h:
            inside.append(line.text)
    return [re.sub(r"[^0-9A-Z]", "", t.upper()) for t in [*inside, " ".join(inside)]]


def timed(run: Callable[..., T], *args: object) -> tuple[T, float]:
    t = time.perf_counter()
    out = run(*args)
    return out, 1000 * (time.perf_counter() - t)


def run_half(reader: TextReader, name: str, half: list[Labelled], show: bool) -> None:
    tallies = {"oculi plates, before": Tally(), "oculi plates, now": Tally()}
    user = Tally()
    ms: dict[str, list[float]] = {"oculi plates, before": [], "oculi plates, now": [], "text": []}
    for item in half:
        rgb = decode(item.path.read_bytes(), reduce_to=ANALYSIS_SIDE).rgb
        before, t = timed(detect_plates, reader, rgb, False, None, BEFORE)
        ms["oculi plates, before"].append(t)
        now, t = timed(detect_plates, reader, rgb, False, None, RULES)
        ms["oculi plates, now"].append(t)
        lines, t = timed(detect_text, reader, rgb)
        ms["text"].append(t)
        tallies["oculi plates, before"].add(item.plate, [p.text for p in before])
        tallies["oculi plates, now"].add(item.plate, [p.text for p in now])
        read = as_user_reads(lines, item.box)
        user.add(item.plate, read)
        if show and item.plate not in [p.text for p in now] + read:
            print(
                f"    {item.path.name}: {item.plate}; plates {[p.text for p in now]}; "
                f"DetectText {read!r}"
            )
    print(f"{name}: {len(half)} photos")
    for label, tally in tallies.items():
        print(tally.line(label, ms[label]))
    print(user.line("DetectText LINE, as a user reads it", ms["text"]))


def run_ordinary(reader: TextReader) -> None:
    paths = [p for p in ordinary(None) if "eval-dev" not in p.parts]
    found = {"before": 0, "now": 0}
    seen = 0
    for path in paths:
        try:
            rgb = decode(path.read_bytes(), reduce_to=ANALYSIS_SIDE).rgb
        except Exception:  # noqa: BLE001 - a file the API would refuse is skipped
            continue
        seen += 1
        lines = reader(rgb)
        for key, rules in (("before", BEFORE), ("now", RULES)):
            plates = find_plates(rgb, lines, rules)
            found[key] += len(plates)
            if plates and key == "now":
                print(f"    {path.name}: {[p.reading for p in plates]}")
    print(f"ordinary photos ({seen}): false plates before {found['before']}, now {found['now']}")


def main(data: Path, threads: int | None, skip_ordinary: bool) -> None:
    reader = load_text_reader(threads=threads)
    rows = load(data / "openalpr_eu")
    fit, report = rows[0::2], rows[1::2]
    print(f"threads={threads}; openalpr_eu, DetectText's detection size")
    run_half(reader, "fit half", fit, True)
    run_half(reader, "report half", report, False)
    if not skip_ordinary:
        run_ordinary(reader)
