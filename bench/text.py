"""Benchmark oculi's text reading (DetectText's pipeline) on labelled real images.

Two sets, both from Debian's own packages:

- printed: pages from Tesseract's test data (the `orig-test` tarball of Debian's
  `tesseract` 5.3.0 source package; labels are the `.txt` ground truth shipped beside each
  image): phototest.tif, the same page turned 90 degrees either way (Rekognition reads text
  within +/-90 degrees), eurotext.tif (six languages), two UNLV magazine scans
  (8071_093.3B, 8087_054.3B); plus a book paragraph from opencv-doc
  (data/imageTextN.png, hand-transcribed here);
- scene: photos of signs and cropped words from opencv-doc's text-module samples
  (examples/text/scenetext0*.jpg, scenetext_word0*.jpg), hand-transcribed here: nothing in
  the package labels them.

Metrics, per image and per set (labels and readings compared character for character,
case and punctuation included, runs of white space as one space):

- CER: each predicted line is assigned to the labelled line it matches best as a fuzzy
  substring (so a line the detector split in two still counts); the lines assigned to a
  labelled line are joined left to right and compared with it by edit distance; a predicted
  line that matches nothing (at most half its characters right) counts whole as insertions.
  CER = all edits / labelled characters. "folded" compares after Unicode NFKC and with
  typographic quotes and dashes made plain (labels disagree on those: Tesseract's UNLV
  truth writes straight quotes, and `~` for any character outside ASCII).
- line F1: a labelled line is found when its assigned reading has CER < 0.5; a predicted
  line is right when it was assigned; F1 of those recall and precision.
- ms per image: the reader alone (detection, orientation, recognition), on images decoded
  and reduced as the API reduces them (long side at most 2048). No 100-word cap here (the
  API applies it after reading).

The images are not shipped with oculi. `--fetch DIR` gets them with apt (`apt-get download
opencv-doc` and `apt-get source --download-only tesseract` from a deb-src list written for
this command only) and unpacks them into DIR; or point `--opencv-doc` at an unpacked
opencv-doc package and `--tesseract` at an unpacked test tarball.

    python bench/text.py --fetch ~/.cache/oculi/bench-data [--repeat N] [--threads N]

With --data pointing at eval-dev (../shared/dev-data/eval-dev), it measures DetectText on
sroie_dev's receipts instead, fit and report halves (bench/text_eval.py).
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import tarfile
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from oculi.service.image_source import ANALYSIS_SIDE
from oculi.service.text import load_text_reader
from oculi.vision.decode import decode
from oculi.vision.text import TextReader

OPENCV_EXAMPLES = "usr/share/doc/opencv-doc/examples"
TESSERACT_TESTING = "testing"
FOUND = 0.5  # a labelled line is found when its reading's CER is below this
MATCHES = 0.5  # a predicted line is assigned when at least this share of it matches

# Hand transcriptions of opencv-doc's photos (no labels ship with them): every line a
# person reads at full size, in the image's own spelling and case.
HAND_LABELS: dict[str, tuple[str, list[str]]] = {
    "text/scenetext01.jpg": (
        "scene",
        ["NOTICE", "DOUBLE", "PARKING", "PROHIBITED", "AT ALL TIMES", "The", "Washington", "Post"],
    ),
    "text/scenetext02.jpg": (
        "scene",
        ["Sports Centre", "Wivenhoe Park", "Conference Centre", "Car Parks"],
    ),
    "text/scenetext03.jpg": ("scene", ["the", "copy centre"]),
    "text/scenetext04.jpg": ("scene", ["Gmmco", "GM 125"]),
    "text/scenetext05.jpg": ("scene", ["NO PARKING", "NO PARKING"]),
    "text/scenetext06.jpg": (
        "scene",
        ["priory", "galleries", "at", "the ship", "priory galleries at the ship"],
    ),
    "text/scenetext_word01.jpg": ("scene", ["CHINA"]),
    "text/scenetext_word02.jpg": ("scene", ["HERE"]),
    "text/scenetext_word03.jpg": ("scene", ["riser"]),
    "text/scenetext_word04.jpg": ("scene", ["Produkt"]),
    "data/imageTextN.png": (
        "printed",
        [
            "technical details are too complex to cover in the book itself.",
            "In teaching our courses, we have found it useful for the students to attempt a "
            "number of",
            "small implementation projects, which often build on one another, in order to get "
            "them used to",
            "working with real-world images and the challenges that these present. The students "
            "are then",
            "asked to choose an individual topic for each of their small-group, final projects. "
            "(Sometimes",
            "these projects even turn into conference papers!) The exercises at the end of each "
            "chapter",
            "contain numerous suggestions for smaller mid-term projects, as well as more "
            "open-ended",
            "problems whose solutions are still active research topics. Wherever possible, I "
            "encourage",
            "students to try their algorithms on their own personal photographs, since this "
            "better motivates",
            "them, often leads to creative variants on the problems, and better acquaints them "
            "with the",
            "variety and complexity of real-world imagery.",
            "In formulating and solving computer vision problems, I have often found it useful "
            "to draw",
            "inspiration from three high-level approaches:",
        ],
    ),
}

# Tesseract's test pages and the ground-truth file each is labelled by.
TESSERACT_PAGES: dict[str, str] = {
    "phototest.tif": "phototest.txt",
    "phototest-rotated-L.png": "phototest.txt",
    "phototest-rotated-R.png": "phototest.txt",
    "eurotext.tif": "eurotext.txt",
    "8071_093.3B.tif": "8071_093.3B.txt",
    "8087_054.3B.tif": "8087_054.3B.txt",
}


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str  # "printed" or "scene"
    path: Path
    lines: list[str]


@dataclass(frozen=True)
class Score:
    edits: int
    chars: int
    found: int
    labelled: int
    right: int
    predicted: int


QUOTES = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u2014": "-",
        "\u2013": "-",
        "\u2010": "-",
    }
)


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(QUOTES)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def substring_distance(needle: str, hay: str) -> tuple[int, int]:
    """Fewest edits turning `needle` into some substring of `hay`, and where that
    substring ends (free to start and end anywhere in `hay`)."""
    prev = [0] * (len(hay) + 1)
    for i, cn in enumerate(needle, 1):
        cur = [i]
        for j, ch in enumerate(hay, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (cn != ch)))
        prev = cur
    end = int(np.argmin(prev))
    return prev[end], end


def score(labels: list[str], readings: list[str]) -> Score:
    """CER edits and line-F1 counts of one image's readings against its labelled lines."""
    labels = [clean(t) for t in labels if clean(t)]
    assigned: dict[int, list[tuple[int, str]]] = {i: [] for i in range(len(labels))}
    stray = 0
    right = 0
    for text in (clean(t) for t in readings):
        if not text:
            continue
        # Best fit first; among equal fits (repeated labels) the least-used label.
        fits = [
            (substring_distance(text, lab), sum(len(t) for _, t in assigned[i]), i)
            for i, lab in enumerate(labels)
        ]
        best = min(fits, key=lambda f: (f[0][0], f[1], f[2]), default=None)
        if best is None or best[0][0] > (1 - MATCHES) * len(text):
            stray += len(text)
            continue
        (_, end), _, i = best
        assigned[i].append((end, text))
        right += 1
    edits = stray
    found = 0
    for i, lab in enumerate(labels):
        joined = " ".join(t for _, t in sorted(assigned[i]))
        d = edit_distance(lab, joined)
        edits += d
        found += d < FOUND * len(lab)
    predicted = sum(1 for t in readings if clean(t))
    return Score(
        edits=edits,
        chars=sum(len(t) for t in labels),
        found=found,
        labelled=len(labels),
        right=right,
        predicted=predicted,
    )


