"""The Pythonic :class:`Network`: numpy in, numpy out, over a ``dtd_network`` handle.

Shapes follow PyTorch: dense weights ``(out, in)``, conv weights ``(Cout, Cin, kH, kW)``,
activations ``(N, D)`` or ``(N, C, H, W)``. Every method that takes samples accepts either a
batch ``(N, *input_shape)`` or one sample ``input_shape``; for one sample the result comes back
without the batch axis too.

Arrays are converted to C-contiguous arrays of the network's dtype before each call (libdtd
copies weights and never keeps a pointer), and results are returned in that dtype.
"""
from __future__ import annotations

import ctypes
import json
import operator
import os
import weakref
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Union

import numpy as np

from . import _capi
from .composites import Composite, _layer_key
from .errors import DTDError, _check
from .rules import Rule, rule_from_dict

__all__ = ["Network", "LEDGER_DTYPE"]

#: The structured dtype of ledger entries, field for field ``dtd_ledger_entry``:
#: layer, relevance_out, relevance_in, absorbed_bias, absorbed_stabilizer, dropped.
LEDGER_DTYPE = np.dtype(_capi.dtd_ledger_entry)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# The `_f32`/`_f64` entry points, chosen once per network from its dtype.
_ENTRY_POINTS = {
    np.dtype(np.float32): SimpleNamespace(
        code=_capi.DTD_DTYPE_FLOAT32, pointer=_capi.const_float_p.ctype,
        add_dense=_capi.dtd_network_add_dense_f32, add_conv2d=_capi.dtd_network_add_conv2d_f32,
        add_batchnorm=_capi.dtd_network_add_batchnorm_f32, forward=_capi.dtd_network_forward_f32,
        target_seed=_capi.dtd_relevance_target_seed_f32, gradient=_capi.dtd_relevance_gradient_f32,
        gradient_x_input=_capi.dtd_relevance_gradient_x_input_f32, lrp=_capi.dtd_relevance_lrp_f32),
    np.dtype(np.float64): SimpleNamespace(
        code=_capi.DTD_DTYPE_FLOAT64, pointer=_capi.const_double_p.ctype,
        add_dense=_capi.dtd_network_add_dense_f64, add_conv2d=_capi.dtd_network_add_conv2d_f64,
        add_batchnorm=_capi.dtd_network_add_batchnorm_f64, forward=_capi.dtd_network_forward_f64,
        target_seed=_capi.dtd_relevance_target_seed_f64, gradient=_capi.dtd_relevance_gradient_f64,
        gradient_x_input=_capi.dtd_relevance_gradient_x_input_f64, lrp=_capi.dtd_relevance_lrp_f64),
}

RulesArgument = Union[Rule, Composite, Mapping[Any, Any]]


