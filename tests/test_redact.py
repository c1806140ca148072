"""Redaction: faces covered in images (CLI and HTTP) and videos (tracking fills misses)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import cv2
import numpy as np
import pytest

from oculi.models.zoo import load_face_analyzer
from oculi.vision.decode import decode
from oculi.vision.redact import redact
from oculi.vision.track import IouTracker
from oculi.vision.types import FaceDetections
from tests.conftest import FIXTURES, clean_env


@pytest.fixture(scope="module")
def analyzer():
    return load_face_analyzer(threads=1)


def test_redacted_faces_are_not_found_again(analyzer) -> None:
    for name in ("two_people.jpg", "2008_007676.jpg", "people/test/obama_and_biden.jpg"):
        rgb = decode((FIXTURES / name).read_bytes()).rgb
        faces = analyzer.detect(rgb)
        assert len(faces) >= 2
        for mode in ("blur", "pixelate"):
            out = redact(rgb, faces.boxes, mode)
            assert len(analyzer.detect(out)) == 0, (name, mode)
            # Pixels away from the faces are untouched.
            assert np.array_equal(out[-5:, :5], rgb[-5:, :5])


def test_tracker_keeps_a_face_through_missed_frames() -> None:
    t = IouTracker(max_missed=3)
    box = np.array([[10, 10, 50, 50]], np.float32)
    first = t.update(box)
    assert len(first) == 1 and first[0].detection == 0
    for step in range(1, 4):  # the detector misses it for three frames
        live = t.update(np.zeros((0, 4)))
        assert len(live) == 1 and live[0].missed == step
    assert t.update(np.zeros((0, 4))) == []  # gone after max_missed
    moving = IouTracker()
    for x in range(0, 50, 5):
        tracks = moving.update(np.array([[x, 0, x + 40, 40]], np.float32))
    assert len(tracks) == 1 and tracks[0].track_id == 1  # one track, no fragments
    coast = moving.update(np.zeros((0, 4)))[0]
    assert coast.box[0] > 45  # kept moving in the direction of travel


def test_cli_redacts_image_and_video(tmp_path, analyzer) -> None:
    out_img = tmp_path / "out.jpg"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "oculi",
            "redact",
            str(FIXTURES / "two_people.jpg"),
            "-o",
            str(out_img),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    # The two people, and what the low redaction threshold covers besides (bench/crowd.py).
    assert int(r.stdout.split()[0]) >= 2, r.stdout
    assert len(analyzer.detect(decode(out_img.read_bytes()).rgb)) == 0
    # A short video made from a real photo drifting across the frame.
    src = tmp_path / "in.mp4"
    rgb = decode((FIXTURES / "obama-480p.jpg").read_bytes()).rgb
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(12):
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[:, : 640 - 4 * i] = rgb[:, 180 + 4 * i : 820][:, : 640 - 4 * i]
        w.write(np.ascontiguousarray(frame[:, :, ::-1]))
    w.release()
    dst = tmp_path / "out.mp4"
    r = subprocess.run(
        [sys.executable, "-m", "oculi", "redact", str(src), "-o", str(dst), "--detect-every", "3"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(dst))
    frames = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames += 1
        assert len(analyzer.detect(np.ascontiguousarray(bgr[:, :, ::-1]))) == 0, frames
    assert frames == 12


def test_http_redact_endpoint(server) -> None:
    body = (FIXTURES / "two_people.jpg").read_bytes()
    req = urllib.request.Request(
        server.url + "/oculi/redact?mode=pixelate", data=body, method="POST"
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.headers["Content-Type"] == "image/jpeg"
        assert int(r.headers["x-oculi-faces-redacted"]) >= 2
        out = decode(r.read()).rgb
    assert out.shape == decode(body).rgb.shape
    req = urllib.request.Request(server.url + "/oculi/redact", data=b"junk", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 400
    assert e.value.headers["x-amzn-ErrorType"] == "InvalidImageFormatException"


def uncovered_faces(faces: FaceDetections, original: np.ndarray, filled: np.ndarray) -> int:
    """Faces of which fewer than half the pixels of the box's inner 60% were covered."""
    changed = np.abs(original.astype(np.int16) - filled.astype(np.int16)).max(axis=2) > 8
    missed = 0
    for x1, y1, x2, y2 in faces.boxes:
        dx, dy = (x2 - x1) * 0.2, (y2 - y1) * 0.2
        inner = changed[int(y1 + dy) : int(y2 - dy), int(x1 + dx) : int(x2 - dx)]
        missed += int(inner.mean() < 0.5)
    return missed


