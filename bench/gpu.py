"""DetectFaces' models on onnxruntime's CUDA provider against the CPU, on one machine.

Checks that the CUDA path gives the same faces as the CPU path and times both (median ms
per image, after warm-up) on the test photos at their own size and upscaled to 1920 px.

    python bench/gpu.py [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from oculi.models.zoo import load_face_analyzer
from oculi.vision.decode import decode

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def median_ms(fn, image: np.ndarray, n: int = 20) -> float:
    fn(image)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn(image)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path)
    a = ap.parse_args()
    print("onnxruntime", ort.__version__, "providers:", ort.get_available_providers())
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print("no CUDA provider in this onnxruntime: install oculi[gpu] (onnxruntime-gpu)")
        return
    names = ["two_people.jpg", "2008_007676.jpg", "obama-480p.jpg"]
    images = [decode((FIXTURES / n).read_bytes()).rgb for n in names]
    images += [cv2.resize(im, (1920, round(1920 * im.shape[0] / im.shape[1]))) for im in images[:1]]
    for detector in ("yunet", "retinaface"):
        cpu = load_face_analyzer(a.model_dir, detector, threads=4, device="cpu", auto_fetch=False)
        gpu = load_face_analyzer(a.model_dir, detector, threads=4, device="cuda", auto_fetch=False)
        used = gpu.detectors[0].model.session.get_providers()  # type: ignore[attr-defined]
        print(f"\n{detector}: GPU session providers {used}")
        for name, im in zip(names + ["two_people 1920px"], images):
            fc, fg = cpu.detect(im), gpu.detect(im)
            same = len(fc) == len(fg) and (
                len(fc) == 0 or float(np.abs(fc.boxes - fg.boxes).max()) < 1.0
            )
            print(
                f"  {name:<22} {im.shape[1]}x{im.shape[0]}: faces cpu {len(fc)} gpu {len(fg)} "
                f"{'same boxes (<1 px)' if same else 'DIFFERENT'}; detect ms: cpu "
                f"{median_ms(cpu.detect, im):.1f}, gpu {median_ms(gpu.detect, im):.1f}; "
                f"full DEFAULT ms: cpu {median_ms(cpu.analyze, im):.1f}, "
                f"gpu {median_ms(gpu.analyze, im):.1f}"
            )


if __name__ == "__main__":
    main()
