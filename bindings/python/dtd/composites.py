"""Named rule presets (Zennit's composites), assigned by layer index inside libdtd.

Which layer gets which rule (``dtd_rules_set_composite`` in ``Include/dtd.h``): "feature" layers
are the conv layers if the network has any, otherwise every dense layer but the last; the other
dense layers are "classifier" layers and get ``Epsilon(epsilon)``.

======================================  ===========================================================
``epsilon_plus()``                      z+ on feature layers
``epsilon_plus_flat()``                 as above, flat on the first dense/conv layer
``epsilon_gamma_box(low, high)``        zbox on the first layer, gamma on the other feature layers
``epsilon_alpha2_beta1()``              alpha-beta(2, 1) on feature layers
``epsilon_alpha2_beta1_flat()``         as above, flat on the first layer
======================================  ===========================================================

Lower rules use the default stabiliser 1e-6; all include the bias. To change single layers, add
overrides, either on the composite or in a rules dict (both mean the same)::

    rules = dtd.composites.epsilon_plus_flat().with_overrides({4: dtd.rules.Epsilon(0.25)})
    rules = {"composite": dtd.composites.epsilon_plus_flat(), 4: dtd.rules.Epsilon(0.25)}

``Network.rule_kinds(rules)`` shows the rule each layer ends up with.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _capi
from ._model_format import real_number
from .errors import _check
from .rules import Rule, rule_from_dict

__all__ = [
    "Composite", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box",
    "epsilon_alpha2_beta1", "epsilon_alpha2_beta1_flat",
]


@dataclass(frozen=True)
class Composite:
    """A named preset and its parameters, plus optional per-layer overrides.

    Create one with the functions of this module. ``overrides`` is a tuple of
    ``(layer_index, rule)`` pairs applied after the preset, sorted by layer.
    """

    name: str
    code: int
    epsilon: float = 1e-6
    gamma: float = 0.25
    low: float = 0.0
    high: float = 1.0
    overrides: tuple[tuple[int, Rule], ...] = field(default=())

    def with_overrides(self, overrides: Mapping[Any, Any]) -> Composite:
        """A copy whose listed layers get the given rules (rule objects or rule dicts).

        Later overrides of the same layer replace earlier ones.
        """
        merged = dict(self.overrides)
        for layer, rule in overrides.items():
            merged[_layer_key(layer)] = rule if isinstance(rule, Rule) else rule_from_dict(rule)
        return Composite(self.name, self.code, self.epsilon, self.gamma, self.low, self.high,
                         tuple(sorted(merged.items())))

    def _key(self) -> Hashable:
        return (self.code, self.epsilon, self.gamma, self.low, self.high,
                tuple((layer, rule._key()) for layer, rule in self.overrides))

    def _apply_preset(self, rules: _capi.dtd_rules_handle) -> None:
        """Sets the preset on every dense/conv layer (``dtd_rules_set_composite``)."""
        _check(_capi.dtd_rules_set_composite(rules, self.code, self.epsilon, self.gamma,
                                             self.low, self.high))


def _layer_key(layer: Any) -> int:
    """A layer index from an int or a decimal string (JSON object keys are strings)."""
    if isinstance(layer, bool):
        raise TypeError(f"layer index must be an int, got {layer!r}")
    if isinstance(layer, str):
        try:
            return int(layer)
        except ValueError:
            raise ValueError(f"layer index must be an int, got {layer!r}") from None
    try:
        return int(layer.__index__())
    except AttributeError:
        raise TypeError(f"layer index must be an int, got {layer!r}") from None


def epsilon_plus(epsilon: float = 1e-6) -> Composite:
    """z+ on feature layers, epsilon on classifier layers."""
    return Composite("epsilon_plus", _capi.DTD_COMPOSITE_EPSILON_PLUS, epsilon=real_number(epsilon, "epsilon"))


def epsilon_plus_flat(epsilon: float = 1e-6) -> Composite:
    """As :func:`epsilon_plus`, with flat on the first dense/conv layer."""
    return Composite("epsilon_plus_flat", _capi.DTD_COMPOSITE_EPSILON_PLUS_FLAT,
                     epsilon=real_number(epsilon, "epsilon"))


def epsilon_gamma_box(low: float, high: float, epsilon: float = 1e-6,
                      gamma: float = 0.25) -> Composite:
    """zbox(low, high) on the first dense/conv layer, gamma on the other feature layers,
    epsilon on classifier layers. ``low``/``high`` are scalars here; for per-channel bounds,
    override the first layer with :class:`dtd.rules.ZBox`."""
    return Composite("epsilon_gamma_box", _capi.DTD_COMPOSITE_EPSILON_GAMMA_BOX,
                     epsilon=real_number(epsilon, "epsilon"), gamma=real_number(gamma, "gamma"), low=real_number(low, "low"), high=real_number(high, "high"))


def epsilon_alpha2_beta1(epsilon: float = 1e-6) -> Composite:
    """alpha-beta(2, 1) on feature layers, epsilon on classifier layers."""
    return Composite("epsilon_alpha2_beta1", _capi.DTD_COMPOSITE_EPSILON_ALPHA2_BETA1,
                     epsilon=real_number(epsilon, "epsilon"))


def epsilon_alpha2_beta1_flat(epsilon: float = 1e-6) -> Composite:
    """As :func:`epsilon_alpha2_beta1`, with flat on the first dense/conv layer."""
    return Composite("epsilon_alpha2_beta1_flat", _capi.DTD_COMPOSITE_EPSILON_ALPHA2_BETA1_FLAT,
                     epsilon=real_number(epsilon, "epsilon"))
