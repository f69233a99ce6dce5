"""``dtd.from_torch``: a PyTorch model as a libdtd network, through ``torch.fx``.

The model is traced with ``torch.fx.symbolic_trace`` (in eval mode; its mode is restored after),
run once on zeros of ``(2, *input_shape)`` to know every tensor's shape, and its nodes, in
topological order, become one layer list (DESIGN.md §3b):

- ``nn.Linear``, ``nn.Conv2d`` (groups 1, zero padding, any stride/dilation, ``"same"``),
  ``nn.ReLU`` / ``F.relu`` / ``torch.relu`` / ``x.relu()`` (in place too), ``nn.MaxPool2d`` /
  ``nn.AvgPool2d`` / ``nn.AdaptiveAvgPool2d`` and their ``F.`` forms, ``nn.BatchNorm1d/2d``
  (eval statistics, folded into the Linear/Conv2d before it, which it must follow directly),
  ``nn.Flatten`` / ``torch.flatten`` / ``x.view(x.size(0), -1)`` / ``reshape`` / ``squeeze``
  when they flatten each sample, ``nn.Dropout*`` / ``nn.Identity`` / ``F.dropout`` (eval) as
  ``identity`` layers (so indices match a ``Sequential`` one to one), ``+`` / ``torch.add`` /
  ``x.add`` of two tensors as ``add``, ``torch.cat(dim=1)`` as a concatenating ``route``;
- an op whose input is not the previous layer's output reads it through ``route``; a
  ``BasicBlock`` becomes ``conv, bn, relu, conv, bn, add(from: [block input]), relu``;
- adaptive average pooling whose sizes divide becomes a plain ``avgpool2d`` (the same bins and
  rule); ``contiguous``/``clone``/``detach`` are no layer at all.

Every layer is named after its module's qualified name (``"features.0"``, ``"layer1.0.conv1"``);
function calls after the module that makes them plus the function (``"layer1.0.add"``,
``"flatten"``); inserted routes have no name. Anything else is an
:class:`~dtd.errors.UnsupportedModelError` naming the module type and qualified name (or the
fx node and function).
"""
from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import UnsupportedModelError
from ._graph import LayerList, adaptive_avgpool, build, check_input_shape, float_dtype, padding4, require

__all__ = ["from_torch", "convert"]


def from_torch(module: Any, input_shape: Sequence[int], *, dtype: Any = None) -> Any:
    """A :class:`dtd.Network` computing what ``module`` computes (in eval mode).

    Parameters
    ----------
    module : torch.nn.Module
        A model ``torch.fx`` can trace, made of the supported layers (module doc), e.g.
        torchvision's ``vgg*``, ``resnet18/34/50``.
    input_shape : tuple of int
        One sample's shape, ``(C, H, W)`` or ``(D,)``, without the batch axis.
    dtype : {"float32", "float64"}, optional
        By default the module's parameter dtype (float32 for most models).

    Returns
    -------
    dtd.Network
        ``net.layer_names`` gives each layer's qualified name, and rules may name layers by
        them: ``rules={"features.0": dtd.rules.Flat(), ...}``.

    Raises
    ------
    dtd.UnsupportedModelError
        A module or function libdtd cannot express (the message names its type and qualified
        name, or the fx node).
    ValueError
        ``input_shape`` is malformed or does not fit the model.
    """
    model, model_dtype = _convert(module, input_shape, copy=False)  # the network copies
    return build(model, float_dtype(dtype, model_dtype))


def convert(module: Any, input_shape: Sequence[int]) -> dict[str, Any]:
    """The JSON model (a dict with numpy tensors, copies of the parameters) that
    :func:`from_torch` builds."""
    return _convert(module, input_shape, copy=True)[0]


# MARK: - Tracing


