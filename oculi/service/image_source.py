"""Resolve Rekognition's `Image` (Bytes or S3Object) to decoded pixels."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from oculi.errors import ImageTooLarge, InvalidParameter, InvalidS3Object
from oculi.vision.decode import DecodedImage, decode

MAX_BYTES = 5 * 1024 * 1024
MAX_S3_BYTES = 15 * 1024 * 1024
# Analysis never looks at more than 1920 px a side (FaceAnalyzer.max_side): large JPEGs are
# decoded at a reduced scale that keeps at least this many pixels on the long side.
ANALYSIS_SIDE = 2048
# S3's bucket naming rules (legacy names allowed upper case and underscores, up to 255).
BUCKET = re.compile(r"[0-9A-Za-z](?:[0-9A-Za-z._\-]{1,253})[0-9A-Za-z]")
# Key segments that a path-normalising server or proxy on the way would resolve, so that
# "public/../private/x.jpg" could read outside "public/": refused, as are control characters.
ODD_SEGMENTS = {".", ".."}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class S3Settings:
    """Where S3Object images are read from. None fields fall back to boto3's own
    configuration (AWS_ENDPOINT_URL_S3, profiles, the credentials chain)."""

    endpoint_url: str | None = None
    region_name: str | None = None


def check_s3_object(s3: dict[str, Any]) -> None:
    """InvalidS3ObjectException for a bucket name S3 would not accept, or an object key
    with a "." or ".." segment (between "/" or "\\") or a control character: such a key
    can name another object than the one asked for on its way to the store."""
    bucket, name = str(s3["Bucket"]), str(s3["Name"])
    if not BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidS3Object(f"S3Object.Bucket {bucket!r} is not a valid bucket name")
    if CONTROL.search(name) or ODD_SEGMENTS & set(re.split(r"[/\\]", name)):
        raise InvalidS3Object(
            'S3Object.Name may not hold "." or ".." path segments or control characters'
        )


def s3_client(settings: S3Settings) -> Any:
    """A boto3 S3 client configured the standard AWS way, `settings` over it (unsigned
    when no credentials are found)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30)
    if session.get_credentials() is None:
        config = config.merge(Config(signature_version=UNSIGNED))
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region_name or session.region_name or "us-east-1",
        config=config,
    )


def read_s3_object(s3: dict[str, Any], settings: S3Settings) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(settings)
    where = f"s3://{s3['Bucket']}/{s3['Name']}"
    extra = {"VersionId": s3["Version"]} if "Version" in s3 else {}
    try:
        obj = client.get_object(Bucket=s3["Bucket"], Key=s3["Name"], **extra)
        size = int(obj.get("ContentLength") or 0)
        if size > MAX_S3_BYTES:
            obj["Body"].close()
            raise ImageTooLarge(f"{where} is {size} bytes; the limit is {MAX_S3_BYTES}")
        data = obj["Body"].read(MAX_S3_BYTES + 1)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        raise InvalidS3Object(f"Unable to get object metadata from S3 ({where}): {code}") from None
    except BotoCoreError as e:
        raise InvalidS3Object(f"Unable to read {where}: {e}") from None
    if len(data) > MAX_S3_BYTES:
        raise ImageTooLarge(f"{where} is larger than {MAX_S3_BYTES} bytes")
    return data


def load_image(image: dict[str, Any], s3_settings: S3Settings) -> DecodedImage:
    """Exactly one of Bytes or S3Object, read and decoded."""
    return read_image(image, s3_settings)[1]


def read_image(image: dict[str, Any], s3_settings: S3Settings) -> tuple[bytes, DecodedImage]:
    """Exactly one of Bytes or S3Object: its bytes, and their decoding."""
    has_bytes, has_s3 = "Bytes" in image, "S3Object" in image
    if has_bytes == has_s3:
        raise InvalidParameter("Image must contain exactly one of Bytes or S3Object")
    if has_bytes:
        data = image["Bytes"]
        if len(data) > MAX_BYTES:
            raise ImageTooLarge(f"Image.Bytes is larger than {MAX_BYTES} bytes")
    else:
        s3 = image["S3Object"]
        if "Bucket" not in s3 or "Name" not in s3:
            raise InvalidParameter("Image.S3Object needs both Bucket and Name")
        check_s3_object(s3)
        data = read_s3_object(s3, s3_settings)
    return data, decode(data, reduce_to=ANALYSIS_SIDE)
