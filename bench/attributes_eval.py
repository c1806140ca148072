"""Face attributes on labelled dev sets: emotions on FER-2013, age and gender on UTKFace.

Runs oculi's own DetectFaces path (the face analyzer, then the attribute networks on the
face's mesh, exactly as DetectFaces with ALL does) on the images as a user would send
them: FER-2013's 48x48 grey crops upscaled 4x (bicubic) to 192x192, UTKFace's 200x200
crops as they are. Each set is split into two fixed halves (alternate rows of its
labels.csv, sorted by file name): calibration is fitted on the first ("fit") half and every
figure printed is measured on the other ("held-out") half. Faces the detector misses count
as wrong answers for the emotion and gender accuracy (and are left out of age coverage).

Prints, held out: emotion top-1 and the confusion matrix; AgeRange coverage and median
width per age band (0-12, 13-19, 20-39, 40-59, 60+) and per race group; gender accuracy,
a reliability table and expected calibration error (ECE) per age band and group, beside
the ECE that exactly right Confidences would show by chance on as many faces and the ECE
with the halves swapped; the cost per face of ALL over DEFAULT. Also, not held out (no
labels needed): faces cut from real photos (deepface_pairs beside --data, and
tests/fixtures/people) sent as 1000 px close-ups and as FER-style grey crops, counted as
found none / one / several times by the detector alone and by the face analyzer.
`--fit` prints the constants fitted on the fit half (paste into
oculi/vision/attributes/*).

    python bench/attributes_eval.py --data ../shared/dev-data/eval-dev [--fit]

Detections and network outputs are cached in --cache (npz files); the detections' key
covers the source of oculi/vision, the outputs' key the faces found and the source of
oculi/vision/attributes, so a change there recomputes them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from oculi.models.zoo import load_face_analyzer
from oculi.service.detect_faces import detect_faces
from oculi.vision.attributes import ATTRIBUTES, format_attributes, raw_scores
from oculi.vision.attributes.age_gender import expected_age, fit_age_intervals, gender_features
from oculi.vision.attributes.align import CHIN, FOREHEAD, expression_crop
from oculi.vision.attributes.calibration import Logistic, fit_logistic
from oculi.vision.attributes.emotion import CLASSES, INPUT
from oculi.vision.attributes.models import load_attribute_models
from oculi.vision.types import FaceDetections

HERE = Path(__file__).resolve().parent
ATTRIBUTE_CODE = Path(raw_scores.__code__.co_filename).parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "dev-data" / "eval-dev"
FER_LABELS = {
    "angry": "ANGRY",
    "disgust": "DISGUSTED",
    "fear": "FEAR",
    "happy": "HAPPY",
    "sad": "SAD",
    "surprise": "SURPRISED",
    "neutral": "CALM",
}
FER_UPSCALE = 4
RACES = ("White", "Black", "Asian", "Indian", "Other")
AGE_BANDS = ((0, 12), (13, 19), (20, 39), (40, 59), (60, 200))
BINS = (50, 60, 70, 80, 90, 95, 100.01)
PREVIOUS_CROP = (1.0, 0.0)  # the expression crop's (scale, shift) before CROP_SCALE/SHIFT


def band_name(lo: int, hi: int) -> str:
    return f"{lo}+" if hi >= 200 else f"{lo}-{hi}"


def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit rows (even positions) and held-out rows (odd positions)."""
    idx = np.arange(n)
    return idx[idx % 2 == 0], idx[idx % 2 == 1]


def spread(rows: list[dict], limit: int) -> list[dict]:
    """`limit` rows evenly spread over all of them (all when limit is 0 or larger)."""
    if not limit or limit >= len(rows):
        return rows
    return [rows[i] for i in np.linspace(0, len(rows) - 1, limit).round().astype(int)]


def fer_image(path: Path) -> np.ndarray:
    """The 48x48 crop upscaled."""
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    size = grey.shape[1] * FER_UPSCALE, grey.shape[0] * FER_UPSCALE
    big = cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(cv2.cvtColor(big, cv2.COLOR_GRAY2RGB))


def utk_image(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])


def central_face(faces: FaceDetections, shape: tuple[int, ...]) -> int | None:
    """The detected face nearest the image centre (both sets are centred crops)."""
    if not len(faces):
        return None
    centre = np.array([shape[1], shape[0]], np.float64) / 2.0
    mid = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2.0
    return int(np.argmin(np.linalg.norm(mid - centre, axis=1)))


