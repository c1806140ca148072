"""Regression tests for what fuzzing found (see fuzz/README.md), plus short property tests of
decode() and validate() so that CI keeps a little of the fuzzing's coverage.

Each crasher, slow input or 500 the campaign found is replayed here as the smallest input
that shows it. Inputs that used to hang are decoded in a child process with a timeout, so a
regression fails in seconds instead of stalling the suite.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from oculi.api import spec
from oculi.errors import ImageTooLarge, InvalidImageFormat, InvalidParameter, OculiError
from oculi.vision.decode import decode

ROOT = Path(__file__).resolve().parent.parent
FUZZ_FIXTURES = Path(__file__).parent / "fixtures" / "fuzz"
sys.path.insert(0, str(ROOT / "fuzz"))

import craft  # noqa: E402
import strategies  # noqa: E402

FAST_S = 2.0  # the bound for one image of at most 5 MB
LIMIT = 5 * 1024 * 1024
SCANS_JPEG = FUZZ_FIXTURES / "jpeg-1000-empty-scans-8000x5000.jpg"


# ---- decode: inputs that were slow --------------------------------------------------------


def _flood(kind: str) -> str:
    """Python source (run in the child) building one 5 MB flood input named `data`."""
    return {
        "jpeg-com": "j = craft.small_seeds()['jpeg-RGB']\n"
        "data = j[:2] + b'\\xff\\xfe\\x00\\x02' * ((LIMIT - len(j)) // 4) + j[2:]",
        "jpeg-fill": "j = craft.small_seeds()['jpeg-RGB']\n"
        "data = j[:2] + b'\\xff' * (LIMIT - len(j)) + j[2:]",
        "png-chunks-before-idat": "p = craft.small_seeds()['png-RGB']\n"
        "data = p[:33] + craft.png_chunk(b'abCd', b'') * ((LIMIT - len(p)) // 12) + p[33:]",
        "png-chunks-after-idat": "p = craft.small_seeds()['png-RGB']\n"
        "data = p[:-12] + craft.png_chunk(b'abCd', b'') * ((LIMIT - len(p)) // 12) "
        "+ p[-12:]",
        "png-empty-idats": "p = craft.small_seeds()['png-RGB']\n"
        "data = p[:-12] + craft.png_chunk(b'IDAT', b'') * ((LIMIT - len(p)) // 12) "
        "+ p[-12:]",
        "jpeg-1000-scans": f"data = open({str(SCANS_JPEG)!r}, 'rb').read()",
    }[kind]


def decode_in_child(build: str, timeout: float = 15.0) -> tuple[str, float]:
    """Build and decode one input in a fresh interpreter; (outcome, seconds decode took)."""
    code = (
        textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / "fuzz")!r})
        import craft
        from oculi.errors import OculiError
        from oculi.vision.decode import decode
        LIMIT = {LIMIT}
    """)
        + build
        + textwrap.dedent("""
        start = time.perf_counter()
        try:
            decode(data)
            outcome = "decoded"
        except OculiError as e:
            outcome = type(e).__name__
        print(outcome, time.perf_counter() - start)
    """)
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return "hang", timeout
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, seconds = done.stdout.split()
    return outcome, float(seconds)


@pytest.mark.parametrize(
    "kind",
    [
        "jpeg-1000-scans",
        "jpeg-com",
        "jpeg-fill",
        "png-chunks-before-idat",
        "png-chunks-after-idat",
        "png-empty-idats",
    ],
)
def test_structure_floods_are_refused_fast(kind: str) -> None:
    """Work that grows with the number of scans, segments or chunks, not pixels: an 11 KB
    progressive JPEG of 1,000 empty scans took 7-12 s; 5 MB of empty JPEG segments, fill
    bytes or PNG chunks took 2-12 s. They must be refused (or decoded) within 2 s."""
    outcome, seconds = decode_in_child(_flood(kind))
    assert outcome in ("InvalidImageFormat", "ImageTooLarge"), (outcome, seconds)
    assert seconds < FAST_S, (outcome, seconds)


def test_reasonable_structure_still_decodes() -> None:
    """The limits leave real files alone: 40 progressive scans, a few thousand chunks."""
    assert decode(craft.many_scans_jpeg(64, 64, 40)).rgb.shape == (64, 64, 3)
    png = craft.small_seeds()["png-RGB"]
    many = png[:33] + craft.png_chunk(b"abCd", b"") * 2000 + png[33:]
    assert decode(many).rgb.shape == (17, 23, 3)


# ---- decode: wrong pixels ----------------------------------------------------------------


