"""Read a video file with OpenCV's FFmpeg-backed VideoCapture: its metadata, and its frames
sampled at a set rate, one at a time (nothing but the current frame is held in memory).

Frames between samples are only grabbed (demuxed and decoded, never converted to RGB), so
sampling at 5 frames/s costs the decode of every frame plus the conversion of the few kept.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Frame:
    index: int
    timestamp_ms: int
    rgb: np.ndarray


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


def sample_frames(path: Path, info: VideoInfo, rate: float) -> Iterator[Frame]:
    """Frames `rate` times a second of video (every frame when the video has fewer, or
    `rate` is infinite), in order, as RGB; each frame's timestamp is its index over the
    frame rate."""
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
