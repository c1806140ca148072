"""Coverage-guided fuzzing of `oculi.api.spec.validate` over every Rekognition operation's
input shape (botocore's service model), with atheris.

Each input's first byte picks a mode: mostly a shape-directed value built from the rest of
the bytes (members kept, dropped or unknown; values of the right type at and around every
min/max/enum/pattern boundary, or of the wrong type: huge ints, NaN, surrogates, nesting),
sometimes the bytes as a JSON request body parsed exactly as the server parses it.

Contract checked: validate() returns, or raises an `OculiError` subclass; what it returns
has the shape's types (blobs decoded to bytes, floats as float, strings encodable as UTF-8,
i.e. no lone surrogates, which sqlite3, botocore and Starlette cannot encode) and its
required members;
and, as a differential oracle, botocore's own client-side validator accepts what oculi
accepted (botocore checks a subset of the rules oculi checks). Inputs slower than 0.5 s
(regular-expression blow-ups, quadratic walks) are saved as `slow-validate-*`.

    python fuzz/fuzz_validate.py CORPUS_DIR -atheris_runs=700000 \
        -max_len=8192 -timeout=10

"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["oculi"]):
    from botocore.model import Shape
    from botocore.validate import ParamValidator

    from oculi.api import server, spec
    from oculi.errors import OculiError

from common import Tally  # noqa: E402

TALLY: Tally
OPERATIONS = sorted(spec.service_model().operation_names)
WEIRD_STRINGS = (
    "",
    " ",
    "a",
    "\x00",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "é",
    "aws:x",
    "../../etc/passwd",
    "a" * 256,
    "A" * 1025,
    "%s%n",
    "\n",
    "*",
    "[",
    "\\",
)
WEIRD_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    -(2**63) - 1,
    2**64,
    10**300,
    0.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    "",
    "\ud800",
    [],
    {},
    [None],
    {"": None},
    [[[[]]]],
)
BOTOCORE = ParamValidator()


class Gen:
    """Builds a value for a shape from fuzzer bytes."""

    def __init__(self, fdp: atheris.FuzzedDataProvider) -> None:
        self.fdp = fdp

    def pick(self, options: tuple[Any, ...] | list[Any]) -> Any:
        return options[self.fdp.ConsumeIntInRange(0, len(options) - 1)]

    def value(self, shape: Shape, depth: int = 0) -> Any:
        if self.fdp.ConsumeIntInRange(0, 15) == 0:
            return self.wrong(depth)
        t = shape.type_name
        meta = shape.metadata
        if t == "structure":
            out: dict[str, Any] = {}
            for name, member in shape.members.items():
                keep = name in shape.required_members or self.fdp.ConsumeBool()
                if keep and depth < 12:
                    out[name] = self.value(member, depth + 1)
            if self.fdp.ConsumeIntInRange(0, 31) == 0:
                out[self.string(None)] = self.wrong(depth)
            return out
        if t == "list":
            n = self.length(meta, 6)
            return [self.value(shape.member, depth + 1) for _ in range(n)]
        if t == "map":
            n = self.length(meta, 4)
            # JSON object keys are always strings.
            return {
                self.string(shape.key.metadata): self.value(shape.value, depth + 1)
                for _ in range(n)
            }
        if t == "string":
            enum = getattr(shape, "enum", None) or []
            if enum and self.fdp.ConsumeIntInRange(0, 3):
                return self.pick(enum)
            return self.string(meta)
        if t in ("integer", "long"):
            return self.number(meta, integer=True)
        if t in ("float", "double"):
            return self.number(meta, integer=False)
        if t == "boolean":
            return self.fdp.ConsumeBool()
        if t == "blob":
            return self.blob(meta)
        if t == "timestamp":
            return self.pick((0, 1.5, "2024-01-01T00:00:00Z", "x", -1))
        return self.wrong(depth)

    def length(self, meta: dict[str, Any], typical: int) -> int:
        lo, hi = meta.get("min", 0), meta.get("max")
        choices = [lo, max(lo - 1, 0), lo + 1, self.fdp.ConsumeIntInRange(0, typical)]
        if hi is not None and hi <= 64:
            choices += [hi, hi + 1]
        return int(self.pick(choices))

    def string(self, meta: dict[str, Any] | None) -> str:
        meta = meta or {}
        mode = self.fdp.ConsumeIntInRange(0, 3)
        if mode == 0:
            return str(self.pick(WEIRD_STRINGS))
        if mode == 1:
            n = self.length(meta, 8) if meta.get("max", 0) <= 4096 else 8
            return str(self.pick(("a", "0", "_", "-", ".", ":", "A1"))) * n
        if mode == 2 and meta.get("max") is not None and meta["max"] <= 70_000:
            ch = str(self.pick(("a", "1", "é", "\ud800", " ")))
            return ch * int(self.pick((meta["max"], meta["max"] + 1)))
        return (
            self.fdp.ConsumeUnicodeNoSurrogates(self.fdp.ConsumeIntInRange(0, 64))
            if self.fdp.ConsumeBool()
            else self.fdp.ConsumeUnicode(self.fdp.ConsumeIntInRange(0, 64))
        )

    def number(self, meta: dict[str, Any], integer: bool) -> Any:
        lo, hi = meta.get("min"), meta.get("max")
        edges: list[Any] = [0, 1, -1, 2**31 - 1, 2**31, 2**63, -(2**63), 10**400]
        for bound in (lo, hi):
            if bound is not None:
                edges += [bound, bound - 1, bound + 1]
        if not integer:
            edges += [
                0.5,
                math.nan,
                math.inf,
                -math.inf,
                1e-320,
                -0.0,
                1e308,
                self.fdp.ConsumeRegularFloat(),
            ]
        v = (
            self.pick(edges)
            if self.fdp.ConsumeIntInRange(0, 3)
            else self.fdp.ConsumeIntInRange(-(2**40), 2**40)
        )
        return (
            float(v)
            if not integer and isinstance(v, int) and v < 2**1000 and self.fdp.ConsumeBool()
            else v
        )

    def blob(self, meta: dict[str, Any]) -> Any:
        import base64

        mode = self.fdp.ConsumeIntInRange(0, 7)
        if mode == 0:
            return self.pick(
                (
                    "",
                    "=",
                    "====",
                    "AAA",
                    "AA==",
                    "A===",
                    "!!!!",
                    " AAAA",
                    "AA\nAA",
                    "\ud800AAA",
                    "AAAA" * 3 + "=",
                    "AA=A",
                )
            )
        if mode == 1 and meta.get("max") and self.fdp.ConsumeIntInRange(0, 63) == 0:
            n = int(meta["max"]) + self.fdp.ConsumeIntInRange(-1, 1)
            return base64.b64encode(b"\0" * n).decode()  # at the size limit, either side
        raw = self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, 200))
        text = base64.b64encode(raw).decode()
        if mode == 2 and text:
            cut = self.fdp.ConsumeIntInRange(0, len(text) - 1)
            text = text[:cut] + self.fdp.ConsumeUnicode(2) + text[cut + 1 :]
        return text

    def wrong(self, depth: int) -> Any:
        v = self.pick(WEIRD_VALUES)
        if depth < 4 and self.fdp.ConsumeIntInRange(0, 7) == 0:
            return (
                [self.wrong(depth + 1)]
                if self.fdp.ConsumeBool()
                else {self.string(None): self.wrong(depth + 1)}
            )
        return v


def check_result(shape: Shape, value: Any, out: Any) -> None:
    """What validate() returns has the shape's types; required members are present."""
    t = shape.type_name
    if t == "structure":
        assert isinstance(out, dict)
        for req in shape.required_members:
            assert out.get(req) is not None, req
        for k, v in out.items():
            check_result(shape.members[k], value[k], v)
    elif t == "list":
        assert isinstance(out, list) and len(out) == len(value)
        for i, v in enumerate(out):
            check_result(shape.member, value[i], v)
    elif t == "map":
        assert isinstance(out, dict)
    elif t == "blob":
        assert isinstance(out, bytes)
    elif t in ("float", "double"):
        assert isinstance(out, float) and math.isfinite(out)
    elif t in ("integer", "long"):
        assert isinstance(out, int) and not isinstance(out, bool)
    elif t == "string":
        assert isinstance(out, str)
        # What is accepted must survive sqlite3, botocore and JSON responses.
        out.encode("utf-8")
    elif t == "boolean":
        assert isinstance(out, bool)


