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
