"""Keras HDF5 model (.h5) -> ONNX, without TensorFlow.

Reads the `model_config` JSON attribute and the layer weights with h5py and writes an
equivalent ONNX graph with the `onnx` package. It covers the layers of a Keras
MobileNetV2-style classifier: InputLayer, Conv2D, DepthwiseConv2D, BatchNormalization
(folded into the convolution before it where that is exact, else a BatchNormalization
node), ReLU, Activation, ZeroPadding2D, Add, AveragePooling2D, GlobalAveragePooling2D,
Flatten, Dense and Dropout (identity at inference). Any other layer or option raises
ValueError rather than being approximated.

The graph keeps Keras' NHWC input and output layout and computes in NCHW inside. The
output is deterministic: the same .h5 bytes always give the same ONNX bytes (folding
uses only correctly rounded element-wise float operations).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime oculi supports (>= 1.17)
PRODUCER = "oculi.models.keras_h5"

Layer = dict[str, Any]


@dataclass
class _Graph:
    """ONNX nodes and weights being assembled; tensors are named after Keras layers."""

    nodes: list[Any] = field(default_factory=list)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    rank4: set[str] = field(default_factory=set)  # tensors held NCHW
    conv_of: dict[str, str] = field(default_factory=dict)  # conv output -> its layer

    def tensor(self, layer_name: str) -> str:
        return self.alias.get(layer_name, layer_name)

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def weight(self, name: str, value: np.ndarray) -> str:
        self.weights[name] = value
        return name


def _inbound(layer: Layer) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise ValueError(f"layer {layer['name']!r} is shared (called {len(nodes)} times)")
    return [entry[0] for entry in nodes[0]] if nodes else []


def _consumers(layers: list[Layer]) -> dict[str, int]:
    count: dict[str, int] = {}
    for layer in layers:
        for src in _inbound(layer):
            count[src] = count.get(src, 0) + 1
    return count


def _layer_weights(h5: Any, name: str) -> dict[str, np.ndarray]:
    """A layer's weights by short name (kernel, bias, gamma, ...)."""
    weights = h5["model_weights"]
    if name not in weights:
        return {}
    group = weights[name]
    out = {}
    for full in group.attrs.get("weight_names", []):
        full = full.decode() if isinstance(full, bytes) else str(full)
        short = full.rsplit("/", 1)[-1].split(":")[0]
        out[short] = np.asarray(group[full], dtype=np.float32)
    return out


def _activation(g: _Graph, kind: str, x: str, out: str) -> str:
    if kind == "linear":
        return g.node("Identity", [x], out)
    if kind == "relu":
        return g.node("Relu", [x], out)
    if kind == "relu6":
        return g.node(
            "Clip",
            [x, g.weight(f"{out}/lo", np.float32(0.0)), g.weight(f"{out}/hi", np.float32(6.0))],
            out,
        )
    if kind == "sigmoid":
        return g.node("Sigmoid", [x], out)
    if kind == "softmax":
        return g.node("Softmax", [x], out, axis=-1)
    raise ValueError(f"activation {kind!r} is not supported")


def _pads_same(cfg: dict[str, Any]) -> list[int]:
    """Keras 'same' padding as explicit pads: exact for stride 1 only."""
    kh, kw = cfg["kernel_size"]
    dh, dw = cfg.get("dilation_rate", [1, 1])
    if list(cfg["strides"]) != [1, 1]:
        raise ValueError(f"layer {cfg['name']!r}: 'same' padding with stride > 1 is not supported")
    eh, ew = dh * (kh - 1), dw * (kw - 1)
    return [eh // 2, ew // 2, eh - eh // 2, ew - ew // 2]


def _check_channels_last(cfg: dict[str, Any]) -> None:
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"layer {cfg['name']!r}: only channels_last is supported")


