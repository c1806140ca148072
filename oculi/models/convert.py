"""Repeatable conversions from a carrier's file to the file oculi runs.

Pure functions from bytes to bytes; the fetch step runs them and the tests check
that their output behaves like the original (see tests/test_models_convert.py).
"""

from __future__ import annotations

import ast
import io
import zipfile

import numpy as np


def python_bytes_literal(source: bytes, name: str) -> bytes:
    """The bytes literal assigned to `name` in a Python module, read without running it."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, bytes):
                return value
    raise ValueError(f"no bytes literal named {name!r} in module")


def zip_member(archive: bytes, member: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return z.read(member)


def _dequantize(
    x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block_size: int
) -> np.ndarray:
    """DequantizeLinear's arithmetic (opset 21): per-tensor, per-axis or blocked."""
    xf = x.astype(np.float32)
    zf = np.zeros_like(scale, np.float32) if zero is None else zero.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.size == 1:
        return (xf - zf.reshape(())) * scale.reshape(())
    axis = axis % x.ndim
    if scale.ndim == 1 and block_size == 0:
        shape = [1] * x.ndim
        shape[axis] = -1
        return (xf - zf.reshape(shape)) * scale.reshape(shape)
    # Blocked: scale has x's rank with x.shape[axis] / block_size along `axis`.
    rep_s = np.repeat(scale, block_size, axis=axis)
    rep_z = np.repeat(zf, block_size, axis=axis)
    sl = [slice(None)] * x.ndim
    sl[axis] = slice(0, x.shape[axis])
    return (xf - rep_z[tuple(sl)]) * rep_s[tuple(sl)]