def detect_all(
    files: list[Path], load, analyzer, cache: Path, tag: str
) -> tuple[np.ndarray, np.ndarray]:
    """(found (N,) bool, mesh (N, 478, 3)) of the central face of each file, cached under
    a key that covers the files and the source of the face analyzer (oculi/vision)."""
    vision = Path(analyzer.analyze.__code__.co_filename).parent
    code = b"".join(p.read_bytes() for p in sorted(vision.glob("*.py")))
    key = hashlib.sha1("\n".join([tag, *map(str, files)]).encode() + code).hexdigest()[:12]
    path = cache / f"detections_{key}.npz"
    if path.exists():
        z = np.load(path)
        return z["found"], z["mesh"]
    found = np.zeros(len(files), bool)
    meshes = np.zeros((len(files), 478, 3), np.float32)
    t = time.perf_counter()
    for i, f in enumerate(files):
        rgb = load(f)
        faces = analyzer.analyze(rgb, landmarks=True)
        j = central_face(faces, rgb.shape)
        if j is not None:
            found[i] = True
            meshes[i] = faces.mesh[j]
        if i % 500 == 499:
            print(f"  detected {i + 1}/{len(files)} ({time.perf_counter() - t:.0f} s)")
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, found=found, mesh=meshes)
    return found, meshes


def scores_all(
    files: list[Path],
    load,
    found: np.ndarray,
    meshes: np.ndarray,
    models,
    wanted: set[str],
    cache: Path,
    tag: str,
) -> dict[str, np.ndarray]:
    """The attribute networks' raw outputs per file (NaN where no face was found), cached
    under a key that covers the files, the faces found and the source of
    oculi/vision/attributes."""
    code = b"".join(p.read_bytes() for p in sorted(ATTRIBUTE_CODE.glob("*.py")))
    key = hashlib.sha1("\n".join([tag, *sorted(wanted), *map(str, files)]).encode() + code)
    key.update(found.tobytes() + meshes.tobytes())
    path = cache / f"scores_{key.hexdigest()[:12]}.npz"
    if path.exists():
        return dict(np.load(path))
    raw = _scores(files, load, found, meshes, models, wanted)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **raw)
    return raw


def _scores(
    files: list[Path], load, found: np.ndarray, meshes: np.ndarray, models, wanted: set[str]
) -> dict[str, np.ndarray]:
    rows: list[dict[str, np.ndarray]] = []
    for f, ok, mesh in zip(files, found, meshes):
        if not ok:
            rows.append({})
            continue
        rgb = load(f)
        faces = FaceDetections(
            boxes=np.zeros((1, 4), np.float32),
            scores=np.ones(1, np.float32),
            keypoints=np.zeros((1, 5, 2), np.float32),
            mesh=mesh[None],
        )
        rows.append({k: v[0] for k, v in raw_scores(models, rgb, faces, wanted).items()})
    template = next(r for r in rows if r)
    return {
        k: np.stack([r[k] if r else np.full_like(template[k], np.nan) for r in rows])
        for k in template
    }


def reliability(conf: np.ndarray, right: np.ndarray, title: str, show: bool = True) -> float:
    """Print a reliability table (confidence bins 50..100) and return its ECE in points."""
    ece = 0.0
    lines = []
    for lo, hi in zip(BINS, BINS[1:]):
        m = (conf >= lo) & (conf < hi)
        if not m.any():
            continue
        stated, measured = conf[m].mean(), right[m].mean() * 100
        ece += m.sum() / len(conf) * abs(stated - measured)
        lines.append(
            f"    {lo:5.0f}-{min(hi, 100):3.0f}: n={m.sum():4d} stated {stated:5.1f} "
            f"measured {measured:5.1f}"
        )
    if show:
        print(f"  {title}: ECE {ece:.1f} points")
        print("\n".join(lines))
    return ece


