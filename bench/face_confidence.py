"""Fit and check face detection Confidence (oculi.vision.face_confidence) on labelled photos.

A detection is a real face when it matches a labelled face (bench/detect_faces.py's rule:
IoU >= 0.3 or the label's centre inside the box, one-to-one, best score first); one that
matches a WIDER face marked invalid is left out; every other detection is a false one.
Labelled photos: the WIDER FACE validation crowd and group photos in
dev-data/eval-dev/wider_crowd_dev and dlib's 9 PASCAL VOC photos (dev-data/dlib_faces_voc),
split in two halves by a hash of the file name. Each detector (YuNet, RetinaFace) runs as
DetectFaces runs it (the photo scaled to a long side of 640-1920 px, its raw score
threshold), with raw scores; a logistic curve of P(real face) over the logit of the raw
score is fitted on the fit half only. Everything printed after the constants is measured on
the held-out half, with the constants that oculi ships (they are the fit's, rounded):

1. the fitted constants, and the shipped ones;
2. per Confidence band: detections, real faces, precision, mean Confidence (reliability);
   the same for `yunet+retinaface`, whose merged boxes keep each detector's Confidence;
   then the recall of the labelled (valid) faces: every returned face, and Confidence > 99;
3. LFW (dev-data/eval-dev/lfw_dev, not used to fit): on `--lfw N` photos (the held-out
   hash half), the detection over the photo's centre (the named person, a clear face):
   the share found, with Confidence > 99 and > 99.9, and its median;
4. the curve: Confidence at a few raw scores.

    python -m bench.face_confidence [--data DIR] [--lfw 300]
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.detect_faces import DEFAULT_DATA, load_voc, match, read_rgb, table
from oculi.models.zoo import load_face_analyzer
from oculi.vision import face_confidence
from oculi.vision.attributes.calibration import Logistic, fit_logistic
from oculi.vision.face_confidence import calibrated, raw_logit
from oculi.vision.faces import FaceAnalyzer

WIDER = "eval-dev/wider_crowd_dev"
LFW = "eval-dev/lfw_dev/images"
SHIPPED = {"yunet": face_confidence.YUNET, "retinaface": face_confidence.RETINAFACE}
BANDS = (0.0, 50.0, 70.0, 90.0, 95.0, 99.0, 99.9, 100.01)
CURVE_AT = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    boxes: np.ndarray  # (N, 4) x1 y1 x2 y2 labelled faces
    valid: np.ndarray  # (N,) bool: False for WIDER's "invalid" faces


def held_out(name: str) -> bool:
    """The half a file belongs to: True for the checked half, False for the fit half."""
    return hashlib.sha1(name.encode()).digest()[0] % 2 == 1


def load_wider(data: Path) -> list[Photo]:
    lines = (data / WIDER / "gt.txt").read_text().split("\n")
    photos, i = [], 0
    while i < len(lines) and lines[i].strip():
        name, count = lines[i].strip(), int(lines[i + 1])
        rows = [[int(v) for v in line.split()] for line in lines[i + 2 : i + 2 + count]]
        i += 2 + max(count, 1)  # a photo without faces still has one (zero) row
        rows = [r for r in rows if r[2] > 0 and r[3] > 0]
        xywh = np.array([r[:4] for r in rows], np.float32).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        valid = np.array([r[7] == 0 for r in rows], bool)
        photos.append(Photo(name, data / WIDER / "images" / name, boxes, valid))
    return photos


def labelled_photos(data: Path) -> list[Photo]:
    voc = [
        Photo(im.name, data / "dlib_faces_voc" / im.name, im.boxes, np.ones(len(im.boxes), bool))
        for im in load_voc(data)
    ]
    return load_wider(data) + voc


def raw(analyzer: FaceAnalyzer) -> FaceAnalyzer:
    """The same analyzer with raw (uncalibrated) detector scores."""
    return replace(analyzer, detectors=[replace(d, confidence=None) for d in analyzer.detectors])


@dataclass(frozen=True)
class Scored:
    score: np.ndarray  # per detection: raw score, or Confidence 0..100
    real: np.ndarray  # per detection: matches a valid labelled face
    found: int  # valid labelled faces matched
    labelled: int  # valid labelled faces


def score_photos(analyzer: FaceAnalyzer, photos: Sequence[Photo], scale: float) -> Scored:
    scores, real, found, labelled = [], [], 0, 0
    for p in photos:
        faces = analyzer.detect(read_rgb(p.path))
        order = np.argsort(-faces.scores, kind="stable")
        boxes, s = faces.boxes[order], faces.scores[order] * scale
        pairs = dict(match(boxes, p.boxes))
        keep = [i for i in range(len(boxes)) if i not in pairs or p.valid[pairs[i]]]
        scores.append(s[keep])
        real.append(np.array([i in pairs for i in keep], bool))
        found += sum(1 for j in pairs.values() if p.valid[j])
        labelled += int(p.valid.sum())
    return Scored(np.concatenate(scores), np.concatenate(real), found, labelled)


def band_rows(s: Scored) -> list[list[str]]:
    rows = []
    for lo, hi in zip(BANDS, BANDS[1:], strict=False):
        inside = (s.score >= lo) & (s.score < hi)
        n, tp = int(inside.sum()), int(s.real[inside].sum())
        if not n:
            continue
        label = f"[{lo:g}, {min(hi, 100):g}{']' if hi > 100 else ')'}"
        mean = float(s.score[inside].mean())
        rows.append([label, str(n), str(tp), f"{100 * tp / n:.1f}%", f"{mean:.2f}"])
    return rows


def recall_line(s: Scored) -> str:
    over99 = int((s.real & (s.score > 99)).sum())
    return (
        f"labelled faces {s.labelled}: found {s.found} ({100 * s.found / s.labelled:.1f}%), "
        f"found with Confidence > 99: {over99} ({100 * over99 / s.labelled:.1f}%); "
        f"detections with Confidence > 99: {int((s.score > 99).sum())}, real "
        f"{over99}"
    )


def centre_confidences(analyzer: FaceAnalyzer, paths: Sequence[Path]) -> list[float | None]:
    """Per LFW photo, the Confidence of the largest detection over the photo's centre."""
    out: list[float | None] = []
    for path in paths:
        rgb = read_rgb(path)
        cy, cx = rgb.shape[0] / 2, rgb.shape[1] / 2
        faces = analyzer.detect(rgb)  # largest first
        b = faces.boxes
        over = np.nonzero((b[:, 0] <= cx) & (cx <= b[:, 2]) & (b[:, 1] <= cy) & (cy <= b[:, 3]))[0]
        out.append(float(faces.scores[over[0]]) * 100 if len(over) else None)
    return out


