"""Rekognition's `Video.S3Object`: checked when a job starts, copied to the job's own file
when it runs. The object is read with the server's S3 configuration (image_source's client:
AWS_ENDPOINT_URL_S3, profiles, the credentials chain); the file's name is the job's id,
never anything from the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oculi.errors import InvalidParameter, InvalidS3Object, VideoTooLarge
from oculi.service.image_source import S3Settings, check_s3_object, s3_client

MAX_VIDEO_BYTES = 10 * 1024**3  # Rekognition's limit for stored video
MAX_DURATION_MS = 6 * 3600 * 1000
_CHUNK = 1024 * 1024


def _where(s3: dict[str, Any]) -> str:
    return f"s3://{s3['Bucket']}/{s3['Name']}"


def _extra(s3: dict[str, Any]) -> dict[str, str]:
    return {"VersionId": s3["Version"]} if "Version" in s3 else {}


def check_video(video: dict[str, Any], settings: S3Settings) -> None:
    """InvalidS3ObjectException unless the object exists and may be read;
    VideoTooLargeException over 10 GB."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = video.get("S3Object")
    if not s3 or "Bucket" not in s3 or "Name" not in s3:
        raise InvalidParameter("Video.S3Object needs both Bucket and Name")
    check_s3_object(s3)
    try:
        head = s3_client(settings).head_object(Bucket=s3["Bucket"], Key=s3["Name"], **_extra(s3))
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        raise InvalidS3Object(
            f"Unable to get object metadata from S3 ({_where(s3)}): {code}"
        ) from None
    except BotoCoreError as e:
        raise InvalidS3Object(f"Unable to read {_where(s3)}: {e}") from None
    size = int(head.get("ContentLength") or 0)
    if size > MAX_VIDEO_BYTES:
        raise VideoTooLarge(f"{_where(s3)} is {size} bytes; the limit is {MAX_VIDEO_BYTES}")


def fetch_video(video: dict[str, Any], settings: S3Settings, dest: Path) -> None:
    """Copy the object to `dest`, a chunk at a time (InvalidS3ObjectException when it
    cannot be read, VideoTooLargeException past 10 GB)."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = video["S3Object"]
    try:
        obj = s3_client(settings).get_object(Bucket=s3["Bucket"], Key=s3["Name"], **_extra(s3))
        body = obj["Body"]
        written = 0
        with open(dest, "wb") as f:
            while chunk := body.read(_CHUNK):
                written += len(chunk)
                if written > MAX_VIDEO_BYTES:
                    raise VideoTooLarge(f"{_where(s3)} is larger than {MAX_VIDEO_BYTES} bytes")
                f.write(chunk)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        raise InvalidS3Object(f"Unable to get object from S3 ({_where(s3)}): {code}") from None
    except BotoCoreError as e:
        raise InvalidS3Object(f"Unable to read {_where(s3)}: {e}") from None
