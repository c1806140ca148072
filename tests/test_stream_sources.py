"""Live sources (oculi/streams/sources.py) against real streams on loopback: a GStreamer RTSP
server (H.264 and H.265, with Basic credentials), an HTTP MJPEG camera and an HLS playlist, all
fed from the real clip in tests/fixtures/video; each camera is dropped mid-stream and brought
back, and the reader must say RECONNECTING, then RUNNING, and deliver frames again. No
credential may show in a status, a log line, an exception or FFmpeg's own output."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from oculi.streams import (
    LiveFrame,
    SourceStats,
    UnsupportedSource,
    check_source_url,
    open_source,
    redact_url,
)
from oculi.video.decode import probe, sample_frames
from tests.conftest import free_port
from tests.stream_servers import (
    CLIP,
    HlsServer,
    MjpegServer,
    RtspServer,
    h265_copy,
    have_ffmpeg,
    have_rtsp_server,
    require,
)

SECRET = "s3cr3t-Pa55"
USER = "camuser"


def _thumb(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (64, 36), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def clip_thumbs() -> np.ndarray:
    """Every frame of the clip, small and grey, to tell its frames from anything else."""
    cap = cv2.VideoCapture(str(CLIP))
    thumbs = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        thumbs.append(_thumb(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    cap.release()
    return np.stack(thumbs).astype(np.float32)


def assert_clip_frame(frame: LiveFrame, thumbs: np.ndarray) -> None:
    """The frame is one of the clip's (after a lossy trip through the stream), not another
    picture: its nearest clip frame is close, and much closer than a flat grey picture is."""
    assert frame.rgb.shape == (360, 640, 3) and frame.rgb.dtype == np.uint8
    diff = np.abs(thumbs - _thumb(frame.rgb).astype(np.float32)).mean(axis=(1, 2))
    grey = np.abs(thumbs - 128.0).mean(axis=(1, 2)).min()
    assert diff.min() < 8.0 and diff.min() < grey / 4


class Reader:
    """open_source run in a thread, as a stream processor runs it: frames and statuses kept."""

    def __init__(self, url: str, *, rate: float = 5.0, file_dir: Path | None = None) -> None:
        self.stop = threading.Event()
        self.stats = SourceStats()
        self.frames: list[LiveFrame] = []
        self.statuses: list[tuple[str, str]] = []
        self.error: BaseException | None = None
        self.frames_iter = open_source(
            url,
            rate=rate,
            stop=self.stop,
            file_dir=file_dir,
            on_status=lambda state, msg: self.statuses.append((state, msg)),
            stats=self.stats,
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for frame in self.frames_iter:
                self.frames.append(frame)
        except BaseException as e:  # seen by the test
            self.error = e

    def states(self) -> list[str]:
        return [s for s, _ in self.statuses]

    def wait(self, what: str, cond: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout  # a guard against hanging, not a timing check
        while not cond():
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError(f"waited for {what}: {self.statuses} {self.stats}")
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the source did not end when stop was set"
        assert self.error is None, self.error


def check_drop_and_return(reader: Reader, drop: Callable[[], None], back: Callable[[], None]):
    """Frames flow; the camera drops: RECONNECTING; it returns: RUNNING and frames again."""
    reader.wait("frames", lambda: len(reader.frames) >= 3)
    assert reader.states()[0] == "RUNNING"
    drop()
    reader.wait("RECONNECTING", lambda: "RECONNECTING" in reader.states())
    before = len(reader.frames)
    back()
    reader.wait("RUNNING again", lambda: reader.states().count("RUNNING") >= 2)
    reader.wait("frames again", lambda: len(reader.frames) >= before + 3)
    first = reader.states().index("RECONNECTING")
    assert "RUNNING" in reader.states()[first:]
    assert reader.stats.reconnects >= 1
    positions = [f.position_ms for f in reader.frames]
    assert positions == sorted(positions)  # one clock across connections


def assert_no_secret(reader: Reader, caplog: pytest.LogCaptureFixture, capfd) -> None:
    out, err = capfd.readouterr()
    seen = [msg for _, msg in reader.statuses] + [caplog.text, out, err, repr(reader.error)]
    assert reader.statuses
    for text in seen:
        assert SECRET not in text and USER not in text


# --- URLs ----------------------------------------------------------------------------------


def test_check_source_url_accepts_cameras_and_files_under_the_folder(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(CLIP.read_bytes())
    for url in (
        "rtsp://192.168.1.20:554/Streaming/Channels/101",
        f"rtsp://{USER}:{SECRET}@cam.local/stream1",
        "rtsps://cam.example/live",
        "http://127.0.0.1:8080/video.mjpg",
        "https://cdn.example/live/index.m3u8",
        f"file://{tmp_path}/clip.mp4",
    ):
        check_source_url(url, file_dir=tmp_path)


def test_check_source_url_refuses_with_safe_messages(tmp_path: Path) -> None:
    inside = tmp_path / "streams"
    inside.mkdir()
    (tmp_path / "outside.mp4").write_bytes(CLIP.read_bytes())
    (inside / "link.mp4").symlink_to(tmp_path / "outside.mp4")
    (inside / "sub").mkdir()
    refused = [
        f"file://{tmp_path}/outside.mp4",  # outside the folder
        f"file://{inside}/../outside.mp4",  # .. out of it
        f"file://{inside}/link.mp4",  # a symlink out of it
        f"file://{inside}/sub",  # a folder
        f"file://{inside}/missing.mp4",
        "file://otherhost/clip.mp4",
        "file:clip.mp4",
        "ftp://cam/x",
        "kinesis://x",
        "rtsp:///nohost",
        f"rtsp://{USER}:{SECRET}@cam:99999/x",  # bad port
        f"rtsp://{USER}:{SECRET}@cam/x y",  # a space
        "rtsp://cam/x\n",
        "",
        "rtsp://cam/" + "x" * 3000,
    ]
    for url in refused:
        with pytest.raises(UnsupportedSource) as e:
            check_source_url(url, file_dir=inside)
        assert SECRET not in str(e.value) and USER not in str(e.value)
    with pytest.raises(UnsupportedSource, match="not enabled"):
        check_source_url(f"file://{tmp_path}/outside.mp4", file_dir=None)


def test_redact_url() -> None:
    assert redact_url(f"rtsp://{USER}:{SECRET}@10.0.0.5:554/live?channel=1") == (
        "rtsp://***@10.0.0.5:554/live?channel=1"
    )
    assert redact_url(f"rtsp://{USER}@cam/x") == "rtsp://***@cam/x"
    shown = redact_url(f"http://cam/cgi-bin/mjpg?user={USER}&password={SECRET}&token=abc&res=hd")
    assert SECRET not in shown and "abc" not in shown and "res=hd" in shown
    assert redact_url("http://cam:8080/video.mjpg") == "http://cam:8080/video.mjpg"
    assert redact_url("http://[::1/x") == "<unparsable URL>"


# --- file:// ------------------------------------------------------------------------------


def _short_clip(folder: Path, frames: int) -> Path:
    """The clip's first `frames` frames, written again with OpenCV (MPEG-4 Part 2 in MP4)."""
    path = folder / "short.mp4"
    cap = cv2.VideoCapture(str(CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 360))
    for _ in range(frames):
        out.write(cap.read()[1])
    out.release()
    cap.release()
    return path


