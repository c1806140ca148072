"""An annotated copy of a video (`oculi video analyze --draw out.mp4`): every frame of the
source, with the boxes of the analysed frame it follows drawn on it (persons with their
Person.Index, faces, the names of face-search matches, labels' instances, text lines).

The marks of an analysed frame stay on the frames after it until the next analysed frame,
for at most one sampling step; frames are decoded, drawn and written one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from oculi.video.decode import UnreadableVideo, VideoInfo

# BGR colours
PERSON, FACE, MATCH, LABEL, TEXT = (
    (0, 200, 0),
    (0, 220, 255),
    (0, 0, 255),
    (255, 140, 0),
    (255, 0, 255),
)
# Container extension -> the FourCC of an encoder the bundled FFmpeg has (LGPL, no x264).
FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


@dataclass(frozen=True)
class Mark:
    box: dict[str, float]  # Rekognition's BoundingBox: Left, Top, Width, Height (ratios)
    text: str
    colour: tuple[int, int, int]


def _face_name(match: dict[str, Any]) -> str:
    face = match.get("Face", {})
    return str(face.get("ExternalImageId") or face.get("FaceId", "?"))


def marks_of(field: str, items: Iterable[dict[str, Any]]) -> Iterator[tuple[int, Mark]]:
    """(Timestamp, Mark) for each box in the items of a Get* answer's `field` (Persons,
    Faces, FaceSearch, Labels, TextDetections); other fields have no boxes."""
    for item in items:
        ts = int(item["Timestamp"])
        if field == "Persons":
            person = item["Person"]
            if "BoundingBox" in person:
                yield ts, Mark(person["BoundingBox"], f"person {person['Index']}", PERSON)
            if "Face" in person:
                yield ts, Mark(person["Face"]["BoundingBox"], "", FACE)
        elif field == "Faces":
            yield ts, Mark(item["Face"]["BoundingBox"], "", FACE)
        elif field == "FaceSearch":
            person, matches = item["Person"], item.get("FaceMatches") or []
            if "Face" in person:
                name = f"{person['Index']}: {_face_name(matches[0])}" if matches else ""
                colour = MATCH if matches else FACE
                yield ts, Mark(person["Face"]["BoundingBox"], name, colour)
        elif field == "Labels":
            label = item["Label"]
            for instance in label.get("Instances", []):
                yield ts, Mark(instance["BoundingBox"], label["Name"], LABEL)
        elif field == "TextDetections":
            text = item["TextDetection"]
            if text.get("Type") == "LINE":
                yield ts, Mark(text["Geometry"]["BoundingBox"], text["DetectedText"], TEXT)


def paint(bgr: np.ndarray, marks: Iterable[Mark]) -> None:
    """Draw `marks` on the frame, in place."""
    h, w = bgr.shape[:2]
    thick = max(1, round(min(w, h) / 360))
    scale = max(0.4, min(w, h) / 720)
    for m in marks:
        b = m.box
        x0, y0 = round(b["Left"] * w), round(b["Top"] * h)
        x1, y1 = round((b["Left"] + b["Width"]) * w), round((b["Top"] + b["Height"]) * h)
        cv2.rectangle(bgr, (x0, y0), (x1, y1), m.colour, thick)
        if m.text:
            (tw, th), base = cv2.getTextSize(m.text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            top = max(0, y0 - th - base - 2)
            cv2.rectangle(bgr, (x0, top), (x0 + tw + 2, top + th + base + 2), m.colour, -1)
            cv2.putText(
                bgr,
                m.text,
                (x0 + 1, top + th + 1),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (255, 255, 255),
                thick,
                cv2.LINE_AA,
            )


def draw_video(
    src: Path, info: VideoInfo, marks: dict[int, list[Mark]], step_ms: float, dest: Path
) -> Iterator[int]:
    """Write `src` to `dest` (its container by extension: FOURCC) with `marks` (by
    analysed Timestamp) drawn, at the source's size and frame rate; yields each frame's
    index as it is written."""
    fourcc = FOURCC.get(dest.suffix.lower())
    if fourcc is None:
        raise ValueError(f"--draw: write .mp4, .mov, .mkv or .avi, not {dest.name}")
    fps = info.fps if info.fps > 0 else 25.0
    cap = cv2.VideoCapture(str(src), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise UnreadableVideo("Unsupported codec/format")
    out = cv2.VideoWriter(
        str(dest), cv2.VideoWriter_fourcc(*fourcc), fps, (info.width, info.height)
    )
    stamps = sorted(marks)
    try:
        if not out.isOpened():
            raise OSError(f"cannot write {dest}")
        index, at = 0, -1  # `at`: the latest analysed timestamp with marks, into stamps
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            ms = index * 1000.0 / fps
            while at + 1 < len(stamps) and stamps[at + 1] <= ms + 0.5:
                at += 1
            if at >= 0 and ms - stamps[at] < step_ms - 0.5:
                paint(bgr, marks[stamps[at]])
            out.write(bgr)
            yield index
            index += 1
    finally:
        out.release()
        cap.release()
