"""Fit DetectLabels' confidence calibration (oculi/vision/label_calibration.py) on the fit
half of eval-dev's coco64_dev and print the weights to paste there.

Each photo's detectors are run as DetectLabels runs them (the OpenImages SSD; the SSDLite
persons on the whole image, and in the four crops; NanoDet); for each label their boxes are
grouped as `label_calibration.group` groups them, and a group is a positive example when
its box overlaps a labelled box of that label (not crowd) at IoU >= 0.5. One logistic
regression (L2 1.0 on the weights, Newton's method) is fitted per calibration, on the
parts' logits, the best of them (where several parts have the label) and the log of the
box's side relative to the photo's: Person on all four
parts, the labels both the SSD and NanoDet have on those two, NanoDet's other labels on
NanoDet's. Groups lying mostly inside a crowd box of their label are left out.

    python -m bench.labels_fit --data ../shared/dev-data/eval-dev
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.labels_coco import COCO_LABELS, inside_share, load_coco, split
from oculi.service.image_source import ANALYSIS_SIDE
from oculi.service.labels import load_label_detectors
from oculi.vision.decode import decode
from oculi.vision.label_calibration import (
    COCO_CALIBRATION,
    FLOOR,
    PERSON_CALIBRATION,
    SHARED_CALIBRATION,
    calibration,
    group,
    relative_side,
)
from oculi.vision.nms import iou_matrix

L2 = 1.0


def logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (Newton's method)."""
    x1 = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x1.shape[1])
    reg = L2 * np.r_[np.ones(x.shape[1]), 0.0]
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-x1 @ w))
        grad = x1.T @ (p - y) + reg * w
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(reg)
        w -= np.linalg.solve(hess, grad)
    return w[:-1], float(w[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="eval-dev folder")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    fit, _ = split(load_coco(args.data / "coco64_dev"))
    det = load_label_detectors(threads=args.threads)
    kinds = {"person": PERSON_CALIBRATION, "shared": SHARED_CALIBRATION, "coco": COCO_CALIBRATION}
    xs: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    ys: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    for photo in fit:
        rgb = decode(photo.path.read_bytes(), reduce_to=ANALYSIS_SIDE).rgb
        parts = det.parts(rgb)
        for label in sorted(COCO_LABELS):
            cal = calibration(parts, label)
            kind = next((k for k, c in kinds.items() if c is cal), None)
            if kind is None:
                continue
            g = group(parts, label)
            gt = np.array([t.box for t in photo.truth if t.label == label and not t.crowd])
            crowd = np.array([t.box for t in photo.truth if t.label == label and t.crowd])
            keep = inside_share(g.boxes, crowd.reshape(-1, 4)) < 0.5
            hit = np.zeros(len(g.boxes), bool)
            if len(gt) and len(g.boxes):
                hit = iou_matrix(g.boxes, gt.reshape(-1, 4)).max(axis=1) >= 0.5
            s = np.clip(g.best[keep].astype(np.float64), FLOOR, 1 - 1e-6)
            side = relative_side(g.boxes[keep], rgb.shape[1], rgb.shape[0])
            logit = np.log(s / (1 - s))
            xs[kind].append(np.hstack([logit, logit.max(axis=1)[:, None], np.log(side)[:, None]]))
            ys[kind].append(hit[keep].astype(np.float64))
    print(f"{len(fit)} photos (fit half of coco64_dev)")
    for kind in kinds:
        x, y = np.concatenate(xs[kind]), np.concatenate(ys[kind])
        parts = [k for k in range(x.shape[1] - 2) if np.ptp(x[:, k]) > 0]
        # the best part's logit is a feature of its own only where several parts vote
        used = [*parts, *([x.shape[1] - 2] if len(parts) > 1 else []), x.shape[1] - 1]
        w, b = logistic(x[:, used], y)
        weights = np.zeros(x.shape[1])
        weights[used] = w
        print(
            f"{kind}: {len(y)} groups, {int(y.sum())} right; "
            f"Calibration(({', '.join(f'{v:.2f}' for v in weights[:-2])}), "
            f"{weights[-2]:.2f}, {weights[-1]:.2f}, {b:.2f})"
        )


if __name__ == "__main__":
    main()
