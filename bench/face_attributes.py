"""Measure oculi's face attributes (AgeRange, Gender, Emotions, Smile, MouthOpen, EyesOpen,
EyeDirection) against hand labels, and their speed.

Labels: bench/face_attributes_labels.csv, hand-made (how: docs/face-attributes.md). Each row
names a photo under the dev-data folder and a face box; the face that oculi's detector
finds with the highest IoU is used. Prints, per attribute: accuracy (for age: mean
absolute error, the rate at which the labelled age lies inside AgeRange, and the median
range width), broken down by the labelled gender and age band; the emotion confusion
matrix; reliability tables of the confidences (answers binned by confidence; a calibrated
attribute is right about as often as its bin says); a 5-fold cross-validated check of the
three fitted curves (Smile, MouthOpen, EyesOpen), since they were fitted on these same
faces; MouthOpen and EyesOpen side by side with curves over MediaPipe's blendshape
scores (jawOpen; eyeBlink), alone and together with the mesh geometry, the method with
the best cross-validated accuracy named (a tie keeps the geometry); consistency checks
of EyeDirection (no ground-truth gaze exists here: mirrored photos, and faces labelled
as looking at the camera); and milliseconds per face for the attributes after warm-up
(and for the blendshape model, which no attribute runs).

    python bench/face_attributes.py [--data DIR] [--threads N] [--fit]

`--fit` also prints the constants to paste into oculi/vision/attributes/__init__.py.
Models must already be fetched (`oculi models fetch`); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from oculi.models.catalogue import CATALOGUE
from oculi.models.fetch import default_model_dir, verified_path
from oculi.models.runtime import TfliteModel
from oculi.models.zoo import load_face_analyzer
from oculi.vision.attributes import (
    ATTRIBUTES,
    EYES_OPEN,
    MOUTH_OPEN,
    SMILE,
    analyze_attributes,
    raw_scores,
)
from oculi.vision.attributes.age_gender import age_interval, expected_age, male_confidence
from oculi.vision.attributes.blendshapes import blendshape_scores, named
from oculi.vision.attributes.calibration import Logistic, fit_logistic
from oculi.vision.attributes.emotion import CLASSES
from oculi.vision.attributes.gaze import EYEBALL_RATIO, PITCH_OFFSET_DEG, eye_direction
from oculi.vision.attributes.models import load_attribute_models
from oculi.vision.decode import decode
from oculi.vision.types import FaceDetections

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "dev-data"
LABELS = HERE / "face_attributes_labels.csv"
AGE_BANDS = ((0, 30), (30, 45), (45, 60), (60, 120))
BINS = (50, 60, 70, 80, 90, 95, 100.01)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def band(age: float) -> str:
    for lo, hi in AGE_BANDS:
        if lo <= age < hi:
            return f"{lo}-{hi - 1}" if hi < 120 else f"{lo}+"
    return "?"


def reliability(title: str, conf: np.ndarray, right: np.ndarray) -> float:
    """Answers binned by confidence: how often each bin is right."""
    print(f"  calibration of {title} (confidence bin: n, mean confidence, % right)")
    for lo, hi in zip(BINS, BINS[1:]):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            print(
                f"    {lo:5.1f}-{min(hi, 100):5.1f}: n={sel.sum():3d}  "
                f"conf={conf[sel].mean():5.1f}  right={100 * right[sel].mean():5.1f}"
            )
    ece = sum(
        abs(conf[s].mean() / 100 - right[s].mean()) * s.mean()
        for lo, hi in zip(BINS, BINS[1:])
        if (s := (conf >= lo) & (conf < hi)).any()
    )
    print(f"    expected calibration error {100 * ece:.1f} points")
    return float(ece)


def binary_conf(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    value = p >= 0.5
    return value, np.where(value, p, 1 - p) * 100


def cross_validated(x: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    """P(true) for each face from a curve fitted on the other folds."""
    order = np.random.default_rng(0).permutation(len(x))
    p = np.zeros(len(x))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        p[test] = fit_logistic(x[train], y[train])(x[test])
    return p


def load_faces(data: Path, analyzer, models, blendshapes) -> list[dict]:
    """Each labelled face with oculi's raw scores and its blendshape scores."""
    rows = list(csv.DictReader(open(LABELS, newline="")))
    out = []
    current: tuple[str, np.ndarray, FaceDetections] | None = None
    for row in rows:
        if current is None or current[0] != row["file"]:
            rgb = decode((data / row["file"]).read_bytes()).rgb
            current = (row["file"], rgb, analyzer.analyze(rgb))
        _, rgb, faces = current
        box = np.array([float(v) for v in row["box"].split()])
        if not len(faces):
            print(f"  no face found in {row['file']}; skipped")
            continue
        scores = [iou(box, b) for b in faces.boxes]
        j = int(np.argmax(scores))
        if scores[j] < 0.3:
            print(f"  labelled face {row['box']} in {row['file']} not found; skipped")
            continue
        raw = raw_scores(models, rgb, faces.take(np.array([j])), set(ATTRIBUTES))
        out.append(
            {
                **row,
                **{f"raw_{k}": v[0] for k, v in raw.items()},
                "blendshapes": blendshape_scores(blendshapes, faces.mesh[j : j + 1])[0],
                "head_pose": faces.pose[j],
                "found_box": faces.boxes[j],
            }
        )
    return out


