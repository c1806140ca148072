"""Face detection Confidence: a detector's raw score -> the probability that the box is a
real face, as Rekognition's Confidence reads (c means about c% of the faces reported at c
are real faces; clear faces read above 99).

Each detector has its own logistic curve over the logit of its raw score, fitted by
bench/face_confidence.py on half of the labelled crowd and group photos in dev-data (WIDER
FACE validation crowd photos and dlib's PASCAL VOC photos) and checked on the other half;
docs/faces.md has the held-out table. The map is monotone, so it changes the number each
face reports, never which faces are found: the detectors keep their thresholds on the raw
score.
"""

from __future__ import annotations

import numpy as np

from oculi.vision.attributes.calibration import Logistic

# python -m bench.face_confidence: fitted on 682 YuNet and 594 RetinaFace detections.
YUNET = Logistic(slope=3.2689, bias=-1.2048)
RETINAFACE = Logistic(slope=1.1092, bias=-0.1438)
_EDGE = 1e-7  # raw scores of exactly 0 or 1 have no logit


def raw_logit(scores: np.ndarray) -> np.ndarray:
    """log(s / (1 - s)) of raw scores in [0, 1] (the curves' input)."""
    s = np.clip(np.asarray(scores, np.float64), _EDGE, 1.0 - _EDGE)
    return np.log(s / (1.0 - s))


def calibrated(scores: np.ndarray, curve: Logistic) -> np.ndarray:
    """P(real face) in [0, 1], float32, for raw detector scores."""
    return curve(raw_logit(scores)).astype(np.float32)
