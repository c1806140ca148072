"""DetectText on eval-dev's receipts (sroie_dev), fit and report halves.

Run by `python -m bench.text --data ../shared/dev-data/eval-dev` (bench/text.py hands an
eval-dev folder here). sroie_dev: 44 scanned receipts, every text line labelled
(box/NNN.csv: `x1,y1,...,y4,TEXT`); the fit half is every other receipt in file-name
order, the report half the rest. Each receipt is decoded and reduced as the API does.
Printed per half:

- word recall: of the labelled words (runs between spaces) of 3 or more characters, the
  share that DetectText returns as a WORD with exactly that text once upper-cased
  (SROIE's labels are upper case whatever the print says; punctuation counts; a returned
  word matches one labelled word at most), within Rekognition's
  100-word cap (oculi keeps the first 100 in reading order: top to bottom, then left to
  right; Rekognition's documentation says only "up to 100 words"), and for all the lines
  read without the cap (what the cap costs);
- how many receipts hold more than 100 words read;
- CER per line (bench/text.py's score, on upper-cased readings: each line read is
  assigned to the labelled line it best matches, unassigned labelled lines count whole)
  within the cap and without it;
- milliseconds per receipt (median): DetectText's use case (detect, then read until 100
  words are kept).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.text import score, summary
from oculi.service.image_source import ANALYSIS_SIDE
from oculi.service.text import MAX_WORDS, detect_text, load_text_reader
from oculi.vision.decode import decode
from oculi.vision.text import TextLine, TextReader

MIN_WORD = 3


@dataclass(frozen=True)
class Receipt:
    image: Path
    lines: list[str]


def load(folder: Path) -> list[Receipt]:
    out = []
    for csv in sorted((folder / "box").glob("*.csv")):
        lines = [
            row.split(",", 8)[8] for row in csv.read_text().splitlines() if row.count(",") >= 8
        ]
        out.append(Receipt(folder / "img" / f"{csv.stem}.jpg", lines))
    return out


def words_found(labels: list[str], lines: list[TextLine]) -> tuple[int, int]:
    """(labelled words of MIN_WORD+ characters returned as a word, labelled such words)."""
    wanted = Counter(w for line in labels for w in line.split() if len(w) >= MIN_WORD)
    got = Counter(w.text.upper() for line in lines for w in line.words)
    return sum(min(n, got[w]) for w, n in wanted.items()), sum(wanted.values())


def run_half(reader: TextReader, name: str, half: list[Receipt]) -> None:
    found = {"cap": 0, "all": 0}
    total = 0
    over = 0
    scores: dict[str, list] = {"cap": [], "all": []}
    ms = []
    for r in half:
        rgb = decode(r.image.read_bytes(), reduce_to=ANALYSIS_SIDE).rgb
        t = time.perf_counter()
        capped = detect_text(reader, rgb)
        ms.append(1000 * (time.perf_counter() - t))
        every = reader(rgb)
        over += sum(len(line.words) for line in every) > MAX_WORDS
        for key, lines in (("cap", capped), ("all", every)):
            hit, total_here = words_found(r.lines, lines)
            found[key] += hit
            scores[key].append(score(r.lines, [line.text.upper() for line in lines]))
        total += total_here
    print(
        f"{name}: {len(half)} receipts, {total} labelled words of {MIN_WORD}+ characters, "
        f"{over} receipts read as more than {MAX_WORDS} words"
    )
    for key, label in (("cap", f"DetectText ({MAX_WORDS}-word cap)"), ("all", "every line read")):
        print(
            f"  {label:28} word recall {found[key] / total:.3f}   "
            f"CER per line {100 * summary(scores[key])[0]:5.2f}%"
        )
    print(f"  DetectText {statistics.median(ms):.0f} ms/receipt (median)")


def main(data: Path, threads: int | None) -> None:
    reader = load_text_reader(threads=threads)
    receipts = load(data / "sroie_dev")
    print(f"threads={threads}; sroie_dev")
    run_half(reader, "fit half", receipts[0::2])
    run_half(reader, "report half", receipts[1::2])
