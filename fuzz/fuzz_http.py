"""Property-based fuzzing of the whole HTTP request path with hypothesis: oculi's Starlette
app (`oculi.api.server.build_app`) driven in-process over raw ASGI, so that headers and
bodies can be exactly as malformed as a client can send them.

Each example is one request: a target (every Rekognition operation, unknown and malformed
ones), headers (Content-Length absent, wrong, non-ASCII digits, absurdly long; odd content
types; junk or half-valid SigV4 Authorization for the app with keys; some correctly signed)
and a body (shape-directed JSON from botocore's model with wrong types, boundary numbers,
surrogates and huge integers mixed in; broken JSON; deep nesting; bad base64; page tokens
holding odd values; tiny valid and mutated images, including faces so that inference runs),
sent to `/`, or an image to `/oculi/redact` or `/oculi/plates` with random query parameters.

Contract checked: no response is a 500 (or any status outside 200/400/403/404/405/413/501),
error bodies are Rekognition's `{"__type", "Message"}` JSON, and no request takes more than
`--slow` seconds. Failures are collected, not raised, so one run finds every distinct bug:
each is keyed by the server-side exception (or status) and its smallest request is saved to
the artifacts folder and printed at the end.

    python fuzz/fuzz_http.py --examples 3000 [--seed N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import strategies  # noqa: E402
from strategies import FACE, b64, encode, images, op_params, texts  # noqa: E402

from oculi.api import spec  # noqa: E402
from oculi.api.operations import HANDLERS  # noqa: E402
from oculi.api.server import build_app  # noqa: E402
from oculi.permissions import KeySpec  # noqa: E402
from oculi.service.context import ServiceContext  # noqa: E402
from oculi.settings import Settings  # noqa: E402

ACCESS_KEY, SECRET = "AKIDFUZZ", "fuzz-secret"
OK_STATUSES = {200, 400, 403, 404, 405, 413, 501}
ALL_OPS = sorted(spec.service_model().operation_names)
SERVED_OPS = sorted(HANDLERS)


@dataclass
class Findings:
    """Distinct failures, each with its smallest request."""

    by_key: dict[str, tuple[int, str]] = field(default_factory=dict)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    slowest: float = 0.0

    def add(self, key: str, request: str) -> None:
        old = self.by_key.get(key)
        if old is None or len(request) < old[0]:
            self.by_key[key] = (len(request), request)


class Capture(logging.Handler):
    """Keeps the last exception oculi.api logged (the 500's cause)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            tb = traceback.extract_tb(record.exc_info[2])
            frame = next((f for f in reversed(tb) if "/oculi/" in f.filename), tb[-1])
            where = f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
            self.last = f"{type(exc).__name__} at {where}: {str(exc)[:120]}"


MALFORMED = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b"1",
            b'"x"',
            b"{",
            b'{"a":}',
            b"\xef\xbb\xbf{}",
            "{}".encode("utf-16"),
            b"{}\x00",
            b'{"Image": {"Bytes": "' + b"A" * 7 + b'"}}',
            b'{"MaxResults": 1' + b"0" * 5000 + b"}",
            b'{"MaxResults": 1e400}',
            b'{"MaxResults": NaN}',
            b'{"MaxResults": -Infinity}',
            b'{"CollectionId": "\\ud800"}',
            b'{"CollectionId": "a", "CollectionId": 1}',
        ]
    ),
    st.integers(1, 200_000).flatmap(
        lambda n: st.sampled_from(
            [
                b"[" * n + b"]" * n,
                b'{"a":' * n + b"1" + b"}" * n,
                b"[" * n,
                b'{"Image": ' * n + b"{}" + b"}" * n,
            ]
        )
    ),
)


@dataclass
class Req:
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keyed: bool
    sign: bool

    def describe(self) -> str:
        body = (
            self.body
            if len(self.body) <= 300
            else (
                self.body[:200]
                + f"...<{len(self.body)} bytes, sha1 "
                f"{hashlib.sha1(self.body).hexdigest()[:12]}>...".encode()
                + self.body[-40:]
            )
        )
        headers = [
            (k, v if len(v) <= 100 else v[:60] + f"...<{len(v)} bytes>".encode())
            for k, v in self.headers
        ]
        return (
            f"POST {self.path}?{self.query.decode('latin-1')} keyed={self.keyed} "
            f"signed={self.sign}\n  headers={headers}\n  body={body!r}"
        )


