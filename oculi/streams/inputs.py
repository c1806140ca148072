"""Where a stream processor's video comes from: its `Input.KinesisVideoStream.Arn`.

Rekognition names a Kinesis video stream there. oculi reads cameras directly, so an ARN is
looked up in the operator's stream map (a JSON object of ARN -> URL, the file
OCULI_STREAM_MAP or `serve --stream-map` names), and, as an extension, the Arn may itself
be a URL: rtsp(s)://, http(s):// (MJPEG or HLS) or file:// (only under
OCULI_STREAM_FILE_DIR; OCULI_STREAM_URL_INPUTS=0 refuses URLs from callers, leaving the
map). Either way the URL is checked (oculi.streams.sources) before a
processor is created or started, and is only ever shown with its credentials removed.
"""

from __future__ import annotations

import json
from pathlib import Path

from oculi.api.spec import URL_SCHEMES
from oculi.errors import InvalidParameter
from oculi.settings import Settings
from oculi.streams.sources import UnsupportedSource, check_source_url, redact_url


def is_url(arn: str) -> bool:
    return arn.lower().startswith(URL_SCHEMES)


def shown(arn: str) -> str:
    """The Arn as answers, logs and events show it: a URL without its credentials."""
    return redact_url(arn) if is_url(arn) else arn


def _mapped(arn: str, path: Path | None) -> str:
    if path is None:
        raise InvalidParameter(
            f"oculi reads no Kinesis video streams: give the camera's URL as the Arn, or map "
            f"{arn} to one in a stream map (OCULI_STREAM_MAP, docs/streams.md)"
        )
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        raise InvalidParameter("The operator's stream map cannot be read") from None
    url = doc.get(arn) if isinstance(doc, dict) else None
    if not isinstance(url, str):
        raise InvalidParameter(f"The stream map has no camera URL for {arn}")
    return url


def source_url(arn: str, settings: Settings) -> str:
    """The URL a processor reads for `arn` (InvalidParameterException when there is none,
    or oculi will not read it)."""
    if is_url(arn) and not settings.stream_url_inputs:
        raise InvalidParameter(
            "This server takes Kinesis video stream ARNs its stream map names, not URLs "
            "(OCULI_STREAM_URL_INPUTS=0)"
        )
    url = arn if is_url(arn) else _mapped(arn, settings.stream_map)
    try:
        check_source_url(url, file_dir=settings.stream_file_dir)
    except UnsupportedSource as e:
        raise InvalidParameter(f"Input.KinesisVideoStream.Arn: {e}") from None
    return url
