"""EfficientNet-Lite (PyTorch state dict, efficientnet_lite_pytorch's layout) -> ONNX.

The graph is that of efficientnet_lite_pytorch 0.1.0's EfficientNet built for
'efficientnet-lite2' (read there; nothing of that package runs here): a 3x3 stride-2 stem
convolution, 21 mobile inverted bottleneck blocks in 7 stages, a 1x1 head convolution to
1280 channels, global average pooling and a 1000-way linear layer. Every convolution is
followed by BatchNormalization (eps 1e-3), folded into the convolution here, and then,
except for a block's projection, ReLU6 (Lite models use ReLU6 and no squeeze-excitation;
efficientnet_lite_pytorch's `set_swish()` would silently swap ReLU6 for swish, so it is
never part of the reference). A block adds its input to its output when its stride is 1
and its input and output widths match. Convolutions pad as TensorFlow's 'SAME' does for
a fixed input size (the package's Conv2dStaticSamePadding: the odd pixel at the end).

Channel widths and kernel sizes are read from the weights' shapes; the stage layout
(blocks per stage, first stride) is Lite2's. The input is 1x3xSxS RGB, normalised as the
caller's preprocessing does; the output is the 1000 ImageNet logits. The output is
deterministic: the same state dict always gives the same ONNX bytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime oculi supports (>= 1.17)
PRODUCER = "oculi.models.efficientnet_lite"
BN_EPS = 1e-3
# EfficientNet-Lite2: (blocks, stride of the first) per stage, its depth multiplier 1.2
# applied to every stage but the first and last (Lite models fix the stem and head).
LITE2_STAGES = ((1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1))
LITE2_SIZE = 260


class _Graph:
    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[Any] = []
        self.weights: dict[str, np.ndarray] = {}
        self.used: set[str] = set()

    def take(self, key: str) -> np.ndarray:
        if key not in self.state:
            raise ValueError(f"the state dict has no {key!r}")
        self.used.add(key)
        return self.state[key].astype(np.float64)

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def weight(self, name: str, value: np.ndarray) -> str:
        self.weights[name] = value
        return name


def _same_pads(size: int, kernel: int, stride: int) -> tuple[list[int], int]:
    """TensorFlow 'SAME' pads (top, left, bottom, right) for a square input, and the
    output size."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2], out


def _conv_bn(
    g: _Graph,
    x: str,
    conv: str,
    bn: str,
    size: int,
    stride: int,
    relu6: bool,
    depthwise: bool = False,
) -> tuple[str, int]:
    """Conv (no bias) + BatchNorm folded, then ReLU6 if asked; returns (tensor, size)."""
    kernel = g.take(f"{conv}.weight")
    scale = g.take(f"{bn}.weight") / np.sqrt(g.take(f"{bn}.running_var") + BN_EPS)
    bias = g.take(f"{bn}.bias") - g.take(f"{bn}.running_mean") * scale
    g.used.add(f"{bn}.num_batches_tracked")
    groups = kernel.shape[0] if depthwise else 1
    k = kernel.shape[-1]
    pads, out_size = _same_pads(size, k, stride)
    y = g.node(
        "Conv",
        [
            x,
            g.weight(f"{conv}/W", (kernel * scale[:, None, None, None]).astype(np.float32)),
            g.weight(f"{conv}/B", bias.astype(np.float32)),
        ],
        conv,
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=pads,
        group=groups,
    )
    if relu6:
        y = g.node(
            "Clip",
            [y, g.weight(f"{conv}/lo", np.float32(0.0)), g.weight(f"{conv}/hi", np.float32(6.0))],
            f"{conv}/relu6",
        )
    return y, out_size


def _block(g: _Graph, x: str, i: int, size: int, stride: int) -> tuple[str, int]:
    prefix = f"_blocks.{i}"
    y = x
    if f"{prefix}._expand_conv.weight" in g.state:
        y, _ = _conv_bn(g, y, f"{prefix}._expand_conv", f"{prefix}._bn0", size, 1, True)
    y, size_out = _conv_bn(
        g, y, f"{prefix}._depthwise_conv", f"{prefix}._bn1", size, stride, True, depthwise=True
    )
    y, _ = _conv_bn(g, y, f"{prefix}._project_conv", f"{prefix}._bn2", size_out, 1, False)
    width_in = g.state[f"{prefix}._depthwise_conv.weight"].shape[0]
    if f"{prefix}._expand_conv.weight" in g.state:
        width_in = g.state[f"{prefix}._expand_conv.weight"].shape[1]
    if stride == 1 and width_in == g.state[f"{prefix}._project_conv.weight"].shape[0]:
        y = g.node("Add", [y, x], f"{prefix}/add")
    return y, size_out


def efficientnet_lite2_to_onnx(state: dict[str, np.ndarray]) -> bytes:
    """An ONNX model computing EfficientNet-Lite2's logits from its PyTorch state dict."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = _Graph(state)
    x, size = _conv_bn(g, "image", "_conv_stem", "_bn0", LITE2_SIZE, 2, True)
    strides = [
        s if j == 0 else 1
        for n, (base, s) in enumerate(LITE2_STAGES)
        for j in range(base if n in (0, len(LITE2_STAGES) - 1) else math.ceil(1.2 * base))
    ]
    blocks = {k.split(".")[1] for k in state if k.startswith("_blocks.")}
    if len(blocks) != len(strides):
        raise ValueError(f"the state dict has {len(blocks)} blocks, Lite2 has {len(strides)}")
    for i, stride in enumerate(strides):
        x, size = _block(g, x, i, size, stride)
    x, _ = _conv_bn(g, x, "_conv_head", "_bn1", size, 1, True)
    x = g.node("GlobalAveragePool", [x], "pool")
    x = g.node("Flatten", [x], "features", axis=1)
    fc_w, fc_b = g.take("_fc.weight"), g.take("_fc.bias")
    g.node(
        "Gemm",
        [x, g.weight("fc/W", fc_w.astype(np.float32)), g.weight("fc/B", fc_b.astype(np.float32))],
        "logits",
        transB=1,
    )
    unused = set(state) - g.used
    if unused:
        raise ValueError(
            f"the state dict has weights this graph does not use: {sorted(unused)[:5]}"
        )
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in g.weights.items()]
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite2",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, LITE2_SIZE, LITE2_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, fc_w.shape[0]])],
        inits,
    )
    model = helper.make_model(
        graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()
