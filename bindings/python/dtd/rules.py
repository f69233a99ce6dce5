"""LRP rules as data: frozen dataclasses with Zennit's names and defaults.

A rule object only holds parameters; it is validated by libdtd when a rule set is built
(``alpha - beta == 1``, ``epsilon >= 0``, ``low <= high``, ...), so the error names the layer.

``bias=True`` lets the layer bias take part in the rule (``DTD_BIAS_INCLUDE``, Zennit's default);
``bias=False`` zeroes it inside the rule (``DTD_BIAS_EXCLUDE``, Zennit's
``zero_params=['bias']``, the conservative DTD form)::

    dtd.rules.Epsilon(0.25)             # LRP-epsilon
    dtd.rules.Gamma(0.25, bias=False)   # LRP-gamma without the bias in the denominators
    dtd.rules.ZBox(low=-1.0, high=1.0)  # z^B; bounds may be arrays (per channel or per element)

The formulas are those of Zennit 0.5.1; see ``Include/dtd.h`` section 5.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Union

import numpy as np

from . import _capi
from ._model_format import check_rule_dict, real_array, real_number
from .errors import _check

__all__ = [
    "Rule", "Epsilon", "LRP0", "ZPlus", "AlphaBeta", "Gamma", "WSquare", "Flat", "ZBox",
    "rule_from_dict",
]

DEFAULT_STABILIZER = _capi.DTD_DEFAULT_STABILIZER


def _flag(value: Any, name: str) -> bool:
    """A strict boolean: ``bias="exclude"`` must not silently mean True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def _bias_mode(bias: bool) -> int:
    return _capi.DTD_BIAS_INCLUDE if bias else _capi.DTD_BIAS_EXCLUDE


class Rule:
    """Base of the rule classes. ``kind`` is the header's ``DTD_RULE_*`` code."""

    kind: ClassVar[int]
    name: ClassVar[str]

    def _apply(self, rules: _capi.dtd_rules_handle, layer: int, dtype: np.dtype) -> None:
        """Sets this rule on ``layer`` of the rule set (``dtd_rules_set_*``)."""
        raise NotImplementedError

    def _key(self) -> Hashable:
        """A hashable canonical form, for caching prepared rule sets."""
        return (type(self).__name__, *(getattr(self, f.name) for f in fields(self)))  # type: ignore[arg-type]

    def _normalise(self, **converters: Any) -> None:
        for name, convert in converters.items():
            object.__setattr__(self, name, convert(getattr(self, name), name))


def _real(value: Any, name: str) -> float:
    return real_number(value, name)  # "0.25", True and 1j are errors, not 0.25, 1.0 and 0.0


@dataclass(frozen=True)
class Epsilon(Rule):
    """LRP-epsilon: ``a * W^T (R / stab(z))``; epsilon is its own stabiliser, 0 gives LRP-0."""

    epsilon: float = 1e-6
    bias: bool = True
    kind: ClassVar[int] = _capi.DTD_RULE_EPSILON
    name: ClassVar[str] = "epsilon"

    def __post_init__(self) -> None:
        self._normalise(epsilon=_real, bias=_flag)

    def _apply(self, rules, layer, dtype):
        _check(_capi.dtd_rules_set_epsilon(rules, layer, self.epsilon, _bias_mode(self.bias)))


def LRP0(bias: bool = True) -> Epsilon:
    """LRP-0, i.e. ``Epsilon(0.0)``: equals gradient x input with ``bias=True``."""
    return Epsilon(0.0, bias=bias)


@dataclass(frozen=True)
class ZPlus(Rule):
    """LRP-z+: only positive contributions, ``s = R / stab(W+a+ + b+ + W-a-)``."""

    stabilizer: float = DEFAULT_STABILIZER
    bias: bool = True
    kind: ClassVar[int] = _capi.DTD_RULE_ZPLUS
    name: ClassVar[str] = "zplus"

    def __post_init__(self) -> None:
        self._normalise(stabilizer=_real, bias=_flag)

    def _apply(self, rules, layer, dtype):
        _check(_capi.dtd_rules_set_zplus(rules, layer, self.stabilizer, _bias_mode(self.bias)))


@dataclass(frozen=True)
class AlphaBeta(Rule):
    """LRP-alpha-beta: ``alpha * (z+ part) - beta * (z- part)``; needs ``alpha - beta == 1``."""

    alpha: float = 2.0
    beta: float = 1.0
    stabilizer: float = DEFAULT_STABILIZER
    bias: bool = True
    kind: ClassVar[int] = _capi.DTD_RULE_ALPHABETA
    name: ClassVar[str] = "alphabeta"

    def __post_init__(self) -> None:
        self._normalise(alpha=_real, beta=_real, stabilizer=_real, bias=_flag)

    def _apply(self, rules, layer, dtype):
        _check(_capi.dtd_rules_set_alphabeta(rules, layer, self.alpha, self.beta, self.stabilizer,
                                             _bias_mode(self.bias)))


@dataclass(frozen=True)
class Gamma(Rule):
    """LRP-gamma: ``W + gamma W+`` (and ``W + gamma W-``), gated by the sign of the true z."""

    gamma: float = 0.25
    stabilizer: float = DEFAULT_STABILIZER
    bias: bool = True
    kind: ClassVar[int] = _capi.DTD_RULE_GAMMA
    name: ClassVar[str] = "gamma"

    def __post_init__(self) -> None:
        self._normalise(gamma=_real, stabilizer=_real, bias=_flag)

    def _apply(self, rules, layer, dtype):
        _check(_capi.dtd_rules_set_gamma(rules, layer, self.gamma, self.stabilizer,
                                         _bias_mode(self.bias)))