def test_file_source_plays_in_real_time_and_ends(tmp_path: Path, clip_thumbs) -> None:
    path = _short_clip(tmp_path, 45)  # 1.5 s
    statuses: list[tuple[str, str]] = []
    stats = SourceStats()
    opened_ms = time.time() * 1000
    frames = list(
        open_source(
            path.as_uri(),
            rate=5,
            stop=threading.Event(),
            file_dir=tmp_path,
            on_status=lambda s, m: statuses.append((s, m)),
            stats=stats,
        )
    )
    assert statuses == [("RUNNING", "")]
    assert stats.frames_read == 45
    # the frames stored-video analysis samples at the same rate, at the same positions
    stored = [f.timestamp_ms for f in sample_frames(path, probe(path), 5)]
    positions = [f.position_ms for f in frames]
    assert len(stored) == 8 and stored[0] == 0
    assert set(positions) <= set(stored)
    assert stats.frames_delivered == len(frames)
    assert len(frames) + stats.frames_dropped == len(stored)  # none missing, none twice
    # played at its own rate: no frame came sooner than its time in the file
    assert frames[-1].received_ms >= opened_ms + positions[-1] - 5
    for frame in frames:
        assert_clip_frame(frame, clip_thumbs)


def test_slow_consumer_gets_the_newest_frame_and_drops_are_counted(tmp_path: Path) -> None:
    stats = SourceStats()
    stop = threading.Event()
    frames = []
    for frame in open_source(
        CLIP.as_uri(),
        rate=30,
        stop=stop,
        file_dir=CLIP.parent,
        on_status=lambda s, m: None,
        stats=stats,
    ):
        frames.append(frame)
        if len(frames) == 6:
            stop.set()
        time.sleep(0.3)  # a consumer 10 times slower than the rate asked
    assert len(frames) == 6
    # no backlog: each frame taken is the newest, about 300 ms of video after the last
    # (a queue would hand out one frame after another, 33 ms apart)
    gaps = np.diff([f.position_ms for f in frames[1:]])
    assert gaps.mean() >= 150, gaps
    assert stats.frames_dropped >= 20
    assert stats.frames_delivered == 6


