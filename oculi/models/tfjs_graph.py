"""TF.js graph model (model.json + weight shards) -> ONNX, without TensorFlow.

A TF.js graph model's model.json holds the TensorFlow graph as a JSON node list (`op`,
`input`, `attr`) and a `weightsManifest` naming every constant with its shape and dtype
(float16-packed float32 included) in the order its bytes follow each other in the shards.
This module reads both and writes an equivalent ONNX graph with the `onnx` package for the
ops of an onnx-tf-exported detector such as NanoDet: Placeholder, Const, Identity, Pad,
PadV2, Transpose, Conv2D (NHWC), Add/AddV2, LeakyRelu, Sigmoid, MaxPool, ConcatV2,
ResizeBilinear, SplitV and Reshape. Subgraphs over constants only (the shape arithmetic
onnx-tf leaves behind: SparseToDense, AddV2) are evaluated here with numpy. Any other op,
attribute or weight packing raises ValueError rather than being approximated.

Tensors keep TensorFlow's layout; a convolution, pooling or resize is wrapped in transposes
to ONNX's NCHW, which onnxruntime's transpose optimiser cancels at load time. The output is
deterministic: the same model.json and shard bytes always give the same ONNX bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OPSET = 18
IR_VERSION = 8  # readable by every onnxruntime oculi supports (>= 1.17)
PRODUCER = "oculi.models.tfjs_graph"

Node = dict[str, Any]
_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4")}


def read_weights(manifest: list[dict[str, Any]], shards: bytes) -> dict[str, np.ndarray]:
    """Every constant of the weights manifest, read from the concatenated shard bytes."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for group in manifest:
        for w in group["weights"]:
            shape, dtype = [int(d) for d in w["shape"]], w["dtype"]
            if dtype not in _DTYPES:
                raise ValueError(f"weight {w['name']!r}: dtype {dtype!r} is not supported")
            count = int(np.prod(shape, dtype=np.int64))
            quant = w.get("quantization")
            if quant is None:
                stored = _DTYPES[dtype]
            elif quant.get("dtype") == "float16" and dtype == "float32":
                stored = np.dtype("<f2")
            else:
                raise ValueError(f"weight {w['name']!r}: quantization {quant} is not supported")
            end = offset + count * stored.itemsize
            if end > len(shards):
                raise ValueError(f"weight {w['name']!r} runs past the shards' {len(shards)} bytes")
            value = np.frombuffer(shards, stored, count, offset).astype(_DTYPES[dtype])
            out[w["name"]] = value.reshape(shape)
            offset = end
    if offset != len(shards):
        raise ValueError(f"the manifest covers {offset} of the shards' {len(shards)} bytes")
    return out


