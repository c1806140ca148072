"""Hypothesis strategies for Rekognition requests, built from botocore's service model:
mostly well-typed values at and around every limit the model states, mixed with wrong
types, lone surrogates, huge integers, odd page tokens and tiny valid or damaged images.
Shared by fuzz/fuzz_http.py and tests/test_fuzz_regressions.py.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import craft
from botocore.model import Shape
from hypothesis import strategies as st
from PIL import Image

from oculi.api import spec

# Names that exist once fuzz_http.py has set up its state (see Harness.setup_state).
KNOWN_IDS = ["fuzz1", "u1", "11111111-2222-3333-4444-555555555555"]


def face_jpeg(width: int) -> bytes:
    im = Image.open(craft.FIXTURES / "obama-480p.jpg").convert("RGB")
    im = im.resize((width, int(im.height * width / im.width)))
    return craft.save(im, "JPEG", quality=85)


FACE = face_jpeg(240)  # big enough for a face to pass QualityFilter AUTO
IMAGES = [FACE, face_jpeg(48)] + [
    v for k, v in craft.small_seeds().items() if "bomb" not in k and "many-scans" not in k
]


# Hypothesis leaves lone surrogates out of text by default; JSON can carry them.
CHARS = st.characters(exclude_categories=())


def texts(max_size: int | None = None) -> st.SearchStrategy[str]:
    """Any text, one time in four with a lone surrogate spliced in."""
    plain = st.text(CHARS, max_size=max_size)
    spliced = st.tuples(plain, st.sampled_from(["\ud800", "\udfff", "\udc80"])).map(
        lambda t: (t[0][: len(t[0]) // 2] + t[1] + t[0][len(t[0]) // 2 :])[: max_size or None]
    )
    return st.one_of(plain, plain, plain, spliced)


WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    texts(max_size=8),
    st.just([]),
    st.just({}),
    st.sampled_from([10**400, -(10**400), 2**63, math.nan, math.inf, "\ud800"]),
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@st.composite
def images(draw: st.DrawFn) -> str:
    data = draw(st.sampled_from(IMAGES))
    kind = draw(st.integers(0, 5))
    if kind == 1:  # mutated bytes
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        data = data[:pos] + draw(st.binary(max_size=8)) + data[pos + 8 :]
    elif kind == 2:
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == 3:
        side = draw(st.sampled_from(craft.EDGE_SIDES))
        data = (
            craft.set_png_size(data, side, side)
            if data.startswith(craft.PNG_SIG)
            else craft.set_jpeg_size(data, side, side)
        )
    return b64(data)


def page_tokens() -> st.SearchStrategy[str]:
    values = st.one_of(
        st.integers(),
        st.sampled_from([10**30, -1, 2**63, "\ud800", "", "\x00", None, [], 1.5, True, "zzz"]),
        texts(max_size=20),
    )
    return st.one_of(
        values.map(
            lambda v: base64.urlsafe_b64encode(
                json.dumps(v).encode("utf-8", "surrogatepass")
            ).decode()
        ),
        texts(max_size=40),
    )


_strategies: dict[str, st.SearchStrategy[Any]] = {}


def for_shape(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly well-typed values at and around the model's limits, sometimes wrong ones."""
    t, meta = shape.type_name, shape.metadata
    if depth > 8:
        return WRONG
    if t == "structure":
        members = {k: for_shape(v, depth + 1) for k, v in shape.members.items()}
        required = {k: s for k, s in members.items() if k in shape.required_members}
        optional = {k: s for k, s in members.items() if k not in shape.required_members}
        good = st.fixed_dictionaries(required, optional=optional)
        dropped = st.fixed_dictionaries({}, optional=members)
        extra = st.builds(lambda d, k, v: {**d, k: v}, good, texts(max_size=6), WRONG)
        strat = st.one_of(good, good, good, dropped, extra)
    elif t == "list":
        hi = meta.get("max")
        strat = st.lists(
            for_shape(shape.member, depth + 1), max_size=min(hi + 1 if hi is not None else 4, 6)
        )
    elif t == "map":
        strat = st.dictionaries(texts(max_size=10), for_shape(shape.value, depth + 1), max_size=3)
    elif t == "string":
        if (
            shape.name == "PaginationToken"
            or shape.name.endswith("Token")
            and "NextToken" in shape.name
        ):
            strat = page_tokens()
        elif getattr(shape, "enum", None):
            strat = st.one_of(st.sampled_from(shape.enum), texts(max_size=8))
        elif meta.get("pattern") and spec._pattern(meta["pattern"]) is not None:
            regex = st.from_regex(meta["pattern"], fullmatch=True).map(lambda s: s[:64])
            known = st.sampled_from(KNOWN_IDS)
            strat = st.one_of(regex, known, regex, known, texts())
        else:
            strat = st.one_of(texts(max_size=30), st.sampled_from(["fuzz1", "x" * 1025]))
    elif t in ("integer", "long"):
        lo, hi = meta.get("min"), meta.get("max")
        edges = [v for b in (lo, hi) if b is not None for v in (b - 1, b, b + 1)]
        strat = st.one_of(
            st.integers(min_value=lo, max_value=hi),
            st.sampled_from(edges + [0, 2**63, 10**30, -(2**63) - 1]),
        )
    elif t in ("float", "double"):
        strat = st.one_of(
            st.floats(-1, 101), st.floats(), st.sampled_from([10**400, 1e308, -0.0, 100, 0])
        )
    elif t == "boolean":
        strat = st.booleans()
    elif t == "blob":
        strat = st.one_of(
            images(),
            images(),
            st.binary(max_size=40).map(b64),
            texts(max_size=12),
            st.sampled_from(["A", "AA=", "====", "A\nAAA"]),
        )
    else:
        strat = texts(max_size=20)
    # About one node in twelve gets a wrong type: enough to reach every type check, rare
    # enough that most requests pass validation and reach the handlers.
    return st.one_of(*[strat] * 11, WRONG)


def op_params(name: str) -> st.SearchStrategy[Any]:
    if name not in _strategies:
        op = spec.operation(name)
        # The top level stays an object (the server's own check covers the rest).
        _strategies[name] = (
            for_shape(op.input_shape).filter(lambda v: isinstance(v, dict))
            if op and op.input_shape
            else st.just({})
        )
    return _strategies[name]


def encode(value: Any, how: int) -> bytes:
    text = json.dumps(value, ensure_ascii=how % 2 == 0, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")
