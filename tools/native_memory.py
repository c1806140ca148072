"""Resident memory around one expensive native call, and after handing freed heap memory
back (oculi.api.native.trim_memory, which every native call ends with).

    python -m tools.native_memory [--size 2000] [--rows 12] [--cols 12]

Reads the plates (fine size) of a generated page of rows x cols short words, in process,
and prints the RSS before, after the call, and after the trim.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from oculi.api.native import trim_memory
from oculi.service.budget import Budget
from oculi.service.plates import detect_plates
from oculi.service.text import load_text_reader


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--cols", type=int, default=12)
    args = ap.parse_args()
    img = np.full((args.size, args.size, 3), 255, np.uint8)
    for r in range(args.rows):
        for c in range(args.cols):
            at = (20 + c * (args.size - 40) // args.cols, 40 + r * (args.size - 60) // args.rows)
            cv2.putText(img, f"K{r}{c}X", at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    reader = load_text_reader(threads=1)
    before = rss_mb()
    started = time.perf_counter()
    detect_plates(reader, img, fine=True, budget=Budget())
    took = time.perf_counter() - started
    after = rss_mb()
    trim_memory()
    print(
        f"RSS before {before:.0f} MB, after the call {after:.0f} MB ({took:.1f} s), "
        f"after trim_memory {rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