def test_unreadable_file_fails_and_stop_ends_a_dead_camera(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 4096)
    statuses: list[tuple[str, str]] = []
    frames = list(
        open_source(
            (tmp_path / "junk.mp4").as_uri(),
            rate=5,
            stop=threading.Event(),
            file_dir=tmp_path,
            on_status=lambda s, m: statuses.append((s, m)),
        )
    )
    assert frames == [] and statuses[-1][0] == "FAILED"
    # nothing listens on the port: retried with back-off until stopped
    reader = Reader(f"rtsp://{USER}:{SECRET}@127.0.0.1:{free_port()}/cam")
    reader.wait("two retries", lambda: reader.states().count("RECONNECTING") >= 2)
    reader.close()
    assert reader.frames == [] and "RUNNING" not in reader.states()
    assert (
        "reconnecting in 0.5 s" in reader.statuses[0][1]
        and "reconnecting in 1 s" in reader.statuses[1][1]
    )
    assert all(SECRET not in m for _, m in reader.statuses)


def test_open_source_refuses_before_reading(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedSource):
        open_source(
            "file:///etc/passwd", rate=5, stop=threading.Event(), file_dir=tmp_path, on_status=print
        )
    with pytest.raises(ValueError):
        open_source(
            CLIP.as_uri(), rate=0, stop=threading.Event(), file_dir=CLIP.parent, on_status=print
        )


# --- RTSP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rtsp(tmp_path_factory: pytest.TempPathFactory):
    require(have_rtsp_server(), "GStreamer's RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0)")
    require(have_ffmpeg(), "ffmpeg")
    h265 = h265_copy(tmp_path_factory.mktemp("h265"))
    server = RtspServer({"h264": (CLIP, "h264"), "h265": (h265, "h265")}, USER, SECRET)
    server.start()
    yield server
    server.kill()


