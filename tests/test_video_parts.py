"""The stored-video parts on their own: decoding and sampling, the job store, shot cuts,
person indexes, best views, label segments, the completion message."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from oculi.errors import IdempotentParameterMismatch, LimitExceeded, ResourceNotFound
from oculi.video.decode import UnreadableVideo, container_of, probe, sample_frames
from oculi.video.notify import completion_message
from oculi.video.store import FAILED, IN_PROGRESS, SUCCEEDED, JobStore, Row
from oculi.video.tracks import (
    BestViews,
    Indexes,
    Segments,
    View,
    face_in_person,
    is_cut,
    shot_signature,
)
from tests.conftest import FIXTURES

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"


def test_probe_and_sampling() -> None:
    info = probe(CLIP)
    assert (info.codec, info.container, info.width, info.height) == (
        "h264",
        "QuickTime / MOV",
        640,
        360,
    )
    assert info.frames == 275 and info.duration_ms == 9176
    frames = list(sample_frames(CLIP, info, 5))
    stamps = [f.timestamp_ms for f in frames]
    assert stamps[0] == 0 and len(frames) == 46
    assert all(180 <= b - a <= 220 for a, b in zip(stamps, stamps[1:]))
    assert frames[0].rgb.shape == (360, 640, 3)
    every = [f.index for f in sample_frames(CLIP, info, 100)]  # above the frame rate
    assert every == list(range(275))


def test_unreadable_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" * 64)
    with pytest.raises(UnreadableVideo, match="Unsupported codec/format"):
        probe(junk)


def test_container_names() -> None:
    assert container_of(b"\x00\x00\x00\x18ftypisom") == "QuickTime / MOV"
    assert container_of(b"RIFF\x00\x00\x00\x00AVI LIST") == "AVI (Audio Video Interleaved)"
    assert container_of(b"\x1a\x45\xdf\xa3\x01") == "Matroska / WebM"
    assert container_of(b"hello") == "unknown"


def test_job_store(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    store = JobStore(db)
    job, new = store.create("FaceDetection", {"Video": {}}, "t1", "fp1", limit=2)
    assert new and len(job) == 64
    assert store.create("FaceDetection", {"Video": {}}, "t1", "fp1", limit=2) == (job, False)
    assert store.find("FaceDetection", "t1", "fp1") == job
    assert store.find("PersonTracking", "t1", "fp1") is None  # tokens are per operation
    with pytest.raises(IdempotentParameterMismatch):
        store.find("FaceDetection", "t1", "fp2")
    with pytest.raises(IdempotentParameterMismatch):
        store.create("FaceDetection", {}, "t1", "fp2", limit=2)
    other, _ = store.create("PersonTracking", {"Video": {}}, None, "fp", limit=2)
    with pytest.raises(LimitExceeded):
        store.create("FaceDetection", {}, None, "fp3", limit=2)
    rows = [Row(ts, idx, "", {"i": n}) for n, (ts, idx) in enumerate([(0, 1), (0, 0), (200, 0)])]
    run = store.claim(other)
    assert run == 1
    assert store.add(other, run, "T", 0, rows) == 3
    store.set_matches(other, run, {0: [{"Similarity": 99.0}]}, {0: "someone"})
    assert store.finish(other, run, SUCCEEDED) and not store.finish(other, run, FAILED)
    by_time = [r.body["i"] for r, _ in store.page(other, "T", "TIMESTAMP", 0, 10)]
    by_index = [r.body["i"] for r, _ in store.page(other, "T", "INDEX", 0, 10)]
    assert by_time == [1, 0, 2] and by_index == [1, 2, 0]
    matched = store.page(other, "T", "TIMESTAMP", 0, 10, matched=True)
    assert [(r.idx, m) for r, m in matched] == [(0, [{"Similarity": 99.0}])] * 2
    assert [r.body["i"] for r, _ in store.page(other, "T", "TIMESTAMP", 1, 1)] == [0]
    store.close()
    reopened = JobStore(db)  # a restart: the job in progress is still in progress
    assert reopened.in_progress() == [job]
    assert reopened.get(job, "FaceDetection").status == IN_PROGRESS
    assert reopened.get(other, "PersonTracking").status == SUCCEEDED
    assert reopened.claim(job) == 1 and reopened.finish(job, 1, FAILED, "x")
    with pytest.raises(ResourceNotFound):
        reopened.get(job, "PersonTracking")
    assert reopened.expire(time.time() - 3600) == 0
    assert reopened.expire(time.time() + 1) == 2
    with pytest.raises(ResourceNotFound):
        reopened.get(other, "PersonTracking")
    assert reopened.page(other, "T", "TIMESTAMP", 0, 10) == []


def test_shot_cuts() -> None:
    cap = cv2.VideoCapture(str(CLIP))
    frames = {}
    for i in range(240):
        ok, bgr = cap.read()
        if i in (0, 15, 40, 100, 230):
            frames[i] = shot_signature(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert not is_cut(None, frames[0])
    assert not is_cut(frames[0], frames[15])  # the same shot, half a second on
    assert is_cut(frames[15], frames[40])  # performer -> pianist close up
    assert is_cut(frames[100], frames[230])  # stage -> audience


def test_indexes_and_faces_in_persons() -> None:
    index = Indexes()
    assert [index(7), index(3), index(7), index(9)] == [0, 1, 0, 2] and len(index) == 3
    person = np.float32([100, 100, 200, 400])
    faces = np.float32([[120, 110, 150, 150], [130, 120, 180, 180], [120, 300, 150, 340]])
    assert face_in_person(person, faces) == 1  # the largest in the upper half
    assert face_in_person(person, faces[2:]) == -1  # low in the box: not its face
    assert face_in_person(person, np.zeros((0, 4), np.float32)) == -1


def test_best_views_keep_the_best() -> None:
    best = BestViews(keep=2)
    crop, kp = np.zeros((4, 4, 3), np.uint8), np.zeros((5, 2), np.float32)
    for q in (0.2, 0.9, 0.5, 0.1):
        if best.worth(0, q):
            best.offer(0, View(q, crop, kp))
    assert [v.quality for v in best.pop(0)] == [0.9, 0.5]
    assert best.pop(0) == []


def test_label_segments() -> None:
    seg = Segments(gap_ms=400)
    label = {"Name": "Person", "Confidence": 80.0}
    assert seg.see(0, label) == [] and seg.see(200, {**label, "Confidence": 90.0}) == []
    assert seg.close_before(400) == []
    (closed,) = seg.close_before(1000)
    assert (closed.start, closed.last, closed.label["Confidence"]) == (0, 200, 90.0)
    seg.see(1000, label)
    (again,) = seg.see(2000, label)  # seen again after the gap: a new segment
    assert (again.start, again.last) == (1000, 1000)
    assert [(s.start, s.last) for s in seg.close_all()] == [(2000, 2000)]


def test_completion_message() -> None:
    params = {"Video": {"S3Object": {"Bucket": "b", "Name": "v.mp4"}}, "JobTag": "t"}
    assert completion_message("LabelDetection", "j", SUCCEEDED, params, 5) == {
        "JobId": "j",
        "Status": "SUCCEEDED",
        "API": "StartLabelDetection",
        "JobTag": "t",
        "Timestamp": 5,
        "Video": {"S3ObjectName": "v.mp4", "S3Bucket": "b"},
    }


def test_two_stage_tracker() -> None:
    from oculi.video.tracker import TwoStageTracker

    tracker = TwoStageTracker(high=0.6, low=0.1, iou_high=0.1, iou_low=0.3, max_missed=2)
    box = np.float32([[100, 100, 150, 250]])
    (first,) = tracker.update(box, [0.9])
    assert not first.confirmed  # one detection: no index yet
    (again,) = tracker.update(box + 5, [0.9])
    assert again.track_id == first.track_id and again.confirmed
    # unsure for a frame: the weak detection continues the track, but starts none
    (weak,) = tracker.update(box + 10, [0.2])
    assert weak.track_id == first.track_id
    assert tracker.update(np.float32([[400, 100, 450, 250]]), [0.2]) == []
    # lost for two frames and found again where it was heading: the same track
    (back,) = tracker.update(box + 25, [0.9])
    assert back.track_id == first.track_id
    # a lone false detection is dropped when it is not seen again
    tracker.update(np.concatenate([box + 30, [[400, 100, 450, 250]]]), [0.9, 0.9])
    assert [t.track_id for t in tracker.update(box + 35, [0.9])] == [first.track_id]
    assert len(tracker.tracks) == 1
    tracker.reset()  # a shot cut: the same place is a new track
    (new,) = tracker.update(box + 35, [0.9])
    assert new.track_id != first.track_id


def test_held_rows_come_back_with_their_track() -> None:
    from oculi.video.analyses import Held
    from oculi.video.tracker import Tracklet

    held = Held()
    box = np.zeros(4, np.float32)
    t = Tracklet(1, box, box)
    assert held([t], 0, {1: {"at": 0}}) == []
    t.hits = 2
    assert held([t], 200, {1: {"at": 200}}) == [(t, 0, {"at": 0}), (t, 200, {"at": 200})]
    lone = Tracklet(2, box, box)
    held([lone], 400, {2: {"at": 400}})
    assert held([], 600, {}) == [] and held.rows == {}


def test_cli_video_analyze(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import clean_env

    def oculi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "oculi", "video", "analyze", *args],
            capture_output=True,
            text=True,
            env=clean_env(XDG_CONFIG_HOME=str(tmp_path / "config")),
            timeout=600,
        )

    done = oculi(str(CLIP), "--faces", "--fps", "1")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["VideoMetadata"]["Codec"] == "h264"
    stamps = [f["Timestamp"] for f in answer["Faces"]]
    assert stamps == sorted(stamps) and set(stamps) <= {i * 1001 for i in range(10)}
    assert oculi(str(CLIP)).returncode == 2  # nothing asked for
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    failed = oculi(str(junk), "--faces")
    assert failed.returncode == 1 and "Unsupported codec/format" in failed.stderr
    missing = oculi(str(CLIP), "--collection", "nobody", "--data-dir", str(tmp_path / "d"))
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr


def test_smpte_timecodes() -> None:
    from oculi.video.segments import timecode

    assert timecode(250, 25) == "00:00:10:00" and timecode(90_000, 25) == "01:00:00:00"
    # 29.97 frames/s counts drop-frame: frame numbers 00 and 01 are skipped each minute
    # but every tenth
    assert timecode(1799, 29.97) == "00:00:59;29"
    assert timecode(1800, 29.97) == "00:01:00;02"
    assert timecode(17_982, 29.97) == "00:10:00;00"
    assert timecode(30, 30.0) == "00:00:01:00"
