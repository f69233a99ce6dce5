"""Helpers for the importer tests (torch, Zennit): import this module only after
``pytest.importorskip("torch")`` / ``("zennit")``.

- :func:`run_spec` evaluates a JSON layer list (DESIGN.md §3b) with torch, independently of
  libdtd, so an importer's translation can be checked against the model it came from even where
  this libdtd cannot build the layer list yet (graph layers, issue 10).
- :func:`zennit_lrp` runs Zennit with a composite, seeded ``f_k(x) e_k`` as libdtd's ``target``.
- :class:`ExactMergeBatchNorm`: Zennit 0.5.1's ``SequentialMergeBatchNorm`` leaves the emptied
  batch norm computing ``x / sqrt(1 + eps)`` (relevances off by up to ~1e-3); this subclass makes
  it the exact identity, as upstream Zennit now does and as the graph reference generator
  (``../shared/reference/make_graph_reference.py``) does (DESIGN.md §3b).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from zennit.attribution import Gradient
from zennit.canonizers import CompositeCanonizer, SequentialMergeBatchNorm
from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer

import dtd

#: The graph layers of issue 10; tests that need them skip with this reason until they land.
HAS_GRAPH = hasattr(dtd.Network, "add_add")
NEEDS_GRAPH = "needs graph layers (issue 10)"


class ExactMergeBatchNorm(SequentialMergeBatchNorm):
    """Zennit's merge arithmetic, with the emptied batch norm an exact identity."""

    def register(self, linears, batch_norm):
        self.saved_eps = batch_norm.eps
        super().register(linears, batch_norm)
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 0.5)
        batch_norm.eps = 0.5

    def remove(self):
        super().remove()
        self.batch_norm.eps = self.saved_eps


def exact_resnet_canonizer() -> CompositeCanonizer:
    """Zennit's ``ResNetCanonizer`` with the exact batch-norm merge."""
    return CompositeCanonizer((ExactMergeBatchNorm(), ResNetBottleneckCanonizer(),
                               ResNetBasicBlockCanonizer()))


def zennit_lrp(model: torch.nn.Module, x: torch.Tensor, composite: Any,
               targets: torch.Tensor) -> np.ndarray:
    """Zennit's input relevance for output ``targets[n]`` of each sample, seeded f_k(x) e_k."""
    with Gradient(model, composite) as attributor:
        out, relevance = attributor(x, lambda output: output * F.one_hot(targets, output.shape[1]))
    return relevance.detach().numpy()


def per_sample_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max over samples of max|actual - expected| / max|expected| within the sample."""
    actual = np.asarray(actual, dtype=np.float64).reshape(len(expected), -1)
    expected = np.asarray(expected, dtype=np.float64).reshape(len(expected), -1)
    scale = np.abs(expected).max(axis=1)
    return float((np.abs(actual - expected).max(axis=1) / scale).max())


def _t(value: Any) -> torch.Tensor | None:
    return None if value is None else torch.as_tensor(np.asarray(value, dtype=np.float64))


def _pad(tensor: torch.Tensor, padding: list[int], value: float) -> tuple[torch.Tensor, int]:
    """(padded input, padding left for the op): asymmetric padding done by F.pad."""
    if len(padding) == 2:
        return tensor, padding
    top, bottom, left, right = padding
    return F.pad(tensor, (left, right, top, bottom), value=value), 0


def run_spec(model: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    """The JSON layer list's forward pass in float64 torch (DESIGN.md §3, §3b semantics)."""
    outputs = {-1: x}
    a = x
    for index, layer in enumerate(model["layers"]):
        kind = layer["type"]
        if kind == "route":
            sources = [outputs[i] for i in layer["from"]]
            a = sources[0] if len(sources) == 1 else torch.cat(sources, dim=1)
        elif kind == "add":
            a = a + sum(outputs[i] for i in layer["from"])
        elif kind == "dense":
            a = F.linear(a, _t(layer["weight"]), _t(layer.get("bias")))
        elif kind == "conv2d":
            a, padding = _pad(a, layer["padding"], 0.0)
            a = F.conv2d(a, _t(layer["weight"]), _t(layer.get("bias")), stride=layer["stride"],
                         padding=padding, dilation=layer.get("dilation", 1))
        elif kind == "relu":
            a = F.relu(a)
        elif kind in ("identity",):
            pass
        elif kind == "flatten":
            a = a.flatten(1)
        elif kind == "maxpool2d":
            a, padding = _pad(a, layer["padding"], -float("inf"))
            a = F.max_pool2d(a, layer["kernel"], layer["stride"], padding)
        elif kind == "avgpool2d":
            if len(layer["padding"]) == 4:
                raise NotImplementedError("asymmetric avg-pool padding")
            a = F.avg_pool2d(a, layer["kernel"], layer["stride"], layer["padding"],
                             count_include_pad=layer.get("count_include_pad", True))
        elif kind == "adaptive_avgpool2d":
            a = F.adaptive_avg_pool2d(a, layer["output_size"])
        elif kind == "batchnorm":
            a = F.batch_norm(a, _t(layer["running_mean"]), _t(layer["running_var"]),
                             _t(layer["gamma"]), _t(layer["beta"]), False, 0.0, layer["eps"])
        else:
            raise ValueError(f"layer {index}: unknown type {kind!r}")
        outputs[index] = a
    return a


def zennit_hooks_by_name(model: torch.nn.Module, composite: Any) -> dict[str, Any]:
    """The hook Zennit's composite puts on each module, by qualified name (its own traversal:
    ``named_modules()`` order, one mapping context)."""
    context: dict[Any, Any] = {}
    return {name: composite.module_map(context, name, module)
            for name, module in model.named_modules()}


