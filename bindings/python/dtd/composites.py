"""Named rule presets ("composites"): Zennit's, and libdtd's MLP-friendly variants.

**Zennit's composites**, by the same names and with the same parameters and defaults
(``zennit.composites`` 0.5.1), assign the rule by layer type exactly as Zennit does:

==========================================  ==================  ==============  ============
preset                                      first layer         other conv2d    dense
==========================================  ==================  ==============  ============
``EpsilonPlus(epsilon, stabilizer)``        (as the others)     ``ZPlus``       ``Epsilon``
``EpsilonPlusFlat(epsilon, stabilizer)``    ``Flat`` [1]        ``ZPlus``       ``Epsilon``
``EpsilonGammaBox(low, high, epsilon,``     ``ZBox`` [2]        ``Gamma``       ``Epsilon``
``gamma, stabilizer)``
``EpsilonAlpha2Beta1(epsilon, stabilizer)`` (as the others)     ``AlphaBeta``   ``Epsilon``
``EpsilonAlpha2Beta1Flat(...)``             ``Flat`` [1]        ``AlphaBeta``   ``Epsilon``
==========================================  ==================  ==============  ============

[1] the first dense *or* conv layer. [2] the first *conv* layer only (a dense layer before it,
and every dense layer of an MLP, gets ``Epsilon``). Defaults: ``epsilon=1e-6``,
``stabilizer=1e-6``, ``gamma=0.25``; ``bias=False`` is Zennit's ``zero_params=['bias']``.
"First" is the first dense/conv layer of the layer list, i.e. in execution order; Zennit takes
the first in module registration order (``named_modules()``), which is the same for
torchvision's models and for any model whose modules are defined in the order they run.
The layers these presets leave alone follow libdtd's fixed rules, which are the ones Zennit's
composites give them: ReLU passes relevance (Zennit's ``Pass``), average pooling (also adaptive)
and the residual ``add`` use ``Norm`` with stabiliser 1e-6 (libdtd's avg-pool/add rule), max
pooling routes relevance like the gradient (Zennit hooks no rule on it), batch norm is folded
into the layer before it (Zennit's ``SequentialMergeBatchNorm`` canonizer, as its docs pair
with these composites; libdtd folds exactly, Zennit 0.5.1 is off by ~1e-5, see DESIGN §3b).
So ``dtd.from_torch(model, ...)`` with one of these presets computes what Zennit computes with
the same composite (and ``ResNetCanonizer`` for ResNets).

On a pure MLP Zennit's presets are all plain ``Epsilon`` (they put ``ZPlus``/``Gamma`` on conv
layers only), except for the ``Flat`` first layer of the ``...Flat`` ones.

**libdtd's MLP-friendly variants** (``dtd_rules_set_composite`` in ``Include/dtd.h``) treat the
hidden dense layers of a network without conv layers as "feature" layers:

======================================  ===========================================================
``mlp_epsilon_plus()``                  z+ on feature layers
``mlp_epsilon_plus_flat()``             as above, flat on the first dense/conv layer
``mlp_epsilon_gamma_box(low, high)``    zbox on the first layer, gamma on the other feature layers
``mlp_epsilon_alpha2_beta1()``          alpha-beta(2, 1) on feature layers
``mlp_epsilon_alpha2_beta1_flat()``     as above, flat on the first layer
======================================  ===========================================================

"Feature" layers are the conv layers if the network has any, otherwise every dense layer but the
last; the other dense layers get ``Epsilon(epsilon)``. On a network with conv layers they agree
with Zennit's presets (except that ``mlp_epsilon_gamma_box`` puts zbox on the first dense *or*
conv layer). Their old names ``epsilon_plus()``, ``epsilon_plus_flat()``, ... still work but
warn (``DeprecationWarning``): the same name as Zennit's preset with a different result on MLPs
misled users.

To change single layers, add overrides (by layer index or layer name), either on the preset or
in a rules dict (both mean the same)::

    rules = dtd.composites.EpsilonPlusFlat().with_overrides({"classifier.6": dtd.rules.Epsilon(0.25)})
    rules = {"composite": dtd.composites.EpsilonPlusFlat(), "classifier.6": dtd.rules.Epsilon(0.25)}

``Network.rule_kinds(rules)`` shows the rule each layer ends up with.
"""
from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from . import _capi
from ._model_format import real_number
from .errors import _check
from .rules import (AlphaBeta, Bound, DEFAULT_STABILIZER, Epsilon, Flat, Gamma, Rule, ZBox, ZPlus,
                    _bound, _bound_key, _flag, rule_from_dict)

