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
    r = subprocess.run([sys.executable, "-m", "oculi", "redact", str(FIXTURES / "two_people.jpg"),
                        "-o", str(out_img)], env=clean_env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2 face(s) redacted" in r.stdout
    assert len(analyzer.detect(decode(out_img.read_bytes()).rgb)) == 0
    # A short video made from a real photo drifting across the frame.
    src = tmp_path / "in.mp4"
    rgb = decode((FIXTURES / "obama-480p.jpg").read_bytes()).rgb
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(12):
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[:, : 640 - 4 * i] = rgb[:, 180 + 4 * i: 820][:, : 640 - 4 * i]
        w.write(np.ascontiguousarray(frame[:, :, ::-1]))
    w.release()
    dst = tmp_path / "out.mp4"
    r = subprocess.run([sys.executable, "-m", "oculi", "redact", str(src), "-o", str(dst),
                        "--detect-every", "3"], env=clean_env(), capture_output=True,
                       text=True, timeout=300)
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
    req = urllib.request.Request(server.url + "/oculi/redact?mode=pixelate", data=body,
                                 method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.headers["Content-Type"] == "image/jpeg"
        assert r.headers["x-oculi-faces-redacted"] == "2"
        out = decode(r.read()).rgb
    assert out.shape == decode(body).rgb.shape
    req = urllib.request.Request(server.url + "/oculi/redact", data=b"junk", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 400
    assert e.value.headers["x-amzn-ErrorType"] == "InvalidImageFormatException"


def test_video_pipeline_keeps_frames_in_order_with_their_boxes(tmp_path, analyzer) -> None:
    """Decoding, detection and encoding run in separate threads: each output frame must be
    its own input frame, covered by the boxes VideoFaces chose for that frame."""
    from oculi.service.redact import RedactOptions, VideoFaces, redact_video

    rgb = decode((FIXTURES / "obama-480p.jpg").read_bytes()).rgb
    frames = []
    for i in range(20):
        frame = np.ascontiguousarray(rgb[:, 100 + 5 * i: 740 + 5 * i][:, :, ::-1])
        frame[:40, :40] = 12 * i  # the frame's number, readable after lossy encoding
        frames.append(frame)
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for frame in frames:
        w.write(frame)
    w.release()
    opts = RedactOptions(detect_every=2)
    stats = redact_video(analyzer, None, src, dst, opts)
    cap_in, cap_out = cv2.VideoCapture(str(src)), cv2.VideoCapture(str(dst))
    decoded_in = [cap_in.read()[1] for _ in range(20)]
    numbers = np.array([float(f[5:35, 5:35].mean()) for f in decoded_in])
    faces = VideoFaces(analyzer, None, opts)
    boxes = 0
    for i, decoded in enumerate(decoded_in):
        ok, out = cap_out.read()
        assert ok
        assert np.argmin(np.abs(numbers - float(out[5:35, 5:35].mean()))) == i
        cover = faces.boxes(decoded)
        assert len(cover) == 1, i
        x1, y1, x2, y2 = cover[0].astype(int)
        centre = np.s_[(y1 + y2) // 2 - 5:(y1 + y2) // 2 + 5, (x1 + x2) // 2 - 5:(x1 + x2) // 2 + 5]
        assert np.abs(out[centre].astype(int) - decoded[centre]).mean() > 8, i  # blurred
        boxes += len(cover)
    assert not cap_out.read()[0]
    assert (stats.frames, stats.boxes_redacted) == (20, boxes)