@st.composite
def requests(draw: st.DrawFn) -> Req:
    # Weighted choices use percent() because hypothesis draws small integers more often
    # than large ones: `percent() >= 80` is rarer than `== 0` would be.
    def percent() -> int:
        return draw(st.integers(0, 99))

    keyed = percent() >= 80
    sign = keyed and draw(st.booleans())
    if percent() >= 92:  # the native endpoints
        path = "/oculi/plates" if percent() < 25 else "/oculi/redact"
        query = draw(
            st.dictionaries(
                st.sampled_from(
                    ["mode", "faces", "collection", "threshold", "plates", "fine", "x"]
                ),
                st.one_of(
                    st.sampled_from(
                        [
                            "blur",
                            "pixelate",
                            "fill",
                            "all",
                            "except",
                            "only",
                            "fuzz1",
                            "nan",
                            "inf",
                            "-1",
                            "1e999",
                            "99",
                            "",
                            "1",
                            "true",
                        ]
                    ),
                    texts(max_size=6),
                ),
                max_size=4,
            )
        )
        q = "&".join(f"{k}={v}" for k, v in query.items()).encode("utf-8", "surrogatepass")
        body = base64.b64decode(draw(images())) if percent() < 80 else draw(st.binary(max_size=64))
        return Req(path, q, [], body, keyed, sign)
    name = draw(st.sampled_from(SERVED_OPS if percent() < 80 else ALL_OPS))
    target = (
        f"RekognitionService.{name}"
        if percent() < 85
        else draw(
            st.one_of(
                st.sampled_from(
                    [
                        "",
                        "RekognitionService.",
                        "rekognitionservice.DetectFaces",
                        "RekognitionService.DetectFaces ",
                        "RekognitionService.__init__",
                        "RekognitionService.DetectFaces\x00",
                        "X.DetectFaces",
                    ]
                ),
                texts(max_size=30),
            )
        )
    )
    if percent() < 80:
        body = encode(draw(op_params(name)), draw(st.integers(0, 3)))
    else:
        body = draw(MALFORMED)
    headers: list[tuple[bytes, bytes]] = [
        (
            b"content-type",
            draw(
                st.sampled_from(
                    [b"application/x-amz-json-1.1", b"application/json", b"", b"text/plain\xff"]
                )
            ),
        )
    ]
    if target or draw(st.booleans()):
        headers.append((b"x-amz-target", target.encode("utf-8", "surrogatepass")))
    length = (
        "right"
        if percent() < 75
        else draw(
            st.sampled_from(
                ["none", "zero", "bigger", "smaller", "huge", "super2", "long", "neg", "junk"]
            )
        )
    )
    value = {
        "right": str(len(body)),
        "zero": "0",
        "bigger": str(len(body) + 10),
        "smaller": str(max(len(body) - 1, 0)),
        "huge": str(2**64),
        "super2": "\xb2",
        "long": "9" * 5000,
        "neg": "-1",
        "junk": " 12 ",
    }.get(length)
    if value is not None:
        headers.append((b"content-length", value.encode("latin-1")))
    if keyed and not sign:
        headers.append(
            (
                b"authorization",
                draw(
                    st.one_of(
                        texts(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
                        st.sampled_from(
                            [
                                b"AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/"
                                b"rekognition/aws4_request, SignedHeaders=host;x-amz-date, "
                                b"Signature=00",
                                b"AWS4-HMAC-SHA256 ",
                                b"AWS4-HMAC-SHA256 a=b,,",
                                b"AWS4-HMAC-SHA256 Credential=\xff/x, SignedHeaders=;, "
                                b"Signature=\xe9",
                            ]
                        ),
                    )
                ),
            )
        )
        if draw(st.booleans()):
            headers.append(
                (
                    b"x-amz-date",
                    draw(
                        st.sampled_from(
                            [b"20240101T000000Z", b"99991231T235959Z", b"0", b"\xff" * 4]
                        )
                    ),
                )
            )
    return Req("/", b"", headers, body, keyed, sign)


def signed_headers(req: Req) -> list[tuple[bytes, bytes]]:
    aws = AWSRequest(
        method="POST",
        url="http://127.0.0.1:4566/",
        data=req.body,
        headers={
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in req.headers
            if k != b"content-length"
        },
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), "rekognition", "us-east-1").add_auth(aws)
    out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in aws.headers.items()]
    return out + [(k, v) for k, v in req.headers if k == b"content-length"]


# ---- driving the app ---------------------------------------------------------------------


async def asgi_call(app: Any, req: Req, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": req.path,
        "raw_path": req.path.encode(),
        "query_string": req.query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:4566"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("oculi.test", 80),
    }
    chunks = [req.body[i : i + 65536] for i in range(0, len(req.body), 65536)] or [b""]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await anyio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


