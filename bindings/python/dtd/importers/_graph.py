"""The layer list the importers write: values of a model graph placed in libdtd's one list.

A model graph (torch.fx, ONNX) has values; libdtd has one list of layers in which every layer
reads the previous layer's output unless it is a ``route`` or ``add`` (DESIGN.md §3b).
:class:`LayerList` keeps, for each graph value, the index of the layer whose output it is
(``-1`` = the network input), so a frontend only says "this op reads these values":

- an op whose input is not the previous layer's output gets a ``route(from: [i])`` first;
- a residual sum becomes ``add(from: [other])`` right after one operand (or after a route to
  it), a channel concatenation ``route(from: [i, j, ...])``.

It also computes each layer's output shape (so frontends can check their translation against
the framework's own shapes) and writes the JSON layer dicts of the model format.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import DTDError, UnsupportedModelError
from .. import _capi

Shape = tuple[int, ...]


def require(module: str, what: str) -> Any:
    """Imports an optional dependency, or says which package to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{what} needs the optional package {module.split('.')[0]!r} "
                          f"(pip install {module.split('.')[0]}): {error}") from error


def check_input_shape(input_shape: Any, ranks: tuple[int, ...] | None = (1, 3)) -> Shape:
    """One sample's shape, ``(D,)`` or ``(C, H, W)`` (an int means ``(D,)``); ``ranks=None``
    checks only that it is a shape (positive ints, no batch axis)."""
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    try:
        shape = tuple(int(operator_index(s)) for s in input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be a tuple of ints such as (3, 224, 224), "
                         f"got {input_shape!r}") from None
    if len(shape) == 4:
        raise ValueError(f"input_shape is one sample's shape, (C, H, W) without the batch axis; "
                         f"got {shape}")
    if any(s <= 0 for s in shape) or (ranks is not None and len(shape) not in ranks):
        raise ValueError(f"input_shape must be (D,) or (C, H, W) with positive sizes, got {shape}")
    return shape