__all__ = [
    "Preset", "EpsilonPlus", "EpsilonPlusFlat", "EpsilonGammaBox", "EpsilonAlpha2Beta1",
    "EpsilonAlpha2Beta1Flat", "PRESETS", "preset",
    "Composite", "mlp_epsilon_plus", "mlp_epsilon_plus_flat", "mlp_epsilon_gamma_box",
    "mlp_epsilon_alpha2_beta1", "mlp_epsilon_alpha2_beta1_flat",
    "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box", "epsilon_alpha2_beta1",
    "epsilon_alpha2_beta1_flat",
]

#: A layer in rules and overrides: an index, or a name from ``Network.layer_names``.
LayerKey = Union[int, str]


def _layer_key(layer: Any) -> LayerKey:
    """A layer index from an int or a decimal string (JSON object keys are strings); any
    other string is a layer name."""
    if isinstance(layer, bool):
        raise TypeError(f"layer index must be an int or a layer name, got {layer!r}")
    if isinstance(layer, str):
        try:
            return int(layer)
        except ValueError:
            return layer
    try:
        return int(layer.__index__())
    except AttributeError:
        raise TypeError(f"layer index must be an int or a layer name, got {layer!r}") from None


def _merged(overrides: tuple[tuple[LayerKey, Rule], ...],
            new: Mapping[Any, Any]) -> tuple[tuple[LayerKey, Rule], ...]:
    """``overrides`` with ``new`` applied (rule objects or rule dicts), in a stable order."""
    merged = dict(overrides)
    for layer, rule in new.items():
        merged[_layer_key(layer)] = rule if isinstance(rule, Rule) else rule_from_dict(rule)
    return tuple(sorted(merged.items(), key=lambda item: (isinstance(item[0], str), item[0])))


# MARK: - Zennit's composites


class Preset:
    """Base of Zennit's named composites: a rule per layer from the layer kinds.

    Subclasses hold their parameters; ``overrides`` are ``(layer, rule)`` pairs applied after
    the preset (layer = index or name).
    """

    #: The class name, which is also Zennit's class name.
    name: str = "Preset"

    def __init__(self, *, epsilon: float = 1e-6, stabilizer: float = DEFAULT_STABILIZER,
                 bias: bool = True) -> None:
        self.epsilon = real_number(epsilon, "epsilon")
        self.stabilizer = real_number(stabilizer, "stabilizer")
        self.bias = _flag(bias, "bias")
        self.overrides: tuple[tuple[LayerKey, Rule], ...] = ()

    # What the subclasses define.
    def _conv_rule(self) -> Rule:
        raise NotImplementedError

    def _first_rule(self, kind: str) -> Rule | None:
        """The rule for the first dense/conv layer of kind ``kind`` if it is special, else None."""
        return None

    def _params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "stabilizer": self.stabilizer, "bias": self.bias}

    # Shared behaviour.
    def _layer_rules(self, kinds: Sequence[str]) -> dict[int, Rule]:
        """{layer: rule} for a network whose layers have these kinds ("dense", "conv2d", ...)."""
        rules: dict[int, Rule] = {}
        first_done = False
        for layer, kind in enumerate(kinds):
            if kind not in ("dense", "conv2d"):
                continue
            first = None if first_done else self._first_rule(kind)
            if first is not None:
                rules[layer], first_done = first, True
            elif kind == "conv2d":
                rules[layer] = self._conv_rule()
            else:
                rules[layer] = Epsilon(self.epsilon, bias=self.bias)
        return rules

    def with_overrides(self, overrides: Mapping[Any, Any]) -> Preset:
        """A copy whose listed layers (indices or names) get the given rules (rule objects or
        rule dicts). Later overrides of the same layer replace earlier ones."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.overrides = _merged(self.overrides, overrides)
        return copy

    def _key(self) -> Hashable:
        params = tuple((key, _bound_key(value) if key in ("low", "high") else value)
                       for key, value in self._params().items())
        return (self.name, params, tuple((layer, rule._key()) for layer, rule in self.overrides))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in self._params().items())
        extra = f", overrides={dict(self.overrides)!r}" if self.overrides else ""
        return f"{self.name}({params}{extra})"


class EpsilonPlus(Preset):
    """Zennit's ``EpsilonPlus``: ``ZPlus`` on conv layers, ``Epsilon`` on dense layers."""

    name = "EpsilonPlus"

    def _conv_rule(self) -> Rule:
        return ZPlus(self.stabilizer, bias=self.bias)


class EpsilonPlusFlat(EpsilonPlus):
    """Zennit's ``EpsilonPlusFlat``: ``Flat`` on the first dense or conv layer, ``ZPlus`` on
    the other conv layers, ``Epsilon`` on the other dense layers."""

    name = "EpsilonPlusFlat"

    def _first_rule(self, kind: str) -> Rule | None:
        return Flat(self.stabilizer)


