"""Rekognition's stream-processor output formats, built from what a frame showed.

FaceSearch: the Kinesis Data Streams frame record (InputInformation.KinesisVideo,
StreamProcessorInformation.Status, FaceSearchResponse). ConnectedHome: the SNS messages
(eventNamespace LABEL_DETECTED with its labels, STREAM_PROCESSING_COMPLETE with the
session's processed duration). oculi has no Kinesis video fragments: FragmentNumber counts
the session's analysed frames, ProducerTimestamp is the session's start plus the frame's
position in the stream, ServerTimestamp is when oculi received the frame, and the frame's
offset is its position since the session began.
"""

from __future__ import annotations

import uuid
from typing import Any

from oculi.streams.analysis import Sighting
from oculi.streams.sources import LiveFrame


def face_record(
    stream: str, frame: LiveFrame, seq: int, started_ms: int, faces: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "InputInformation": {
            "KinesisVideo": {
                "StreamArn": stream,
                "FragmentNumber": str(seq),
                "ProducerTimestamp": (started_ms + frame.position_ms) / 1000,
                "ServerTimestamp": frame.received_ms / 1000,
                "FrameOffsetInSeconds": frame.position_ms / 1000,
            }
        },
        "StreamProcessorInformation": {"Status": "RUNNING"},
        "FaceSearchResponse": faces,
    }


def _common(kind: str, session: dict[str, Any], name: str, tags: dict[str, str]) -> dict[str, Any]:
    start = {"Name": name}
    for key in ("StartSelector", "StopSelector"):
        if key in session:
            start[key] = session[key]
    return {
        "eventNamespace": {"type": kind},
        "eventId": str(uuid.uuid4()),
        "tags": tags,
        "sessionId": session["SessionId"],
        "startStreamProcessorRequest": start,
    }


def label_message(
    stream: str,
    sightings: list[Sighting],
    frame: LiveFrame,
    seq: int,
    started_ms: int,
    session: dict[str, Any],
    name: str,
    tags: dict[str, str],
    images: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """LABEL_DETECTED for the labels first seen in this frame; `images` gives each label's
    frameImageUri and croppedImageUri where their images were kept."""
    labels = []
    for s in sightings:
        label: dict[str, Any] = {"id": str(uuid.uuid4()), "name": s.label}
        label.update((images or {}).get(s.label, {}))
        label["videoMapping"] = {
            "kinesisVideoMapping": {
                "fragmentNumber": str(seq),
                "serverTimestamp": frame.received_ms,
                "producerTimestamp": started_ms + frame.position_ms,
                "frameOffsetMillis": frame.position_ms,
            }
        }
        label["boundingBox"] = {
            "left": s.box["Left"],
            "top": s.box["Top"],
            "height": s.box["Height"],
            "width": s.box["Width"],
        }
        label["confidence"] = s.confidence  # oculi: what MinConfidence was compared with
        labels.append(label)
    return {
        "inputInformation": {"kinesisVideo": {"streamArn": stream}},
        "labels": labels,
        **_common("LABEL_DETECTED", session, name, tags),
    }


def summary_message(
    stream: str,
    processed_ms: int,
    message: str,
    session: dict[str, Any],
    name: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    return {
        "inputInformation": {
            "kinesisVideo": {"streamArn": stream, "processedVideoDurationMillis": processed_ms}
        },
        "streamProcessingResults": {"message": message},
        **_common("STREAM_PROCESSING_COMPLETE", session, name, tags),
    }