def report_gender(faces: list[dict]) -> None:
    rows = [f for f in faces if f["gender"]]
    male = np.array([f["gender"] == "Male" for f in rows])
    p = male_confidence(
        np.array([f["raw_male"] for f in rows]), np.stack([f["raw_age"] for f in rows])
    )
    value, conf = binary_conf(p)
    right = value == male
    print(
        f"\nGender (dlib Cydral gender network, age-aware confidence curve): n={len(rows)}, "
        f"accuracy {100 * right.mean():.1f}%"
    )
    for name, sel in (("Female", ~male), ("Male", male)):
        print(f"  labelled {name:6s}: n={sel.sum():3d}  accuracy {100 * right[sel].mean():5.1f}%")
    ages = np.array([float(f["age"]) if f["age"] else -1 for f in rows])
    for b in sorted({band(a) for a in ages if a >= 0}):
        sel = np.array([a >= 0 and band(a) == b for a in ages])
        print(f"  age band {b:6s}: n={sel.sum():3d}  accuracy {100 * right[sel].mean():5.1f}%")
    reliability("Gender", conf, right)


def report_age(faces: list[dict]) -> None:
    rows = [f for f in faces if f["age"]]
    age = np.array([float(f["age"]) for f in rows])
    est = expected_age(np.stack([f["raw_age"] for f in rows]))
    low, high = age_interval(np.stack([f["raw_age"] for f in rows]))
    inside = (age >= low) & (age <= high)
    err = est - age
    print(
        f"\nAgeRange (dlib Cydral age network, conformal interval): n={len(rows)}, "
        f"MAE {np.abs(err).mean():.1f} y, bias {err.mean():+.1f} y, inside range "
        f"{100 * inside.mean():.1f}%, median width {np.median(high - low):.0f} y"
    )
    groups = [
        (f"age band {b}", np.array([band(a) == b for a in age]))
        for b in sorted({band(a) for a in age})
    ]
    groups += [
        (f"labelled {g}", np.array([f["gender"] == g for f in rows])) for g in ("Female", "Male")
    ]
    for name, sel in groups:
        if sel.any():
            print(
                f"  {name:18s}: n={sel.sum():3d}  MAE {np.abs(err[sel]).mean():5.1f}  "
                f"bias {err[sel].mean():+5.1f}  inside {100 * inside[sel].mean():5.1f}%"
            )


def report_emotions(faces: list[dict]) -> None:
    rows = [f for f in faces if f["emotion"]]
    truth = [f["emotion"] for f in rows]
    probs = np.stack([f["raw_emotion"] for f in rows])
    pred = [CLASSES[k] for k in probs.argmax(1)]
    right = np.array([a == b for a, b in zip(pred, truth)])
    print(
        f"\nEmotions (fer mini-Xception): n={len(rows)}, top-1 accuracy "
        f"{100 * right.mean():.1f}%; labelled: {dict(Counter(truth))}"
    )
    print("  confusion (rows: label, columns: oculi's top-1)")
    print("    " + " " * 10 + "".join(f"{c[:5]:>7s}" for c in CLASSES))
    for t in sorted(set(truth)):
        counts = Counter(p for p, tt in zip(pred, truth) if tt == t)
        print(
            f"    {t:10s}"
            + "".join(f"{counts.get(c, 0):7d}" for c in CLASSES)
            + f"   recall {100 * counts.get(t, 0) / truth.count(t):5.1f}%"
        )
    reliability("the top emotion", probs.max(1) * 100, right)