def _convert(module: Any, input_shape: Sequence[int], *, copy: bool
             ) -> tuple[dict[str, Any], Any]:
    torch = require("torch", "dtd.from_torch")
    fx = require("torch.fx", "dtd.from_torch")
    shape_prop = require("torch.fx.passes.shape_prop", "dtd.from_torch")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    shape = check_input_shape(input_shape, ranks=None)
    parameters = [p for p in module.parameters() if p.is_floating_point()]
    param_dtype = parameters[0].dtype if parameters else torch.float32
    device = parameters[0].device if parameters else torch.device("cpu")
    modes = [(m, m.training) for m in module.modules()]  # restored one by one afterwards
    module.eval()  # trace and run as at inference (dropout off, batch-norm running statistics)
    try:
        try:
            traced = fx.symbolic_trace(module)
        except Exception as error:  # fx raises many kinds (TraceError, TypeError, ...)
            raise UnsupportedModelError(
                f"torch.fx cannot trace {type(module).__name__} ({type(error).__name__}: {error}); "
                f"from_torch needs an fx-traceable model (no data-dependent control flow)") from error
        _Translator(torch, traced, shape, copy).check_modules()  # before shapes: names what is wrong
        check_input_shape(shape)
        example = torch.zeros((2, *shape), dtype=param_dtype, device=device)
        try:
            with torch.no_grad():
                shape_prop.ShapeProp(traced).propagate(example)
        except Exception as error:
            raise ValueError(f"input_shape {shape} does not fit the model: running it on a "
                             f"(2, {', '.join(map(str, shape))}) input fails with "
                             f"{type(error).__name__}: {error}") from error
        model = _Translator(torch, traced, shape, copy).run()
    finally:
        for submodule, training in modes:
            submodule.training = training
    return model, np.float64 if param_dtype == torch.float64 else np.float32


def _numpy(tensor: Any, copy: bool) -> np.ndarray:
    """A parameter as a float array (float32/float64 kept, other floats as float64); with
    ``copy`` a private one, else possibly sharing the parameter's memory."""
    import torch
    data = tensor.detach().cpu()
    if data.dtype not in (torch.float32, torch.float64):
        data = data.to(torch.float64)
    array = data.numpy()
    return array.copy() if copy else array


def _pair(value: Any) -> list[int]:
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return [int(value[0])] * 2
        return [int(v) for v in value]
    return [int(value), int(value)]


