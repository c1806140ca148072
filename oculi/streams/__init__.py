"""Live video: stream sources (cameras and files) for stream processors."""

from oculi.streams.sources import (
    LiveFrame,
    SourceStats,
    UnsupportedSource,
    check_source_url,
    open_source,
    redact_url,
)

__all__ = [
    "LiveFrame",
    "SourceStats",
    "UnsupportedSource",
    "check_source_url",
    "open_source",
    "redact_url",
]