def botocore_accepts(shape: Shape, params: dict[str, Any]) -> str:
    report = BOTOCORE.validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def run(op_name: str, value: Any) -> str:
    shape = spec.operation(op_name).input_shape
    if shape is None:
        return "no-input"
    try:
        out = spec.validate(shape, value)
    except OculiError as e:
        return type(e).__name__
    check_result(shape, value, out)
    problems = botocore_accepts(shape, out)
    assert not problems, f"oculi accepted what botocore refuses: {problems}"
    return "ok"


def test_one_input(data: bytes) -> None:
    start = time.perf_counter()
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 7)
    op_name = OPERATIONS[fdp.ConsumeIntInRange(0, len(OPERATIONS) - 1)]
    if mode == 0:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
        try:  # the server's parsing (oculi/api/server.py)
            value = server.json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            TALLY.record("json-refused", data, time.perf_counter() - start)
            return
        except RecursionError:
            # Deep nesting: the server must answer SerializationException (the HTTP harness
            # and tests/test_fuzz_regressions.py check that it does, rather than a 500).
            TALLY.record("json-too-deep", data, time.perf_counter() - start)
            return
        outcome = run(op_name, value) if isinstance(value, dict) else "not-object"
    else:
        shape = spec.operation(op_name).input_shape
        value = Gen(fdp).value(shape) if shape is not None else {}
        outcome = run(op_name, value)
    TALLY.record(outcome, data, time.perf_counter() - start)


def fill_corpus(corpus: Path) -> None:
    if any(corpus.iterdir()):
        return
    docs = [
        b'{"Image": {"Bytes": "AAAA"}}',
        b'{"CollectionId": "c1"}',
        b"{}",
        b"[]",
        b'{"Image": {"S3Object": {"Bucket": "b", "Name": "k"}}, "Attributes": ["ALL"]}',
        b'{"MaxResults": 4096, "NextToken": "eyJ4Ijp9"}',
        b'{"FaceMatchThreshold": 1e999}',
        b'{"CollectionId": "c", "FaceIds": ["x"], "UserId": "u"}',
        b"[" * 60 + b"]" * 60,
    ]
    n = 0
    for i in range(len(OPERATIONS)):
        for doc in docs:
            (corpus / f"json-{n}").write_bytes(bytes([0, i]) + doc)
            n += 1
        for j in range(4):
            (corpus / f"gen-{n}").write_bytes(bytes([1 + j, i]) + bytes(range(j, 64 + j)))
            n += 1
    print(f"seeded {corpus} with {n} inputs", flush=True)


def main() -> None:
    global TALLY
    for arg in sys.argv[1:]:
        if not arg.startswith("-"):
            Path(arg).mkdir(parents=True, exist_ok=True)
            fill_corpus(Path(arg))
            break
    TALLY = Tally("validate", sys.argv, slow_s=0.5)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