def summary(scores: list[Score]) -> tuple[float, float, float, float]:
    """CER, line recall, line precision, line F1 over many images."""
    cer = sum(s.edits for s in scores) / max(1, sum(s.chars for s in scores))
    recall = sum(s.found for s in scores) / max(1, sum(s.labelled for s in scores))
    precision = sum(s.right for s in scores) / max(1, sum(s.predicted for s in scores))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return cer, recall, precision, f1


def fetch(dest: Path) -> tuple[Path, Path]:
    """Download and unpack opencv-doc and Tesseract's test tarball with apt into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    opencv, tess = dest / "opencv-doc", dest / "tesseract-test"
    if not (opencv / OPENCV_EXAMPLES).is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, check=True)
            deb = next(Path(tmp).glob("opencv-doc_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(opencv)], check=True)
    if not (tess / TESSERACT_TESTING).is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            lists = Path(tmp) / "lists"
            (lists / "partial").mkdir(parents=True)
            src = Path(tmp) / "src.list"
            src.write_text("deb-src http://deb.debian.org/debian bookworm main\n")
            opts = [
                "-o",
                f"Dir::Etc::SourceList={src}",
                "-o",
                "Dir::Etc::SourceParts=/dev/null",
                "-o",
                f"Dir::State::Lists={lists}",
            ]
            subprocess.run(["apt-get", *opts, "update"], check=True)
            subprocess.run(
                ["apt-get", *opts, "source", "--download-only", "tesseract"], cwd=tmp, check=True
            )
            tarball = next(Path(tmp).glob("tesseract_*.orig-test.tar.gz"))
            tess.mkdir(exist_ok=True)
            with tarfile.open(tarball) as tar:
                for member in tar.getmembers():
                    parts = Path(member.name).parts
                    if len(parts) > 1 and parts[1] in (TESSERACT_TESTING, "LICENSE"):
                        member.name = str(Path(*parts[1:]))
                        tar.extract(member, tess, filter="data")
    return opencv, tess


def samples(opencv: Path | None, tesseract: Path | None) -> list[Sample]:
    out = []
    if opencv is not None:
        for rel, (kind, lines) in HAND_LABELS.items():
            out.append(Sample(rel, kind, opencv / OPENCV_EXAMPLES / rel, lines))
    if tesseract is not None:
        for image, truth in TESSERACT_PAGES.items():
            lines = (tesseract / TESSERACT_TESTING / truth).read_text().splitlines()
            out.append(Sample(image, "printed", tesseract / TESSERACT_TESTING / image, lines))
    return out


def as_served(path: Path) -> np.ndarray:
    """The image as the API would decode it (PNG-encoded first: TIFF is not accepted)."""
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="PNG")
    return decode(buf.getvalue(), reduce_to=ANALYSIS_SIDE).rgb


def run(reader: TextReader, items: list[Sample], repeat: int) -> None:
    print(f"{'image':28} {'set':8} {'lines':>5} {'CER %':>6} {'folded':>6} {'F1':>5} {'ms':>7}")
    by_kind: dict[str, tuple[list[Score], list[Score]]] = {}
    times: dict[str, list[float]] = {}
    for s in items:
        rgb = as_served(s.path)
        took = []
        for _ in range(repeat):
            t = time.perf_counter()
            lines = reader(rgb)
            took.append(1000 * (time.perf_counter() - t))
        texts = [ln.text for ln in lines]
        exact = score(s.lines, texts)
        folded = score([fold(t) for t in s.lines], [fold(t) for t in texts])
        exact_all, folded_all = by_kind.setdefault(s.kind, ([], []))
        exact_all.append(exact)
        folded_all.append(folded)
        times.setdefault(s.kind, []).append(statistics.median(took))
        cer, _, _, f1 = summary([exact])
        print(
            f"{s.name:28} {s.kind:8} {exact.labelled:5d} {100 * cer:6.2f} "
            f"{100 * summary([folded])[0]:6.2f} {f1:5.2f} {statistics.median(took):7.0f}"
        )
    print()
    print(
        f"{'set':8} {'images':>6} {'lines':>5} {'CER %':>6} {'folded':>6} {'recall':>6} "
        f"{'prec.':>6} {'F1':>5} {'median ms':>9}"
    )
    for kind, (exact_all, folded_all) in by_kind.items():
        cer, recall, precision, f1 = summary(exact_all)
        print(
            f"{kind:8} {len(exact_all):6d} {sum(s.labelled for s in exact_all):5d} "
            f"{100 * cer:6.2f} {100 * summary(folded_all)[0]:6.2f} {recall:6.2f} "
            f"{precision:6.2f} {f1:5.2f} {statistics.median(times[kind]):9.0f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fetch", type=Path, help="download and unpack the images here (apt)")
    ap.add_argument("--opencv-doc", type=Path, help="an unpacked opencv-doc .deb")
    ap.add_argument("--tesseract", type=Path, help="an unpacked tesseract orig-test tarball")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per image (median)")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    ap.add_argument("--data", type=Path, help="eval-dev: measure its receipts (sroie_dev)")
    args = ap.parse_args()
    if args.data is not None:
        from bench import text_eval  # it imports this module

        text_eval.main(args.data, args.threads)
        return
    opencv, tesseract = args.opencv_doc, args.tesseract
    if args.fetch:
        opencv, tesseract = fetch(args.fetch.expanduser())
    if opencv is None and tesseract is None:
        ap.error("give --fetch DIR, or --opencv-doc and/or --tesseract")
    reader = load_text_reader(threads=args.threads)
    run(reader, samples(opencv, tesseract), args.repeat)


if __name__ == "__main__":
    main()