def lfw_line(name: str, conf: list[float | None]) -> str:
    got = np.array([c for c in conf if c is not None])
    n = len(conf)
    return (
        f"{name}: {n} photos, centre face found {len(got)} ({100 * len(got) / n:.1f}%), "
        f"Confidence > 99: {int((got > 99).sum())} ({100 * (got > 99).sum() / n:.1f}%), "
        f"> 99.9: {int((got > 99.9).sum())} ({100 * (got > 99.9).sum() / n:.1f}%), "
        f"median {np.median(got):.3f}, min {got.min():.2f}"
    )


def fmt_curve(curve: Logistic) -> str:
    return f"Logistic(slope={curve.slope:.4f}, bias={curve.bias:.4f})"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the dev-data folder")
    ap.add_argument("--lfw", type=int, default=300, help="LFW photos to check (held-out half)")
    args = ap.parse_args(argv)
    photos = labelled_photos(args.data)
    fit_half = [p for p in photos if not held_out(p.name)]
    check_half = [p for p in photos if held_out(p.name)]
    lfw = sorted(p for p in (args.data / LFW).iterdir() if held_out(p.name))[: args.lfw]
    print(
        f"labelled photos: {len(fit_half)} to fit ({sum(int(p.valid.sum()) for p in fit_half)} "
        f"faces), {len(check_half)} held out ({sum(int(p.valid.sum()) for p in check_half)} "
        f"faces); LFW photos: {len(lfw)}"
    )
    analyzers = {
        d: load_face_analyzer(detector=d, threads=1, device="cpu", auto_fetch=False)
        for d in ("yunet", "retinaface", "yunet+retinaface")
    }
    print("\n1. constants: P(real face) = 1 / (1 + exp(-(slope * logit(raw) + bias)))")
    for d, curve in SHIPPED.items():
        fit = score_photos(raw(analyzers[d]), fit_half, 1.0)
        fitted = fit_logistic(raw_logit(fit.score), fit.real)
        print(
            f"{d}: fitted on {len(fit.score)} detections ({int(fit.real.sum())} real): "
            f"{fmt_curve(fitted)}; shipped {fmt_curve(curve)}"
        )
    print("\n2. held-out precision per Confidence band")
    for d, analyzer in analyzers.items():
        s = score_photos(analyzer, check_half, 100.0)
        print(f"\n{d}")
        print(table(["Confidence", "detections", "real", "precision", "mean"], band_rows(s)))
        print(recall_line(s))
    print("\n3. LFW, the face over the photo's centre")
    for d, analyzer in analyzers.items():
        print(lfw_line(d, centre_confidences(analyzer, lfw)))
    print("\n4. the curve: Confidence at raw scores")
    rows = [
        [d, *(f"{c:.2f}" for c in 100 * calibrated(np.array(CURVE_AT), curve))]
        for d, curve in SHIPPED.items()
    ]
    print(table(["raw score", *(f"{r:g}" for r in CURVE_AT)], rows))


if __name__ == "__main__":
    main()