def _attr(node: Node, key: str, default: Any = None) -> Any:
    """A node attribute as a Python value (strings base64-decoded, lists of ints)."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "list" in a:
        return [int(i) for i in a["list"].get("i", [])]
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "i" in a:
        return int(a["i"])
    return a


def _ref(name: str) -> tuple[str, int]:
    """A node input ("node", "node:1") as (node, output index)."""
    node, _, index = name.partition(":")
    return node, int(index or 0)


@dataclass
class _Graph:
    nodes: list[Any] = field(default_factory=list)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    used_consts: dict[str, np.ndarray] = field(default_factory=dict)

    def node(self, op: str, inputs: list[str], output: str | list[str], **attrs: Any) -> str:
        from onnx import helper

        outputs = [output] if isinstance(output, str) else output
        self.nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0]

    def const(self, name: str) -> np.ndarray:
        if name not in self.consts:
            raise ValueError(f"{name!r} must be a constant")
        return self.consts[name]

    def initializer(self, name: str, value: np.ndarray | None = None) -> str:
        self.used_consts[name] = self.const(name) if value is None else value
        return name


def _tensor(name: str) -> str:
    node, index = _ref(name)
    return node if index == 0 else f"{node}:{index}"


def _nchw(g: _Graph, x: str, name: str) -> str:
    return g.node("Transpose", [x], f"{name}/nchw", perm=[0, 3, 1, 2])


def _nhwc(g: _Graph, x: str, name: str) -> str:
    return g.node("Transpose", [x], name, perm=[0, 2, 3, 1])


def _check_nhwc(node: Node) -> None:
    if _attr(node, "data_format", "NHWC") != "NHWC":
        raise ValueError(f"{node['name']}: only NHWC is supported")
    if _attr(node, "dilations", [1, 1, 1, 1]) != [1, 1, 1, 1]:
        raise ValueError(f"{node['name']}: dilations are not supported")


def _window(node: Node, key: str) -> list[int]:
    v = _attr(node, key)
    if len(v) != 4 or v[0] != 1 or v[3] != 1:
        raise ValueError(f"{node['name']}: {key} {v} is not spatial-only")
    return v[1:3]


def _auto_pad(node: Node) -> str:
    padding = _attr(node, "padding")
    if padding not in ("VALID", "SAME"):
        raise ValueError(f"{node['name']}: padding {padding!r} is not supported")
    return "VALID" if padding == "VALID" else "SAME_UPPER"


def _conv2d(g: _Graph, node: Node, x: list[str]) -> str:
    _check_nhwc(node)
    hwio = g.const(node["input"][1])
    w = g.initializer(f"{node['name']}/weight", np.ascontiguousarray(hwio.transpose(3, 2, 0, 1)))
    y = g.node(
        "Conv",
        [_nchw(g, x[0], node["name"]), w],
        f"{node['name']}/conv",
        strides=_window(node, "strides"),
        auto_pad=_auto_pad(node),
        kernel_shape=list(hwio.shape[:2]),
    )
    return _nhwc(g, y, node["name"])


def _max_pool(g: _Graph, node: Node, x: list[str]) -> str:
    _check_nhwc(node)
    y = g.node(
        "MaxPool",
        [_nchw(g, x[0], node["name"])],
        f"{node['name']}/pool",
        kernel_shape=_window(node, "ksize"),
        strides=_window(node, "strides"),
        auto_pad=_auto_pad(node),
    )
    return _nhwc(g, y, node["name"])


def _resize_bilinear(g: _Graph, node: Node, x: list[str]) -> str:
    if _attr(node, "align_corners", False) or not _attr(node, "half_pixel_centers", False):
        raise ValueError(f"{node['name']}: only half_pixel_centers resizing is supported")
    size = g.initializer(f"{node['name']}/size", g.const(node["input"][1]).astype(np.int64))
    y = g.node(
        "Resize",
        [_nchw(g, x[0], node["name"]), "", "", size],
        f"{node['name']}/resize",
        mode="linear",
        axes=[2, 3],
        coordinate_transformation_mode="half_pixel",
    )
    return _nhwc(g, y, node["name"])


def _pad(g: _Graph, node: Node, x: list[str]) -> str:
    pads = g.const(node["input"][1]).astype(np.int64)
    inputs = [x[0], g.initializer(f"{node['name']}/pads", pads.T.reshape(-1))]
    if node["op"] == "PadV2":
        value = g.const(node["input"][2]).astype(np.float32).reshape(())
        inputs.append(g.initializer(f"{node['name']}/value", value))
    return g.node("Pad", inputs, node["name"])


def _transpose(g: _Graph, node: Node, x: list[str]) -> str:
    perm = [int(p) for p in g.const(node["input"][1])]
    return g.node("Transpose", [x[0]], node["name"], perm=perm)


def _concat(g: _Graph, node: Node, x: list[str]) -> str:
    axis = int(g.const(node["input"][-1]))
    return g.node("Concat", x[:-1], node["name"], axis=axis)


def _split(g: _Graph, node: Node, x: list[str]) -> str:
    sizes = g.const(node["input"][1]).astype(np.int64)
    axis = int(g.const(node["input"][2]))
    if (sizes < 0).any():
        raise ValueError(f"{node['name']}: an inferred (-1) split size is not supported")
    outputs = [node["name"]] + [f"{node['name']}:{i}" for i in range(1, len(sizes))]
    g.node("Split", [x[0], g.initializer(f"{node['name']}/sizes", sizes)], outputs, axis=axis)
    return node["name"]


def _reshape(g: _Graph, node: Node, x: list[str]) -> str:
    shape = g.const(node["input"][1]).astype(np.int64)
    return g.node("Reshape", [x[0], g.initializer(f"{node['name']}/shape", shape)], node["name"])


def _add(g: _Graph, node: Node, x: list[str]) -> str:
    inputs = [g.initializer(i) if i in g.consts else t for i, t in zip(node["input"], x)]
    return g.node("Add", inputs, node["name"])


def _unary(
    onnx_op: str, **attrs: Callable[[Node], Any]
) -> Callable[[_Graph, Node, list[str]], str]:
    def emit(g: _Graph, node: Node, x: list[str]) -> str:
        kw = {k: f(node) for k, f in attrs.items()}
        return g.node(onnx_op, [x[0]], node["name"], **kw)

    return emit


_EMIT: dict[str, Callable[[_Graph, Node, list[str]], str]] = {
    "Conv2D": _conv2d,
    "MaxPool": _max_pool,
    "ResizeBilinear": _resize_bilinear,
    "Pad": _pad,
    "PadV2": _pad,
    "Transpose": _transpose,
    "ConcatV2": _concat,
    "SplitV": _split,
    "Reshape": _reshape,
    "Add": _add,
    "AddV2": _add,
    "LeakyRelu": _unary("LeakyRelu", alpha=lambda n: _attr(n, "alpha", 0.2)),
    "Sigmoid": _unary("Sigmoid"),
    "Identity": _unary("Identity"),
}


def _sparse_to_dense(args: list[np.ndarray]) -> np.ndarray:
    indices, shape, values, default = args
    out = np.full([int(s) for s in shape], default, dtype=default.dtype)
    rows = indices if indices.ndim == 2 else indices.reshape(-1, 1)
    for k, index in enumerate(rows.tolist()):
        out[tuple(index)] = values if values.ndim == 0 else values[k]
    return out


# Ops evaluated here when all their inputs are constants.
_FOLD: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {
    "AddV2": lambda a: a[0] + a[1],
    "Add": lambda a: a[0] + a[1],
    "SparseToDense": _sparse_to_dense,
}


def _order(nodes: dict[str, Node], outputs: list[str]) -> list[str]:
    """The nodes the outputs depend on, each after its inputs (depth-first, deterministic)."""
    done: list[str] = []
    seen: set[str] = set()
    stack: list[tuple[str, bool]] = [(o, False) for o in reversed(outputs)]
    while stack:
        name, expanded = stack.pop()
        if expanded:
            done.append(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        stack.append((name, True))
        for i in reversed(nodes[name].get("input", [])):
            stack.append((_ref(i)[0], False))
    return done


def tfjs_graph_to_onnx(model_json: bytes, shards: bytes) -> bytes:
    """An ONNX model computing what the TF.js graph model (its model.json and its weight
    shards' bytes concatenated in manifest order) computes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = json.loads(model_json)
    if spec.get("format") != "graph-model":
        raise ValueError(f"format {spec.get('format')!r} is not a TF.js graph model")
    nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
    signature = spec["signature"]
    outputs = sorted(_ref(o)[0] for o in signature["outputs"])
    g = _Graph(consts=read_weights(spec["weightsManifest"], shards))
    graph_inputs = []
    for name in _order(nodes, outputs):
        node = nodes[name]
        op = node["op"]
        if op == "Const":
            g.const(name)
        elif op == "Placeholder":
            dims = [int(d["size"]) for d in _attr(node, "shape")["shape"]["dim"]]
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        elif op in _FOLD and all(_ref(i)[0] in g.consts for i in node["input"]):
            g.consts[name] = _FOLD[op]([g.const(_ref(i)[0]) for i in node["input"]])
        elif op in _EMIT:
            _EMIT[op](g, node, [_tensor(i) for i in node["input"]])
        else:
            raise ValueError(f"{name}: op {op!r} is not supported")
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in g.used_consts.items()]
    graph = helper.make_graph(g.nodes, PRODUCER, graph_inputs, [], inits)
    model = helper.make_model(
        graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = IR_VERSION
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    model.graph.output.extend(inferred[o] for o in outputs)
    onnx.checker.check_model(model)
    return model.SerializeToString()
