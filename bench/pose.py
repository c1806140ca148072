"""Check oculi's Pose against geometry that can be checked.

1. Roll against the eye line of dlib's hand-placed 68 points (dlib_faces_voc, 43 faces),
   and the sign of yaw against where dlib's nose tip sits between the jaw's ends.
2. Mirror: each VOC face and its mirror image; roll and yaw must flip sign, pitch stay.
3. In-plane turn: the obama portrait turned by 0-180 degrees either way; roll must follow.
4. Upright audience: every 5th frame of dev-data's short_hamilton_clip.mp4, whose audience
   sits upright and watches a stage to the left, many near profile: roll must stay small.
   And whether near-profile faces can be matched: the face in Obama's seat (frames 200 on)
   against his portrait (tests/fixtures/people/train/obama/obama2.jpg) and the best of three
   other people's portraits, at Similarity 99's cosine.

Prints the mean/max errors and how many faces' meshes the model scored below MESH_OK.

    python -m bench.pose [--data DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from bench.detect_faces import DEFAULT_DATA, load_voc, match, read_rgb
from oculi.models.zoo import load_face_analyzer, load_face_embedder
from oculi.service.collections import QUALITY_BARS
from oculi.vision import similarity as simmap
from oculi.vision.embed import FaceEmbedder
from oculi.vision.faces import FaceAnalyzer
from oculi.vision.mesh import MESH_OK
from oculi.vision.pose import MESH_FOUND

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "tests" / "fixtures" / "obama-480p.jpg"
TURNS = (-180, -150, -120, -90, -60, -30, 0, 30, 60, 90, 120, 150, 180)
CLIP = "video/short_hamilton_clip.mp4"
CLIP_STEP = 5
PEOPLE = ROOT / "tests" / "fixtures" / "people" / "train"
OBAMA = "obama/obama2.jpg"
STRANGERS = ("biden/biden.jpg", "kit_harington/john1.jpeg", "alex_lacamoire/img1.jpg")
OBAMA_SEAT = (300, 340, 60)  # left edge between 300 and 340 px, top above 60 px
OBAMA_FROM = 200


def wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def turned(rgb: np.ndarray, clockwise: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    side = int(np.hypot(h, w))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -clockwise, 1.0)
    m[:, 2] += ((side - w) / 2, (side - h) / 2)
    return cv2.warpAffine(rgb, m, (side, side))


def voc_checks(analyzer: FaceAnalyzer, data: Path) -> None:
    roll_err, yaw_agree, yaw_n, mirror_err, low = [], 0, 0, [], 0
    n = 0
    for im in load_voc(data):
        faces = analyzer.analyze(im.rgb)
        mirrored = analyzer.analyze(np.ascontiguousarray(im.rgb[:, ::-1]))
        w = im.rgb.shape[1]
        flipped = mirrored.boxes.copy()
        flipped[:, [0, 2]] = w - mirrored.boxes[:, [2, 0]]
        for d, lab in match(faces.boxes, im.lm_boxes):
            n += 1
            low += int(faces.extra["mesh_score"][d] < MESH_OK)
            p = im.parts[lab]
            eye_l, eye_r = p[36:42].mean(0), p[42:48].mean(0)
            truth = np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))
            roll, yaw, pitch = faces.pose[d]
            roll_err.append(abs(wrap(roll - truth)))
            # Nose tip's place between the jaw's ends: < 0.4 turned toward image-left.
            at = (p[30, 0] - p[0, 0]) / (p[16, 0] - p[0, 0])
            if abs(at - 0.5) > 0.1 and abs(yaw) > 5:
                yaw_n += 1
                yaw_agree += int((at < 0.5) == (yaw > 0))
            pair = match(faces.boxes[d : d + 1], flipped)
            if pair:
                mr, my, mp = mirrored.pose[pair[0][1]]
                mirror_err.append(max(abs(wrap(mr + roll)), abs(my + yaw), abs(mp - pitch)))
    print(f"dlib_faces_voc: {n} faces matched to dlib's 68-point labels")
    print(
        f"  roll vs dlib's eye line: mean error {np.mean(roll_err):.1f} deg, "
        f"max {np.max(roll_err):.1f}"
    )
    print(
        f"  yaw sign vs nose-between-jaw (faces turned clearly): {yaw_agree}/{yaw_n} agree "
        "(yaw > 0: nose toward the image's left, the subject's right)"
    )
    print(
        f"  mirror image: worst of |roll+roll'|, |yaw+yaw'|, |pitch-pitch'| mean "
        f"{np.mean(mirror_err):.1f} deg, max {np.max(mirror_err):.1f} ({len(mirror_err)} faces)"
    )
    print(f"  meshes scored below MESH_OK ({MESH_OK}) after retries: {low}")


def turn_checks(analyzer: FaceAnalyzer) -> None:
    rgb = read_rgb(PORTRAIT)
    base = float(analyzer.analyze(rgb, max_faces=1).pose[0][0])
    print(f"in-plane turn of {PORTRAIT.name} (roll upright {base:.1f}):")
    print("  turn   roll  error  mesh score")
    for t in TURNS:
        faces = analyzer.analyze(turned(rgb, t), max_faces=1)
        if not len(faces):
            print(f"  {t:4d}  no face detected")
            continue
        roll = float(faces.pose[0][0])
        err = abs(wrap(roll - base - t))
        print(f"  {t:4d} {roll:6.1f} {err:6.1f}  {faces.extra['mesh_score'][0]:.3f}")


def clip_checks(analyzer: FaceAnalyzer, data: Path) -> None:
    cap = cv2.VideoCapture(str(data / CLIP))
    poses, lost, k = [], 0, 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if k % CLIP_STEP == 0:
            faces = analyzer.analyze(np.ascontiguousarray(bgr[:, :, ::-1]))
            poses.append(faces.pose)
            lost += int((faces.extra["mesh_score"] < MESH_FOUND).sum())
        k += 1
    roll, yaw, pitch = np.abs(np.concatenate(poses)).T
    bar = QUALITY_BARS["AUTO"]
    extreme = (yaw > bar["yaw"]) | (pitch > bar["pitch"])
    print(
        f"{CLIP}, every {CLIP_STEP}th of {k} frames: {len(roll)} faces, {lost} with no mesh "
        f"(pose from the detector's points); |roll| > 30: {int((roll > 30).sum())}; "
        f"|pitch| > 30: {int((pitch > 30).sum())}; |yaw| > 45: {int((yaw > 45).sum())}; "
        f"EXTREME_POSE under AUTO: {int(extreme.sum())}"
    )


def portrait(analyzer: FaceAnalyzer, embedder: FaceEmbedder, rel: str) -> np.ndarray:
    rgb = read_rgb(PEOPLE / rel)
    return embedder(rgb, analyzer.analyze(rgb, max_faces=1))[0]


def profile_match(analyzer: FaceAnalyzer, embedder: FaceEmbedder, data: Path) -> None:
    own = portrait(analyzer, embedder, OBAMA)
    others = np.stack([portrait(analyzer, embedder, r) for r in STRANGERS])
    c99 = simmap.cosine_at(99)
    print(f"Obama's seat, frames {OBAMA_FROM}+ (cosine at Similarity 99: {c99:.3f}):")
    print("  frame  roll  yaw  pitch  vs obama2  best other")
    cap = cv2.VideoCapture(str(data / CLIP))
    k = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if k >= OBAMA_FROM and k % CLIP_STEP == 0:
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            faces = analyzer.analyze(rgb)
            lo, hi, top = OBAMA_SEAT
            seat = (faces.boxes[:, 0] >= lo) & (faces.boxes[:, 0] <= hi) & (faces.boxes[:, 1] < top)
            for i in np.nonzero(seat)[0]:
                e = embedder(rgb, faces.take(np.array([i])))[0]
                roll, yaw, pitch = faces.pose[i]
                print(
                    f"  {k:5d} {roll:5.0f} {yaw:4.0f} {pitch:6.0f}  {float(e @ own):9.3f}"
                    f"  {float((others @ e).max()):10.3f}"
                )
        k += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    analyzer = load_face_analyzer(detector="yunet", threads=1, device="cpu", auto_fetch=False)
    voc_checks(analyzer, args.data)
    turn_checks(analyzer)
    clip_checks(analyzer, args.data)
    embedder = load_face_embedder(threads=1, device="cpu", auto_fetch=False)
    profile_match(analyzer, embedder, args.data)


if __name__ == "__main__":
    main()