def test_16bit_greyscale_png_is_scaled_not_clipped() -> None:
    """Pillow opens 16-bit greyscale PNG as mode I;16 and convert("RGB") clips every sample
    above 255 to white: mid-grey 0x8000 came back as 255 (the whole image blown out)."""
    image = decode((FUZZ_FIXTURES / "png-16bit-grey-0x8000.png").read_bytes())
    assert image.rgb.shape == (8, 16, 3)
    assert abs(float(image.rgb.mean()) - 128) <= 1, image.rgb.mean()


# ---- decode: truncated scans that still end in EOI ----------------------------------------


def _jpegs() -> dict[str, bytes]:
    """A real baseline photo and the same photo written progressive (10 scans)."""
    baseline = (Path(__file__).parent / "fixtures" / "obama-480p.jpg").read_bytes()
    buf = io.BytesIO()
    Image.open(io.BytesIO(baseline)).save(buf, format="JPEG", quality=90, progressive=True)
    return {"baseline": baseline, "progressive": buf.getvalue()}


def _pillow_pixels(data: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(data))
    im.load()
    return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("kind", ["baseline", "progressive"])
@pytest.mark.parametrize("keep", [0.3, 0.7, 0.97])
def test_truncated_jpeg_ending_in_eoi_is_refused(kind: str, keep: float) -> None:
    """A JPEG whose data stops early but that still ends with EOI (FF D9) loaded in Pillow
    without error, the missing part grey: libjpeg fills a short scan with zeros and only
    warns. It must be refused like any truncated file."""
    whole = _jpegs()[kind]
    cut = whole[: int(len(whole) * keep)] + b"\xff\xd9"
    _pillow_pixels(cut)  # what decode() used to accept: no error from Pillow
    with pytest.raises(InvalidImageFormat, match="truncated"):
        decode(cut)


@pytest.mark.parametrize("kind", ["baseline", "progressive"])
def test_whole_jpeg_decodes_unchanged(kind: str) -> None:
    """The check leaves whole files alone, trailing bytes after EOI included."""
    whole = _jpegs()[kind]
    assert np.array_equal(decode(whole).rgb, _pillow_pixels(whole))
    assert np.array_equal(decode(whole + b"trailing bytes").rgb, _pillow_pixels(whole))


def test_truncated_jpeg_ending_in_eoi_api(client: Any) -> None:
    whole = _jpegs()["baseline"]
    with pytest.raises(client.exceptions.InvalidImageFormatException) as e:
        client.detect_faces(Image={"Bytes": whole[: len(whole) // 2] + b"\xff\xd9"})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# ---- decode: properties --------------------------------------------------------------------

SEEDS = list(craft.small_seeds().values())


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        data[pos : pos + draw(st.integers(0, 4))] = draw(st.binary(max_size=4))
    out = bytes(data)
    return craft.fix_png_crcs(out) if draw(st.booleans()) else out


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.one_of(mutated_images(), st.binary(max_size=200)))
def test_decode_returns_rgb_or_refuses(data: bytes) -> None:
    try:
        image = decode(data, max_pixels=1_000_000)
    except (InvalidImageFormat, ImageTooLarge):
        return
    assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3 and image.rgb.dtype == np.uint8
    assert image.rgb.shape[0] >= 1 and image.rgb.shape[1] >= 1


# ---- validate ------------------------------------------------------------------------------


def shape_of(operation: str) -> Any:
    op = spec.operation(operation)
    assert op is not None
    return op.input_shape


FACE_ID = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    "operation,params",
    [
        ("SearchFaces", {"CollectionId": "c", "FaceId": FACE_ID, "FaceMatchThreshold": 10**400}),
        (
            "CompareFaces",
            {
                "SourceImage": {"Bytes": "AAAA"},
                "TargetImage": {"Bytes": "AAAA"},
                "SimilarityThreshold": -(10**400),
            },
        ),
    ],
    ids=["threshold-10e400", "similarity-minus-10e400"],
)
def test_float_member_with_huge_integer(operation: str, params: dict[str, Any]) -> None:
    """A JSON number written out in 400 digits parses as a Python int; math.isfinite()
    raised OverflowError on it (a 500 from the server)."""
    with pytest.raises(InvalidParameter):
        spec.validate(shape_of(operation), params)


@pytest.mark.parametrize(
    "operation,params",
    [
        ("DetectFaces", {"Image": {"S3Object": {"Bucket": "bucket", "Name": "\ud800"}}}),
        (
            "DetectFaces",
            {"Image": {"S3Object": {"Bucket": "bucket", "Name": "k", "Version": "\udfff"}}},
        ),
        ("CreateCollection", {"CollectionId": "c", "Tags": {"\ud800": "v"}}),
    ],
    ids=["s3-name", "s3-version", "tag-key"],
)
def test_lone_surrogates_refused(operation: str, params: dict[str, Any]) -> None:
    """`"\\ud800"` is valid JSON but not Unicode text: botocore, sqlite3 and Starlette
    raise UnicodeEncodeError on it later (S3Object.Name was a 500)."""
    with pytest.raises(InvalidParameter):
        spec.validate(shape_of(operation), params)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(sorted(spec.service_model().operation_names)).flatmap(
        lambda name: st.tuples(st.just(name), strategies.op_params(name))
    )
)
def test_validate_returns_or_raises_oculi_error(case: tuple[str, Any]) -> None:
    name, params = case
    shape = shape_of(name)
    if shape is None:
        return
    try:
        out = spec.validate(shape, params)
    except OculiError:
        return
    assert isinstance(out, dict)
    for req in shape.required_members:
        assert out.get(req) is not None
    json.dumps(out, ensure_ascii=False, default=lambda b: base64.b64encode(b).decode()).encode(
        "utf-8"
    )


