"""YuNet face detector (libfacedetection, 2023mar) on onnxruntime.

The network takes a BGR image of any size divisible by 32 and returns, per stride
(8, 16, 32), class and objectness scores, box offsets and five keypoints per cell.
Decoding follows OpenCV's FaceDetectorYN, so results match cv2 on the original file.
"""

from __future__ import annotations

import numpy as np

from oculi.vision.attributes.calibration import Logistic
from oculi.vision.detector import Model, SingleStageDetector
from oculi.vision.face_confidence import YUNET
from oculi.vision.types import FaceDetections

STRIDES = (8, 16, 32)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """RGB HxWx3 uint8 -> 1x3xH'xW' float32 BGR, zero-padded to multiples of 32."""
    h, w = rgb.shape[:2]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    blob = np.zeros((1, 3, ph, pw), np.float32)
    blob[0, :, :h, :w] = rgb[:, :, ::-1].transpose(2, 0, 1)
    return blob


def decode(
    outputs: dict[str, np.ndarray], height: int, width: int, score_threshold: float
) -> FaceDetections:
    """Raw outputs of an input of size (height, width), padded to 32 -> faces."""
    ph, pw = -(-height // 32) * 32, -(-width // 32) * 32
    boxes, scores, kps = [], [], []
    for s in STRIDES:
        rows, cols = ph // s, pw // s
        cls = np.clip(outputs[f"cls_{s}"][0, :, 0], 0, 1)
        obj = np.clip(outputs[f"obj_{s}"][0, :, 0], 0, 1)
        score = np.sqrt(cls * obj)
        idx = np.nonzero(score >= score_threshold)[0]
        if not idx.size:
            continue
        r, c = np.divmod(idx, cols)
        assert rows * cols == score.size
        bb = outputs[f"bbox_{s}"][0, idx]
        cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
        bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
        boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
        kp = outputs[f"kps_{s}"][0, idx].reshape(-1, 5, 2)
        kps.append(np.stack([(kp[..., 0] + c[:, None]) * s, (kp[..., 1] + r[:, None]) * s], -1))
        scores.append(score[idx])
    if not boxes:
        return FaceDetections.empty()
    return FaceDetections(
        boxes=np.concatenate(boxes).astype(np.float32),
        scores=np.concatenate(scores).astype(np.float32),
        keypoints=np.concatenate(kps).astype(np.float32),
    )


def YuNet(
    model: Model,
    score_threshold: float = 0.6,
    nms_threshold: float = 0.3,
    confidence: Logistic | None = YUNET,
) -> SingleStageDetector:
    """YuNet on one image at its own scale (callers choose the scale); scores are
    calibrated confidences unless `confidence` is None (raw scores)."""
    return SingleStageDetector(
        model, preprocess, decode, score_threshold, nms_threshold, confidence
    )