def report_emotions(data: Path, analyzer, models, cache: Path, limit: int, fit: bool) -> None:
    root = data / "fer2013_publictest"
    rows = sorted(csv.DictReader(open(root / "labels.csv", newline="")), key=lambda r: r["path"])
    rows = spread(rows, limit)
    files = [root / r["path"] for r in rows]
    truth = np.array([CLASSES.index(FER_LABELS[r["label"]]) for r in rows])
    found, meshes = detect_all(files, fer_image, analyzer, cache, "fer")
    raw = scores_all(files, fer_image, found, meshes, models, {"Emotions"}, cache, "fer")
    fit_idx, held = halves(len(files))
    if fit:
        emotion_crop_sweep(files, fer_image, found, meshes, truth, models, fit_idx)
    guess = np.where(found, np.nan_to_num(raw["emotion"]).argmax(1), -1)
    h = held
    print(
        f"\nEmotions, FER-2013 PublicTest, {len(h)} held-out faces upscaled "
        f"{FER_UPSCALE}x to {48 * FER_UPSCALE}px"
    )
    print(f"  face found: {found[h].mean():.3f}")
    print(
        f"  top-1 (misses wrong): {(guess[h] == truth[h]).mean():.3f}; "
        f"on found faces: {(guess[h] == truth[h])[found[h]].mean():.3f}"
    )
    frames = [
        cv2.resize(cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE), (INPUT, INPUT)) for i in h
    ]
    model = models["emotion"]
    alone = [
        np.argmax(model(((f[None, :, :, None] / 255.0 - 0.5) * 2.0).astype(np.float32))[0])
        for f in frames
    ]
    print(
        f"  (the network alone on each whole 48x48 frame resized to {INPUT}, as it was "
        f"trained, no detector: {np.mean(np.array(alone) == truth[h]):.3f})"
    )
    before = crop_top1(fer_image, files, found, meshes, truth, models["emotion"], h, *PREVIOUS_CROP)
    print(f"  (on found faces with the previous crop, scale 1.0 shift 0: {before:.3f})")
    print("  confusion (rows: label, columns: answer; - no face)")
    print("  " + " " * 10 + " ".join(f"{c[:5]:>5s}" for c in CLASSES) + "     -")
    for k, name in enumerate(CLASSES):
        m = h[truth[h] == k]
        counts = [int((guess[m] == j).sum()) for j in range(len(CLASSES))]
        print(
            f"  {name:10s}"
            + " ".join(f"{c:5d}" for c in counts)
            + f" {int((guess[m] < 0).sum()):5d}"
        )


def report_closeups(photos: Path, analyzer) -> None:
    """Faces of real photos cut out from forehead to chin and sent as a close-up (1000 px,
    colour) or as a FER-style crop (48 px grey upscaled 4x): faces found by the detector
    alone and by the analyzer (which looks again with a grey border when it finds none)."""
    files = sorted(photos.glob("*.jpg")) + sorted(
        (HERE.parent / "tests" / "fixtures" / "people").rglob("*.jp*g")
    )
    counts: dict[str, list[int]] = {}
    for f in files:
        rgb = utk_image(f)
        faces = analyzer.analyze(rgb)
        for mesh, box in zip(faces.mesh if len(faces) else [], faces.boxes):
            if box[3] - box[1] < 100:
                continue
            top, chin = mesh[FOREHEAD, :2], mesh[CHIN, :2]
            half = float(np.linalg.norm(chin - top)) / 2.0
            x0, y0 = np.maximum(np.round((top + chin) / 2.0 - half), 0).astype(int)
            x1, y1 = np.round((top + chin) / 2.0 + half).astype(int)
            crop = rgb[y0:y1, x0:x1]
            grey = cv2.resize(
                cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA
            )
            grey = cv2.resize(grey, (48 * FER_UPSCALE,) * 2, interpolation=cv2.INTER_CUBIC)
            sent = {
                "close-up 1000 px": cv2.resize(crop, (1000, 1000), interpolation=cv2.INTER_CUBIC),
                f"grey 48 px x{FER_UPSCALE}": cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB),
            }
            for name, img in sent.items():
                img = np.ascontiguousarray(img)
                counts.setdefault(f"{name}, detector alone", []).append(len(analyzer.detect(img)))
                counts.setdefault(f"{name}, analyzer", []).append(len(analyzer.analyze(img)))
    print(
        f"\nFaces cut from real photos ({photos.parent.name}, tests/fixtures/people), "
        "forehead to chin"
    )
    for name, found in counts.items():
        n = np.array(found)
        print(
            f"  {name:36s} n={len(n):3d}  no face {np.mean(n == 0):.3f}  "
            f"one {np.mean(n == 1):.3f}  more than one {np.mean(n > 1):.3f}"
        )


def group_masks(age: np.ndarray, race: np.ndarray, idx: np.ndarray):
    for lo, hi in AGE_BANDS:
        yield band_name(lo, hi), idx[(age[idx] >= lo) & (age[idx] <= hi)]
    for r, name in enumerate(RACES):
        yield name, idx[race[idx] == r]
    for r, name in enumerate(RACES):
        yield f"{name} 13+", idx[(race[idx] == r) & (age[idx] >= 13)]