# ---- the HTTP path -------------------------------------------------------------------------


async def _asgi(
    app: Any, target: str | None, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[str, Any]]:
    hdrs = [(b"host", b"127.0.0.1:4566"), *headers]
    if target is not None:
        hdrs.append((b"x-amz-target", target.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": hdrs,
        "client": ("127.0.0.1", 1),
        "server": ("oculi.test", 80),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await anyio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(status), json.loads(raw)


class App:
    def __init__(self, tmp: Path) -> None:
        from oculi.api.server import build_app
        from oculi.service.context import ServiceContext
        from oculi.settings import Settings

        ctx = ServiceContext(Settings(data_dir=tmp, s3_endpoint_url="http://127.0.0.1:9"))
        self.app = build_app(ctx, {})
        self._portal = anyio.from_thread.start_blocking_portal()
        self.portal = self._portal.__enter__()

    def call(
        self,
        target: str | None,
        body: bytes | dict[str, Any],
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.portal.call(
            _asgi, self.app, target and f"RekognitionService.{target}", raw, headers or []
        )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    a = App(tmp_path_factory.mktemp("fuzz-regressions"))
    try:
        yield a
    finally:
        a._portal.__exit__(None, None, None)


def token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode("utf-8", "surrogatepass")).decode()


@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_deeply_nested_json_is_a_serialization_error(app: App, depth: int) -> None:
    """json.loads raises RecursionError (not ValueError) past ~1,000 levels: was a 500."""
    status, doc = app.call("DetectFaces", b"[" * depth + b"]" * depth)
    assert (status, doc["__type"]) == (400, "SerializationException")


@pytest.mark.parametrize("value", ["\xb2", "9" * 5000], ids=["superscript-two", "5000-digits"])
def test_odd_content_length_is_not_a_500(app: App, value: str) -> None:
    """str.isdigit() is true for '²' (a Latin-1 header byte) and int() refuses it, and
    int() refuses over 4,300 digits: both were a 500 (uvicorn's h11 refuses both before
    oculi sees them; other ASGI servers need not)."""
    status, doc = app.call("ListCollections", b"{}", [(b"content-length", value.encode("latin-1"))])
    assert status != 500, doc
    assert status in (200, 400), doc


def test_surrogate_s3_name_is_invalid_parameter(app: App) -> None:
    status, doc = app.call(
        "DetectFaces", b'{"Image": {"S3Object": {"Bucket": "bucket", "Name": "\\ud800"}}}'
    )
    assert (status, doc["__type"]) == (400, "InvalidParameterException"), doc


def test_forged_page_tokens(app: App) -> None:
    """Page tokens are base64 JSON the client can forge; their value went straight into an
    SQL parameter: a lone surrogate (UnicodeEncodeError) or an integer past 64 bits
    (OverflowError) was a 500."""
    assert app.call("CreateCollection", {"CollectionId": "fuzzed"})[0] == 200
    for target, params in [
        ("ListCollections", {"NextToken": token("\ud800")}),
        ("ListUsers", {"CollectionId": "fuzzed", "NextToken": token("\udc80")}),
        ("ListFaces", {"CollectionId": "fuzzed", "NextToken": token(10**30)}),
        ("ListFaces", {"CollectionId": "fuzzed", "NextToken": token(-(2**63) - 1)}),
    ]:
        status, doc = app.call(target, params)
        assert (status, doc["__type"]) == (400, "InvalidPaginationTokenException"), (target, doc)


def test_huge_threshold_is_invalid_parameter(app: App) -> None:
    status, doc = app.call(
        "SearchFaces",
        b'{"CollectionId": "fuzzed", "FaceId": "'
        + FACE_ID.encode()
        + b'", "FaceMatchThreshold": 1'
        + b"0" * 400
        + b"}",
    )
    assert (status, doc["__type"]) == (400, "InvalidParameterException"), doc
