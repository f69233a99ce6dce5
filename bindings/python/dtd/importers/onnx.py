"""``dtd.from_onnx``: an ONNX model as a libdtd network, through the ``onnx`` package.

The graph's nodes (ONNX keeps them in topological order) become one layer list, as for
``from_torch`` (DESIGN.md §3b); initializers and ``Constant`` nodes are the weights:

- ``Gemm`` (``transB``, ``alpha``, ``beta``; ``transA`` must be 0) and ``MatMul`` with a constant
  right operand, followed by an ``Add`` of a constant (the bias, folded in), as ``dense``;
- ``Conv`` (2-D, ``group`` 1, ``pads`` possibly asymmetric, ``strides``, ``dilations``,
  ``auto_pad``) as ``conv2d``; an ``Add`` of a per-channel constant right after it folds into its
  bias;
- ``Relu``; ``MaxPool`` and ``AveragePool`` (``count_include_pad``, ONNX's default 0),
  ``GlobalAveragePool`` (average pooling over the whole plane); ``BatchNormalization`` right
  after a ``Conv``/``Gemm`` (folded into it); ``Flatten`` (``axis`` 1) and ``Reshape`` to
  ``(N, -1)`` as ``flatten``; ``Dropout``/``Identity`` as ``identity``;
- ``Add`` of two tensors as ``add``, ``Concat`` on axis 1 as a concatenating ``route``;
- shape arithmetic feeding a ``Reshape`` (``Shape``, ``Gather``, ``Unsqueeze``, ``Concat``,
  ``Squeeze``, ``Slice``, ``Cast`` of constants), as ``torch.onnx.export`` writes
  ``x.view(x.size(0), -1)``, is evaluated, not turned into layers.

Layers are named after their ONNX node (``"/features/features.0/Conv"``); anything else is an
:class:`~dtd.errors.UnsupportedModelError` naming the node (name and op_type).
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..errors import UnsupportedModelError
from ._graph import LayerList, adaptive_avgpool, build, check_input_shape, float_dtype, padding4, require

__all__ = ["from_onnx", "convert"]

_SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Constant",
              "Identity")


def from_onnx(model: Any, *, dtype: Any = None) -> Any:
    """A :class:`dtd.Network` computing what an ONNX model computes.

    Parameters
    ----------
    model : str, os.PathLike, bytes or onnx.ModelProto
        A ``.onnx`` file, its bytes, or a loaded model.
    dtype : {"float32", "float64"}, optional
        By default the weights' own type (float32 for most exported models).

    Returns
    -------
    dtd.Network
        ``net.layer_names`` gives each layer's ONNX node name.

    Raises
    ------
    dtd.UnsupportedModelError
        A node libdtd cannot express (the message names it and its op_type), or a graph that is
        not one input -> one output.
    ValueError
        The data is not an ONNX model.
    """
    spec, weight_dtype = _convert(model)
    return build(spec, float_dtype(dtype, weight_dtype))


def convert(model: Any) -> dict[str, Any]:
    """The JSON model (a dict with numpy tensors) that :func:`from_onnx` builds."""
    return _convert(model)[0]


def load(model: Any) -> Any:
    """An ``onnx.ModelProto`` from a path, bytes or a ModelProto; ``ValueError`` if the data is
    not an ONNX model."""
    onnx = require("onnx", "dtd.from_onnx")
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        data, origin = bytes(model), "the given bytes"
    elif isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as file:
            data, origin = file.read(), os.fspath(model)
    else:
        raise TypeError(f"model must be a path, bytes or an onnx.ModelProto, got "
                        f"{type(model).__name__}")
    try:
        proto = onnx.ModelProto()
        proto.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError and friends
        raise ValueError(f"{origin} is not an ONNX model ({type(error).__name__}: {error})") from error
    if not proto.graph.node:
        raise ValueError(f"{origin} is not an ONNX model (no graph nodes)")
    if isinstance(model, (str, os.PathLike)) and any(
            t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        onnx.load_external_data_for_model(proto, os.path.dirname(os.path.abspath(model)))
    return proto


# MARK: - Translation


def _convert(model: Any) -> tuple[dict[str, Any], Any]:
    onnx = require("onnx", "dtd.from_onnx")
    proto = load(model)
    return _Translator(onnx, proto.graph).run()


def _attributes(onnx: Any, node: Any) -> dict[str, Any]:
    values = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        values[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return values


class _Translator:
    def __init__(self, onnx: Any, graph: Any):
        self.onnx = onnx
        self.graph = graph
        from onnx import numpy_helper
        self.constants: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.consumers: dict[str, int] = {}
        for node in graph.node:
            for name in node.input:
                if name:
                    self.consumers[name] = self.consumers.get(name, 0) + 1
        for output in graph.output:
            self.consumers[output.name] = self.consumers.get(output.name, 0) + 1
        self.weight_dtype: Any = None

    # MARK: - Graph

    def _label(self, node: Any, index: int) -> str:
        return node.name or f"{node.op_type}#{index}"

    def _unsupported(self, node: Any, index: int, why: str = "") -> UnsupportedModelError:
        return UnsupportedModelError(
            f"ONNX node {self._label(node, index)!r} (op_type {node.op_type}) is not supported"
            f"{': ' + why if why else ''}. libdtd explains ReLU networks of Gemm/MatMul, Conv, "
            f"Relu, MaxPool/AveragePool/GlobalAveragePool, BatchNormalization, Flatten/Reshape, "
            f"Dropout/Identity, Add and Concat")

    def run(self) -> tuple[dict[str, Any], Any]:
        graph = self.graph
        inputs = [i for i in graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise UnsupportedModelError(f"the ONNX graph has {len(inputs)} inputs "
                                        f"({', '.join(i.name for i in inputs)}); from_onnx needs "
                                        f"exactly one")
        if len(graph.output) != 1:
            raise UnsupportedModelError(f"the ONNX graph has {len(graph.output)} outputs; "
                                        f"from_onnx needs exactly one")
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) < 2 or any(not d.HasField("dim_value") for d in dims[1:]):
            described = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            raise UnsupportedModelError(f"ONNX input {inputs[0].name!r} has shape {described}; "
                                        f"from_onnx needs (batch, D) or (batch, C, H, W) with "
                                        f"fixed sizes after the batch axis")
        self.batch = dims[0].dim_value if dims[0].HasField("dim_value") and dims[0].dim_value > 0 else 2
        input_shape = check_input_shape([d.dim_value for d in dims[1:]])
        self.layers = LayerList(input_shape, inputs[0].name)
        for index, node in enumerate(graph.node):
            self._node(node, index)
        output = graph.output[0].name
        if output not in self.layers.where:
            raise UnsupportedModelError(f"the ONNX graph's output {output!r} is not computed "
                                        f"from its input")
        self.layers.finish(output)
        model = {"input_shape": list(input_shape), "layers": self.layers.layers}
        return model, self.weight_dtype or np.float32

    def _const(self, name: str) -> np.ndarray | None:
        return self.constants.get(name) if name else None

    def _weight(self, name: str, node: Any, index: int, what: str) -> np.ndarray:
        value = self._const(name)
        if value is None:
            raise self._unsupported(node, index, f"its {what} {name!r} is computed, not a "
                                                 f"constant (initializer)")
        if value.dtype.kind != "f":
            raise self._unsupported(node, index, f"its {what} {name!r} has type {value.dtype}")
        if self.weight_dtype is None or value.dtype == np.float64:
            self.weight_dtype = value.dtype
        return value

    def _activation(self, name: str, node: Any, index: int) -> str:
        if name not in self.layers.where:
            raise self._unsupported(node, index, f"its input {name!r} is neither the network "
                                                 f"input nor computed from it")
        return name

    def _only_output(self, node: Any, index: int) -> str:
        """The node's first output; any further output must be unused."""
        for extra in node.output[1:]:
            if extra and self.consumers.get(extra):
                raise self._unsupported(node, index, f"its output {extra!r} is used")
        return node.output[0]

    # MARK: - Nodes

    def _node(self, node: Any, index: int) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise self._unsupported(node, index, f"domain {node.domain!r}")
        attrs = _attributes(self.onnx, node)
        name = self._label(node, index)
        inputs = list(node.input)
        if op == "Constant":
            self.constants[node.output[0]] = self._constant_value(node, index, attrs)
            return
        if all(self._const(i) is not None or not i for i in inputs) and inputs:
            return self._fold(node, index, attrs)  # arithmetic on constants
        if op == "Shape":
            shape = (self.batch, *self.layers.value_shape(self._activation(inputs[0], node, index)))
            start, end = attrs.get("start", 0), attrs.get("end", None)
            self.constants[node.output[0]] = np.array(shape[start:end], dtype=np.int64)
            return
        out = self._only_output(node, index)
        layers = self.layers
        if op == "Relu":
            layers.unary(self._activation(inputs[0], node, index), out, {"type": "relu"}, name)
        elif op in ("Dropout", "Identity"):
            if op == "Dropout" and len(inputs) > 2 and self._const(inputs[2]) is not None \
                    and bool(self._const(inputs[2])):
                raise self._unsupported(node, index, "training_mode is true")
            layers.unary(self._activation(inputs[0], node, index), out, {"type": "identity"}, name)
        elif op == "Gemm":
            self._gemm(node, index, attrs, out, name)
        elif op == "MatMul":
            source = self._activation(inputs[0], node, index)
            weight = self._weight(inputs[1], node, index, "right operand")
            if weight.ndim != 2:
                raise self._unsupported(node, index, f"right operand of shape {weight.shape}")
            layers.unary(source, out, {"type": "dense", "weight": weight.T, "bias": None}, name)
        elif op == "Conv":
            self._conv(node, index, attrs, out, name)
        elif op in ("MaxPool", "AveragePool"):
            self._pool(node, index, attrs, out, name)
        elif op == "GlobalAveragePool":
            source = self._activation(inputs[0], node, index)
            shape = layers.value_shape(source)
            if len(shape) != 3:
                raise self._unsupported(node, index, f"applied to a {shape} tensor")
            layers.unary(source, out, adaptive_avgpool(shape, (1, 1)), name)
        elif op == "BatchNormalization":
            self._batchnorm(node, index, attrs, out, name)
        elif op == "Flatten":
            source = self._activation(inputs[0], node, index)
            rank = len(layers.value_shape(source)) + 1
            if attrs.get("axis", 1) % rank != 1:
                raise self._unsupported(node, index, f"axis = {attrs.get('axis')}; only axis 1 "
                                                     f"(flatten each sample) is supported")
            layers.unary(source, out, {"type": "flatten"}, name)
        elif op == "Reshape":
            self._reshape(node, index, attrs, out, name)
        elif op == "Add":
            self._add(node, index, out, name)
        elif op == "Concat":
            sources = [self._activation(i, node, index) for i in inputs]
            rank = len(layers.value_shape(sources[0])) + 1
            if attrs.get("axis", 0) % rank != 1:
                raise self._unsupported(node, index, f"axis = {attrs.get('axis')}; only the "
                                                     f"channel axis (1) is supported")
            layers.concat(sources, out, name)
        else:
            raise self._unsupported(node, index)

    def _constant_value(self, node: Any, index: int, attrs: dict[str, Any]) -> np.ndarray:
        from onnx import numpy_helper
        if "value" in attrs:
            return numpy_helper.to_array(attrs["value"])
        for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                           ("value_int", np.int64), ("value_ints", np.int64)):
            if key in attrs:
                return np.array(attrs[key], dtype=dtype)
        raise self._unsupported(node, index, f"a Constant with {', '.join(attrs) or 'no value'}")

    def _fold(self, node: Any, index: int, attrs: dict[str, Any]) -> None:
        """Evaluates a node whose inputs are all constants (shape arithmetic)."""
        op = node.op_type
        values = [self._const(i) for i in node.input]
        if op in ("Identity", "Dropout"):
            result = values[0]
        elif op == "Cast":
            result = values[0].astype(self.onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))
        elif op == "Gather":
            result = np.take(values[0], values[1].astype(np.int64), axis=attrs.get("axis", 0))
        elif op == "Unsqueeze":
            axes = attrs.get("axes", values[1] if len(values) > 1 else None)
            result = values[0]
            for axis in sorted(int(a) % (result.ndim + len(axes)) for a in axes):
                result = np.expand_dims(result, axis)
        elif op == "Squeeze":
            axes = attrs.get("axes", values[1] if len(values) > 1 else None)
            result = np.squeeze(values[0], axis=None if axes is None else tuple(int(a) for a in axes))
        elif op == "Concat":
            result = np.concatenate(values, axis=attrs.get("axis", 0))
        elif op == "Slice":
            data, starts, ends = values[:3]
            axes = values[3] if len(values) > 3 and values[3] is not None else range(len(starts))
            steps = values[4] if len(values) > 4 and values[4] is not None else [1] * len(starts)
            index_ = [slice(None)] * data.ndim
            for start, end, axis, step in zip(starts, ends, axes, steps):
                index_[int(axis)] = slice(int(start), int(end), int(step))
            result = data[tuple(index_)]
        else:
            raise self._unsupported(node, index, "arithmetic on constants that libdtd does not "
                                                 "evaluate")
        self.constants[node.output[0]] = np.asarray(result)

    def _gemm(self, node: Any, index: int, attrs: dict[str, Any], out: str, name: str) -> None:
        inputs = list(node.input)
        if attrs.get("transA", 0):
            raise self._unsupported(node, index, "transA = 1")
        if self._const(inputs[0]) is not None:
            raise self._unsupported(node, index, "its left operand A is a constant and its right "
                                                 "operand B is computed; a dense layer needs the "
                                                 "weights as B")
        source = self._activation(inputs[0], node, index)
        weight = self._weight(inputs[1], node, index, "B")
        if weight.ndim != 2:
            raise self._unsupported(node, index, f"B of shape {weight.shape}")
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        weight = weight if attrs.get("transB", 0) else weight.T  # libdtd's (out, in)
        if alpha != 1.0:
            weight = alpha * weight
        bias = None
        if len(inputs) > 2 and inputs[2]:
            bias = self._weight(inputs[2], node, index, "C")
            try:
                bias = np.broadcast_to(bias, (1, weight.shape[0])).reshape(-1)
            except ValueError:
                raise self._unsupported(node, index, f"C of shape {bias.shape} is not one value "
                                                     f"per output") from None
            if beta != 1.0:
                bias = beta * bias
        self.layers.unary(source, out, {"type": "dense", "weight": weight, "bias": bias}, name)

    def _spatial(self, node: Any, index: int, attrs: dict[str, Any], shape: tuple[int, ...],
                 kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
        """libdtd's padding from ``pads`` / ``auto_pad``."""
        auto_pad = attrs.get("auto_pad", "NOTSET")
        if auto_pad in ("NOTSET", ""):
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if len(pads) != 4:
                raise self._unsupported(node, index, f"pads = {pads}")
            top, left, bottom, right = pads  # ONNX: x1_begin, x2_begin, x1_end, x2_end
            return padding4(top, bottom, left, right)
        if auto_pad == "VALID":
            return [0, 0]
        if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
            raise self._unsupported(node, index, f"auto_pad = {auto_pad!r}")
        begins, ends = [], []
        for size, k, s, d in zip(shape[1:], kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        return padding4(begins[0], ends[0], begins[1], ends[1])

    def _conv(self, node: Any, index: int, attrs: dict[str, Any], out: str, name: str) -> None:
        inputs = list(node.input)
        source = self._activation(inputs[0], node, index)
        weight = self._weight(inputs[1], node, index, "weight")
        if weight.ndim != 4:
            raise self._unsupported(node, index, f"a {weight.ndim - 2}-D convolution; libdtd's "
                                                 f"conv2d is 2-D")
        if attrs.get("group", 1) != 1:
            raise self._unsupported(node, index, f"group = {attrs['group']} (grouped or "
                                                 f"depthwise convolution)")
        bias = self._weight(inputs[2], node, index, "bias") if len(inputs) > 2 and inputs[2] else None
        strides = list(attrs.get("strides", [1, 1]))
        dilations = list(attrs.get("dilations", [1, 1]))
        padding = self._spatial(node, index, attrs, self.layers.value_shape(source),
                                list(weight.shape[2:]), strides, dilations)
        self.layers.unary(source, out, {"type": "conv2d", "weight": weight, "bias": bias,
                                        "stride": strides, "padding": padding,
                                        "dilation": dilations}, name)

    def _pool(self, node: Any, index: int, attrs: dict[str, Any], out: str, name: str) -> None:
        source = self._activation(node.input[0], node, index)
        shape = self.layers.value_shape(source)
        if len(shape) != 3:
            raise self._unsupported(node, index, f"applied to a {shape} tensor")
        kernel = list(attrs.get("kernel_shape", []))
        if len(kernel) != 2:
            raise self._unsupported(node, index, f"kernel_shape = {kernel}")
        if attrs.get("ceil_mode", 0):
            raise self._unsupported(node, index, "ceil_mode = 1")
        dilations = list(attrs.get("dilations", [1, 1]))
        if dilations != [1, 1]:
            raise self._unsupported(node, index, f"dilations = {dilations}")
        strides = list(attrs.get("strides", [1, 1]))  # ONNX's default stride is 1
        padding = self._spatial(node, index, attrs, shape, kernel, strides, dilations)
        layer: dict[str, Any] = {"type": "maxpool2d" if node.op_type == "MaxPool" else "avgpool2d",
                                 "kernel": kernel, "stride": strides, "padding": padding}
        if node.op_type == "AveragePool":
            layer["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        self.layers.unary(source, out, layer, name)

    def _batchnorm(self, node: Any, index: int, attrs: dict[str, Any], out: str, name: str) -> None:
        inputs = list(node.input)
        source = self._activation(inputs[0], node, index)
        if attrs.get("training_mode", 0):
            raise self._unsupported(node, index, "training_mode = 1")
        before = self.layers.index_of(source)
        if (before != self.layers.current or self.layers.kind_of(before) not in ("dense", "conv2d")
                or self.consumers.get(source, 0) != 1):
            raise self._unsupported(node, index, "libdtd folds batch normalisation into the "
                                                 "Conv/Gemm right before it, whose output nothing "
                                                 "else may read")
        gamma, beta, mean, var = (self._weight(i, node, index, what) for i, what in
                                  zip(inputs[1:5], ("scale", "B", "mean", "var")))
        self.layers.unary(source, out, {"type": "batchnorm", "gamma": gamma, "beta": beta,
                                        "running_mean": mean, "running_var": var,
                                        "eps": float(attrs.get("epsilon", 1e-5))}, name)

    def _reshape(self, node: Any, index: int, attrs: dict[str, Any], out: str, name: str) -> None:
        inputs = list(node.input)
        source = self._activation(inputs[0], node, index)
        target = self._const(inputs[1])
        if target is None:
            raise self._unsupported(node, index, f"its shape {inputs[1]!r} is computed by ops "
                                                 f"libdtd does not evaluate")
        before = (self.batch, *self.layers.value_shape(source))
        dims = [int(d) for d in target.reshape(-1)]
        if not attrs.get("allowzero", 0):
            dims = [before[i] if d == 0 and i < len(before) else d for i, d in enumerate(dims)]
        if dims.count(-1) == 1:
            known = math.prod(d for d in dims if d != -1)
            dims[dims.index(-1)] = math.prod(before) // known if known else 0
        if dims != [before[0], math.prod(before[1:])]:
            raise self._unsupported(node, index, f"it reshapes {before} to {tuple(dims)}; only "
                                                 f"flattening each sample, (N, ...) -> (N, -1), "
                                                 f"is supported")
        self.layers.unary(source, out, {"type": "flatten"}, name)

    def _add(self, node: Any, index: int, out: str, name: str) -> None:
        left, right = list(node.input)[:2]
        constant = self._const(left) if self._const(left) is not None else self._const(right)
        if constant is None:
            sources = [self._activation(i, node, index) for i in (left, right)]
            self.layers.add(sources, out, name)
            return
        source = self._activation(right if self._const(left) is not None else left, node, index)
        self._fold_bias(node, index, source, self._weight(
            left if self._const(left) is not None else right, node, index, "addend"), out)

    def _fold_bias(self, node: Any, index: int, source: str, constant: np.ndarray, out: str) -> None:
        """``Add(layer output, constant)`` right after a dense/conv layer: the layer's bias."""
        layers = self.layers
        before = layers.index_of(source)
        kind = layers.kind_of(before)
        if before != layers.current or kind not in ("dense", "conv2d") or \
                self.consumers.get(source, 0) != 1:
            raise self._unsupported(node, index, "it adds a constant other than the bias right "
                                                 "after a MatMul/Gemm/Conv")
        layer = layers.layers[before]
        count = layer["weight"].shape[0]
        per_output = (1, count) if kind == "dense" else (1, count, 1, 1)  # ONNX broadcasting
        try:
            addend = np.broadcast_to(constant, per_output).reshape(-1)
        except ValueError:
            raise self._unsupported(node, index, f"the constant of shape {constant.shape} is not "
                                                 f"one value per output of {layer.get('name')!r}") from None
        bias = layer["bias"]
        layer["bias"] = addend.astype(layer["weight"].dtype) if bias is None else bias + addend
        layers.alias(source, out)