# MARK: - The layer list as a torch module, for Zennit


class SpecModule(torch.nn.Module):
    """A JSON layer list as a torch module whose children are named by layer index, ``add`` as
    Zennit's ``Sum`` over ``torch.stack`` (as Zennit's ResNet canonizer writes it), ``route`` as
    the source or ``torch.cat``. Zennit can then explain the layer list itself, rule by layer
    index (as ``../shared/reference/make_graph_reference.py`` does)."""

    def __init__(self, model: dict[str, Any]):
        super().__init__()
        from zennit.layer import Sum
        nn = torch.nn
        self.layers = model["layers"]
        for index, layer in enumerate(self.layers):
            kind = layer["type"]
            if kind in ("dense", "conv2d"):
                weight = np.asarray(layer["weight"], dtype=np.float64)
                if kind == "dense":
                    module = nn.Linear(weight.shape[1], weight.shape[0], bias=layer["bias"] is not None)
                else:
                    if len(layer["padding"]) == 4:
                        raise NotImplementedError("asymmetric padding")
                    module = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:],
                                       stride=layer["stride"], padding=layer["padding"],
                                       dilation=layer.get("dilation", 1),
                                       bias=layer["bias"] is not None)
                module.weight = nn.Parameter(_t(weight))
                if layer["bias"] is not None:
                    module.bias = nn.Parameter(_t(layer["bias"]))
            elif kind == "batchnorm":
                module = nn.BatchNorm2d(len(layer["gamma"]), eps=layer["eps"])
                module.weight, module.bias = nn.Parameter(_t(layer["gamma"])), nn.Parameter(_t(layer["beta"]))
                module.running_mean, module.running_var = _t(layer["running_mean"]), _t(layer["running_var"])
            elif kind == "relu":
                module = nn.ReLU()
            elif kind == "maxpool2d":
                module = nn.MaxPool2d(layer["kernel"], layer["stride"], layer["padding"])
            elif kind == "avgpool2d":
                module = nn.AvgPool2d(layer["kernel"], layer["stride"], layer["padding"],
                                      count_include_pad=layer.get("count_include_pad", True))
            elif kind == "adaptive_avgpool2d":
                module = nn.AdaptiveAvgPool2d(layer["output_size"])
            elif kind == "flatten":
                module = nn.Flatten()
            elif kind == "identity":
                module = nn.Identity()
            elif kind == "add":
                module = Sum()
            else:  # route: no module
                continue
            self.add_module(str(index), module)

    def forward(self, x):
        outputs = {-1: x}
        a = x
        for index, layer in enumerate(self.layers):
            if layer["type"] == "route":
                sources = [outputs[i] for i in layer["from"]]
                a = sources[0] if len(sources) == 1 else torch.cat(sources, dim=1)
            elif layer["type"] == "add":
                a = getattr(self, str(index))(torch.stack([a] + [outputs[i] for i in layer["from"]], dim=-1))
            else:
                a = getattr(self, str(index))(a)
            outputs[index] = a
        return a


def zennit_rule(rule: Any, x: torch.Tensor) -> Any:
    """Zennit's hook for a dtd rule object (ZBox bounds as tensors shaped like ``x``)."""
    from zennit import rules as zr
    name = type(rule).__name__
    if name == "Epsilon":
        return zr.Epsilon(epsilon=rule.epsilon)
    if name == "ZPlus":
        return zr.ZPlus(stabilizer=rule.stabilizer)
    if name == "Flat":
        return zr.Flat(stabilizer=rule.stabilizer)
    if name == "AlphaBeta":
        return zr.AlphaBeta(alpha=rule.alpha, beta=rule.beta, stabilizer=rule.stabilizer)
    if name == "Gamma":
        return zr.Gamma(gamma=rule.gamma, stabilizer=rule.stabilizer)
    if name == "ZBox":
        return zr.ZBox(low=torch.full_like(x, rule.low), high=torch.full_like(x, rule.high),
                       stabilizer=rule.stabilizer)
    raise ValueError(name)


def zennit_on_layer_list(model: dict[str, Any], rules: dict[int, Any], x: torch.Tensor,
                         targets: torch.Tensor) -> np.ndarray:
    """Zennit's relevance for the layer list with ``rules`` by index, libdtd's fixed rules on
    the other layers (Norm at pools and add, Pass at ReLU and batch norm) and the exact fold."""
    from zennit import rules as zr
    from zennit.canonizers import NamedMergeBatchNorm
    from zennit.composites import NameMapComposite

    class ExactNamedMerge(NamedMergeBatchNorm):
        def register(self, linears, batch_norm):
            self.saved_eps = batch_norm.eps
            super().register(linears, batch_norm)
            batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 0.5)
            batch_norm.eps = 0.5

        def remove(self):
            super().remove()
            self.batch_norm.eps = self.saved_eps

    kinds = [layer["type"] for layer in model["layers"]]
    name_map = [([str(i)], zennit_rule(rule, x)) for i, rule in rules.items()]
    for index, kind in enumerate(kinds):
        if kind in ("avgpool2d", "adaptive_avgpool2d", "add"):
            name_map.append(([str(index)], zr.Norm()))
        elif kind in ("relu", "batchnorm"):
            name_map.append(([str(index)], zr.Pass()))
    pairs = [([str(i - 1)], str(i)) for i, kind in enumerate(kinds) if kind == "batchnorm"]
    module = SpecModule(model).to(x.dtype).eval()
    composite = NameMapComposite(name_map=name_map, canonizers=[ExactNamedMerge(pairs)])
    return zennit_lrp(module, x, composite, targets)
