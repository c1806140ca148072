"""Resident memory around one expensive native call, and after handing freed heap memory
back (oculi.api.native.trim_memory, which every native call ends with).

    python -m tools.native_memory [--size 2000] [--rows 12] [--cols 12]

Reads the plates (fine size, the endpoints' text-region cap) of a generated page of
rows x cols short words, in process, and prints the RSS before, at its peak, after the
call, and after the trim.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from oculi.api.native import trim_memory
from oculi.errors import InvalidParameter
from oculi.service.budget import MAX_PLATE_REGIONS, Budget
from oculi.service.plates import detect_plates
from oculi.service.text import load_text_reader


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS), or its peak so far (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--cols", type=int, default=12)
    ap.add_argument("--max-regions", type=int, default=MAX_PLATE_REGIONS)
    args = ap.parse_args()
    img = np.full((args.size, args.size, 3), 255, np.uint8)
    for r in range(args.rows):
        for c in range(args.cols):
            at = (20 + c * (args.size - 40) // args.cols, 40 + r * (args.size - 60) // args.rows)
            cv2.putText(img, f"K{r}{c}X", at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    reader = load_text_reader(threads=1)
    before = rss_mb()
    started = time.perf_counter()
    try:
        detect_plates(reader, img, fine=True, budget=Budget(max_regions=args.max_regions))
    except InvalidParameter as e:
        print(e)
    took = time.perf_counter() - started
    after = rss_mb()
    trim_memory()
    print(
        f"RSS before {before:.0f} MB, peak {rss_mb('VmHWM'):.0f} MB, after the call "
        f"{after:.0f} MB ({took:.1f} s), after trim_memory {rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