def test_http_redact_uses_both_detectors(server, analyzer) -> None:
    """The server detects with YuNet alone, yet the endpoint covers the face that only
    RetinaFace finds in this group photo (bench/redact.py: YuNet alone leaves it)."""
    body = (FIXTURES / "2008_002079.jpg").read_bytes()
    rgb = decode(body).rgb
    both = load_face_analyzer(detector="yunet+retinaface", threads=1).detect(rgb)
    yunet_only = redact(rgb, analyzer.detect(rgb).boxes, "fill")
    assert uncovered_faces(both, rgb, yunet_only) >= 1  # what YuNet alone leaves visible
    req = urllib.request.Request(server.url + "/oculi/redact?mode=fill", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        out = decode(r.read()).rgb
    assert uncovered_faces(both, rgb, out) == 0


@pytest.mark.parametrize("every", [1, 2])
def test_video_pipeline_keeps_frames_in_order_with_their_boxes(tmp_path, analyzer, every) -> None:
    """Decoding, detection (two frames at once), tracking and encoding run in separate
    threads, and frames between detections are held back: each output frame must be its own
    input frame, covered by the boxes VideoFaces chose for that frame fed one at a time."""
    from oculi.service.redact import RedactOptions, VideoFaces, redact_video

    rgb = decode((FIXTURES / "obama-480p.jpg").read_bytes()).rgb
    frames = []
    for i in range(20):
        frame = np.ascontiguousarray(rgb[:, 100 + 5 * i : 740 + 5 * i][:, :, ::-1])
        frame[:40, :40] = 12 * i  # the frame's number, readable after lossy encoding
        frames.append(frame)
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for frame in frames:
        w.write(frame)
    w.release()
    opts = RedactOptions(detect_every=every)
    stats = redact_video(analyzer, None, src, dst, opts, detectors=2)
    cap_in, cap_out = cv2.VideoCapture(str(src)), cv2.VideoCapture(str(dst))
    decoded_in = [cap_in.read()[1] for _ in range(20)]
    numbers = np.array([float(f[5:35, 5:35].mean()) for f in decoded_in])
    faces = VideoFaces(analyzer, None, opts)
    chosen = [ready for frame in decoded_in for ready in faces.push(frame)] + faces.flush()
    assert [id(frame) for frame, _ in chosen] == [id(frame) for frame in decoded_in]
    boxes = 0
    for i, (decoded, (_, cover)) in enumerate(zip(decoded_in, chosen)):
        ok, out = cap_out.read()
        assert ok
        assert np.argmin(np.abs(numbers - float(out[5:35, 5:35].mean()))) == i
        assert len(cover) == 1, i
        x1, y1, x2, y2 = cover[0].astype(int)
        centre = np.s_[
            (y1 + y2) // 2 - 5 : (y1 + y2) // 2 + 5, (x1 + x2) // 2 - 5 : (x1 + x2) // 2 + 5
        ]
        assert np.abs(out[centre].astype(int) - decoded[centre]).mean() > 8, i  # blurred
        boxes += len(cover)
    assert not cap_out.read()[0]
    assert (stats.frames, stats.boxes_redacted) == (20, boxes)


def found(*boxes: tuple[float, float, float, float]) -> FaceDetections:
    """Detections at these boxes, as the detector would hand them to the tracker."""
    n = len(boxes)
    return FaceDetections(
        np.array(boxes, np.float32).reshape(n, 4),
        np.ones(n, np.float32),
        np.zeros((n, 5, 2), np.float32),
    )


def test_held_frames_are_covered_from_both_neighbouring_detections(analyzer) -> None:
    """detect_every=2: the frame between two detections waits for the second one, then is
    covered by the box enclosing a face's boxes on both (a moving face stays inside), and a
    face first found on the second is covered on the held frame too."""
    from oculi.service.redact import RedactOptions, VideoFaces

    faces = VideoFaces(analyzer, None, RedactOptions(detect_every=2))
    frames = [np.full((360, 640, 3), i, np.uint8) for i in range(4)]
    first = faces.push(frames[0], found((100, 100, 140, 150)))
    assert [f is frames[0] for f, _ in first] == [True]
    assert first[0][1].tolist() == [[100, 100, 140, 150]]
    assert faces.push(frames[1]) == []  # held until the next detection
    ready = faces.push(frames[2], found((120, 104, 160, 154), (400, 50, 430, 90)))
    assert [f is g for (f, _), g in zip(ready, frames[1:3], strict=True)] == [True, True]
    held, detected = (sorted(cover.tolist()) for _, cover in ready)
    assert detected == [[120, 104, 160, 154], [400, 50, 430, 90]]
    assert held == [[100, 100, 160, 154], [400, 50, 430, 90]]
    assert faces.push(frames[3]) == []
    # The end of the video: the held last frame is detected (blank: nothing found), and the
    # faces' tracks still cover it, coasting.
    last = faces.flush()
    assert len(last) == 1 and last[0][0] is frames[3] and len(last[0][1]) == 2
    assert faces.flush() == []