def report_age_gender(data: Path, analyzer, models, cache: Path, limit: int, fit: bool) -> None:
    root = data / "utkface_dev"
    rows = sorted(csv.DictReader(open(root / "labels.csv", newline="")), key=lambda r: r["file"])
    rows = spread(rows, limit)
    files = [root / "images" / r["file"] for r in rows]
    age = np.array([int(r["age"]) for r in rows])
    female = np.array([int(r["gender"]) == 1 for r in rows])
    race = np.array([int(r["race"]) for r in rows])
    found, meshes = detect_all(files, utk_image, analyzer, cache, "utk")
    raw = scores_all(files, utk_image, found, meshes, models, {"AgeRange", "Gender"}, cache, "utk")
    fit_idx, held = halves(len(files))
    ok = np.flatnonzero(found)
    fit_idx, held = np.intersect1d(fit_idx, ok), np.intersect1d(held, ok)
    if fit:
        print_fit(raw, age, female, fit_idx)
    answers = format_attributes(
        {k: np.nan_to_num(v) for k, v in raw.items()}, {"AgeRange", "Gender"}
    )
    low = np.array([a["Low"] for a in answers["AgeRange"]])
    high = np.array([a["High"] for a in answers["AgeRange"]])
    said_female = np.array([g["Value"] == "Female" for g in answers["Gender"]])
    conf = np.array([g["Confidence"] for g in answers["Gender"]])
    right = said_female == female
    inside = (age >= low) & (age <= high)
    width = high - low
    print(
        f"\nUTKFace, {len(held)} held-out faces found (of {len(halves(len(files))[1])}); "
        f"face found: {found.mean():.3f}"
    )
    print(
        f"  all: age inside AgeRange {inside[held].mean():.3f}, median width "
        f"{np.median(width[held]):.0f}, mean |expected - true| "
        f"{np.abs(expected_age(raw['age'][held]) - age[held]).mean():.1f} years; "
        f"gender {right[held].mean():.3f}"
    )
    error = np.abs(expected_age(raw["age"]) - age)
    print(
        f"  {'group':10s} {'n':>4s} {'age in':>6s} {'width':>5s} {'err80':>5s} {'gender':>6s} "
        f"{'ECE':>5s} {'chance':>6s} {'conf':>5s}"
    )
    print(
        "  (err80: 80th percentile of |expected - true age|, the half-width an 80% range "
        "centred on the\n  expected age would need; chance: median ECE of exactly right "
        "Confidences on as many faces;\n  conf: median Gender Confidence)"
    )
    rng = np.random.default_rng(0)
    for name, m in group_masks(age, race, held):
        if not len(m):
            continue
        ece = reliability(conf[m], right[m], name, show=False)
        chance = np.median(
            [
                reliability(conf[m], rng.random(len(m)) * 100.0 < conf[m], "", show=False)
                for _ in range(100)
            ]
        )
        print(
            f"  {name:10s} {len(m):4d} {inside[m].mean():6.3f} {np.median(width[m]):5.0f} "
            f"{np.percentile(error[m], 80):5.1f} {right[m].mean():6.3f} {ece:5.1f} {chance:6.1f} "
            f"{np.median(conf[m]):5.1f}"
        )
    reliability(conf[held], right[held], "Gender reliability, all held-out")
    for lo, hi in AGE_BANDS[:2]:
        m = held[(age[held] >= lo) & (age[held] <= hi)]
        reliability(conf[m], right[m], f"Gender reliability, ages {band_name(lo, hi)}")
    m = held[age[held] >= 20]
    reliability(conf[m], right[m], "Gender reliability, ages 20+")
    gender_ece_noise(raw, age, female, fit_idx, held, conf, right)


def gender_ece_noise(raw, age, female, fit_idx, held, conf, right) -> None:
    """How much of a band's ECE is chance: the ECE that Confidences which are exactly
    right would show on as many faces (outcomes drawn with the stated probability), and the
    ECE with the halves swapped (curve fitted on the held-out half, measured on the fit
    half)."""
    swapped = gender_curve(raw, female, held)
    p = swapped(gender_features(raw["male"], raw["age"]))
    conf_s, right_s = np.maximum(p, 1.0 - p) * 100.0, (p >= 0.5) == ~female
    rng = np.random.default_rng(0)
    print("  Gender ECE beside chance (300 draws of outcomes at the stated Confidence):")
    for lo, hi in (*AGE_BANDS[:2], (20, 200)):
        m = held[(age[held] >= lo) & (age[held] <= hi)]
        f = fit_idx[(age[fit_idx] >= lo) & (age[fit_idx] <= hi)]
        draws = [
            reliability(conf[m], rng.random(len(m)) * 100.0 < conf[m], "", show=False)
            for _ in range(300)
        ]
        ece, ece_s = (
            reliability(conf[m], right[m], "", False),
            reliability(conf_s[f], right_s[f], "", False),
        )
        print(
            f"    ages {band_name(lo, hi):6s} held-out {ece:4.1f}  halves swapped {ece_s:4.1f}"
            f"  calibrated by construction: median {np.median(draws):4.1f}, "
            f"90th percentile {np.percentile(draws, 90):4.1f}"
        )