def test_rtsp_h264_with_credentials_drops_and_reconnects(
    rtsp: RtspServer, clip_thumbs, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    caplog.set_level(logging.DEBUG)
    reader = Reader(rtsp.url("h264"))
    try:
        check_drop_and_return(reader, rtsp.kill, rtsp.start)
    finally:
        reader.close()
    for frame in reader.frames:
        assert_clip_frame(frame, clip_thumbs)
    assert any("RECONNECTING" == s and "***@127.0.0.1" in m for s, m in reader.statuses)
    assert_no_secret(reader, caplog, capfd)


def test_rtsp_camera_that_hangs_is_reopened(rtsp: RtspServer) -> None:
    """A camera that keeps its connection open and sends nothing: the read times out (no
    hang), the reader reconnects, and goes on when the camera does."""
    reader = Reader(rtsp.url("h264"))
    try:
        check_drop_and_return(reader, rtsp.freeze, rtsp.thaw)
    finally:
        reader.close()
        rtsp.thaw()


def test_rtsp_h265(rtsp: RtspServer, clip_thumbs) -> None:
    reader = Reader(rtsp.url("h265"), rate=10)
    try:
        reader.wait("frames", lambda: len(reader.frames) >= 5)
    finally:
        reader.close()
    for frame in reader.frames:
        assert_clip_frame(frame, clip_thumbs)


def test_rtsp_wrong_password_retries_without_showing_it(
    rtsp: RtspServer, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    caplog.set_level(logging.DEBUG)
    reader = Reader(rtsp.url("h264", password=SECRET + "x"))
    try:
        reader.wait("RECONNECTING", lambda: "RECONNECTING" in reader.states())
    finally:
        reader.close()
    assert reader.frames == []
    assert_no_secret(reader, caplog, capfd)


# --- HTTP MJPEG and HLS -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sized,digest",
    [(True, False), (False, False), (True, True)],
    ids=["content-length", "boundary-only", "digest"],
)
def test_mjpeg_with_credentials_drops_and_reconnects(
    sized: bool, digest: bool, clip_thumbs, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    caplog.set_level(logging.DEBUG)
    camera = MjpegServer(user=USER, password=SECRET, sized=sized, digest=digest)
    camera.start()
    reader = Reader(camera.url())
    try:
        check_drop_and_return(reader, camera.stop, camera.start)
    finally:
        reader.close()
        camera.stop()
    for frame in reader.frames:
        assert_clip_frame(frame, clip_thumbs)
    assert_no_secret(reader, caplog, capfd)


@pytest.mark.parametrize("digest", [False, True], ids=["basic", "digest"])
def test_mjpeg_wrong_password_is_retried(
    digest: bool, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    camera = MjpegServer(user=USER, password=SECRET, digest=digest)
    camera.start()
    reader = Reader(camera.url(password="nope"))
    try:
        reader.wait("RECONNECTING", lambda: "RECONNECTING" in reader.states())
    finally:
        reader.close()
        camera.stop()
    assert reader.frames == [] and "401" in reader.statuses[0][1]
    assert_no_secret(reader, caplog, capfd)


def test_mjpeg_parts_that_are_no_pictures_are_a_failed_connection() -> None:
    camera = MjpegServer()
    camera.jpegs = [b"not a JPEG picture"] * len(camera.jpegs)
    camera.start()
    reader = Reader(camera.url())
    try:
        reader.wait("RECONNECTING", lambda: "RECONNECTING" in reader.states())
    finally:
        reader.close()
        camera.stop()
    assert reader.frames == [] and "no frame could be read" in reader.statuses[0][1]


def test_mjpeg_boundary_declared_with_dashes(clip_thumbs) -> None:
    camera = MjpegServer(sized=False)
    camera.dashed = True
    camera.start()
    reader = Reader(camera.url())
    try:
        reader.wait("frames", lambda: len(reader.frames) >= 3)
    finally:
        reader.close()
        camera.stop()
    for frame in reader.frames:
        assert_clip_frame(frame, clip_thumbs)


def test_hls(tmp_path: Path, clip_thumbs) -> None:
    require(have_ffmpeg(), "ffmpeg")
    hls = HlsServer(tmp_path)
    reader = Reader(hls.url)
    try:
        reader.wait("frames", lambda: len(reader.frames) >= 5)
    finally:
        reader.close()
        hls.stop()
    assert reader.states()[0] == "RUNNING"
    for frame in reader.frames:
        assert_clip_frame(frame, clip_thumbs)
