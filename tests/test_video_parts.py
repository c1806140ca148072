"""The stored-video parts on their own: decoding and sampling, the job store, shot cuts,
person indexes, best views, label segments, the completion message."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from oculi.errors import IdempotentParameterMismatch, LimitExceeded, ResourceNotFound
from oculi.video.decode import Frame, UnreadableVideo, container_of, probe, sample_frames
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
from oculi.vision.labels import Candidates, Objects
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

    drawn = tmp_path / "drawn.mp4"
    done = oculi(str(CLIP), "--faces", "--people", "--fps", "1", "--draw", str(drawn))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["VideoMetadata"]["Codec"] == "h264"
    stamps = [f["Timestamp"] for f in answer["Faces"]]
    assert stamps == sorted(stamps) and set(stamps) <= {i * 1001 for i in range(10)}
    persons = answer["Persons"]
    assert persons and {p["Timestamp"] for p in persons} <= set(stamps)
    # the annotated copy: every frame, the source's size, person boxes drawn on the
    # analysed frames (and the one after each, a sampling step being 30 frames)
    src, out = cv2.VideoCapture(str(CLIP)), cv2.VideoCapture(str(drawn))
    assert (out.get(cv2.CAP_PROP_FRAME_WIDTH), out.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 360)
    count, changed = 0, []
    while True:
        ok, before = src.read()
        ok2, after = out.read()
        assert ok == ok2, count
        if not ok:
            break
        b, g, r = (after[..., i].astype(int) for i in range(3))
        b0, g0, r0 = (before[..., i].astype(int) for i in range(3))
        green = ((g > 150) & (b < 80) & (r < 80)).sum() - ((g0 > 150) & (b0 < 80) & (r0 < 80)).sum()
        if green > 200:
            changed.append(round(count * 1000 / 29.97))
        count += 1
    assert count == 275
    boxed = {p["Timestamp"] for p in persons}
    assert boxed <= set(changed)
    assert all(any(0 <= ts - b < 1001 for b in boxed) for ts in changed)
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


def _synthetic_video(path: Path, frames: int, size: tuple[int, int], fps: float = 10.0) -> None:
    """A grey MJPEG AVI whose frames differ (a moving bar), written with OpenCV."""
    w, h = size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert out.isOpened()
    for i in range(frames):
        bgr = np.full((h, w, 3), 128, np.uint8)
        bgr[:, (i * 7) % w] = 0
        out.write(bgr)
    out.release()


def test_frames_stream_without_piling_up(tmp_path: Path) -> None:
    """A long video's frames are decoded a few ahead and dropped once used: the frames
    alive stay at READ_AHEAD and a couple more, and the memory used does not grow with
    the length of the video."""
    import gc
    import weakref

    from oculi.video.decode import READ_AHEAD

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    video = tmp_path / "long.avi"
    _synthetic_video(video, 2000, (480, 270), fps=20.0)  # 100 s
    info = probe(video)
    alive: list[weakref.ref] = []
    most_alive, rss = 0, {}
    stream = sample_frames(video, info, math.inf)
    assert iter(stream) is stream and not isinstance(stream, list | tuple)
    for n, frame in enumerate(stream, start=1):
        alive.append(weakref.ref(frame.rgb))
        del frame
        if n % 100 == 0:
            gc.collect()
            alive = [r for r in alive if r() is not None]
            most_alive = max(most_alive, len(alive))
            rss[n] = rss_mb()
    assert n == 2000
    assert most_alive <= READ_AHEAD + 2
    # frames are 0.4 MB each: holding them all would add 700 MB; allow 30 MB of noise
    assert rss[2000] - rss[200] < 30, rss


def test_stopping_early_stops_the_decoder(tmp_path: Path) -> None:
    import threading

    video = tmp_path / "v.avi"
    _synthetic_video(video, 200, (64, 48))
    info = probe(video)
    before = threading.active_count()
    stream = sample_frames(video, info, math.inf)
    assert next(stream).index == 0 and threading.active_count() == before + 1
    stream.close()
    assert threading.active_count() == before
    assert [f.index for f in sample_frames(video, info, 5)] == list(range(0, 200, 2))
    assert [f.index for f in sample_frames(video, info, 5, ahead=0)] == list(range(0, 200, 2))


def test_draw_video_marks_the_frames_after_an_analysed_one(tmp_path: Path) -> None:
    from oculi.video.draw import PERSON, Mark, draw_video

    video, drawn = tmp_path / "v.avi", tmp_path / "drawn.mp4"
    _synthetic_video(video, 30, (160, 120))
    info = probe(video)
    box = {"Left": 0.25, "Top": 0.25, "Width": 0.5, "Height": 0.5}
    marks = {0: [Mark(box, "person 0", PERSON)], 1000: [Mark(box, "", PERSON)]}
    written = list(draw_video(video, info, marks, 200.0, drawn))  # 5 analysed frames/s
    assert written == list(range(30))
    cap = cv2.VideoCapture(str(drawn))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    assert len(frames) == 30 and frames[0].shape == (120, 160, 3)

    def green(bgr: np.ndarray) -> int:  # pixels of the box's colour
        b, g, r = (bgr[..., i].astype(int) for i in range(3))
        return int(((g > 150) & (b < 80) & (r < 80)).sum())

    # 10 frames/s: frames 0-1 follow the frame analysed at 0 ms, 10-11 the one at 1000 ms
    assert [i for i, f in enumerate(frames) if green(f) > 100] == [0, 1, 10, 11]
    with pytest.raises(ValueError, match="--draw"):
        list(draw_video(video, info, marks, 200.0, tmp_path / "drawn.gif"))


def test_fan_out_gives_every_analysis_every_frame_once_decoded(tmp_path: Path) -> None:
    from oculi.video.fanout import fan_out

    video = tmp_path / "v.avi"
    _synthetic_video(video, 60, (64, 48))
    info = probe(video)
    decoded = 0

    def counting() -> Iterator[Frame]:
        nonlocal decoded
        for frame in sample_frames(video, info, 5):
            decoded += 1
            yield frame

    seen: dict[str, list[int]] = {"a": [], "b": [], "first": []}

    def reader(name: str) -> Callable[[Iterator[Frame]], None]:
        def read(frames: Iterator[Frame]) -> None:
            for f in frames:
                seen[name].append(f.index)
                if name == "first":
                    return  # stops early: the others go on

        return read

    fan_out(counting(), [reader("a"), reader("b"), reader("first")])
    assert decoded == 30 and seen["a"] == seen["b"] == list(range(0, 60, 2))
    assert seen["first"] == [0]

    def failing(frames: Iterator[Frame]) -> None:
        next(frames)
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        fan_out(sample_frames(video, info, 5), [reader("a"), failing])


def test_a_frame_computes_what_analyses_share_once() -> None:
    import threading

    frame = Frame(0, 0, np.zeros((4, 4, 3), np.uint8))
    calls = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    got: list[int] = []
    readers = [
        threading.Thread(target=lambda: got.append(frame.once(("faces",), slow))) for _ in range(3)
    ]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert got == [42, 42, 42] and len(calls) == 1
    assert frame.once(("other",), lambda: 7) == 7


class _Views:
    """A person detector's views that find nothing and note which ran."""

    names = ("???", "Person")

    def __init__(self) -> None:
        self.ran: list[int] = []

    def view(self, rgb: np.ndarray, k: int, score_floor: float = 0.05) -> Candidates:
        self.ran.append(k)
        empty = np.zeros((0,), np.float32)
        return Candidates(np.zeros((0, 4), np.float32), empty, empty.astype(np.int64))

    def fused(self, views: list[Candidates]) -> Objects:
        empty = np.zeros((0,), np.float32)
        return Objects(np.zeros((0, 4), np.float32), empty, empty.astype(np.int64), self.names)