class EpsilonAlpha2Beta1(Preset):
    """Zennit's ``EpsilonAlpha2Beta1``: ``AlphaBeta(2, 1)`` on conv layers, ``Epsilon`` on
    dense layers."""

    name = "EpsilonAlpha2Beta1"

    def _conv_rule(self) -> Rule:
        return AlphaBeta(2.0, 1.0, self.stabilizer, bias=self.bias)


class EpsilonAlpha2Beta1Flat(EpsilonAlpha2Beta1):
    """Zennit's ``EpsilonAlpha2Beta1Flat``: ``Flat`` on the first dense or conv layer,
    ``AlphaBeta(2, 1)`` on the other conv layers, ``Epsilon`` on the other dense layers."""

    name = "EpsilonAlpha2Beta1Flat"

    def _first_rule(self, kind: str) -> Rule | None:
        return Flat(self.stabilizer)


class EpsilonGammaBox(Preset):
    """Zennit's ``EpsilonGammaBox``: ``ZBox(low, high)`` on the first conv layer, ``Gamma`` on
    the other conv layers, ``Epsilon`` on every dense layer.

    ``low`` and ``high`` are the bounds of the first conv layer's input (the pixel range):
    scalars, one value per channel, or arrays of the layer input's shape (Zennit takes tensors of
    the input's shape; pass one sample's, without the batch axis).
    """

    name = "EpsilonGammaBox"

    def __init__(self, low: Bound, high: Bound, *, epsilon: float = 1e-6, gamma: float = 0.25,
                 stabilizer: float = DEFAULT_STABILIZER, bias: bool = True) -> None:
        super().__init__(epsilon=epsilon, stabilizer=stabilizer, bias=bias)
        self.low = _bound(low, "low")
        self.high = _bound(high, "high")
        self.gamma = real_number(gamma, "gamma")

    def _conv_rule(self) -> Rule:
        return Gamma(self.gamma, self.stabilizer, bias=self.bias)

    def _first_rule(self, kind: str) -> Rule | None:
        if kind != "conv2d":
            return None
        return ZBox(self.low, self.high, self.stabilizer, bias=self.bias)

    def _params(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "epsilon": self.epsilon, "gamma": self.gamma,
                "stabilizer": self.stabilizer, "bias": self.bias}


#: Zennit's composites by class name (what ``python -m dtd explain --rules`` accepts).
PRESETS: dict[str, type[Preset]] = {
    cls.name: cls for cls in (EpsilonPlus, EpsilonPlusFlat, EpsilonGammaBox, EpsilonAlpha2Beta1,
                              EpsilonAlpha2Beta1Flat)
}


def preset(name: str, **params: Any) -> Preset | Composite:
    """A preset by name.

    Parameters
    ----------
    name : str
        Zennit's class names (``"EpsilonPlusFlat"``, ...) or libdtd's ``"mlp_epsilon_plus"``, ...
    **params
        Passed to its constructor (e.g. ``low``, ``high`` for ``EpsilonGammaBox``).

    Raises
    ------
    ValueError
        An unknown name (the message lists the known ones).
    """
    if name in PRESETS:
        return PRESETS[name](**params)
    if name in _MLP_PRESETS:
        return _MLP_PRESETS[name](**params)
    known = ", ".join([*PRESETS, *_MLP_PRESETS])
    raise ValueError(f"unknown preset {name!r}; known: {known}")


# MARK: - libdtd's MLP-friendly presets (dtd_rules_set_composite)


@dataclass(frozen=True)
class Composite:
    """One of libdtd's MLP-friendly presets (``dtd_rules_set_composite``) and its parameters,
    plus optional per-layer overrides.

    Create one with the ``mlp_*`` functions of this module. ``overrides`` is a tuple of
    ``(layer, rule)`` pairs (layer = index or name) applied after the preset.
    """

    name: str
    code: int
    epsilon: float = 1e-6
    gamma: float = 0.25
    low: float = 0.0
    high: float = 1.0
    overrides: tuple[tuple[LayerKey, Rule], ...] = field(default=())

    def with_overrides(self, overrides: Mapping[Any, Any]) -> Composite:
        """A copy whose listed layers (indices or names) get the given rules (rule objects or
        rule dicts). Later overrides of the same layer replace earlier ones."""
        return Composite(self.name, self.code, self.epsilon, self.gamma, self.low, self.high,
                         _merged(self.overrides, overrides))

    def _key(self) -> Hashable:
        return (self.code, self.epsilon, self.gamma, self.low, self.high,
                tuple((layer, rule._key()) for layer, rule in self.overrides))

    def _apply_preset(self, rules: _capi.dtd_rules_handle) -> None:
        """Sets the preset on every dense/conv layer (``dtd_rules_set_composite``)."""
        _check(_capi.dtd_rules_set_composite(rules, self.code, self.epsilon, self.gamma,
                                             self.low, self.high))