Feature = Callable[[dict], "float | np.ndarray"]


def happy_logit(face: dict) -> float:
    return float(logit(face["raw_emotion"][CLASSES.index("HAPPY")]))


def shape(face: dict, *names: str) -> float:
    """The mean of the named blendshape scores of one face."""
    return float(named(face["blendshapes"][None], *names).mean())


def jaw_open(face: dict) -> float:
    return shape(face, "jawOpen")


def eye_blink(face: dict) -> float:
    return shape(face, "eyeBlinkLeft", "eyeBlinkRight")


def curve_text(c: Logistic) -> str:
    slope = (
        "(" + ", ".join(f"{s:.4f}" for s in c.slope) + ")"
        if isinstance(c.slope, tuple)
        else f"{c.slope:.4f}"
    )
    return f"Logistic(slope={slope}, bias={c.bias:.4f})"


def report_binary(
    name: str, faces: list[dict], key: str, feature: Feature, curve: Logistic | None, fit: bool
) -> tuple[float, float, float]:
    """Accuracy and calibration of `curve` (None: a curve fitted here on all the faces)
    over `feature`, and the same for curves refitted without each fold. Returns the
    cross-validated (accuracy, recall of false, calibration error)."""
    rows = [f for f in faces if f[key]]
    y = np.array([f[key] == "1" for f in rows])
    x = np.array([feature(f) for f in rows], np.float64)
    if curve is None:
        curve = fit_logistic(x, y)
        name += ", curve fitted on these faces"
    value, conf = binary_conf(curve(x))
    right = value == y
    print(
        f"\n{name}: n={len(rows)} ({y.sum()} true), accuracy {100 * right.mean():.1f}%; "
        f"recall of true {100 * right[y].mean():.1f}%, of false {100 * right[~y].mean():.1f}%"
    )
    if x.ndim == 1:
        print(
            "  score (median, 10th to 90th percentile): "
            + "; ".join(
                f"when {t} {np.median(s):.3g} ({np.quantile(s, 0.1):.3g} to "
                f"{np.quantile(s, 0.9):.3g})"
                for t, s in (("true", x[y]), ("false", x[~y]))
            )
        )
    for g in ("Female", "Male"):
        sel = np.array([f["gender"] == g for f in rows])
        print(f"  labelled {g:6s}: n={sel.sum():3d}  accuracy {100 * right[sel].mean():5.1f}%")
    reliability(name, conf, right)
    cv_value, cv_conf = binary_conf(cross_validated(x, y))
    cv_right = cv_value == y
    print(
        f"  5-fold cross-validated (curve refitted without the fold): accuracy "
        f"{100 * cv_right.mean():.1f}%; recall of true {100 * cv_right[y].mean():.1f}%, "
        f"of false {100 * cv_right[~y].mean():.1f}%"
    )
    ece = reliability(f"{name}, cross-validated", cv_conf, cv_right)
    if fit:
        print(f"  fitted: {curve_text(fit_logistic(x, y))}")
    return float(cv_right.mean()), float(cv_right[~y].mean()), ece


def compare_binary(
    attribute: str,
    faces: list[dict],
    key: str,
    methods: list[tuple[str, Feature, Logistic | None]],
    fit: bool,
) -> None:
    """Each method (the first is the one oculi uses) reported in full, then a summary;
    the best cross-validated accuracy wins, a tie keeps the first."""
    results = [
        (label, *report_binary(f"{attribute} ({label})", faces, key, feature, curve, fit))
        for label, feature, curve in methods
    ]
    print(f"\n{attribute}, methods side by side (5-fold cross-validated):")
    for label, acc, false_recall, ece in results:
        print(
            f"  {label:42s} accuracy {100 * acc:5.1f}%  recall of false "
            f"{100 * false_recall:5.1f}%  calibration error {100 * ece:4.1f} points"
        )
    best = max(results, key=lambda r: r[1])
    print(f"  best: {best[0]}" + (" (the current method)" if best is results[0] else ""))


