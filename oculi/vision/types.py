"""Typed results shared by every vision part.

`FaceDetections` is the one central type for faces, in the spirit of supervision's
`Detections`: detectors return it, and the landmark, pose, quality, drawing and (later)
tracking and redaction steps take it and return it. Coordinates are pixels of the
decoded, orientation-corrected image, origin top-left.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class FaceDetections:
    """N faces found in one image.

    boxes:      (N, 4) float32, x1 y1 x2 y2 in pixels.
    scores:     (N,) float32 in [0, 1]: from the face detectors, the calibrated probability
                that the box is a real face (oculi.vision.face_confidence), the raw
                network score kept in extra["raw_score"].
    keypoints:  (N, 5, 2) float32: right eye, left eye (of the subject; i.e. image-left
                eye first), nose tip, mouth right, mouth left corners — image-left first.
    mesh:       (N, 478, 3) float32 dense landmarks in pixels (z in the same scale), or
                None until the mesh step ran.
    pose:       (N, 3) float32 roll, yaw, pitch in degrees, or None.
    quality:    (N, 2) float32 brightness, sharpness in 0..100, or None.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    mesh: np.ndarray | None = None
    pose: np.ndarray | None = None
    quality: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError("boxes must be (N, 4) and scores (N,)")
        if self.keypoints.shape != (n, 5, 2):
            raise ValueError("keypoints must be (N, 5, 2)")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> FaceDetections:
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            keypoints=np.zeros((0, 5, 2), np.float32),
        )

    @property
    def areas(self) -> np.ndarray:
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def take(self, index: np.ndarray) -> FaceDetections:
        """The faces at `index` (an integer array or boolean mask), every field kept."""

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return FaceDetections(
            boxes=self.boxes[index],
            scores=self.scores[index],
            keypoints=self.keypoints[index],
            mesh=pick(self.mesh),
            pose=pick(self.pose),
            quality=pick(self.quality),
            extra={k: v[index] for k, v in self.extra.items()},
        )

    def with_fields(self, **fields: np.ndarray | None) -> FaceDetections:
        return replace(self, **fields)  # type: ignore[arg-type]

    @staticmethod
    def concat(parts: list[FaceDetections]) -> FaceDetections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return FaceDetections.empty()
        shared = set.intersection(*(set(p.extra) for p in parts))
        return FaceDetections(
            boxes=np.concatenate([p.boxes for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            keypoints=np.concatenate([p.keypoints for p in parts]),
            extra={k: np.concatenate([p.extra[k] for p in parts]) for k in sorted(shared)},
        )