@dataclass(frozen=True)
class WSquare(Rule):
    """LRP-w^2: ``(W^2)^T (R / stab(W^2 1 + b^2))``; input values are ignored."""

    stabilizer: float = DEFAULT_STABILIZER
    bias: bool = True
    kind: ClassVar[int] = _capi.DTD_RULE_WSQUARE
    name: ClassVar[str] = "wsquare"

    def __post_init__(self) -> None:
        self._normalise(stabilizer=_real, bias=_flag)

    def _apply(self, rules, layer, dtype):
        _check(_capi.dtd_rules_set_wsquare(rules, layer, self.stabilizer, _bias_mode(self.bias)))


@dataclass(frozen=True)
class Flat(Rule):
    """LRP-flat: weights and inputs set to one; the bias is always dropped (hence no ``bias``)."""

    stabilizer: float = DEFAULT_STABILIZER
    kind: ClassVar[int] = _capi.DTD_RULE_FLAT
    name: ClassVar[str] = "flat"

    def __post_init__(self) -> None:
        self._normalise(stabilizer=_real)

    def _apply(self, rules, layer, dtype):
        _check(_capi.dtd_rules_set_flat(rules, layer, self.stabilizer))


Bound = Union[float, np.ndarray]


def _bound(value: Any, name: str) -> Bound:
    """A scalar stays a float; anything else becomes a read-only float64 array (hashable key)."""
    if np.ndim(value) == 0:
        return real_number(value, name)
    array = real_array(value, np.float64, name).copy()  # a private copy the caller cannot mutate
    array.setflags(write=False)
    return array


def _bound_key(value: Bound) -> Hashable:
    if isinstance(value, float):
        return value
    return ("array", value.shape, value.tobytes())


@dataclass(frozen=True, eq=False)
class ZBox(Rule):
    """LRP-z^B with input bounds ``low <= a <= high``.

    ``low`` and ``high`` are scalars, or arrays with one value per channel of the layer input
    (conv layers) or one per element of the layer input (its full shape). The bias mode makes no
    difference for this rule (``b = b+ + b-``) but is accepted for uniformity.
    """

    low: Bound
    high: Bound
    stabilizer: float = DEFAULT_STABILIZER
    bias: bool = True
    kind: ClassVar[int] = _capi.DTD_RULE_ZBOX
    name: ClassVar[str] = "zbox"

    def __post_init__(self) -> None:
        self._normalise(low=_bound, high=_bound, stabilizer=_real, bias=_flag)

    def _key(self) -> Hashable:
        return ("ZBox", _bound_key(self.low), _bound_key(self.high), self.stabilizer, self.bias)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZBox) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _apply(self, rules, layer, dtype):
        bias = _bias_mode(self.bias)
        if isinstance(self.low, float) and isinstance(self.high, float):
            _check(_capi.dtd_rules_set_zbox(rules, layer, self.low, self.high, self.stabilizer, bias))
            return
        low = np.ascontiguousarray(np.ravel(self.low), dtype=dtype)
        high = np.ascontiguousarray(np.ravel(self.high), dtype=dtype)
        if dtype == np.float32:
            setter, pointer = _capi.dtd_rules_set_zbox_bounds_f32, _capi.const_float_p.ctype
        else:
            setter, pointer = _capi.dtd_rules_set_zbox_bounds_f64, _capi.const_double_p.ctype
        _check(setter(rules, layer, low.ctypes.data_as(pointer), low.size,
                      high.ctypes.data_as(pointer), high.size, self.stabilizer, bias))


_RULES_BY_NAME: dict[str, type[Rule]] = {
    cls.name: cls for cls in (Epsilon, ZPlus, AlphaBeta, Gamma, WSquare, Flat, ZBox)
}


def _parse_bias(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value == "include":
        return True
    if value == "exclude":
        return False
    raise ValueError(f'bias must be "include" or "exclude", got {value!r}')


def rule_from_dict(spec: Mapping[str, Any]) -> Rule:
    """A rule from the reference-file format, e.g. ``{"rule": "epsilon", "epsilon": 0.25,
    "bias": "include"}``.

    Rule names: epsilon, zplus, alphabeta, gamma, wsquare, flat, zbox. Missing parameters take
    the class defaults (zbox needs ``low`` and ``high``). ``flat`` accepts and ignores ``bias``
    (the rule always drops it). Unknown rule names and unknown keys raise ``ValueError``.
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"a rule dict must be a mapping, got {type(spec).__name__}")
    check_rule_dict(spec)  # strict: names the key and what was expected (_model_format.py)
    if "rule" not in spec:
        raise ValueError(f'rule dict {dict(spec)!r} has no "rule" key')
    name = spec["rule"]
    cls = _RULES_BY_NAME.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown rule {name!r}; expected one of {', '.join(_RULES_BY_NAME)}")
    params = {key: value for key, value in spec.items() if key != "rule"}
    if "bias" in params:
        params["bias"] = _parse_bias(params["bias"])
        if cls is Flat:
            del params["bias"]
    accepted = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))} for rule {name!r}; "
                         f"accepted: rule, {', '.join(sorted(accepted))}")
    if cls is ZBox and not {"low", "high"} <= params.keys():
        raise ValueError('rule "zbox" needs "low" and "high"')
    return cls(**params)