def test_person_tiles_run_on_key_frames_and_where_tracks_are() -> None:
    from oculi.video.persons import PersonFinder, face_region, tile_for, tiles_needed
    from oculi.vision.labels import tiles

    grid = tiles(1000, 1000)  # whole, then crops at 0/400 px, 600 px a side
    small_top_left = np.float32([100, 100, 150, 200])
    small_bottom_right = np.float32([850, 800, 900, 900])
    large = np.float32([100, 100, 900, 900])
    assert tile_for(small_top_left, grid) == 1 and tile_for(large, grid) == 0
    assert grid[tile_for(small_bottom_right, grid)] == (400, 400, 1000, 1000)
    assert tiles_needed(np.stack([small_top_left, large, small_top_left]), grid) == [1]

    views = _Views()
    # every view every 5 analysed frames; no motion gating (the frames are all the same)
    finder = PersonFinder(views, rate=5.0, key_s=1.0, gate=False)
    rgb = np.zeros((1000, 1000, 3), np.uint8)
    expected = small_top_left[None]
    for i in range(11):
        views.ran.clear()
        finder(rgb, expected, cut=i == 7)
        if i in (0, 5, 7):  # first, key, shot cut
            assert views.ran == [0, 1, 2, 3, 4], i
        else:
            assert views.ran == [0, 1], i  # the whole frame and the track's tile
    assert finder.views_run == 3 * 5 + 8 * 2
    views.ran.clear()
    finder(rgb, np.zeros((0, 4), np.float32), cut=False)
    assert views.ran == [0]

    # with motion gating, still frames between key frames run nothing and give the last
    # frame's persons again; a frame where something moved is looked at
    views = _Views()
    gated = PersonFinder(views, rate=5.0, key_s=1.0)
    fresh = []
    for i in range(8):
        moving = rgb.copy()
        if i == 7:
            moving[300:400, 300:400] = 255
        views.ran.clear()
        boxes, _ = gated(moving, np.zeros((0, 4), np.float32), cut=False)
        fresh.append((gated.fresh, list(views.ran)))
        assert boxes.shape == (0, 4)
    assert [f for f, _ in fresh] == [True, False, False, False, False, True, False, True]
    assert fresh[5][1] == [0, 1, 2, 3, 4] and fresh[7][1] == [0] and fresh[6][1] == []

    # faces: the persons' upper halves widened by a quarter of their height, in the frame
    persons = np.float32([[100, 100, 200, 500], [600, 50, 700, 250]])
    assert face_region(persons, 1000, 1000) == (0, 0, 750, 400)


def test_marks_name_only_the_matched_face_tracks() -> None:
    from oculi.video.draw import FACE, MATCH, PERSON, marks_of

    box = {"Left": 0.1, "Top": 0.1, "Width": 0.2, "Height": 0.3}
    face = {"BoundingBox": box, "Confidence": 99.9}
    matched = {
        "Timestamp": 400,
        "Person": {"Index": 3, "Face": face},
        "FaceMatches": [{"Similarity": 99.5, "Face": {"FaceId": "f1", "ExternalImageId": "lin"}}],
    }
    unmatched = {"Timestamp": 400, "Person": {"Index": 4, "Face": face}, "FaceMatches": []}
    marks = list(marks_of("FaceSearch", [matched, unmatched]))
    assert [(ts, m.text, m.colour) for ts, m in marks] == [(400, "3: lin", MATCH), (400, "", FACE)]
    person = {"Timestamp": 0, "Person": {"Index": 0, "BoundingBox": box, "Face": face}}
    assert [(m.text, m.colour) for _, m in marks_of("Persons", [person])] == [
        ("person 0", PERSON),
        ("", FACE),
    ]
    assert list(marks_of("ModerationLabels", [{"Timestamp": 0}])) == []