def mirrored_gaze(data: Path, analyzer, faces: list[dict]) -> np.ndarray:
    """(N, 2) EyeDirection of each labelled face found again in its mirrored photo."""
    out = np.full((len(faces), 2), np.nan)
    by_file: dict[str, list[int]] = {}
    for i, f in enumerate(faces):
        by_file.setdefault(f["file"], []).append(i)
    for name, idx in by_file.items():
        rgb = np.ascontiguousarray(decode((data / name).read_bytes()).rgb[:, ::-1])
        found = analyzer.analyze(rgb)
        width = rgb.shape[1]
        for i in idx:
            x1, y1, x2, y2 = faces[i]["found_box"]
            mirrored = np.array([width - x2, y1, width - x1, y2])
            scores = [iou(mirrored, b) for b in found.boxes]
            if scores and max(scores) >= 0.5:
                j = int(np.argmax(scores))
                out[i] = eye_direction(found.mesh[j : j + 1])[0]
    return out


def report_eye_direction(data: Path, analyzer, faces: list[dict], fit: bool) -> None:
    gaze = np.stack([f["raw_gaze"] for f in faces])
    head = np.stack([f["head_pose"] for f in faces])[:, 1:].astype(np.float64)
    seen = gaze + head  # the eyes' direction as seen from the camera
    ok = ~np.isnan(gaze[:, 0])
    print(
        f"\nEyeDirection (iris offset on a {EYEBALL_RATIO}-eye-width eyeball, minus head pose; "
        f"no ground truth): n={len(faces)}, estimate given for {ok.sum()} "
        f"({len(faces) - ok.sum()} irises missed)"
    )
    mirror = mirrored_gaze(data, analyzer, faces)
    both = ok & ~np.isnan(mirror[:, 0])
    yaw_gap = np.abs(gaze[both, 0] + mirror[both, 0])
    pitch_gap = np.abs(gaze[both, 1] - mirror[both, 1])
    print(
        f"  mirrored photo (expect yaw negated, pitch equal), {both.sum()} faces: "
        f"|yaw + mirrored yaw| median {np.median(yaw_gap):.1f}, 90th pct "
        f"{np.quantile(yaw_gap, 0.9):.1f} deg; |pitch - mirrored pitch| median "
        f"{np.median(pitch_gap):.1f}, 90th pct {np.quantile(pitch_gap, 0.9):.1f} deg"
    )
    turned = both & (np.abs(gaze[:, 0]) >= 5)
    flipped = np.sign(gaze[turned, 0]) != np.sign(mirror[turned, 0])
    print(
        f"  of {turned.sum()} faces with |yaw| >= 5 deg, the mirrored yaw has the opposite "
        f"sign for {100 * flipped.mean():.0f}%"
    )
    label = np.array([f["gaze_at_camera"] for f in faces])
    for value, name in (("1", "looking at the camera"), ("0", "looking away")):
        sel = ok & (label == value)
        if sel.any():
            print(
                f"  labelled {name:21s}: n={sel.sum():3d}  as seen from the camera |yaw| "
                f"median {np.median(np.abs(seen[sel, 0])):5.1f}, 90th pct "
                f"{np.quantile(np.abs(seen[sel, 0]), 0.9):5.1f}; |pitch| median "
                f"{np.median(np.abs(seen[sel, 1])):5.1f}, 90th pct "
                f"{np.quantile(np.abs(seen[sel, 1]), 0.9):5.1f} deg"
            )
    sel = ok & (label == "1")
    for k, axis in enumerate(("yaw", "pitch")):
        slope = np.polyfit(head[sel, k], gaze[sel, k], 1)[0]
        corr = np.corrcoef(head[sel, k], gaze[sel, k])[0, 1]
        print(
            f"  looking at the camera: eye {axis} vs head {axis} slope {slope:+.2f}, "
            f"correlation {corr:+.2f} (eyes that turn back to the camera give slope -1)"
        )
    if fit:
        frontal = sel & (np.abs(head).max(axis=1) < 10)
        raw_pitch = seen[frontal, 1] + PITCH_OFFSET_DEG
        print(
            f"  fitted: PITCH_OFFSET_DEG = {np.median(raw_pitch):.1f} (median raw pitch of "
            f"{frontal.sum()} frontal faces looking at the camera)"
        )


