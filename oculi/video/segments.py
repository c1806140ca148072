"""Segment detection: shots (between cuts measured as tracks.is_cut measures them, on every
frame) and black-frame runs (a technical cue), with SMPTE timecodes and frame numbers.

A shot's Confidence says how clearly the cut that starts it is a cut: 100 for the first
shot, else 50 at the cut threshold rising to 100 at no colour correlation at all. A run of
black frames' Confidence is the mean share of its frames' pixels at or under the
threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oculi.video.tracks import CUT_CORRELATION

SHOT_MODEL = "oculi-hsv-histogram-cut-1.0"
CUE_MODEL = "oculi-black-frame-1.0"
DEFAULT_MAX_PIXEL = 0.2  # BlackFrame.MaxPixelThreshold: a share of the full luma range
DEFAULT_COVERAGE = 99.0  # BlackFrame.MinCoveragePercentage


def timecode(frame: int, fps: float) -> str:
    """The SMPTE timecode of a frame number: HH:MM:SS:FF, or HH:MM:SS;FF with drop-frame
    counting at 29.97 and 59.94 frames/s."""
    nominal = max(1, round(fps))
    drop = abs(fps * 1.001 - nominal) < 0.01 and nominal in (30, 60)
    if drop:
        dropped = 2 * nominal // 30  # frame numbers skipped each minute but every tenth
        per_10min = nominal * 600 - 9 * dropped
        per_min = nominal * 60 - dropped
        tens, rest = divmod(frame, per_10min)
        frame += 9 * dropped * tens
        if rest > dropped:
            frame += dropped * ((rest - dropped) // per_min)
    ff = frame % nominal
    seconds = frame // nominal
    sep = ";" if drop else ":"
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{sep}{ff:02d}"


def black_share(rgb: np.ndarray, max_pixel: float) -> float:
    """The percentage of the frame's pixels whose luma is at most `max_pixel` of the range."""
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return float(np.mean(luma <= max_pixel * 255.0) * 100.0)


def cut_confidence(correlation: float) -> float:
    return 50.0 + 50.0 * min(1.0, max(0.0, (CUT_CORRELATION - correlation) / CUT_CORRELATION))


@dataclass
class Span:
    start: int  # first frame
    end: int  # last frame
    confidence: float


def segment(kind: str, span: Span, fps: float, detail: dict) -> dict:
    """One SegmentDetection: times from frame numbers (the end is the end of the last
    frame)."""
    start_ms = int(round(span.start * 1000 / fps))
    end_ms = int(round((span.end + 1) * 1000 / fps))
    frames = span.end - span.start + 1
    body = {
        "Type": kind,
        "StartTimestampMillis": start_ms,
        "EndTimestampMillis": end_ms,
        "DurationMillis": end_ms - start_ms,
        "StartTimecodeSMPTE": timecode(span.start, fps),
        "EndTimecodeSMPTE": timecode(span.end + 1, fps),
        "DurationSMPTE": timecode(frames, fps),
        "StartFrameNumber": span.start,
        "EndFrameNumber": span.end,
        "DurationFrames": frames,
    }
    body["ShotSegment" if kind == "SHOT" else "TechnicalCueSegment"] = detail
    return body