def print_fit(raw: dict[str, np.ndarray], age: np.ndarray, female: np.ndarray, idx) -> None:
    """AgeRange and Gender constants fitted on the fit half (`idx`)."""
    rows = fit_age_intervals(raw["age"][idx], age[idx])
    print(f"\nAGE_INTERVALS fitted on {len(idx)} faces: {rows}")
    print(f"GENDER fitted on {len(idx)} faces: {gender_curve(raw, female, idx)}")


def gender_curve(raw: dict[str, np.ndarray], female: np.ndarray, idx) -> Logistic:
    """The Gender curve fitted on the faces `idx`. Mirrored copies (-x, 1 - y) make the fit
    symmetric: no bias, so the answer stays the network's."""
    x = gender_features(raw["male"][idx], raw["age"][idx])
    y = ~female[idx]
    return fit_logistic(np.concatenate([x, -x]), np.concatenate([y, ~y]))


def crop_top1(load, files, found, meshes, truth, model, idx, scale: float, shift: float) -> float:
    """Top-1 on the found faces of `idx` with the expression crop at `scale`, `shift`."""
    right = []
    for i in idx[found[idx]]:
        crop = expression_crop(load(files[i]), meshes[i], INPUT, scale, shift)
        x = ((crop.astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None]
        right.append(np.argmax(model(np.ascontiguousarray(x))[0]) == truth[i])
    return float(np.mean(right))


def emotion_crop_sweep(files: list[Path], load, found, meshes, truth, models, idx) -> None:
    """Top-1 on the fit half for crop scales and shifts (chooses CROP_SCALE, CROP_SHIFT)."""
    print("\nEmotion crop sweep on the fit half (top-1 on found faces)")
    model = models["emotion"]
    for scale in (1.0, 1.1, 1.2, 1.3, 1.4):
        line = []
        for shift in (-0.05, 0.0, 0.05, 0.1):
            top1 = crop_top1(load, files, found, meshes, truth, model, idx, scale, shift)
            line.append(f"shift {shift:+.2f}: {top1:.3f}")
        print(f"  scale {scale:.1f}  " + "  ".join(line))


def report_speed(data: Path, analyzer, models, n: int = 40, repeat: int = 3) -> None:
    root = data / "utkface_dev" / "images"
    images = [utk_image(p) for p in sorted(root.iterdir())[:n]]
    for rgb in images[:3]:
        detect_faces(analyzer, rgb, ["ALL"], models)
    per: dict[str, list[float]] = {"DEFAULT": [], "ALL": []}
    for _ in range(repeat):
        for label in per:
            t, faces = time.perf_counter(), 0
            for rgb in images:
                faces += len(detect_faces(analyzer, rgb, [label], models).faces)
            per[label].append((time.perf_counter() - t) * 1000 / max(faces, 1))
    d, a = statistics.median(per["DEFAULT"]), statistics.median(per["ALL"])
    print(
        f"\nCost per face ({len(images)} UTKFace photos, median of {repeat} runs): "
        f"DEFAULT {d:.1f} ms, ALL {a:.1f} ms, ALL over DEFAULT {a - d:.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "oculi-bench")
    ap.add_argument("--fer-limit", type=int, default=1600, help="FER faces used (0: all)")
    ap.add_argument("--utk-limit", type=int, default=0, help="UTKFace faces used (0: all)")
    ap.add_argument("--fit", action="store_true", help="print constants fitted on the fit half")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    analyzer = load_face_analyzer(threads=1, auto_fetch=False)
    models = load_attribute_models(attributes=ATTRIBUTES, auto_fetch=False)
    report_emotions(args.data, analyzer, models, args.cache, args.fer_limit, args.fit)
    report_closeups(args.data.parent / "deepface_pairs" / "images", analyzer)
    report_age_gender(args.data, analyzer, models, args.cache, args.utk_limit, args.fit)
    if not args.no_speed:
        report_speed(args.data, analyzer, models)


if __name__ == "__main__":
    main()
