"""Read a video file with OpenCV's FFmpeg-backed VideoCapture: its metadata, and its frames
sampled at a set rate, one at a time (no more than READ_AHEAD frames besides the current
one are held in memory).

Frames between samples are only grabbed (demuxed and decoded, never converted to RGB), so
sampling at 5 frames/s costs the decode of every frame plus the conversion of the few kept.
The decoding runs in a thread of its own, READ_AHEAD frames ahead of the analysis, so that
on a machine with a second core the decode overlaps the models (OpenCV and onnxruntime
release the GIL while they work).
"""

from __future__ import annotations

import queue
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

# Container names as Rekognition's VideoMetadata.Format reports them, by magic bytes.
_CONTAINERS: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftypqt", "QuickTime / MOV"),
    (4, b"ftyp", "QuickTime / MOV"),  # MP4 and MOV are one family (ISO base media)
    (0, b"\x1a\x45\xdf\xa3", "Matroska / WebM"),
    (8, b"AVI ", "AVI (Audio Video Interleaved)"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS (MPEG-2 Program Stream)"),
    (0, b"\x47", "MPEG-TS (MPEG-2 Transport Stream)"),
)
# Decoded frames waiting for the analysis, at most.
READ_AHEAD = 2
# FourCCs OpenCV reports, and the codec names Rekognition uses.
_CODECS = {"avc1": "h264", "h264": "h264", "hev1": "hevc", "hvc1": "hevc", "hevc": "hevc"}


class UnreadableVideo(Exception):
    """The file is no video that the bundled FFmpeg can decode."""


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    container: str
    fps: float
    frames: int
    width: int
    height: int

    @property
    def duration_ms(self) -> int:
        return int(round(self.frames / self.fps * 1000)) if self.fps > 0 else 0


_SHARED_LOCK = threading.Lock()
T = TypeVar("T")


@dataclass(frozen=True)
class Frame:
    index: int
    timestamp_ms: int
    rgb: np.ndarray
    # what analyses computed from this frame, to share (`once`)
    _shared: dict[tuple[str, ...], Future[Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def once(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        """`compute()` the first time `key` is asked for this frame, from any thread; its
        result (or exception) every time."""
        with _SHARED_LOCK:
            slot = self._shared.get(key)
            first = slot is None
            if slot is None:
                slot = self._shared[key] = Future()
        if first:
            try:
                slot.set_result(compute())
            except BaseException as e:
                slot.set_exception(e)
        return slot.result()


def container_of(head: bytes) -> str:
    for offset, magic, name in _CONTAINERS:
        if head[offset : offset + len(magic)] == magic:
            return name
    return "unknown"


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise UnreadableVideo("Unsupported codec/format")
    return cap


def probe(path: Path) -> VideoInfo:
    """The video's metadata; UnreadableVideo unless at least one frame decodes."""
    with open(path, "rb") as f:
        head = f.read(16)
    cap = _open(path)
    try:
        ok, _ = cap.read()
        if not ok:
            raise UnreadableVideo("Unsupported codec/format: no frame could be decoded")
        fourcc = struct.pack("<I", int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF)
        tag = fourcc.decode("latin-1").strip("\x00 ").lower()
        return VideoInfo(
            codec=_CODECS.get(tag, tag or "unknown"),
            container=container_of(head),
            fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            frames=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        cap.release()


def sample_frames(
    path: Path, info: VideoInfo, rate: float, ahead: int = READ_AHEAD
) -> Iterator[Frame]:
    """Frames `rate` times a second of video (every frame when the video has fewer, or
    `rate` is infinite), in order, as RGB; each frame's timestamp is its index over the
    frame rate. Decoded in a thread `ahead` frames ahead (`read_ahead`), or in the
    caller's thread with `ahead` 0."""
    frames = _sampled(path, info, rate)
    return read_ahead(frames, ahead) if ahead > 0 else frames


def _sampled(path: Path, info: VideoInfo, rate: float) -> Iterator[Frame]:
    fps = info.fps if info.fps > 0 else 25.0
    step_ms = 1000.0 / rate if rate > 0 else 0.0
    cap = _open(path)
    try:
        index, next_ms = 0, 0.0
        while cap.grab():
            ms = index * 1000.0 / fps
            if ms + 1e-6 >= next_ms:
                ok, bgr = cap.retrieve()
                if ok:
                    yield Frame(index, int(round(ms)), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                next_ms += step_ms
                while step_ms > 0 and next_ms <= ms:  # fewer frames than `rate`: take each
                    next_ms += step_ms
            index += 1
    finally:
        cap.release()


_END = object()


def read_ahead(items: Iterator[Frame], depth: int) -> Iterator[Frame]:
    """`items`, produced by a thread of their own at most `depth` ahead of the consumer.
    An exception in the producer is raised to the consumer; a consumer that stops early
    (closes this generator) stops the producer, which closes `items`."""
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as e:  # handed to the consumer
            put(e)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put(_END)

    worker = threading.Thread(target=produce, name="video-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