def mlp_epsilon_plus(epsilon: float = 1e-6) -> Composite:
    """z+ on feature layers (conv layers, or an MLP's hidden dense layers), epsilon on the
    other dense layers."""
    return Composite("mlp_epsilon_plus", _capi.DTD_COMPOSITE_EPSILON_PLUS,
                     epsilon=real_number(epsilon, "epsilon"))


def mlp_epsilon_plus_flat(epsilon: float = 1e-6) -> Composite:
    """As :func:`mlp_epsilon_plus`, with flat on the first dense/conv layer."""
    return Composite("mlp_epsilon_plus_flat", _capi.DTD_COMPOSITE_EPSILON_PLUS_FLAT,
                     epsilon=real_number(epsilon, "epsilon"))


def mlp_epsilon_gamma_box(low: float, high: float, epsilon: float = 1e-6,
                          gamma: float = 0.25) -> Composite:
    """zbox(low, high) on the first dense/conv layer, gamma on the other feature layers,
    epsilon on the other dense layers. ``low``/``high`` are scalars here; for per-channel
    bounds, override the first layer with :class:`dtd.rules.ZBox`."""
    return Composite("mlp_epsilon_gamma_box", _capi.DTD_COMPOSITE_EPSILON_GAMMA_BOX,
                     epsilon=real_number(epsilon, "epsilon"), gamma=real_number(gamma, "gamma"),
                     low=real_number(low, "low"), high=real_number(high, "high"))


def mlp_epsilon_alpha2_beta1(epsilon: float = 1e-6) -> Composite:
    """alpha-beta(2, 1) on feature layers, epsilon on the other dense layers."""
    return Composite("mlp_epsilon_alpha2_beta1", _capi.DTD_COMPOSITE_EPSILON_ALPHA2_BETA1,
                     epsilon=real_number(epsilon, "epsilon"))


def mlp_epsilon_alpha2_beta1_flat(epsilon: float = 1e-6) -> Composite:
    """As :func:`mlp_epsilon_alpha2_beta1`, with flat on the first dense/conv layer."""
    return Composite("mlp_epsilon_alpha2_beta1_flat",
                     _capi.DTD_COMPOSITE_EPSILON_ALPHA2_BETA1_FLAT, epsilon=real_number(epsilon, "epsilon"))


_MLP_PRESETS = {function.__name__: function for function in (
    mlp_epsilon_plus, mlp_epsilon_plus_flat, mlp_epsilon_gamma_box, mlp_epsilon_alpha2_beta1,
    mlp_epsilon_alpha2_beta1_flat)}


def _deprecated(old: str, zennit: str) -> None:
    warnings.warn(f"dtd.composites.{old}() is deprecated: it is libdtd's MLP-friendly preset, now "
                  f"named mlp_{old}() (same result); Zennit's {zennit} is "
                  f"dtd.composites.{zennit}(), which differs on MLPs",
                  DeprecationWarning, stacklevel=3)


def epsilon_plus(epsilon: float = 1e-6) -> Composite:
    """Deprecated name of :func:`mlp_epsilon_plus` (Zennit's is :class:`EpsilonPlus`)."""
    _deprecated("epsilon_plus", "EpsilonPlus")
    return mlp_epsilon_plus(epsilon)


def epsilon_plus_flat(epsilon: float = 1e-6) -> Composite:
    """Deprecated name of :func:`mlp_epsilon_plus_flat` (Zennit's is :class:`EpsilonPlusFlat`)."""
    _deprecated("epsilon_plus_flat", "EpsilonPlusFlat")
    return mlp_epsilon_plus_flat(epsilon)


def epsilon_gamma_box(low: float, high: float, epsilon: float = 1e-6,
                      gamma: float = 0.25) -> Composite:
    """Deprecated name of :func:`mlp_epsilon_gamma_box` (Zennit's is :class:`EpsilonGammaBox`)."""
    _deprecated("epsilon_gamma_box", "EpsilonGammaBox")
    return mlp_epsilon_gamma_box(low, high, epsilon, gamma)


def epsilon_alpha2_beta1(epsilon: float = 1e-6) -> Composite:
    """Deprecated name of :func:`mlp_epsilon_alpha2_beta1` (Zennit's is
    :class:`EpsilonAlpha2Beta1`)."""
    _deprecated("epsilon_alpha2_beta1", "EpsilonAlpha2Beta1")
    return mlp_epsilon_alpha2_beta1(epsilon)


def epsilon_alpha2_beta1_flat(epsilon: float = 1e-6) -> Composite:
    """Deprecated name of :func:`mlp_epsilon_alpha2_beta1_flat` (Zennit's is
    :class:`EpsilonAlpha2Beta1Flat`)."""
    _deprecated("epsilon_alpha2_beta1_flat", "EpsilonAlpha2Beta1Flat")
    return mlp_epsilon_alpha2_beta1_flat(epsilon)