def report_speed(data: Path, analyzer, models, blendshapes, repeat: int = 5) -> None:
    files = sorted({row["file"] for row in csv.DictReader(open(LABELS, newline=""))})
    images = [decode((data / f).read_bytes()).rgb for f in files]
    analysed = [(rgb, analyzer.analyze(rgb)) for rgb in images]
    wanted = set(ATTRIBUTES)
    for rgb, faces in analysed[:3]:
        analyze_attributes(models, rgb, faces, wanted)  # warm-up
    per_face: dict[str, list[float]] = {}
    for label, asked in [("ALL", wanted), *[(a, {a}) for a in ATTRIBUTES]]:
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            n = 0
            for rgb, faces in analysed:
                analyze_attributes(models, rgb, faces, asked)
                n += len(faces)
            runs.append((time.perf_counter() - t) * 1000 / max(n, 1))
        per_face[label] = runs
    blendshape_scores(blendshapes, analysed[0][1].mesh)  # warm-up
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _, faces in analysed:
            blendshape_scores(blendshapes, faces.mesh)
        runs.append((time.perf_counter() - t) * 1000 / max(sum(len(f) for _, f in analysed), 1))
    per_face["(blendshapes)"] = runs
    n_faces = sum(len(f) for _, f in analysed)
    print(
        f"\nSpeed: attributes on top of DEFAULT, {n_faces} faces in {len(images)} photos, "
        f"median of {repeat} runs, ms per face"
    )
    for label, runs in per_face.items():
        print(f"  {label:14s} {statistics.median(runs):6.2f} ms/face")
    print("  ((blendshapes): the blendshape model alone, which no attribute runs)")
    t = time.perf_counter()
    for rgb in images:
        analyzer.analyze(rgb)
    default_ms = (time.perf_counter() - t) * 1000 / n_faces
    print(
        f"  (DEFAULT itself: detection + mesh + pose + quality, {default_ms:.1f} ms/face "
        "on these photos, for comparison)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads of the DEFAULT analysis (the attribute networks use one)",
    )
    ap.add_argument("--fit", action="store_true", help="print freshly fitted constants")
    args = ap.parse_args()
    analyzer = load_face_analyzer(threads=args.threads, auto_fetch=False)
    models = load_attribute_models(attributes=ATTRIBUTES, auto_fetch=False)
    blendshapes = TfliteModel(
        verified_path(CATALOGUE["face_blendshapes"], default_model_dir()), threads=1
    )
    print(
        f"Labelled faces: {LABELS.relative_to(HERE.parent)} "
        "(hand labels, see docs/face-attributes.md)"
    )
    faces = load_faces(args.data, analyzer, models, blendshapes)
    print(f"{len(faces)} labelled faces matched")
    report_gender(faces)
    report_age(faces)
    report_emotions(faces)
    report_binary("Smile (from P(happy))", faces, "smile", happy_logit, SMILE, args.fit)
    lip_gap = "inner-lip gap / mouth width"
    compare_binary(
        "MouthOpen",
        faces,
        "mouth_open",
        [
            (lip_gap, lambda f: f["raw_mouth"], MOUTH_OPEN),
            ("blendshape jawOpen", jaw_open, None),
            (f"{lip_gap} + jawOpen", lambda f: np.array([f["raw_mouth"], jaw_open(f)]), None),
        ],
        args.fit,
    )
    lid_gap = "eyelid gap / eye width"
    compare_binary(
        "EyesOpen",
        faces,
        "eyes_open",
        [
            (lid_gap, lambda f: f["raw_eyes"], EYES_OPEN),
            ("blendshapes eyeBlink, mean of both eyes", eye_blink, None),
            (f"{lid_gap} + eyeBlink", lambda f: np.array([f["raw_eyes"], eye_blink(f)]), None),
        ],
        args.fit,
    )
    report_eye_direction(args.data, analyzer, faces, args.fit)
    report_speed(args.data, analyzer, models, blendshapes)


if __name__ == "__main__":
    main()
