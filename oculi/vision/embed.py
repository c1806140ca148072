"""Face embeddings (SFace, 128-d) for comparison and search.

Each face is aligned by a similarity transform from its five keypoints to the 112x112
ArcFace template, fed to SFace as RGB 0-255 (as OpenCV's FaceRecognizerSF does), and, with
`flip=True`, the embedding of the mirrored crop is added (test-time augmentation) before
L2 normalisation. Cosine similarity of two embeddings is their dot product.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from oculi.models.face_versions import CURRENT
from oculi.vision.types import FaceDetections

TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)
SIZE = 112
DIM = 128


def align(rgb: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """112x112 RGB crop of one face, aligned by its five keypoints."""
    m, _ = cv2.estimateAffinePartial2D(keypoints.astype(np.float32), TEMPLATE, method=cv2.LMEDS)
    if m is None:
        raise ValueError("cannot align face: degenerate keypoints")
    return cv2.warpAffine(
        rgb, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def embed_faces(
    model: Callable[[np.ndarray], dict[str, np.ndarray]],
    rgb: np.ndarray,
    faces: FaceDetections,
    flip: bool = True,
) -> np.ndarray:
    """(N, 128) float32 unit vectors, one per face."""
    if not len(faces):
        return np.zeros((0, DIM), np.float32)
    crops = [align(rgb, kp) for kp in faces.keypoints]
    if flip:
        crops += [c[:, ::-1] for c in crops]
    out = []
    for c in crops:
        x = np.ascontiguousarray(c.transpose(2, 0, 1)[None], dtype=np.float32)
        out.append(next(iter(model(x).values()))[0])
    emb = np.asarray(out, np.float32)
    if flip:
        emb = emb[: len(faces)] + emb[len(faces) :]
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


class FaceEmbedder:
    """Embeds detected faces; `version` (a FaceModelVersion number, see
    `oculi.models.face_versions`) names the embedding space stored with each face."""

    version = CURRENT.number

    def __init__(
        self, model: Callable[[np.ndarray], dict[str, np.ndarray]], flip: bool = True
    ) -> None:
        self.model = model
        self.flip = flip

    def __call__(self, rgb: np.ndarray, faces: FaceDetections) -> np.ndarray:
        return embed_faces(self.model, rgb, faces, self.flip)
