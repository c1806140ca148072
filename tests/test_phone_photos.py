"""Photos as phones write them: every EXIF orientation, in plain JPEG and in MPO (a JPEG with
more frames after it, which Pillow names "MPO"), upright PNG, and HEIC (refused by name).
DetectFaces and redaction must see every face that the upright photo shows."""

from __future__ import annotations

import io
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from oculi.errors import InvalidImageFormat
from oculi.models.zoo import load_face_analyzer
from oculi.vision.decode import decode, jpeg_scan_ends
from oculi.vision.types import FaceDetections
from tests.conftest import FIXTURES, clean_env
from tests.test_redact import uncovered_faces

GROUP = FIXTURES / "2008_007676.jpg"  # 7 labelled faces, 37-53 px wide
# What a camera stores for each EXIF orientation: the inverse of the transform that the
# viewer applies (ImageOps.exif_transpose) to show the photo upright.
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
CASES = [(o, c) for c in ("JPEG", "MPO") for o in STORED] + [(1, "PNG")]


def phone_photo(upright: Image.Image, orientation: int, container: str) -> bytes:
    """`upright` stored as a phone would for this EXIF orientation, in this container; an
    MPO carries a second, smaller frame after the first, as phones' previews do."""
    turn = STORED[orientation]
    stored = upright.transpose(turn) if turn is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    if container == "MPO":
        preview = stored.resize((stored.width // 4, stored.height // 4))
        stored.save(buf, "MPO", save_all=True, append_images=[preview], exif=exif, quality=95)
    elif container == "JPEG":
        stored.save(buf, "JPEG", exif=exif, quality=95)
    else:
        stored.save(buf, container)
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).format == container
    return data


@pytest.fixture(scope="module")
def upright() -> Image.Image:
    return Image.open(GROUP).convert("RGB")


@pytest.mark.parametrize(("orientation", "container"), CASES)
def test_decode_turns_every_phone_photo_upright(upright, orientation, container) -> None:
    image = decode(phone_photo(upright, orientation, container))
    assert image.format == ("PNG" if container == "PNG" else "JPEG")
    ref = np.asarray(upright).astype(np.int16)
    assert image.rgb.shape == ref.shape
    assert np.abs(image.rgb.astype(np.int16) - ref).mean() < 3  # JPEG noise only


def test_large_mpo_is_decoded_reduced_and_upright(upright) -> None:
    """A 12-megapixel sideways MPO, as analysis decodes it (reduced inside libjpeg)."""
    big = upright.resize((4000, 3000))
    image = decode(phone_photo(big, 6, "MPO"), reduce_to=1920)
    assert image.format == "JPEG" and image.rgb.shape == (1500, 2000, 3)


def test_truncated_mpo_is_refused(upright) -> None:
    """The JPEG truncation check covers MPO too: a first frame whose scan stops early."""
    data = phone_photo(upright, 6, "MPO")
    end = jpeg_scan_ends(data)[0]
    with pytest.raises(InvalidImageFormat, match="truncated"):
        decode(data[: end - 4000] + data[end:])


@pytest.fixture(scope="module")
def upright_faces(client) -> list[dict]:
    faces = client.detect_faces(Image={"Bytes": GROUP.read_bytes()})["FaceDetails"]
    assert len(faces) >= 7
    return faces


@pytest.mark.parametrize(("orientation", "container"), CASES)
def test_detect_faces_finds_every_face_in_every_orientation(
    client, upright, upright_faces, orientation, container
) -> None:
    data = phone_photo(upright, orientation, container)
    faces = client.detect_faces(Image={"Bytes": data})["FaceDetails"]
    assert len(faces) == len(upright_faces)
    for want in upright_faces:
        a = want["BoundingBox"]
        near = [
            f
            for f in faces
            if abs(f["BoundingBox"]["Left"] - a["Left"]) < 0.02
            and abs(f["BoundingBox"]["Top"] - a["Top"]) < 0.02
        ]
        assert len(near) == 1, a
        assert abs(near[0]["Pose"]["Roll"] - want["Pose"]["Roll"]) < 10


@pytest.fixture(scope="module")
def all_faces(upright):
    """The faces that redaction must cover: both detectors on the upright photo."""
    analyzer = load_face_analyzer(detector="yunet+retinaface", threads=1)
    faces = analyzer.detect(np.asarray(upright))
    assert len(faces) >= 7
    return faces


def untouched_differs(faces: FaceDetections, upright: np.ndarray, out: np.ndarray) -> float:
    """Mean difference between `out` and the upright photo away from the faces (JPEG noise
    when `out` is the upright photo redacted; far more when it is turned or mirrored)."""
    away = np.ones(upright.shape[:2], bool)
    for x1, y1, x2, y2 in faces.boxes.astype(int):
        w, h = x2 - x1, y2 - y1
        away[max(0, y1 - h) : y2 + h, max(0, x1 - w) : x2 + w] = False
    return float(np.abs(out.astype(np.int16) - upright.astype(np.int16))[away].mean())


@pytest.mark.parametrize(("orientation", "container"), CASES)
def test_http_redact_covers_every_face_in_every_orientation(
    server, upright, all_faces, orientation, container
) -> None:
    body = phone_photo(upright, orientation, container)
    # At scale 1 and the detectors' own threshold: the default's upscaled pass and low
    # threshold also cover a few doubtful boxes away from the faces, which the check of
    # untouched pixels would count.
    query = "mode=fill&min_score=0.6&scales=1"
    req = urllib.request.Request(f"{server.url}/oculi/redact?{query}", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        media = r.headers["Content-Type"]
        assert int(r.headers["x-oculi-faces-redacted"]) >= len(all_faces)
        out = decode(r.read()).rgb
    assert media == ("image/png" if container == "PNG" else "image/jpeg")
    assert out.shape == np.asarray(upright).shape  # answered upright
    assert uncovered_faces(all_faces, np.asarray(upright), out) == 0
    assert untouched_differs(all_faces, np.asarray(upright), out) < 3


def test_cli_redacts_a_sideways_mpo(tmp_path, upright, all_faces) -> None:
    src, dst = tmp_path / "phone.jpg", tmp_path / "out.jpg"
    src.write_bytes(phone_photo(upright, 6, "MPO"))
    r = subprocess.run(
        # Scale 1 at the detectors' own threshold, as on the endpoint above.
        [sys.executable, "-m", "oculi", "redact", str(src), "-o", str(dst), "--mode", "fill"]
        + ["--scales", "1", "--min-score", "0.6"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = decode(dst.read_bytes()).rgb
    assert out.shape == np.asarray(upright).shape
    assert uncovered_faces(all_faces, np.asarray(upright), out) == 0
    assert untouched_differs(all_faces, np.asarray(upright), out) < 3


def test_heic_is_refused_by_name(client) -> None:
    """HEIC (the iPhone's default) is not decoded (no HEIF decoder is installed): the
    answer says so instead of a generic 'invalid format'."""
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200)
    with pytest.raises(ClientError) as e:
        client.detect_faces(Image={"Bytes": heic})
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "InvalidImageFormatException"
    assert "HEIC" in err["Error"]["Message"]
