"""Face crops for the attribute models, cut from the image by the 478-point mesh.

The dlib age and gender networks were trained on dlib "face chips": a similarity
transform maps dlib's 5 landmarks (both corners of each eye, the base of the nose) onto a
fixed template with 20% padding. The same five points are read off the MediaPipe mesh
(eye corners 33/133/362/263, subnasale 2) and the chip is cut the way dlib does it:
bilinear sampling, after an area-average shrink when the face is much larger than the
chip (dlib shrinks with an image pyramid).

The emotion network (mini-Xception on FER-2013) was trained on 48x48 grey crops that show
the face from the top of the forehead to the chin; `expression_crop` cuts a square of that
framing around the mesh, rotated so that the eyes are level.
"""

from __future__ import annotations

import cv2
import numpy as np

# dlib's get_face_chip_details: template of the 5-point shape predictor's parts, in
# units of the unpadded chip (part 0/1: image-right eye outer/inner corner; part 2/3:
# image-left eye outer/inner corner; part 4: base of the nose).
DLIB_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
    np.float64,
)
# The mesh points that play dlib's 5 parts, in the same order.
MESH_FIVE = (263, 362, 33, 133, 2)
DLIB_PADDING = 0.2

# Mesh points for the expression crop: forehead top, chin, cheek extremes, eye centres.
FOREHEAD, CHIN = 10, 152
EYE_LEFT = (33, 133)
EYE_RIGHT = (362, 263)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift) taking `src`
    points onto `dst` points, as a 2x3 matrix (Umeyama, no reflection)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    flip = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        flip[1, 1] = -1.0
    rot = u @ flip @ vt
    scale = float(np.trace(np.diag(sig) @ flip) / max((s**2).sum() / len(src), 1e-12))
    m = np.zeros((2, 3), np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def warp_square(image: np.ndarray, chip_to_image: np.ndarray, size: int) -> np.ndarray:
    """Sample a size x size chip through a chip->image similarity transform (bilinear).
    When one chip pixel covers several image pixels, the region under the chip is first
    shrunk by that whole factor with area averaging (dlib shrinks with a pyramid)."""
    step = float(np.hypot(chip_to_image[0, 0], chip_to_image[1, 0]))
    factor = int(np.clip(np.floor(step), 1, 64))
    m = chip_to_image.astype(np.float64)
    if factor > 1:
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], float)
        xy = corners @ m.T
        h, w = image.shape[:2]
        x0, y0 = (int(max(np.floor(v) - factor, 0)) for v in xy.min(0))
        x1 = int(min(np.ceil(xy[:, 0].max()) + factor, w))
        y1 = int(min(np.ceil(xy[:, 1].max()) + factor, h))
        if x1 - x0 < factor or y1 - y0 < factor:
            return np.zeros((size, size, *image.shape[2:]), image.dtype)
        small_w, small_h = (x1 - x0) // factor, (y1 - y0) // factor
        image = cv2.resize(
            image[y0 : y0 + small_h * factor, x0 : x0 + small_w * factor],
            (small_w, small_h),
            interpolation=cv2.INTER_AREA,
        )
        # Image pixel x lies at (x - x0 + 0.5) / factor - 0.5 in the shrunk region.
        m /= factor
        m[:, 2] += (0.5 - np.array([x0, y0], np.float64)) / factor - 0.5
    return cv2.warpAffine(
        image,
        m,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )


def face_canvas(
    rgb: np.ndarray, mesh: np.ndarray, face_px: int = 128, margin: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The face's surroundings (its mesh's bounding box grown by `margin` of its size on
    each side), shrunk by the whole factor that brings the forehead-to-chin distance down
    to about `face_px` (never enlarged), and the mesh in that canvas's pixels. Every crop
    of one face is cut from its canvas, so that a large face is averaged down only once."""
    xy = mesh[:, :2].astype(np.float64)
    height = float(np.linalg.norm(xy[CHIN] - xy[FOREHEAD]))
    factor = max(1, int(height // face_px))
    lo, hi = xy.min(0), xy.max(0)
    grow = margin * float((hi - lo).max())
    h, w = rgb.shape[:2]
    x0, y0 = (int(max(np.floor(v - grow), 0)) for v in lo)
    x1 = int(min(np.ceil(hi[0] + grow), w))
    y1 = int(min(np.ceil(hi[1] + grow), h))
    out_w, out_h = max((x1 - x0) // factor, 1), max((y1 - y0) // factor, 1)
    region = rgb[y0 : y0 + out_h * factor, x0 : x0 + out_w * factor]
    if factor > 1 and region.size:
        region = cv2.resize(region, (out_w, out_h), interpolation=cv2.INTER_AREA)
    moved = mesh.astype(np.float64).copy()
    moved[:, :2] = (xy - np.array([x0, y0]) + 0.5) / factor - 0.5
    moved[:, 2] /= factor
    return np.ascontiguousarray(region), moved


def dlib_chip(rgb: np.ndarray, mesh: np.ndarray, size: int) -> np.ndarray:
    """The dlib face chip (size x size RGB uint8) for one face's (478, 3) mesh."""
    template = (DLIB_PADDING + DLIB_TEMPLATE) / (2 * DLIB_PADDING + 1) * size
    m = similarity(template, mesh[list(MESH_FIVE), :2])
    # dlib keeps the transform's centre (size/2, size/2) and spreads the size*scale wide
    # square over chip pixels 0..size-1 (chip_details, get_mapping_to_chip).
    centre = m[:, :2] @ np.array([size / 2.0, size / 2.0]) + m[:, 2]
    m[:, :2] *= size / (size - 1.0)
    m[:, 2] = centre - m[:, :2] @ np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    return warp_square(rgb, m, size)


def expression_crop(
    rgb: np.ndarray, mesh: np.ndarray, size: int, scale: float, shift: float = 0.0
) -> np.ndarray:
    """A size x size grey (BT.601 luma) crop, eyes level, whose side is `scale` times the
    forehead-to-chin distance, centred between forehead and chin and then moved `shift`
    times that distance towards the forehead."""
    eye_l = mesh[list(EYE_LEFT), :2].mean(0)
    eye_r = mesh[list(EYE_RIGHT), :2].mean(0)
    angle = float(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))
    top, chin = mesh[FOREHEAD, :2], mesh[CHIN, :2]
    height = float(np.linalg.norm(chin - top))
    up = np.array([np.sin(angle), -np.cos(angle)])
    centre = (top + chin) / 2.0 + shift * height * up
    side = height * scale
    step = max(side, 1.0) / size
    c, s = np.cos(angle) * step, np.sin(angle) * step
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = centre - m[:, :2] @ np.array([size / 2.0 - 0.5, size / 2.0 - 0.5])
    return cv2.cvtColor(warp_square(rgb, m, size), cv2.COLOR_RGB2GRAY)