def _conv(g: _Graph, layer: Layer, w: dict[str, np.ndarray], x: str) -> str:
    cfg = layer["config"]
    _check_channels_last(cfg)
    name = layer["name"]
    if layer["class_name"] == "Conv2D":
        if cfg.get("groups", 1) != 1:
            raise ValueError(f"layer {name!r}: grouped Conv2D is not supported")
        kernel = w["kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
        group = 1
    else:
        k = w["depthwise_kernel"]  # (kh, kw, C, multiplier)
        group = k.shape[2]
        kernel = k.transpose(2, 3, 0, 1).reshape(k.shape[2] * k.shape[3], 1, *k.shape[:2])
    bias = w.get("bias", np.zeros(kernel.shape[0], np.float32))
    pads = _pads_same(cfg) if cfg["padding"] == "same" else [0, 0, 0, 0]
    if cfg["padding"] not in ("same", "valid"):
        raise ValueError(f"layer {name!r}: padding {cfg['padding']!r} is not supported")
    conv_out = name if cfg.get("activation", "linear") == "linear" else f"{name}/conv"
    g.node(
        "Conv",
        [x, g.weight(f"{name}/W", np.ascontiguousarray(kernel)), g.weight(f"{name}/B", bias)],
        conv_out,
        kernel_shape=list(kernel.shape[2:]),
        strides=list(cfg["strides"]),
        dilations=list(cfg.get("dilation_rate", [1, 1])),
        pads=pads,
        group=group,
    )
    if conv_out == name:
        g.conv_of[name] = name
        return name
    return _activation(g, cfg["activation"], conv_out, name)


def _batch_norm(
    g: _Graph, layer: Layer, w: dict[str, np.ndarray], x: str, src_consumers: int
) -> str:
    cfg = layer["config"]
    name = layer["name"]
    axis = cfg["axis"]
    if (axis if isinstance(axis, int) else axis[0]) not in (3, -1):
        raise ValueError(f"layer {name!r}: only channel-axis BatchNormalization is supported")
    mean, var = w["moving_mean"].astype(np.float64), w["moving_variance"].astype(np.float64)
    gamma = w["gamma"].astype(np.float64) if cfg.get("scale", True) else np.ones_like(mean)
    beta = w["beta"].astype(np.float64) if cfg.get("center", True) else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + float(cfg["epsilon"]))
    shift = beta - mean * scale
    conv = g.conv_of.get(x)
    if conv is not None and src_consumers == 1:
        # Exact fold: BN(conv(x, W) + b) = conv(x, W * s) + (b * s + shift).
        kernel = g.weights[f"{conv}/W"].astype(np.float64)
        bias = g.weights[f"{conv}/B"].astype(np.float64)
        g.weights[f"{conv}/W"] = (kernel * scale[:, None, None, None]).astype(np.float32)
        g.weights[f"{conv}/B"] = (bias * scale + shift).astype(np.float32)
        g.alias[name] = x
        g.conv_of[x] = conv
        return x
    return g.node(
        "BatchNormalization",
        [
            x,
            g.weight(f"{name}/scale", scale.astype(np.float32)),
            g.weight(f"{name}/shift", shift.astype(np.float32)),
            g.weight(f"{name}/zero", np.zeros_like(mean, np.float32)),
            g.weight(f"{name}/one", np.ones_like(mean, np.float32)),
        ],
        name,
        epsilon=0.0,
    )


def _relu(g: _Graph, layer: Layer, x: str) -> str:
    cfg = layer["config"]
    if float(cfg.get("negative_slope") or 0.0) != 0.0 or float(cfg.get("threshold") or 0.0):
        raise ValueError(f"layer {layer['name']!r}: leaky or thresholded ReLU not supported")
    top = cfg.get("max_value")
    if top is None:
        return g.node("Relu", [x], layer["name"])
    name = layer["name"]
    return g.node(
        "Clip",
        [x, g.weight(f"{name}/lo", np.float32(0.0)), g.weight(f"{name}/hi", np.float32(top))],
        name,
    )


def _zero_pad(g: _Graph, layer: Layer, x: str) -> str:
    cfg = layer["config"]
    _check_channels_last(cfg)
    (top, bottom), (left, right) = cfg["padding"]
    pads = np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)
    return g.node("Pad", [x, g.weight(f"{layer['name']}/pads", pads)], layer["name"])


def _avg_pool(g: _Graph, layer: Layer, x: str) -> str:
    cfg = layer["config"]
    _check_channels_last(cfg)
    if cfg["padding"] != "valid":
        raise ValueError(f"layer {layer['name']!r}: only 'valid' pooling is supported")
    strides = cfg.get("strides") or cfg["pool_size"]
    return g.node(
        "AveragePool",
        [x],
        layer["name"],
        kernel_shape=list(cfg["pool_size"]),
        strides=list(strides),
    )


def _global_avg_pool(g: _Graph, layer: Layer, x: str) -> str:
    cfg = layer["config"]
    _check_channels_last(cfg)
    name = layer["name"]
    pooled = g.node("GlobalAveragePool", [x], f"{name}/pool")
    if cfg.get("keepdims"):
        g.rank4.add(name)
        return g.node("Identity", [pooled], name)
    return g.node("Flatten", [pooled], name, axis=1)


def _flatten(g: _Graph, layer: Layer, x: str) -> str:
    name = layer["name"]
    if x in g.rank4:  # Keras flattens in H, W, C order
        x = g.node("Transpose", [x], f"{name}/nhwc", perm=[0, 2, 3, 1])
    return g.node("Flatten", [x], name, axis=1)


