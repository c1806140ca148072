"""Coverage-guided fuzzing of `oculi.vision.decode.decode` with atheris.

Contract checked: for any bytes, decode() returns an upright H x W x 3 uint8 DecodedImage
of JPEG or PNG within the size limits, or raises InvalidImageFormat / ImageTooLarge. Any
other exception is a crash (atheris writes `crash-*`); an input slower than 2 s is saved as
`slow-decode-*` and counted; libFuzzer's `-timeout` and `-rss_limit_mb` catch real hangs and
memory blow-ups.

A custom mutator repairs PNG CRCs after libFuzzer's byte mutations (otherwise nearly every
mutant dies at the first checksum) and sometimes makes structured edits: new dimensions
from a list of edge values, repeated JPEG segments, inserted PNG chunks.

    python fuzz/fuzz_decode.py CORPUS_DIR -atheris_runs=300000 \
        -max_len=65536 -timeout=10
    python fuzz/fuzz_decode.py --fixtures --max-pixels=0 CORPUS_DIR -atheris_runs=5000 \
        -max_len=600000 -timeout=30

An empty CORPUS_DIR is first filled with the seeds from fuzz/craft.py (and, with
--fixtures, every JPEG/PNG in tests/fixtures). `--max-pixels=N` (default 1,000,000) is
passed to decode() so that mutants declaring tens of megapixels are refused in
microseconds instead of costing a second each: every code path is the same, only the
pixel budget is smaller. `--max-pixels=0` uses decode()'s real default (40 MP).
"""

from __future__ import annotations

import random
import sys
import time
import warnings
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["PIL", "oculi"]):
    import numpy as np

    from oculi.errors import ImageTooLarge, InvalidImageFormat
    from oculi.vision import decode as decode_module

import craft  # noqa: E402
from common import Tally  # noqa: E402

TALLY: Tally
MAX_PIXELS = 1_000_000


def check(data: bytes) -> str:
    """Run one input; return the outcome's name, raise on a contract violation."""
    try:
        image = decode_module.decode(data, MAX_PIXELS) if MAX_PIXELS else decode_module.decode(data)
    except InvalidImageFormat:
        return "InvalidImageFormat"
    except ImageTooLarge:
        return "ImageTooLarge"
    rgb = image.rgb
    h, w = rgb.shape[:2]
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8, rgb.shape
    assert rgb.flags.c_contiguous
    assert 1 <= w <= decode_module.MAX_SIDE and 1 <= h <= decode_module.MAX_SIDE, (w, h)
    assert w * h <= (MAX_PIXELS or decode_module.MAX_PIXELS)
    assert image.format in ("JPEG", "PNG", "MPO"), image.format
    return f"ok-{image.format}"


def test_one_input(data: bytes) -> None:
    start = time.perf_counter()
    outcome = check(data)
    TALLY.record(outcome, data, time.perf_counter() - start)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = atheris.Mutate(data, max_size)
    if rng.random() < 0.15:
        out = craft.structured_mutation(out, rng)
    if rng.random() < 0.9:
        out = craft.fix_png_crcs(out)
    return out[:max_size]


def fill_corpus(corpus: Path, fixtures: bool) -> None:
    if any(corpus.iterdir()):
        return
    seeds = craft.small_seeds()
    if fixtures:
        seeds.update(craft.fixture_seeds())
    for name, data in seeds.items():
        (corpus / name.replace("/", "_")).write_bytes(data)
    print(f"seeded {corpus} with {len(seeds)} inputs", flush=True)


def main() -> None:
    global TALLY, MAX_PIXELS
    argv = [a for a in sys.argv if a != "--fixtures"]
    fixtures = len(argv) != len(sys.argv)
    for arg in list(argv):
        if arg.startswith("--max-pixels="):
            MAX_PIXELS = int(arg.split("=", 1)[1])
            argv.remove(arg)
    warnings.simplefilter("ignore")  # Pillow warns about every corrupt EXIF it skips
    for arg in argv[1:]:
        if not arg.startswith("-"):
            Path(arg).mkdir(parents=True, exist_ok=True)
            fill_corpus(Path(arg), fixtures)
            break
    TALLY = Tally("decode", argv)
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