def operator_index(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    import operator
    return operator.index(value)


def padding4(top: int, bottom: int, left: int, right: int) -> list[int]:
    """``[ph, pw]`` when symmetric (every libdtd reads it), else ``[top, bottom, left, right]``."""
    if top == bottom and left == right:
        return [int(top), int(left)]
    return [int(top), int(bottom), int(left), int(right)]


def _pads(padding: Sequence[int]) -> tuple[int, int, int, int]:
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(padding)  # type: ignore[return-value]


def _window(size: int, kernel: int, stride: int, before: int, after: int, dilation: int = 1) -> int:
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


class LayerList:
    """Layers in the JSON model format, built from graph values (see the module doc).

    Args:
        input_shape: one sample's shape.
        input_key: the graph value that is the network input.
    """

    def __init__(self, input_shape: Shape, input_key: Hashable):
        self.input_shape = tuple(input_shape)
        self.layers: list[dict[str, Any]] = []
        self.shapes: list[Shape] = []
        self.where: dict[Hashable, int] = {input_key: -1}
        self.current = -1  # the layer whose output the next plain layer reads

    # MARK: - Queries

    def shape_of(self, index: int) -> Shape:
        return self.input_shape if index == -1 else self.shapes[index]

    def index_of(self, key: Hashable) -> int:
        return self.where[key]

    def value_shape(self, key: Hashable) -> Shape:
        return self.shape_of(self.where[key])

    def kind_of(self, index: int) -> str | None:
        return None if index == -1 else self.layers[index]["type"]

    def is_current(self, key: Hashable) -> bool:
        return self.where.get(key) == self.current

    # MARK: - Placing layers

    def alias(self, key_in: Hashable, key_out: Hashable) -> None:
        """``key_out`` is the same value as ``key_in`` (no layer)."""
        self.where[key_out] = self.where[key_in]

    def _append(self, layer: dict[str, Any], shape: Shape, name: str | None,
                key_out: Hashable | None) -> int:
        if name is not None:
            layer["name"] = name
        self.layers.append(layer)
        self.shapes.append(tuple(int(s) for s in shape))
        self.current = len(self.layers) - 1
        if key_out is not None:
            self.where[key_out] = self.current
        return self.current

    def _read(self, key_in: Hashable) -> Shape:
        """Makes ``key_in`` the previous layer's output (a route if needed); its shape."""
        source = self.where[key_in]
        if source != self.current:
            self._append({"type": "route", "from": [source]}, self.shape_of(source), None, None)
        return self.shape_of(source)

    def unary(self, key_in: Hashable, key_out: Hashable, layer: dict[str, Any],
              name: str | None) -> int:
        """Appends ``layer`` reading ``key_in``; returns its index."""
        shape = self._read(key_in)
        return self._append(layer, self._out_shape(layer, shape, name), name, key_out)

    def add(self, keys_in: Sequence[Hashable], key_out: Hashable, name: str | None) -> int:
        """The sum of several values: ``add(from: [others])`` after one of them."""
        keys = list(keys_in)
        first = next((k for k in keys if self.is_current(k)), keys[0])
        keys.remove(first)
        shape = self._read(first)
        sources = [self.where[k] for k in keys]
        for source in sources:
            if self.shape_of(source) != shape:
                raise UnsupportedModelError(
                    f"{name or 'add'}: adds tensors of shapes {shape} and "
                    f"{self.shape_of(source)} (broadcasting); libdtd's add needs equal shapes")
        return self._append({"type": "add", "from": sources}, shape, name, key_out)

    def concat(self, keys_in: Sequence[Hashable], key_out: Hashable, name: str | None) -> int:
        """Channel-wise concatenation: ``route(from: [i, j, ...])``."""
        sources = [self.where[k] for k in keys_in]
        shapes = [self.shape_of(s) for s in sources]
        if len({s[1:] for s in shapes}) != 1:
            raise UnsupportedModelError(f"{name or 'concat'}: concatenates shapes {shapes}, which "
                                        f"differ in more than the channels")
        shape = (sum(s[0] for s in shapes), *shapes[0][1:])
        if len(sources) == 1 and sources[0] == self.current:
            self.where[key_out] = self.current
            return self.current
        return self._append({"type": "route", "from": sources}, shape, name, key_out)

    def finish(self, key_out: Hashable) -> None:
        """The graph's output becomes the network's output (a route if it is not the last)."""
        if self.where[key_out] != self.current or not self.layers:
            self._read_route(key_out)

    def _read_route(self, key: Hashable) -> None:
        source = self.where[key]
        self._append({"type": "route", "from": [source]}, self.shape_of(source), None, None)

    # MARK: - Shapes

    def _out_shape(self, layer: Mapping[str, Any], shape: Shape, name: str | None) -> Shape:
        kind = layer["type"]
        where = f"{name or kind}"
        if kind in ("relu", "identity", "batchnorm"):
            if kind == "batchnorm" and len(layer["gamma"]) != shape[0]:
                raise UnsupportedModelError(f"{where}: batch norm over {len(layer['gamma'])} "
                                            f"features after a layer with output {shape}")
            return shape
        if kind == "flatten":
            return (math.prod(shape),)
        if kind == "dense":
            out, features = layer["weight"].shape
            if len(shape) != 1:
                raise UnsupportedModelError(f"{where}: a dense (Linear/Gemm/MatMul) layer applied "
                                            f"to a {shape} tensor; libdtd's dense layer takes "
                                            f"flat (D,) inputs")
            if features != shape[0]:
                raise UnsupportedModelError(f"{where}: dense weight has {features} inputs, its "
                                            f"input has shape {shape}")
            return (out,)
        if len(shape) != 3:
            raise UnsupportedModelError(f"{where}: a 2-D {kind} applied to a {shape} tensor; it "
                                        f"needs (C, H, W)")
        channels, height, width = shape
        if kind == "adaptive_avgpool2d":
            return (channels, *layer["output_size"])
        top, bottom, left, right = _pads(layer.get("padding", [0, 0]))
        kh, kw = layer["weight"].shape[2:] if kind == "conv2d" else layer["kernel"]
        sh, sw = layer.get("stride", [1, 1]) if kind == "conv2d" else layer["stride"]
        dh, dw = layer.get("dilation", [1, 1])
        out_h = _window(height, kh, sh, top, bottom, dh)
        out_w = _window(width, kw, sw, left, right, dw)
        if out_h <= 0 or out_w <= 0:
            raise UnsupportedModelError(f"{where}: output would be empty for input {shape}")
        if kind == "conv2d":
            if layer["weight"].shape[1] != channels:
                raise UnsupportedModelError(f"{where}: conv weight has {layer['weight'].shape[1]} "
                                            f"input channels, its input has shape {shape}")
            return (layer["weight"].shape[0], out_h, out_w)
        return (channels, out_h, out_w)


def adaptive_avgpool(shape: Shape, output_size: tuple[int, int]) -> dict[str, Any]:
    """Adaptive average pooling to ``output_size`` on a (C, H, W) input: a plain avgpool2d
    (kernel = stride = H/out) when the sizes divide, which has exactly PyTorch's bins and the same
    relevance rule (norm), else the ``adaptive_avgpool2d`` layer (graph layers, issue 10)."""
    out_h, out_w = output_size
    height, width = shape[1], shape[2]
    if height % out_h == 0 and width % out_w == 0:
        kh, kw = height // out_h, width // out_w
        return {"type": "avgpool2d", "kernel": [kh, kw], "stride": [kh, kw], "padding": [0, 0],
                "count_include_pad": True}
    return {"type": "adaptive_avgpool2d", "output_size": [int(out_h), int(out_w)]}


# MARK: - Building


#: Layer kinds that need libdtd's graph layers (issue 10), and the method that marks them.
_GRAPH_KINDS = {"route": "add_route", "add": "add_add", "adaptive_avgpool2d":
                "add_adaptive_avgpool2d", "identity": "add_identity"}


def _needs(layer: Mapping[str, Any]) -> str | None:
    """The Network method ``layer`` needs, if it is one of the graph layers."""
    kind = layer.get("type")
    if kind in _GRAPH_KINDS:
        return _GRAPH_KINDS[kind]
    if len(layer.get("padding", ())) == 4:
        return "add_add"  # asymmetric padding came with the graph layers
    return None


def build(model: dict[str, Any], dtype: Any) -> Any:
    """``Network.from_json(model, dtype)``, with a clear error for a layer this libdtd lacks.

    Until the graph layers land (issue 10), an ``identity`` layer is built as an exact stand-in
    that keeps the layer count: ``flatten`` on flat activations, a 1x1 max-pool with stride 1 on
    (C, H, W) ones (forward, gradient and relevance pass unchanged through both).
    """
    from ..network import Network

    layers = []
    rank = len(model["input_shape"])
    for index, layer in enumerate(model["layers"]):
        needed = _needs(layer)
        if needed is not None and not hasattr(Network, needed):
            if layer["type"] == "identity":
                stand_in = ({"type": "flatten"} if rank == 1 else
                            {"type": "maxpool2d", "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0]})
                layer = {**stand_in, **({"name": layer["name"]} if "name" in layer else {})}
            else:
                label = f" ({layer['name']})" if layer.get("name") else ""
                raise DTDError(_capi.DTD_ERROR_UNSUPPORTED,
                               f"layer {index}{label} is a {layer['type']}"
                               f"{' with asymmetric padding' if layer['type'] not in _GRAPH_KINDS else ''}"
                               f", which needs libdtd's graph layers (issue 10); this libdtd does "
                               f"not have them yet")
        if layer["type"] in ("flatten", "dense"):
            rank = 1
        layers.append(layer)
    return Network.from_json({**model, "layers": layers}, dtype=dtype)


def float_dtype(dtype: Any, default: Any) -> str:
    """The network dtype: the caller's, else the model's own (float32 unless it is float64)."""
    if dtype is not None:
        return dtype
    return "float64" if np.dtype(default) == np.float64 else "float32"