class Harness:
    def __init__(self, data_dir: Path, slow_s: float) -> None:
        settings_ = Settings(
            data_dir=data_dir, s3_endpoint_url="http://127.0.0.1:9", workers=2, match_floor=80.0
        )
        ctx = ServiceContext(settings_)
        keys = {
            ACCESS_KEY: KeySpec(
                ACCESS_KEY,
                SECRET,
                allow=("*",),
                collections={"read": ("*",), "write": ("fuzz*",), "search": ("fuzz*",)},
            )
        }
        self.open_app = build_app(ctx, {})
        self.keyed_app = build_app(ctx, keys)
        self.capture = Capture()
        logging.getLogger("oculi.api").addHandler(self.capture)
        logging.getLogger("oculi.api").propagate = False
        self.findings = Findings()
        self.slow_s = slow_s
        self.portal_cm = anyio.from_thread.start_blocking_portal()
        self.portal = self.portal_cm.__enter__()

    def close(self) -> None:
        self.portal_cm.__exit__(None, None, None)

    def send(self, req: Req) -> tuple[int, bytes]:
        headers = signed_headers(req) if req.sign else req.headers
        app = self.keyed_app if req.keyed else self.open_app
        return self.portal.call(asgi_call, app, req, headers)

    def setup_state(self) -> None:
        """A collection with one indexed face and a user holding it, so that the list,
        search and user operations reach their deep paths."""

        def call(op: str, params: dict[str, Any]) -> dict[str, Any]:
            body = json.dumps(params).encode()
            status, out = self.send(
                Req(
                    "/",
                    b"",
                    [(b"x-amz-target", ("RekognitionService." + op).encode())],
                    body,
                    False,
                    False,
                )
            )
            doc = json.loads(out)
            print(f"  setup {op}: {status} {str(doc)[:100]}", flush=True)
            return doc

        call("CreateCollection", {"CollectionId": "fuzz1"})
        done = call(
            "IndexFaces",
            {
                "CollectionId": "fuzz1",
                "Image": {"Bytes": b64(FACE)},
                "ExternalImageId": "seed",
                "QualityFilter": "NONE",
            },
        )
        face_id = done["FaceRecords"][0]["Face"]["FaceId"]
        call("CreateUser", {"CollectionId": "fuzz1", "UserId": "u1"})
        call("AssociateFaces", {"CollectionId": "fuzz1", "UserId": "u1", "FaceIds": [face_id]})
        strategies.KNOWN_IDS[2] = face_id

    def check(self, req: Req) -> None:
        self.capture.last = None
        start = time.perf_counter()
        try:
            status, body = self.send(req)
        except Exception as e:  # the app itself raised: Starlette would answer 500
            self.findings.add(f"app raised {type(e).__name__}: {str(e)[:100]}", req.describe())
            return
        elapsed = time.perf_counter() - start
        f = self.findings
        f.requests += 1
        f.statuses[status] = f.statuses.get(status, 0) + 1
        f.slowest = max(f.slowest, elapsed)
        if status not in OK_STATUSES:
            f.add(f"status {status}: {self.capture.last or body[:100]!r}", req.describe())
        elif req.path == "/" and status != 200:
            try:
                doc = json.loads(body)
                assert set(doc) == {"__type", "Message"}, doc
            except (ValueError, AssertionError) as e:
                f.add(f"malformed error body: {e}", req.describe())
        if elapsed > self.slow_s:
            f.add(f"slow: over {self.slow_s:g}s", req.describe() + f"\n  took {elapsed:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow", type=float, default=10.0)
    parser.add_argument("--artifacts", default="fuzz-artifacts")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="oculi-fuzz-http-") as tmp:
        harness = Harness(Path(tmp), args.slow)
        try:
            harness.setup_state()

            @settings(
                max_examples=args.examples,
                deadline=None,
                database=None,
                derandomize=False,
                suppress_health_check=list(HealthCheck),
            )
            @given(requests())
            def fuzz(req: Req) -> None:
                harness.check(req)

            if args.seed:
                fuzz = __import__("hypothesis").seed(args.seed)(fuzz)
            fuzz()
        finally:
            harness.close()
    f = harness.findings
    wall = time.monotonic() - started
    statuses = ", ".join(f"{k}={v}" for k, v in sorted(f.statuses.items()))
    print(
        f"[http] DONE: {f.requests} requests in {wall:.0f}s; statuses: {statuses}; "
        f"slowest {f.slowest:.2f}s; distinct failures: {len(f.by_key)}",
        flush=True,
    )
    out = Path(args.artifacts)
    for i, (key, (_, request)) in enumerate(sorted(f.by_key.items())):
        print(f"\n--- failure {i + 1}: {key}\n{request}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"http-failure-{i + 1}.txt").write_text(
            f"{key}\n{request}\n", errors="backslashreplace"
        )
    sys.exit(1 if f.by_key else 0)


if __name__ == "__main__":
    main()
