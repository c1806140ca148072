"""Every bad input gets the modelled error, HTTP 400 (never a 500 or a hang)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tests.conftest import fixture_bytes
from tests.test_detect_faces_api import raw_call


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares huge dimensions (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def status_of(err) -> int:
    return err.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize(
    "data",
    [
        b"this is not an image",
        fixture_bytes("obama-480p.jpg")[:20000],  # truncated JPEG
        fixture_bytes("obama-480p.jpg")[:100],  # header only
        b"GIF89a" + b"\0" * 200,  # a format Rekognition refuses
    ],
    ids=["text", "truncated", "header-only", "gif"],
)
def test_invalid_image_format(client, data) -> None:
    with pytest.raises(client.exceptions.InvalidImageFormatException) as e:
        client.detect_faces(Image={"Bytes": data})
    assert status_of(e) == 400


def test_bmp_refused(client) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (100, 100)).save(buf, format="BMP")
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_faces(Image={"Bytes": buf.getvalue()})


def test_image_over_5mb(client) -> None:
    with pytest.raises(client.exceptions.ImageTooLargeException) as e:
        client.detect_faces(Image={"Bytes": b"\xff\xd8" + b"\0" * (5 * 1024 * 1024)})
    assert status_of(e) == 400


@pytest.mark.parametrize("w,h", [(100_000, 100_000), (16_385, 10), (9_000, 9_000)])
def test_decompression_bomb_refused_before_decoding(client, w, h) -> None:
    with pytest.raises(client.exceptions.ImageTooLargeException):
        client.detect_faces(Image={"Bytes": png_header_only(w, h)})


def test_unknown_attribute(client) -> None:
    with pytest.raises(client.exceptions.InvalidParameterException) as e:
        client.detect_faces(
            Image={"Bytes": fixture_bytes("obama-480p.jpg")}, Attributes=["HAIR_COLOUR"]
        )
    assert "Attributes" in str(e.value)


@pytest.mark.parametrize(
    "image",
    [
        {},
        {"Bytes": b"x", "S3Object": {"Bucket": "photos", "Name": "two_people.jpg"}},
        {"S3Object": {"Bucket": "photos"}},
        {"S3Object": {"Bucket": "bad bucket!", "Name": "x"}},
    ],
    ids=["empty", "both", "no-name", "bad-bucket-pattern"],
)
def test_bad_image_parameter(client, image) -> None:
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.detect_faces(Image=image)


def test_malformed_json(server) -> None:
    status, headers, doc = raw_call(server.url, "RekognitionService.DetectFaces", b"{not json")
    assert status == 400 and doc["__type"] == "SerializationException"
    assert headers["x-amzn-ErrorType"] == "SerializationException"


def test_json_not_an_object(server) -> None:
    status, _, doc = raw_call(server.url, "RekognitionService.DetectFaces", b"[1, 2]")
    assert status == 400 and doc["__type"] == "SerializationException"


def test_bad_base64(server) -> None:
    body = b'{"Image": {"Bytes": "!!!not base64!!!"}}'
    status, _, doc = raw_call(server.url, "RekognitionService.DetectFaces", body)
    assert status == 400 and doc["__type"] == "InvalidParameterException"


def test_wrong_types(server) -> None:
    for body in (
        b'{"Image": "x"}',
        b'{"Image": {"Bytes": 5}}',
        b'{"Image": {"Bytes": "AAAA"}, "Attributes": "ALL"}',
        b'{"Image": {"Bytes": "AAAA"}, "Extra": 1}',
        b"{}",
    ):
        status, _, doc = raw_call(server.url, "RekognitionService.DetectFaces", body)
        assert status == 400 and doc["__type"] == "InvalidParameterException", body


def test_unknown_operation(server) -> None:
    status, _, doc = raw_call(server.url, "RekognitionService.MakeCoffee", b"{}")
    assert status == 400 and doc["__type"] == "UnknownOperationException"
    status, _, doc = raw_call(server.url, None, b"{}")
    assert status == 400 and doc["__type"] == "UnknownOperationException"


def test_modelled_but_unimplemented_operation_is_clear(client) -> None:
    with pytest.raises(client.exceptions.ClientError) as e:
        client.describe_projects()  # Custom Labels: not built
    assert e.value.response["Error"]["Code"] == "NotImplementedException"
    assert status_of(e) == 501