def onnx_fold_dequantize(model_bytes: bytes) -> bytes:
    """Fold DequantizeLinear nodes whose inputs are all constants into fp32 weights,
    drop initialisers listed as graph inputs, and make the image input's height and
    width free so that one file serves every image size."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    keep_nodes = []
    new_inits: dict[str, onnx.TensorProto] = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all((not i) or i in inits for i in node.input):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            arrays = [numpy_helper.to_array(inits[i]) if i else None for i in node.input]
            x, scale = arrays[0], arrays[1]
            zero = arrays[2] if len(arrays) > 2 else None
            assert x is not None and scale is not None
            value = _dequantize(
                x, scale, zero, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
            )
            new_inits[node.output[0]] = numpy_helper.from_array(
                value.astype(np.float32), node.output[0]
            )
        else:
            keep_nodes.append(node)
    used = {i for n in keep_nodes for i in n.input} | {o.name for o in graph.output}
    kept_inits = [t for t in graph.initializer if t.name in used and t.name not in new_inits]
    kept_inits += [t for name, t in new_inits.items() if name in used]
    del graph.node[:]
    graph.node.extend(keep_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    init_names = {t.name for t in kept_inits}
    real_inputs = [i for i in graph.input if i.name not in init_names and i.name in used]
    del graph.input[:]
    graph.input.extend(real_inputs)
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4:
        for d, name in ((dims[2], "height"), (dims[3], "width")):
            d.ClearField("dim_value")
            d.dim_param = name
    for out in graph.output:
        out.type.tensor_type.shape.ClearField("dim")
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model.SerializeToString()


# --- TensorFlow Object Detection API SSD (frozen GraphDef) -> ONNX, without TensorFlow ----
# The GraphDef protobuf is read field by field (graph.proto, node_def.proto,
# attr_value.proto, tensor.proto field numbers); only the feature extractor and box
# predictors are translated, and the outputs are the raw box encodings and class logits of
# every anchor in TensorFlow's order (feature map row, column, anchor).

_TF_SSD_INPUT = "FeatureExtractor/MobilenetV2/MobilenetV2/input"
_TF_SSD_OPS = {
    "Conv2D",
    "DepthwiseConv2dNative",
    "FusedBatchNorm",
    "Relu6",
    "Add",
    "BiasAdd",
    "Identity",
}


def _pb_fields(buf: bytes):  # type: ignore[no-untyped-def]
    """(field number, value) of one protobuf message: ints for varints, bytes otherwise."""
    from google.protobuf.internal.decoder import _DecodeVarint

    i = 0
    while i < len(buf):
        key, i = _DecodeVarint(buf, i)
        wire = key & 7
        if wire == 0:
            value, i = _DecodeVarint(buf, i)
        elif wire == 2:
            size, i = _DecodeVarint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i : i + size], i + size
        else:
            raise ValueError(f"protobuf wire type {wire} not handled")
        yield key >> 3, value


def _pb_varints(buf: bytes) -> list[int]:
    from google.protobuf.internal.decoder import _DecodeVarint

    out, i = [], 0
    while i < len(buf):
        value, i = _DecodeVarint(buf, i)
        out.append(value)
    return out


def _tf_nodes(graph: bytes) -> dict[str, dict]:
    """NodeDefs by name, in graph order: op, inputs and raw AttrValues."""
    nodes: dict[str, dict] = {}
    for number, raw in _pb_fields(graph):
        if number != 1:
            continue
        node: dict = {"input": [], "attr": {}}
        for f, v in _pb_fields(raw):
            if f == 1:
                node["name"] = v.decode()
            elif f == 2:
                node["op"] = v.decode()
            elif f == 3:
                node["input"].append(v.decode().split(":")[0])
            elif f == 5:
                entry = dict(_pb_fields(v))
                node["attr"][entry[1].decode()] = entry.get(2, b"")
        nodes[node["name"]] = node
    return nodes


def _tf_attr(value: bytes, kind: str):  # type: ignore[no-untyped-def]
    """One AttrValue as a string (s), a float (f), a list of ints (ints) or a float
    tensor (tensor)."""
    for f, v in _pb_fields(value):
        if kind == "s" and f == 2:
            return v.decode()
        if kind == "f" and f == 4:
            return float(np.frombuffer(v, "<f4")[0])
        if kind == "ints" and f == 1:
            return [
                x
                for g, w in _pb_fields(v)
                if g == 3
                for x in (_pb_varints(w) if isinstance(w, bytes) else [w])
            ]
        if kind == "tensor" and f == 8:
            shape: list[int] = []
            data = b""
            for g, w in _pb_fields(v):
                if g == 2:
                    shape = [dict(_pb_fields(d)).get(1, 0) for h, d in _pb_fields(w) if h == 2]
                elif g in (4, 5):  # tensor_content, or (packed) float_val
                    data += w
            values = np.frombuffer(data, "<f4")
            if values.size == 1 and int(np.prod(shape)) > 1:
                values = np.full(shape, values[0], np.float32)
            return values.reshape(shape)
    raise ValueError(f"attribute has no {kind} value")


def tf_ssd_to_onnx(graph: bytes, classes: int, input_size: int = 300, layers: int = 6) -> bytes:
    """An Object Detection API SSD MobileNetV2 frozen graph as an ONNX model taking
    1 x S x S x 3 float pixels already scaled to [-1, 1] and giving `box_encodings`
    (1, anchors, 4) and `class_logits` (1, anchors, classes incl. background)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = _tf_nodes(graph)
    alias: dict[str, str] = {_TF_SSD_INPUT: "nchw"}
    out: list = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2])]
    weights: list = []

    def src(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    def const(name: str, suffix: str, reshape: tuple[int, ...] | None = None) -> str:
        while nodes[name]["op"] == "Identity":
            name = nodes[name]["input"][0]
        array = _tf_attr(nodes[name]["attr"]["value"], "tensor")
        weights.append(
            numpy_helper.from_array(
                np.ascontiguousarray(
                    array if reshape is None else array.reshape(reshape), np.float32
                ),
                name + suffix,
            )
        )
        return name + suffix

    for name, node in nodes.items():
        op = node["op"]
        if not name.startswith(("FeatureExtractor/", "BoxPredictor_")) or op not in _TF_SSD_OPS:
            continue
        if op == "Identity":
            alias.setdefault(name, node["input"][0])
            continue
        x = src(node["input"][0])
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            w = _tf_attr(nodes[src(node["input"][1])]["attr"]["value"], "tensor")
            if op == "Conv2D":  # HWIO -> OIHW
                w, group = w.transpose(3, 2, 0, 1), 1
            else:  # H W C M -> (C*M) 1 H W
                kh, kw, c, m = w.shape
                w, group = w.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), c
            weights.append(
                numpy_helper.from_array(np.ascontiguousarray(w, np.float32), name + "/W")
            )
            same = _tf_attr(node["attr"]["padding"], "s") == "SAME"
            out.append(
                helper.make_node(
                    "Conv",
                    [x, name + "/W"],
                    [name],
                    kernel_shape=list(w.shape[2:]),
                    strides=_tf_attr(node["attr"]["strides"], "ints")[1:3],
                    group=group,
                    auto_pad="SAME_UPPER" if same else "VALID",
                )
            )
        elif op == "FusedBatchNorm":
            params = [const(i, f"/bn{k}") for k, i in enumerate(node["input"][1:5])]
            out.append(
                helper.make_node(
                    "BatchNormalization",
                    [x, *params],
                    [name],
                    epsilon=_tf_attr(node["attr"]["epsilon"], "f"),
                )
            )
        elif op == "Relu6":
            lo = numpy_helper.from_array(np.float32(0.0), name + "/lo")
            hi = numpy_helper.from_array(np.float32(6.0), name + "/hi")
            weights += [lo, hi]
            out.append(helper.make_node("Clip", [x, lo.name, hi.name], [name]))
        elif op == "BiasAdd":
            out.append(
                helper.make_node("Add", [x, const(node["input"][1], "/b", (1, -1, 1, 1))], [name])
            )
        else:
            out.append(helper.make_node("Add", [x, src(node["input"][1])], [name]))

    outputs = []
    for kind, width, result in (
        ("BoxEncodingPredictor", 4, "box_encodings"),
        ("ClassPredictor", classes, "class_logits"),
    ):
        shape = numpy_helper.from_array(np.array([1, -1, width], np.int64), result + "/shape")
        weights.append(shape)
        flat = []
        for i in range(layers):
            head = f"BoxPredictor_{i}/{kind}/BiasAdd"
            out.append(helper.make_node("Transpose", [head], [head + "/nhwc"], perm=[0, 2, 3, 1]))
            out.append(helper.make_node("Reshape", [head + "/nhwc", shape.name], [head + "/flat"]))
            flat.append(head + "/flat")
        out.append(helper.make_node("Concat", flat, [result], axis=1))
        outputs.append(helper.make_tensor_value_info(result, TensorProto.FLOAT, [1, None, width]))
    graph_proto = helper.make_graph(
        out,
        "tf_ssd",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, input_size, input_size, 3])],
        outputs,
        weights,
    )
    model = helper.make_model(
        graph_proto,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="oculi.models.convert.tf_ssd_to_onnx",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