def _int64(value: Any, name: str) -> int:
    """An int that fits int64_t; ctypes would silently wrap a larger one."""
    number = operator.index(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise DTDError(_capi.DTD_ERROR_OVERFLOW, f"{name} = {number} does not fit in int64")
    return number


def _pair(value: Any, name: str) -> tuple[int, int]:
    """``3`` -> (3, 3); ``(2, 3)`` -> (2, 3); as PyTorch's int-or-pair arguments."""
    if (isinstance(value, Sequence) and not isinstance(value, str)) or isinstance(value, np.ndarray):
        items = list(value)
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return _int64(items[0], f"{name}[0]"), _int64(items[1], f"{name}[1]")
    number = _int64(value, name)
    return number, number


def _tensor(value: Any) -> np.ndarray | None:
    """A JSON tensor: ``{"shape": [...], "data": [...]}``, a (nested) list, or null."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        data = np.asarray(value["data"], dtype=np.float64)
        return data.reshape(value["shape"]) if "shape" in value else data
    return np.asarray(value, dtype=np.float64)


class _RuleSet:
    """A prepared ``dtd_rules`` handle, destroyed by ``close()`` or when unreferenced."""

    def __init__(self, handle: _capi.dtd_rules_handle):
        self.handle = handle
        self._finalizer = weakref.finalize(self, _capi.dtd_rules_destroy, handle)

    def close(self) -> None:
        self._finalizer()


class Network:
    """A feed-forward ReLU network held by libdtd.

    Build it layer by layer (each ``add_*`` returns the network, so calls chain) or load it with
    :meth:`from_json`, then call :meth:`forward`, :meth:`gradient`, :meth:`gradient_x_input` or
    :meth:`lrp`. Free it with :meth:`close` or a ``with`` block; otherwise it is freed when
    garbage-collected.

    Args:
        input_shape: ``(D,)`` or ``(C, H, W)`` (an int means ``(D,)``).
        dtype: ``"float32"`` or ``"float64"`` (or the numpy types).
    """

    def __init__(self, input_shape: int | Sequence[int], *, dtype: Any = "float64"):
        try:
            self._dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from None
        if self._dtype not in _ENTRY_POINTS:
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self._c = _ENTRY_POINTS[self._dtype]
        if np.ndim(input_shape) == 0:
            input_shape = (input_shape,)
        shape = np.array([_int64(s, f"input_shape[{i}]") for i, s in enumerate(input_shape)],
                         dtype=np.int64)
        handle = ctypes.c_void_p()
        _check(_capi.dtd_network_create(self._c.code, shape.ctypes.data_as(_capi.const_int64_p.ctype),
                                        shape.size, ctypes.byref(handle)))
        self._handle: _capi.dtd_network_handle | None = _capi.dtd_network_handle(handle)
        self._finalizer = weakref.finalize(self, _capi.dtd_network_destroy, handle)
        self._rules_cache: tuple[Hashable, _RuleSet] | None = None

    # MARK: - Lifetime

    def close(self) -> None:
        """Frees the network and its cached rule set now. Calling it again does nothing."""
        self._drop_rules_cache()
        self._finalizer()
        self._handle = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _h(self) -> _capi.dtd_network_handle:
        if self._handle is None:
            raise DTDError(_capi.DTD_ERROR_NULL_POINTER, "this Network is closed")
        return self._handle

    def _drop_rules_cache(self) -> None:
        if self._rules_cache is not None:
            self._rules_cache[1].close()
            self._rules_cache = None

    # MARK: - Queries

    @property
    def dtype(self) -> np.dtype:
        """The element type, ``numpy.dtype('float32')`` or ``numpy.dtype('float64')``."""
        return self._dtype

    @property
    def layer_count(self) -> int:
        """Number of layers, relu, pooling, flatten and batch-norm included."""
        count = ctypes.c_int64()
        _check(_capi.dtd_network_layer_count(self._h(), ctypes.byref(count)))
        return count.value

    def _shape_at(self, layer: int) -> tuple[int, ...]:
        shape = (ctypes.c_int64 * _capi.DTD_MAX_RANK)()
        rank = ctypes.c_int64()
        _check(_capi.dtd_network_layer_shape(self._h(), layer, shape, _capi.DTD_MAX_RANK,
                                             ctypes.byref(rank)))
        return tuple(shape[: rank.value])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample."""
        return self._shape_at(-1)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one output sample (the input shape while the network has no layers)."""
        return self._shape_at(self.layer_count - 1)

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        """Kind of each layer: "dense", "conv2d", "relu", "maxpool2d", "avgpool2d", "flatten",
        "batchnorm"."""
        kinds = []
        kind = ctypes.c_int32()
        for layer in range(self.layer_count):
            _check(_capi.dtd_network_layer_kind(self._h(), layer, ctypes.byref(kind)))
            kinds.append(_capi.LAYER_KIND_NAMES.get(kind.value, f"unknown({kind.value})"))
        return tuple(kinds)

    def __repr__(self) -> str:
        if self.closed:
            return "<dtd.Network (closed)>"
        return (f"<dtd.Network {self._dtype.name} {self.input_shape} -> {self.output_shape}: "
                f"{', '.join(self.layer_kinds) or 'no layers'}>")

    # MARK: - Building

    def _array(self, value: Any) -> np.ndarray:
        return np.ascontiguousarray(value, dtype=self._dtype)

    def _ptr(self, array: np.ndarray | None) -> Any:
        return None if array is None else array.ctypes.data_as(self._c.pointer)

    def _built(self) -> Network:
        """A layer was added: rule sets made for the old layer list are now unusable."""
        self._drop_rules_cache()
        return self

    def add_dense(self, weight: Any, bias: Any = None) -> Network:
        """Appends ``z = W a + b`` with ``weight`` of shape (out_features, in_features)."""
        w = self._array(weight)
        if w.ndim != 2:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"dense weight must be 2-D (out_features, in_features), got shape {w.shape}")
        b = None if bias is None else self._array(bias).reshape(-1)
        _check(self._c.add_dense(self._h(), self._ptr(w), w.size, w.shape[0], w.shape[1],
                                 self._ptr(b), 0 if b is None else b.size))
        return self._built()

    def add_conv2d(self, weight: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                   dilation: Any = 1) -> Network:
        """Appends a 2-D convolution (PyTorch's Conv2d, groups = 1, zero padding).

        ``weight`` is (out_channels, in_channels, kH, kW); ``stride``, ``padding`` and
        ``dilation`` are ints or (h, w) pairs.
        """
        w = self._array(weight)
        if w.ndim != 4:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"conv2d weight must be 4-D (out_channels, in_channels, kH, kW), "
                           f"got shape {w.shape}")
        b = None if bias is None else self._array(bias).reshape(-1)
        sh, sw = _pair(stride, "stride")
        ph, pw = _pair(padding, "padding")
        dh, dw = _pair(dilation, "dilation")
        _check(self._c.add_conv2d(self._h(), self._ptr(w), w.size, *w.shape, self._ptr(b),
                                  0 if b is None else b.size, sh, sw, ph, pw, dh, dw))
        return self._built()

    def add_relu(self) -> Network:
        """Appends ``max(0, z)``."""
        _check(_capi.dtd_network_add_relu(self._h()))
        return self._built()

    def add_flatten(self) -> Network:
        """Appends a reshape of (C, H, W) to (C*H*W,) (the identity on flat activations)."""
        _check(_capi.dtd_network_add_flatten(self._h()))
        return self._built()

    def add_maxpool2d(self, kernel: Any, *, stride: Any = None, padding: Any = 0) -> Network:
        """Appends PyTorch's MaxPool2d; ``stride=None`` means the kernel size, as in PyTorch."""
        kh, kw = _pair(kernel, "kernel")
        sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
        ph, pw = _pair(padding, "padding")
        _check(_capi.dtd_network_add_maxpool2d(self._h(), kh, kw, sh, sw, ph, pw))
        return self._built()

    def add_avgpool2d(self, kernel: Any, *, stride: Any = None, padding: Any = 0,
                      count_include_pad: bool = True) -> Network:
        """Appends PyTorch's AvgPool2d; padded zeros count in the divisor unless
        ``count_include_pad=False``."""
        kh, kw = _pair(kernel, "kernel")
        sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
        ph, pw = _pair(padding, "padding")
        _check(_capi.dtd_network_add_avgpool2d(self._h(), kh, kw, sh, sw, ph, pw,
                                               1 if count_include_pad else 0))
        return self._built()

    def add_batchnorm(self, gamma: Any, beta: Any, running_mean: Any, running_var: Any, *,
                      eps: float = 1e-5) -> Network:
        """Appends eval-mode batch-norm, folded into the preceding dense/conv layer.

        It keeps its index in the layer list (so indices match a PyTorch Sequential); rules go
        on the layer it was folded into.
        """
        arrays = [self._array(a).reshape(-1) for a in (gamma, beta, running_mean, running_var)]
        sizes = [a.size for a in arrays]
        if len(set(sizes)) != 1:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           "batchnorm gamma, beta, running_mean and running_var must have the "
                           f"same size, got {sizes}")
        _check(self._c.add_batchnorm(self._h(), *(self._ptr(a) for a in arrays), sizes[0],
                                     float(eps)))
        return self._built()

    @classmethod
    def from_json(cls, source: str | os.PathLike[str] | Mapping[str, Any], *,
                  dtype: Any = "float64") -> Network:
        """Builds a network from the JSON model format of the reference fixtures.

        ``source`` is a path or an already parsed dict with ``input_shape`` and ``layers``. Each
        layer has a ``type`` (dense, conv2d, relu, flatten, maxpool2d, avgpool2d, batchnorm);
        tensors are ``{"shape": [...], "data": [...]}`` (or nested lists); ``bias`` may be null.
        conv2d takes ``stride``, ``padding`` and optional ``dilation``; the pools ``kernel``,
        ``stride``, ``padding`` (avgpool2d also ``count_include_pad``); batchnorm ``gamma``,
        ``beta``, ``running_mean``, ``running_var`` and ``eps``. Other keys are ignored.
        """
        spec = source if isinstance(source, Mapping) else json.loads(Path(source).read_text())
        network = cls(spec["input_shape"], dtype=dtype)
        try:
            for index, layer in enumerate(spec["layers"]):
                network._add_layer_spec(index, layer)
        except BaseException:
            network.close()
            raise
        return network

    def _add_layer_spec(self, index: int, layer: Mapping[str, Any]) -> None:
        kind = layer.get("type")
        if kind == "dense":
            self.add_dense(_tensor(layer["weight"]), _tensor(layer.get("bias")))
        elif kind == "conv2d":
            self.add_conv2d(_tensor(layer["weight"]), _tensor(layer.get("bias")),
                            stride=layer.get("stride", 1), padding=layer.get("padding", 0),
                            dilation=layer.get("dilation", 1))
        elif kind == "relu":
            self.add_relu()
        elif kind == "flatten":
            self.add_flatten()
        elif kind == "maxpool2d":
            self.add_maxpool2d(layer["kernel"], stride=layer.get("stride"),
                               padding=layer.get("padding", 0))
        elif kind == "avgpool2d":
            self.add_avgpool2d(layer["kernel"], stride=layer.get("stride"),
                               padding=layer.get("padding", 0),
                               count_include_pad=layer.get("count_include_pad", True))
        elif kind == "batchnorm":
            self.add_batchnorm(_tensor(layer["gamma"]), _tensor(layer["beta"]),
                               _tensor(layer["running_mean"]), _tensor(layer["running_var"]),
                               eps=layer.get("eps", 1e-5))
        else:
            raise ValueError(f"layer {index}: unknown layer type {kind!r}")

    # MARK: - Samples in, results out

    def _samples(self, x: Any, name: str, sample_shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
        """``x`` as a contiguous batch, and whether it was a single sample."""
        array = self._array(x)
        if array.shape == sample_shape:
            return array.reshape((1, *sample_shape)), True
        if array.ndim == len(sample_shape) + 1 and array.shape[1:] == sample_shape:
            return array, False
        raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                       f"{name} has shape {array.shape}; expected {sample_shape} (one sample) or "
                       f"(N, {', '.join(map(str, sample_shape))}) (a batch)")

    def _seeds(self, r: Any, batch: int, single: bool) -> np.ndarray:
        """The output relevance as (N, *output_shape), matching the samples' batch."""
        shape = self.output_shape
        array = self._array(r)
        expected = shape if single else (batch, *shape)
        if array.shape != expected:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"output_relevance has shape {array.shape}; expected {expected} "
                           f"to match x")
        return array.reshape((batch, *shape))

    def _target_seeds(self, x: np.ndarray, target: Any) -> np.ndarray:
        """r = f_k(x) e_k per sample (``dtd_relevance_target_seed_*``)."""
        batch = x.shape[0]
        raw = np.asarray(target)
        if raw.dtype.kind not in "iu":
            raise TypeError(f"target must be an int or an array of ints, got {target!r}")
        if raw.dtype.kind == "u" and raw.size and raw.max() > _INT64_MAX:
            raise DTDError(_capi.DTD_ERROR_OUT_OF_RANGE, f"target {raw.max()} does not fit in int64")
        if raw.ndim == 0:
            raw = np.full(batch, raw)
        if raw.shape != (batch,):
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"target has shape {raw.shape}; expected an int or ({batch},), one per sample")
        targets = np.ascontiguousarray(raw, dtype=np.int64)
        seeds = np.empty((batch, *self.output_shape), dtype=self._dtype)
        _check(self._c.target_seed(self._h(), batch, self._ptr(x), x.size,
                                   targets.ctypes.data_as(_capi.const_int64_p.ctype), targets.size,
                                   self._ptr(seeds), seeds.size))
        return seeds

    def forward(self, x: Any) -> np.ndarray:
        """f(x): shape (N, *output_shape), or output_shape for a single sample."""
        xs, single = self._samples(x, "x", self.input_shape)
        out = np.empty((xs.shape[0], *self.output_shape), dtype=self._dtype)
        _check(self._c.forward(self._h(), xs.shape[0], self._ptr(xs), xs.size, self._ptr(out),
                               out.size))
        return out[0] if single else out

    def _backward(self, function: Any, x: Any, output_relevance: Any) -> np.ndarray:
        xs, single = self._samples(x, "x", self.input_shape)
        seeds = self._seeds(output_relevance, xs.shape[0], single)
        out = np.empty_like(xs)
        _check(function(self._h(), xs.shape[0], self._ptr(xs), xs.size, self._ptr(seeds),
                        seeds.size, self._ptr(out), out.size))
        return out[0] if single else out

    def gradient(self, x: Any, output_relevance: Any) -> np.ndarray:
        """J(x)^T r, the gradient of r . f(x) (ReLU'(0) = 0, max-pool to the first maximum)."""
        return self._backward(self._c.gradient, x, output_relevance)

    def gradient_x_input(self, x: Any, output_relevance: Any) -> np.ndarray:
        """x * J(x)^T r."""
        return self._backward(self._c.gradient_x_input, x, output_relevance)

    def lrp(self, x: Any, output_relevance: Any = None, *, rules: RulesArgument,
            target: Any = None, ledger: bool = False) -> Any:
        """Layer-wise Relevance Propagation of ``output_relevance`` down to the input.

        Args:
            x: (N, *input_shape), or one sample of input_shape.
            output_relevance: the seed, (N, *output_shape) (output_shape for one sample). Give
                it or ``target``.
            rules: a rule for every dense/conv layer, as one of
                ``{layer_index: rule}`` (rule objects or reference dicts; keys may be strings),
                a composite from :mod:`dtd.composites` (optionally ``.with_overrides(...)``),
                ``{"composite": composite, layer_index: rule, ...}`` (the same, as a dict), or
                a single rule object, meaning that rule on every dense/conv layer.
            target: explain output k: the seed is f_k(x) e_k. An int, or one int per sample.
            ledger: also return the per-layer conservation ledger.

        Returns:
            The input relevance, shaped like ``x``; with ``ledger=True`` the pair
            ``(relevance, ledger)``, the ledger a structured array of :data:`LEDGER_DTYPE` with
            shape (N, layer_count) ((layer_count,) for one sample).
        """
        xs, single = self._samples(x, "x", self.input_shape)
        batch = xs.shape[0]
        if (output_relevance is None) == (target is None):
            raise ValueError("give exactly one of output_relevance and target")
        if output_relevance is not None:
            seeds = self._seeds(output_relevance, batch, single)
        else:
            seeds = self._target_seeds(xs, target)
        rule_set = self._rule_set(rules)
        out = np.empty_like(xs)
        entries = np.zeros((batch, self.layer_count), dtype=LEDGER_DTYPE) if ledger else None
        _check(self._c.lrp(self._h(), rule_set.handle, batch, self._ptr(xs), xs.size,
                           self._ptr(seeds), seeds.size, self._ptr(out), out.size,
                           None if entries is None else
                           entries.ctypes.data_as(_capi.dtd_ledger_entry_p.ctype),
                           0 if entries is None else entries.size))
        relevance = out[0] if single else out
        if entries is None:
            return relevance
        return relevance, (entries[0] if single else entries)

    # MARK: - Rules

    def rule_kinds(self, rules: RulesArgument) -> tuple[str | None, ...]:
        """The rule each layer gets under ``rules`` (None for layers without weights), as
        libdtd reports it; shows where a composite put which rule."""
        rule_set = self._rule_set(rules)
        kinds = []
        kind = ctypes.c_int32()
        for layer in range(self.layer_count):
            _check(_capi.dtd_rules_kind(rule_set.handle, layer, ctypes.byref(kind)))
            kinds.append(_capi.RULE_KIND_NAMES.get(kind.value, f"unknown({kind.value})"))
        return tuple(kinds)

    def _normalise_rules(self, rules: RulesArgument) -> tuple[Composite | None, dict[int, Rule]]:
        """(preset or None, {layer: rule}) from any accepted form of ``rules``."""
        if isinstance(rules, Rule):
            weighted = [i for i, kind in enumerate(self.layer_kinds) if kind in ("dense", "conv2d")]
            return None, {layer: rules for layer in weighted}
        if isinstance(rules, Composite):
            return rules, dict(rules.overrides)
        if isinstance(rules, Mapping):
            composite = rules.get("composite")
            if composite is not None and not isinstance(composite, Composite):
                raise TypeError(f'rules["composite"] must come from dtd.composites, got {composite!r}')
            layers: dict[int, Rule] = dict(composite.overrides) if composite else {}
            for key, rule in rules.items():
                if key == "composite":
                    continue
                layers[_layer_key(key)] = rule if isinstance(rule, Rule) else rule_from_dict(rule)
            return composite, layers
        raise TypeError("rules must be a {layer: rule} dict, a composite or a rule, "
                        f"got {type(rules).__name__}")

    def _rule_set(self, rules: RulesArgument) -> _RuleSet:
        """The prepared rule set for ``rules``, reused while the same rules come again.

        Only the last rule set is cached. A replaced one is destroyed as soon as no call is
        using it any more (its last reference goes), so concurrent calls stay safe.
        """
        composite, layers = self._normalise_rules(rules)
        for layer in layers:  # ctypes would wrap a larger index silently into range
            if not _INT64_MIN <= layer <= _INT64_MAX:
                raise DTDError(_capi.DTD_ERROR_LAYER_INDEX,
                               f"layer = {layer} is outside [0, {self.layer_count})")
        key = (None if composite is None else composite._key(),
               tuple(sorted((layer, rule._key()) for layer, rule in layers.items())))
        cached = self._rules_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        handle = ctypes.c_void_p()
        _check(_capi.dtd_rules_create(self._h(), ctypes.byref(handle)))
        rule_set = _RuleSet(_capi.dtd_rules_handle(handle))
        try:
            if composite is not None:
                composite._apply_preset(rule_set.handle)
            for layer, rule in sorted(layers.items()):
                rule._apply(rule_set.handle, layer, self._dtype)
        except BaseException:
            rule_set.close()
            raise
        self._rules_cache = (key, rule_set)
        return rule_set
