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


def _dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int,
                block_size: int) -> np.ndarray:
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
        if node.op_type == "DequantizeLinear" and all(
            (not i) or i in inits for i in node.input
        ):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            arrays = [numpy_helper.to_array(inits[i]) if i else None for i in node.input]
            x, scale = arrays[0], arrays[1]
            zero = arrays[2] if len(arrays) > 2 else None
            assert x is not None and scale is not None
            value = _dequantize(x, scale, zero, int(attrs.get("axis", 1)),
                                int(attrs.get("block_size", 0)))
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