class _Translator:
    """One pass over the fx graph, placing each node's value in a :class:`LayerList`."""

    def __init__(self, torch: Any, traced: Any, input_shape: tuple[int, ...], copy: bool):
        self.copy = copy
        self.torch = torch
        self.nn = torch.nn
        self.F = torch.nn.functional
        self.traced = traced
        self.modules = dict(traced.named_modules())
        self.input_shape = input_shape
        self.folded: set[Any] = set()  # batch-norm nodes already placed after their layer

    def _numpy(self, tensor: Any) -> np.ndarray:
        return _numpy(tensor, self.copy)

    # MARK: - Naming and shapes

    def _shape(self, node: Any) -> tuple[int, ...] | None:
        """The shape of a tensor node, batch axis (2) first (None for non-tensor values)."""
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            return None
        return tuple(int(s) for s in meta.shape)

    def _name(self, node: Any, short: str | None = None) -> str:
        """The qualified name of a module call; for a function, its module path + function."""
        if node.op == "call_module":
            return str(node.target)
        stack = node.meta.get("nn_module_stack") or {}
        owner = next(reversed(stack.values()))[0] if stack else ""
        if short is None:
            short = getattr(node.target, "__name__", str(node.target))
        return f"{owner}.{short}" if owner else short

    def _describe(self, node: Any) -> str:
        if node.op == "call_module":
            return f"{type(self.modules[node.target]).__name__} at {str(node.target)!r}"
        owner = self._name(node, "").rstrip(".")
        where = f"fx node {node.name!r}" + (f" in {owner!r}" if owner else "")
        if node.op == "call_function":
            return f"function {getattr(node.target, '__name__', repr(node.target))} ({where})"
        if node.op == "call_method":
            return f"method .{node.target}() ({where})"
        return f"{node.op} {str(node.target)!r} ({where})"

    def _unsupported(self, node: Any, why: str = "") -> UnsupportedModelError:
        return UnsupportedModelError(
            f"{self._describe(node)} is not supported{': ' + why if why else ''}. libdtd explains "
            f"ReLU networks of Linear, Conv2d, ReLU, Max/Avg/AdaptiveAvgPool2d, BatchNorm, "
            f"Flatten, Dropout/Identity, residual additions and channel concatenation")

    # MARK: - The pass

    def _supported_modules(self) -> tuple[type, ...]:
        nn = self.nn
        return (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                nn.Flatten, nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Dropout1d,
                nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Identity)

    def check_modules(self) -> None:
        """Every called module is of a supported type (checked before running the model, so a
        Tanh or an attention layer is named even when the input shape is the problem)."""
        supported = self._supported_modules()
        for node in self.traced.graph.nodes:
            if node.op == "call_module" and not isinstance(self.modules[node.target], supported):
                raise self._unsupported(node)

    def run(self) -> dict[str, Any]:
        nodes = list(self.traced.graph.nodes)
        inputs = [n for n in nodes if n.op == "placeholder"]
        if len(inputs) != 1:
            raise UnsupportedModelError(f"the model takes {len(inputs)} inputs "
                                        f"({', '.join(n.name for n in inputs)}); from_torch "
                                        f"needs exactly one")
        self.layers = LayerList(self.input_shape, inputs[0])
        output = None
        for node in nodes:
            if node.op == "placeholder" or node in self.folded:
                continue
            if node.op == "output":
                output = node
                continue
            self._node(node)
            self._check_shape(node)
        result = output.args[0] if output is not None else None
        if not isinstance(result, self.torch.fx.Node) or self._shape(result) is None:
            raise UnsupportedModelError("the model must return one tensor (not a tuple, list or "
                                        "dict)")
        self.layers.finish(result)
        if not self.layers.layers or all(l["type"] == "route" for l in self.layers.layers):
            raise UnsupportedModelError("the model has no layers")
        return {"input_shape": list(self.input_shape), "layers": self.layers.layers}

    def _check_shape(self, node: Any) -> None:
        """The translation's shape must be PyTorch's (a wrong translation would show here)."""
        if node not in self.layers.where:
            return
        ours, theirs = self.layers.value_shape(node), self._shape(node)
        if theirs is not None and (2, *ours) != theirs:
            raise UnsupportedModelError(f"{self._describe(node)}: translated to shape {ours}, "
                                        f"but PyTorch gives {theirs[1:]}")

    def _tensor_inputs(self, node: Any) -> list[Any]:
        return [a for a in node.all_input_nodes if self._shape(a) is not None]

    def _node(self, node: Any) -> None:
        if node.op == "get_attr":
            if all(self._shape(u) is None for u in node.users):
                return
            raise self._unsupported(node, "a parameter or buffer used directly; use nn.Linear / "
                                          "nn.Conv2d / nn.BatchNorm modules")
        if self._shape(node) is None:
            if node.meta.get("tensor_meta") is not None:
                raise self._unsupported(node, "it returns several tensors")
            return  # shape arithmetic such as x.size(0): no layer
        if node.op == "call_module":
            self._module(node, self.modules[node.target])
        elif node.op == "call_function":
            self._function(node)
        elif node.op == "call_method":
            self._method(node)
        else:
            raise self._unsupported(node)

    # MARK: - Modules

    def _module(self, node: Any, module: Any) -> None:
        nn = self.nn
        name = self._name(node)
        source = self._single_input(node)
        if isinstance(module, nn.Linear):
            if len(self._shape(source)) != 2:
                raise self._unsupported(node, f"it is applied to a {self._shape(source)[1:]} "
                                              f"tensor per sample; libdtd's dense layer takes "
                                              f"flat (D,) inputs (flatten first)")
            layer = {"type": "dense", "weight": self._numpy(module.weight),
                     "bias": None if module.bias is None else self._numpy(module.bias)}
            self._weighted(node, source, layer, name)
        elif isinstance(module, nn.Conv2d):
            self._weighted(node, source, self._conv(node, module), name)
        elif isinstance(module, nn.ReLU):
            self._relu(node, source, name, module.inplace)
        elif isinstance(module, nn.MaxPool2d):
            self._maxpool(node, source, name, module.kernel_size, module.stride, module.padding,
                          module.dilation, module.ceil_mode, module.return_indices)
        elif isinstance(module, nn.AvgPool2d):
            self._avgpool(node, source, name, module.kernel_size, module.stride, module.padding,
                          module.ceil_mode, module.count_include_pad, module.divisor_override)
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            self._adaptive(node, source, name, module.output_size)
        elif isinstance(module, nn.Flatten):
            self._flatten(node, source, name)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise self._batchnorm_misplaced(node)
        elif isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
                                 nn.FeatureAlphaDropout, nn.Identity)):
            self.layers.unary(source, node, {"type": "identity"}, name)
        else:
            raise self._unsupported(node)

    def _single_input(self, node: Any) -> Any:
        inputs = self._tensor_inputs(node)
        if len(inputs) != 1:
            raise self._unsupported(node, f"it takes {len(inputs)} tensors")
        return inputs[0]

    def _conv(self, node: Any, module: Any) -> dict[str, Any]:
        if module.groups != 1:
            raise self._unsupported(node, f"groups = {module.groups} (grouped or depthwise "
                                          f"convolution); libdtd's conv2d has groups = 1")
        if module.padding_mode != "zeros":
            raise self._unsupported(node, f"padding_mode = {module.padding_mode!r}; libdtd pads "
                                          f"with zeros")
        if isinstance(module.padding, str):  # "same" / "valid": PyTorch's own split, low side first
            left, right, top, bottom = module._reversed_padding_repeated_twice
            padding = padding4(top, bottom, left, right)
        else:
            padding = _pair(module.padding)
        return {"type": "conv2d", "weight": self._numpy(module.weight),
                "bias": None if module.bias is None else self._numpy(module.bias),
                "stride": _pair(module.stride), "padding": padding,
                "dilation": _pair(module.dilation)}

    def _weighted(self, node: Any, source: Any, layer: dict[str, Any], name: str) -> None:
        """A dense/conv layer, and right after it the batch norm that folds into it."""
        self.layers.unary(source, node, layer, name)
        users = list(node.users)
        if len(users) == 1 and self._is_batchnorm(users[0]):
            norm = users[0]
            self.layers.unary(node, norm, self._batchnorm(norm), self._name(norm))
            self.folded.add(norm)
            self._check_shape(norm)

    def _is_batchnorm(self, node: Any) -> bool:
        return (node.op == "call_module" and
                isinstance(self.modules[node.target], (self.nn.BatchNorm1d, self.nn.BatchNorm2d)))

    def _batchnorm(self, node: Any) -> dict[str, Any]:
        module = self.modules[node.target]
        if module.running_mean is None or module.running_var is None:
            raise self._unsupported(node, "track_running_stats=False (batch statistics at "
                                          "inference); libdtd folds running statistics")
        count = module.num_features
        gamma = np.ones(count) if module.weight is None else self._numpy(module.weight)
        beta = np.zeros(count) if module.bias is None else self._numpy(module.bias)
        return {"type": "batchnorm", "gamma": gamma, "beta": beta,
                "running_mean": self._numpy(module.running_mean),
                "running_var": self._numpy(module.running_var), "eps": float(module.eps)}

    def _batchnorm_misplaced(self, node: Any) -> UnsupportedModelError:
        source = self._single_input(node)
        if source.op == "call_module" and isinstance(self.modules[source.target],
                                                     (self.nn.Linear, self.nn.Conv2d)):
            others = [u.name for u in source.users if u is not node]
            return self._unsupported(node, f"the output of {self._describe(source)} is also used "
                                           f"by {', '.join(others)}; libdtd folds batch norm into "
                                           f"the layer before it, whose unnormalised output then "
                                           f"no longer exists")
        return self._unsupported(node, f"it follows {self._describe(source)}; libdtd folds batch "
                                       f"norm into the Linear/Conv2d right before it")

    # MARK: - Layer kinds shared by modules and functions

    def _relu(self, node: Any, source: Any, name: str, inplace: bool) -> None:
        if inplace and len(source.users) > 1:
            others = [u.name for u in source.users if u is not node]
            raise self._unsupported(node, f"an in-place ReLU overwrites a tensor that "
                                          f"{', '.join(others)} also read(s)")
        self.layers.unary(source, node, {"type": "relu"}, name)

    def _maxpool(self, node: Any, source: Any, name: str, kernel: Any, stride: Any,
                 padding: Any, dilation: Any, ceil_mode: bool, return_indices: bool) -> None:
        if _pair(dilation) != [1, 1]:
            raise self._unsupported(node, f"dilation = {dilation}")
        if ceil_mode:
            raise self._unsupported(node, "ceil_mode=True")
        if return_indices:
            raise self._unsupported(node, "return_indices=True")
        kernel = _pair(kernel)
        stride = kernel if stride is None or stride == [] else _pair(stride)
        self.layers.unary(source, node, {"type": "maxpool2d", "kernel": kernel, "stride": stride,
                                         "padding": _pair(padding)}, name)

    def _avgpool(self, node: Any, source: Any, name: str, kernel: Any, stride: Any, padding: Any,
                 ceil_mode: bool, count_include_pad: bool, divisor_override: Any) -> None:
        if ceil_mode:
            raise self._unsupported(node, "ceil_mode=True")
        if divisor_override is not None:
            raise self._unsupported(node, f"divisor_override = {divisor_override}")
        kernel = _pair(kernel)
        stride = kernel if stride is None or stride == [] else _pair(stride)
        self.layers.unary(source, node, {"type": "avgpool2d", "kernel": kernel, "stride": stride,
                                         "padding": _pair(padding),
                                         "count_include_pad": bool(count_include_pad)}, name)

    def _adaptive(self, node: Any, source: Any, name: str, output_size: Any) -> None:
        shape = self.layers.value_shape(source)
        if len(shape) != 3:
            raise self._unsupported(node, f"applied to a {shape} tensor")
        size = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * 2
        size = [shape[1 + i] if s is None else int(s) for i, s in enumerate(size)]
        self.layers.unary(source, node, adaptive_avgpool(shape, (size[0], size[1])), name)

    def _flatten(self, node: Any, source: Any, name: str) -> None:
        before, after = self._shape(source), self._shape(node)
        if after != (before[0], int(np.prod(before[1:]))):
            raise self._unsupported(node, f"it reshapes {before} to {after} (batch axis first); "
                                          f"only flattening each sample, (N, ...) -> (N, -1), is "
                                          f"supported")
        self.layers.unary(source, node, {"type": "flatten"}, name)

    def _add(self, node: Any, name: str) -> None:
        operands = [a for a in node.args[:2]]
        if len(operands) != 2 or not all(isinstance(a, self.torch.fx.Node) and
                                         self._shape(a) is not None for a in operands):
            raise self._unsupported(node, "it adds a constant; only the sum of two tensors "
                                          "(a residual connection) is supported")
        alpha = node.kwargs.get("alpha", 1)
        if alpha != 1:
            raise self._unsupported(node, f"alpha = {alpha}")
        if self._shape(operands[0]) != self._shape(operands[1]):
            raise self._unsupported(node, f"it broadcasts {self._shape(operands[0])} and "
                                          f"{self._shape(operands[1])}")
        self.layers.add(operands, node, name)

    def _concat(self, node: Any, name: str) -> None:
        tensors = node.args[0] if node.args else node.kwargs.get("tensors")
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        rank = len(self._shape(node))
        if not isinstance(dim, int) or dim % rank != 1:
            raise self._unsupported(node, f"dim = {dim}; only the channel axis (dim=1) is "
                                          f"supported")
        if not isinstance(tensors, (list, tuple)) or not all(
                isinstance(t, self.torch.fx.Node) and self._shape(t) is not None for t in tensors):
            raise self._unsupported(node, "it concatenates something other than tensors")
        self.layers.concat(list(tensors), node, name)

    # MARK: - Functions and methods

    @staticmethod
    def _arg(node: Any, index: int, key: str, default: Any) -> Any:
        if len(node.args) > index:
            return node.args[index]
        return node.kwargs.get(key, default)

    def _function(self, node: Any) -> None:
        torch, F, target = self.torch, self.F, node.target
        name = self._name(node)
        arg = self._arg
        if target in (operator.add, operator.iadd, torch.add):
            return self._add(node, name)
        if target in (torch.cat, getattr(torch, "concat", None), getattr(torch, "concatenate", None)):
            return self._concat(node, name)
        source = self._single_input(node)
        if target in (F.relu, torch.relu, torch.relu_, getattr(F, "relu_", None)):
            inplace = target in (torch.relu_, getattr(F, "relu_", None)) or bool(arg(node, 1, "inplace", False))
            self._relu(node, source, name, inplace)
        elif target in (torch.flatten, torch.reshape, torch.squeeze):
            self._flatten(node, source, name)
        elif target is F.max_pool2d or getattr(target, "__name__", "") in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices"):
            kernel = arg(node, 1, "kernel_size", None)
            self._maxpool(node, source, name, kernel, arg(node, 2, "stride", None),
                          arg(node, 3, "padding", 0), arg(node, 4, "dilation", 1),
                          arg(node, 5, "ceil_mode", False), arg(node, 6, "return_indices", False))
        elif target is F.avg_pool2d:
            self._avgpool(node, source, name, arg(node, 1, "kernel_size", None),
                          arg(node, 2, "stride", None), arg(node, 3, "padding", 0),
                          arg(node, 4, "ceil_mode", False), arg(node, 5, "count_include_pad", True),
                          arg(node, 6, "divisor_override", None))
        elif target is F.adaptive_avg_pool2d:
            self._adaptive(node, source, name, arg(node, 1, "output_size", None))
        elif target in (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout):
            if arg(node, 2, "training", True):
                raise self._unsupported(node, "dropout in training mode (training=True)")
            self.layers.unary(source, node, {"type": "identity"}, name)
        else:
            raise self._unsupported(node)

    def _method(self, node: Any) -> None:
        method, name = node.target, self._name(node, str(node.target))
        if method in ("add", "add_"):
            return self._add(node, name)
        source = self._single_input(node)
        if method in ("relu", "relu_"):
            self._relu(node, source, name, method == "relu_")
        elif method in ("view", "reshape", "flatten", "squeeze"):
            self._flatten(node, source, name)
        elif method in ("contiguous", "clone", "detach"):
            self.layers.alias(source, node)
        else:
            raise self._unsupported(node)