def _dense(g: _Graph, layer: Layer, w: dict[str, np.ndarray], x: str) -> str:
    cfg = layer["config"]
    name = layer["name"]
    if x in g.rank4:
        raise ValueError(f"layer {name!r}: Dense on a 4-D tensor is not supported")
    bias = w.get("bias", np.zeros(w["kernel"].shape[1], np.float32))
    linear = name if cfg.get("activation", "linear") == "linear" else f"{name}/linear"
    g.node("Gemm", [x, g.weight(f"{name}/W", w["kernel"]), g.weight(f"{name}/B", bias)], linear)
    return linear if linear == name else _activation(g, cfg["activation"], linear, name)


SPATIAL_OUT = {
    "Conv2D",
    "DepthwiseConv2D",
    "BatchNormalization",
    "ReLU",
    "Activation",
    "ZeroPadding2D",
    "Add",
    "AveragePooling2D",
    "Dropout",
}


def _emit(
    g: _Graph,
    layer: Layer,
    w: dict[str, np.ndarray],
    inputs: list[str],
    consumers: dict[str, int],
    src: list[str],
) -> str:
    kind = layer["class_name"]
    name = layer["name"]
    x = inputs[0] if inputs else ""
    handlers: dict[str, Callable[[], str]] = {
        "Conv2D": lambda: _conv(g, layer, w, x),
        "DepthwiseConv2D": lambda: _conv(g, layer, w, x),
        "BatchNormalization": lambda: _batch_norm(g, layer, w, x, consumers.get(src[0], 0)),
        "ReLU": lambda: _relu(g, layer, x),
        "Activation": lambda: _activation(g, layer["config"]["activation"], x, name),
        "ZeroPadding2D": lambda: _zero_pad(g, layer, x),
        "Add": lambda: g.node("Sum", inputs, name),
        "AveragePooling2D": lambda: _avg_pool(g, layer, x),
        "GlobalAveragePooling2D": lambda: _global_avg_pool(g, layer, x),
        "Flatten": lambda: _flatten(g, layer, x),
        "Dense": lambda: _dense(g, layer, w, x),
        "Dropout": lambda: g.alias.setdefault(name, x),
    }
    if kind not in handlers:
        raise ValueError(f"Keras layer type {kind!r} ({name!r}) is not supported")
    out = handlers[kind]()
    if kind in SPATIAL_OUT and x in g.rank4:
        g.rank4.add(out)
    return out


def keras_h5_to_onnx(data: bytes) -> bytes:
    """An ONNX model computing what the Keras functional or Sequential-as-functional
    model in the .h5 `data` computes (inference mode)."""
    import h5py
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    with h5py.File(io.BytesIO(data), "r") as h5:
        raw = h5.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        if config["class_name"] not in ("Model", "Functional"):
            raise ValueError(f"model class {config['class_name']!r} is not supported")
        layers: list[Layer] = config["config"]["layers"]
        weights = {layer["name"]: _layer_weights(h5, layer["name"]) for layer in layers}
    ((in_layer, _, _),) = config["config"]["input_layers"]
    ((out_layer, _, _),) = config["config"]["output_layers"]

    g = _Graph()
    consumers = _consumers(layers)
    graph_inputs = []
    for layer in layers:
        name = layer["name"]
        if layer["class_name"] == "InputLayer":
            shape = layer["config"]["batch_input_shape"]
            if len(shape) != 4:
                raise ValueError("only image (N, H, W, C) inputs are supported")
            graph_inputs.append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape[1:]])
            )
            g.alias[name] = g.node("Transpose", [name], f"{name}/nchw", perm=[0, 3, 1, 2])
            g.rank4.add(g.alias[name])
            continue
        src = _inbound(layer)
        _emit(g, layer, weights[name], [g.tensor(s) for s in src], consumers, src)
    if in_layer != graph_inputs[0].name:
        raise ValueError("the model's input is not its InputLayer")

    final = g.tensor(out_layer)
    if final in g.rank4:
        final = g.node("Transpose", [final], f"{out_layer}/nhwc", perm=[0, 2, 3, 1])
    output = g.node("Identity", [final], "output")
    used = {i for n in g.nodes for i in n.input}
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in g.weights.items() if k in used]
    graph = helper.make_graph(
        g.nodes, config["config"].get("name", "keras"), graph_inputs, [], inits
    )
    model = helper.make_model(
        graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = IR_VERSION
    # The output's shape, as ONNX's own shape inference finds it.
    inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    (info,) = [v for v in inferred if v.name == output]
    model.graph.output.append(info)
    onnx.checker.check_model(model)
    return model.SerializeToString()
