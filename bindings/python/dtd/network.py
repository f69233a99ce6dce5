"""The Pythonic :class:`Network`: numpy in, numpy out, over a ``dtd_network`` handle.

Shapes follow PyTorch: dense weights ``(out, in)``, conv weights ``(Cout, Cin, kH, kW)``,
activations ``(N, D)`` or ``(N, C, H, W)``. Every method that takes samples accepts either a
batch ``(N, *input_shape)`` or one sample ``input_shape``; for one sample the result comes back
without the batch axis too.

Arrays are converted to C-contiguous arrays of the network's dtype before each call (libdtd
copies weights and never keeps a pointer), and results are returned in that dtype (root
records, audit results and theory distances are float64, as in the header).
"""
from __future__ import annotations

import ctypes
import json
import os
import weakref
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Union

import numpy as np

from . import _batching, _capi, _model_format
from ._batching import REQUIRED
from .composites import Composite, Preset, _layer_key
from .errors import DTDError, _check
from .full_backward import METHODS, REGION_DTYPE, SAMPLE_DTYPE, UNIT_DTYPE, FullBackwardResult
from .roots import AUDIT_RECORD_DTYPE, PLACEMENTS, ROOT_INFO_DTYPE, AuditResult, Roots
from .rules import AlphaBeta, Epsilon, Gamma, Rule, ZBox, rule_from_dict

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
        gradient_x_input=_capi.dtd_relevance_gradient_x_input_f32, lrp=_capi.dtd_relevance_lrp_f32,
        roots_compute=_capi.dtd_roots_compute_f32, audit_roots=_capi.dtd_audit_roots_f32,
        audit_points=_capi.dtd_audit_points_f32, gxi_distance=_capi.dtd_theory_gxi_distance_f32,
        constant_root=_capi.dtd_theory_constant_root_f32,
        construct_roots=_capi.dtd_theory_construct_roots_f32,
        rank1_csc=_capi.dtd_theory_rank1_csc_f32,
        full_backward=_capi.dtd_full_backward_compute_f32,
        full_backward_regions=_capi.dtd_full_backward_regions_f32,
        add_conv2d_padded=_capi.dtd_network_add_conv2d_padded_f32,
        lrp_layers=_capi.dtd_relevance_lrp_layers_f32),
    np.dtype(np.float64): SimpleNamespace(
        code=_capi.DTD_DTYPE_FLOAT64, pointer=_capi.const_double_p.ctype,
        add_dense=_capi.dtd_network_add_dense_f64, add_conv2d=_capi.dtd_network_add_conv2d_f64,
        add_batchnorm=_capi.dtd_network_add_batchnorm_f64, forward=_capi.dtd_network_forward_f64,
        target_seed=_capi.dtd_relevance_target_seed_f64, gradient=_capi.dtd_relevance_gradient_f64,
        gradient_x_input=_capi.dtd_relevance_gradient_x_input_f64, lrp=_capi.dtd_relevance_lrp_f64,
        roots_compute=_capi.dtd_roots_compute_f64, audit_roots=_capi.dtd_audit_roots_f64,
        audit_points=_capi.dtd_audit_points_f64, gxi_distance=_capi.dtd_theory_gxi_distance_f64,
        constant_root=_capi.dtd_theory_constant_root_f64,
        construct_roots=_capi.dtd_theory_construct_roots_f64,
        rank1_csc=_capi.dtd_theory_rank1_csc_f64,
        full_backward=_capi.dtd_full_backward_compute_f64,
        full_backward_regions=_capi.dtd_full_backward_regions_f64,
        add_conv2d_padded=_capi.dtd_network_add_conv2d_padded_f64,
        lrp_layers=_capi.dtd_relevance_lrp_layers_f64),
}

RulesArgument = Union[Rule, Composite, Preset, Mapping[Any, Any]]
#: One rule for every dense/conv layer: a rule object or a reference dict ``{"rule": "zplus"}``.
RuleArgument = Union[Rule, Mapping[str, Any]]
#: Neurons of a layer: None (all), a range or slice with step 1, or a (begin, end) pair.
NeuronsArgument = Union[None, range, slice, Sequence[int]]


def _int64(value: Any, name: str) -> int:
    """An int that fits int64_t; ctypes would silently wrap a larger one."""
    number = _model_format.integer(value, name)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise DTDError(_capi.DTD_ERROR_OVERFLOW, f"{name} = {number} does not fit in int64")
    return number


def _index(value: Any, name: str, status: int) -> int:
    """An index that fits int64_t (one that does not is out of range: ``status``)."""
    number = _model_format.integer(value, name)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise DTDError(status, f"{name} = {number} does not fit in int64")
    return number


def _records_ptr(records: np.ndarray, struct: type) -> Any:
    """A pointer to a structured array's records as ``struct *``."""
    return records.ctypes.data_as(ctypes.POINTER(struct))


def _root_rules(rule: Any, rules: Any) -> RulesArgument:
    """The rules argument of a root query: ``rule`` (one rule object or reference dict, on every
    dense/conv layer) or ``rules`` (a per-layer spec, as for ``lrp``); exactly one."""
    if (rule is None) == (rules is None):
        raise ValueError("give exactly one of rule (one rule on every dense/conv layer) and "
                         "rules (a rule per layer, as for lrp)")
    if rule is None:
        return rules
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, Mapping):
        return rule_from_dict(rule)
    raise TypeError(f"rule must be a rule object or a rule dict such as {{\"rule\": \"zplus\"}}, "
                    f"got {type(rule).__name__}")


def _describe_rule(rule: Rule) -> str:
    """A short name: "lrp0", "epsilon(0.25)", "zplus", "gamma(1)", "alphabeta(2, 1)", ..."""
    if isinstance(rule, Epsilon):
        return "lrp0" if rule.epsilon == 0 else f"epsilon({rule.epsilon:g})"
    if isinstance(rule, Gamma):
        return f"gamma({rule.gamma:g})"
    if isinstance(rule, AlphaBeta):
        return f"alphabeta({rule.alpha:g}, {rule.beta:g})"
    if isinstance(rule, ZBox) and isinstance(rule.low, float) and isinstance(rule.high, float):
        return f"zbox({rule.low:g}, {rule.high:g})"
    return rule.name


def _pair(value: Any, name: str) -> tuple[int, int]:
    """``3`` -> (3, 3); ``(2, 3)`` -> (2, 3); as PyTorch's int-or-pair arguments."""
    if (isinstance(value, Sequence) and not isinstance(value, str)) or isinstance(value, np.ndarray):
        items = list(value)
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return _int64(items[0], f"{name}[0]"), _int64(items[1], f"{name}[1]")
    number = _int64(value, name)
    return number, number


def _padding(value: Any) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right): ``1`` -> (1, 1, 1, 1); ``(ph, pw)`` -> (ph, ph, pw,
    pw) as PyTorch; ``(top, bottom, left, right)`` as given (ONNX's pads, reordered)."""
    if ((isinstance(value, Sequence) and not isinstance(value, str)) or isinstance(value, np.ndarray)) \
            and len(value) == 4:
        items = list(value)
        sides = ("top", "bottom", "left", "right")
        return tuple(_int64(item, f"padding {side}") for item, side in zip(items, sides))  # type: ignore[return-value]
    if (isinstance(value, Sequence) and not isinstance(value, str)) or isinstance(value, np.ndarray):
        if len(value) != 2:
            raise ValueError(f"padding must be an int, (h, w) or (top, bottom, left, right), got {value!r}")
    ph, pw = _pair(value, "padding")
    return ph, ph, pw, pw


def _symmetric(sides: tuple[int, int, int, int]) -> bool:
    return sides[0] == sides[1] and sides[2] == sides[3]


def _padding_spec(sides: tuple[int, int, int, int]) -> list[int]:
    """The JSON form: ``[ph, pw]`` when symmetric, else ``[top, bottom, left, right]``."""
    return [sides[0], sides[2]] if _symmetric(sides) else list(sides)


def _sources(value: Any, what: str) -> np.ndarray:
    """A route's or add's source layers as int64 (-1 = the network input)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    if not ((isinstance(value, Sequence) and not isinstance(value, str)) or isinstance(value, np.ndarray)):
        raise TypeError(f"{what} sources must be a sequence of layer indices, got {value!r}")
    items = [_int64(item, f"{what} sources[{i}]") for i, item in enumerate(value)]
    if not items:
        raise DTDError(_capi.DTD_ERROR_SIZE, f"{what} needs at least one source layer")
    return np.asarray(items, dtype=np.int64)


def _key_list(value: Any, what: str) -> list[Any]:
    """One layer key or a sequence of them."""
    if isinstance(value, (int, np.integer, str)) and not isinstance(value, bool):
        return [value]
    if (isinstance(value, Sequence) and not isinstance(value, str)) or isinstance(value, np.ndarray):
        return list(value)
    raise TypeError(f"{what} must be a layer index, a layer name or a list of them, got {value!r}")


def _tensor(value: Any) -> np.ndarray | None:
    """A JSON tensor: ``{"shape": [...], "data": [...]}``, a (nested) list, or null."""
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.dtype in (np.float32, np.float64):
        return value  # an importer's tensor: the layer converts it (no float64 detour)
    if isinstance(value, Mapping):
        data = np.asarray(value["data"], dtype=np.float64)
        return data.reshape(value["shape"]) if "shape" in value else data
    return np.asarray(value, dtype=np.float64)


def _layer_name(name: Any) -> str | None:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string or None, got {name!r}")
    return name


def _json_value(value: Any) -> Any:
    """A layer spec's value as plain JSON: tensors as ``{"shape", "data"}`` (float64 numbers)."""
    if isinstance(value, np.ndarray):
        return {"shape": list(value.shape), "data": value.astype(np.float64).ravel().tolist()}
    return value


def _unpickle(model: dict[str, Any], dtype: str) -> Network:
    return Network.from_json(model, dtype=dtype)


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
    :meth:`lrp`; for DTD, :meth:`roots`, :meth:`audit` and :meth:`audit_points`, and the
    study's theory checks :meth:`gxi_distance`, :meth:`constant_root_explanation`,
    :meth:`construct_roots` and :meth:`rank1_csc`; the study's second experiment,
    :meth:`full_backward`. Free it with :meth:`close` or a ``with``
    block; otherwise it is freed when garbage-collected.

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
        # Each layer as built, in the JSON model format with numpy tensors (read-only copies):
        # what to_json writes and pickle sends.
        self._input_spec = [int(s) for s in shape]
        self._specs: list[dict[str, Any]] = []

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
        "batchnorm", "route", "add", "identity", "adaptive_avgpool2d"."""
        kinds = []
        kind = ctypes.c_int32()
        for layer in range(self.layer_count):
            _check(_capi.dtd_network_layer_kind(self._h(), layer, ctypes.byref(kind)))
            kinds.append(_capi.LAYER_KIND_NAMES.get(kind.value, f"unknown({kind.value})"))
        return tuple(kinds)

    @property
    def layer_names(self) -> tuple[str | None, ...]:
        """Each layer's name (None where it has none): the PyTorch module, ONNX node or
        scikit-learn attribute an importer made it from, the ``"name"`` of a JSON layer, or the
        ``name=`` given to ``add_*``. Rules may name layers by these (see :meth:`lrp`)."""
        return tuple(spec.get("name") for spec in self._specs)

    def __repr__(self) -> str:
        if self.closed:
            return "<dtd.Network (closed)>"
        return (f"<dtd.Network {self._dtype.name} {self.input_shape} -> {self.output_shape}: "
                f"{', '.join(self.layer_kinds) or 'no layers'}>")

    # MARK: - Building

    def _array(self, value: Any, name: str) -> np.ndarray:
        """``value`` as a contiguous array of the network's dtype; complex, object and string
        arrays are errors naming the argument (``_model_format.real_array``)."""
        return _model_format.real_array(value, self._dtype, name)

    def _ptr(self, array: np.ndarray | None) -> Any:
        return None if array is None else array.ctypes.data_as(self._c.pointer)

    def _built(self, spec: dict[str, Any], name: str | None = None) -> Network:
        """A layer was added: remember its spec; rule sets made for the old layer list are now
        unusable."""
        if name is not None:
            spec["name"] = name
        self._specs.append(spec)
        self._drop_rules_cache()
        return self

    @staticmethod
    def _kept(array: np.ndarray | None, given: Any) -> np.ndarray | None:
        """A read-only private copy of a layer's tensor ``array`` (made from the caller's
        ``given``), for :meth:`to_json` and pickling; ``array`` itself if it is already ours."""
        if array is None:
            return None
        kept = array if array is not given and array.base is None else np.array(array, copy=True)
        kept.setflags(write=False)
        return kept

    def add_dense(self, weight: Any, bias: Any = None, *, name: str | None = None) -> Network:
        """Appends ``z = W a + b`` with ``weight`` of shape (out_features, in_features).

        ``name`` (every ``add_*`` takes it) labels the layer in :attr:`layer_names`, so rules can
        name it.
        """
        name = _layer_name(name)
        w = self._array(weight, "weight")
        if w.ndim != 2:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"dense weight must be 2-D (out_features, in_features), got shape {w.shape}")
        b = None if bias is None else self._array(bias, "bias").reshape(-1)
        _check(self._c.add_dense(self._h(), self._ptr(w), w.size, w.shape[0], w.shape[1],
                                 self._ptr(b), 0 if b is None else b.size))
        return self._built({"type": "dense", "weight": self._kept(w, weight),
                            "bias": self._kept(b, bias)}, name)

    def add_conv2d(self, weight: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                   dilation: Any = 1, name: str | None = None) -> Network:
        """Appends a 2-D convolution (PyTorch's Conv2d, groups = 1, zero padding).

        ``weight`` is (out_channels, in_channels, kH, kW); ``stride`` and ``dilation`` are ints
        or (h, w) pairs; ``padding`` an int, (h, w) or (top, bottom, left, right) (ONNX's pads).
        """
        name = _layer_name(name)
        w = self._array(weight, "weight")
        if w.ndim != 4:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"conv2d weight must be 4-D (out_channels, in_channels, kH, kW), "
                           f"got shape {w.shape}")
        b = None if bias is None else self._array(bias, "bias").reshape(-1)
        sh, sw = _pair(stride, "stride")
        sides = _padding(padding)
        dh, dw = _pair(dilation, "dilation")
        if _symmetric(sides):  # PyTorch's (ph, pw), checked and named as PyTorch does
            _check(self._c.add_conv2d(self._h(), self._ptr(w), w.size, *w.shape, self._ptr(b),
                                      0 if b is None else b.size, sh, sw, sides[0], sides[2], dh, dw))
        else:
            _check(self._c.add_conv2d_padded(self._h(), self._ptr(w), w.size, *w.shape, self._ptr(b),
                                             0 if b is None else b.size, sh, sw, *sides, dh, dw))
        return self._built({"type": "conv2d", "weight": self._kept(w, weight),
                            "bias": self._kept(b, bias), "stride": [sh, sw],
                            "padding": _padding_spec(sides), "dilation": [dh, dw]}, name)

    def add_relu(self, *, name: str | None = None) -> Network:
        """Appends ``max(0, z)``."""
        name = _layer_name(name)
        _check(_capi.dtd_network_add_relu(self._h()))
        return self._built({"type": "relu"}, name)

    def add_flatten(self, *, name: str | None = None) -> Network:
        """Appends a reshape of (C, H, W) to (C*H*W,) (the identity on flat activations)."""
        name = _layer_name(name)
        _check(_capi.dtd_network_add_flatten(self._h()))
        return self._built({"type": "flatten"}, name)

    def add_maxpool2d(self, kernel: Any, *, stride: Any = None, padding: Any = 0,
                      name: str | None = None) -> Network:
        """Appends PyTorch's MaxPool2d; ``stride=None`` means the kernel size, as in PyTorch;
        ``padding`` an int, (h, w) or (top, bottom, left, right)."""
        name = _layer_name(name)
        kh, kw = _pair(kernel, "kernel")
        sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
        sides = _padding(padding)
        if _symmetric(sides):  # PyTorch's MaxPool2d, with its padding limit (half the kernel)
            _check(_capi.dtd_network_add_maxpool2d(self._h(), kh, kw, sh, sw, sides[0], sides[2]))
        else:  # ONNX's pads (each below the kernel)
            _check(_capi.dtd_network_add_maxpool2d_padded(self._h(), kh, kw, sh, sw, *sides))
        return self._built({"type": "maxpool2d", "kernel": [kh, kw], "stride": [sh, sw],
                            "padding": _padding_spec(sides)}, name)

    def add_avgpool2d(self, kernel: Any, *, stride: Any = None, padding: Any = 0,
                      count_include_pad: bool = True, name: str | None = None) -> Network:
        """Appends PyTorch's AvgPool2d; padded zeros count in the divisor unless
        ``count_include_pad=False``; ``padding`` an int, (h, w) or (top, bottom, left, right)."""
        name = _layer_name(name)
        kh, kw = _pair(kernel, "kernel")
        sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
        sides = _padding(padding)
        include = _model_format.boolean(count_include_pad, "count_include_pad")
        if _symmetric(sides):
            _check(_capi.dtd_network_add_avgpool2d(self._h(), kh, kw, sh, sw, sides[0], sides[2], int(include)))
        else:
            _check(_capi.dtd_network_add_avgpool2d_padded(self._h(), kh, kw, sh, sw, *sides, int(include)))
        return self._built({"type": "avgpool2d", "kernel": [kh, kw], "stride": [sh, sw],
                            "padding": _padding_spec(sides), "count_include_pad": include}, name)

    def add_route(self, sources: Any, *, name: str | None = None) -> Network:
        """Appends a layer whose output is the output of layer ``sources[0]`` (one source: a
        side branch, e.g. a ResNet downsample path) or the channel concatenation of the
        outputs of ``sources`` (torch.cat(dim=1); all (C_i, H, W) with one H and W). ``-1`` is
        the network input. Relevance is split back by slice."""
        name = _layer_name(name)
        layers = _sources(sources, "route")
        _check(_capi.dtd_network_add_route(self._h(), layers.ctypes.data_as(_capi.const_int64_p.ctype),
                                           layers.size))
        return self._built({"type": "route", "from": [int(i) for i in layers]}, name)

    def add_add(self, sources: Any, *, name: str | None = None) -> Network:
        """Appends the residual sum: the previous layer's output plus the outputs of
        ``sources`` (``-1``: the network input), all of one shape. Relevance at the sum follows
        Zennit's Sum rule (``x_k R / stab(sum)``) unless a rule set says otherwise (see
        :meth:`lrp`)."""
        name = _layer_name(name)
        layers = _sources(sources, "add")
        _check(_capi.dtd_network_add_add(self._h(), layers.ctypes.data_as(_capi.const_int64_p.ctype),
                                         layers.size))
        return self._built({"type": "add", "from": [int(i) for i in layers]}, name)

    def add_identity(self, *, name: str | None = None) -> Network:
        """Appends a layer that passes everything through (Dropout or Identity at inference),
        so layer indices can match a PyTorch Sequential one to one."""
        name = _layer_name(name)
        _check(_capi.dtd_network_add_identity(self._h()))
        return self._built({"type": "identity"}, name)

    def add_adaptive_avgpool2d(self, output_size: Any, *, name: str | None = None) -> Network:
        """Appends PyTorch's AdaptiveAvgPool2d(output_size) (an int or (h, w); bins may
        overlap); ``1`` is global average pooling."""
        name = _layer_name(name)
        oh, ow = _pair(output_size, "output_size")
        _check(_capi.dtd_network_add_adaptive_avgpool2d(self._h(), oh, ow))
        return self._built({"type": "adaptive_avgpool2d", "output_size": [oh, ow]}, name)

    def layer_sources(self, layer: int) -> tuple[int, ...]:
        """The layers whose outputs layer ``layer`` reads, in operand order (``-1``: the
        network input): ``layer - 1`` for ordinary layers, the ``from`` list of a route, the
        previous layer then the ``from`` list of an add."""
        index = _int64(layer, "layer")
        count = ctypes.c_int64()
        capacity = 16
        while True:
            out = (ctypes.c_int64 * capacity)()
            status = _capi.dtd_network_layer_sources(self._h(), index, out, capacity, ctypes.byref(count))
            if status == _capi.DTD_ERROR_BUFFER_TOO_SMALL and count.value > capacity:
                capacity = count.value
                continue
            _check(status)
            return tuple(out[i] for i in range(count.value))

    def add_batchnorm(self, gamma: Any, beta: Any, running_mean: Any, running_var: Any, *,
                      eps: float = 1e-5, name: str | None = None) -> Network:
        """Appends eval-mode batch-norm, folded into the preceding dense/conv layer.

        It keeps its index in the layer list (so indices match a PyTorch Sequential); rules go
        on the layer it was folded into.
        """
        name = _layer_name(name)
        arrays = [self._array(a, what).reshape(-1) for a, what in
                  ((gamma, "gamma"), (beta, "beta"), (running_mean, "running_mean"),
                   (running_var, "running_var"))]
        sizes = [a.size for a in arrays]
        if len(set(sizes)) != 1:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           "batchnorm gamma, beta, running_mean and running_var must have the "
                           f"same size, got {sizes}")
        _check(self._c.add_batchnorm(self._h(), *(self._ptr(a) for a in arrays), sizes[0],
                                     _model_format.real_number(eps, "eps")))
        gamma_, beta_, mean_, var_ = (self._kept(a, given) for a, given in
                                      zip(arrays, (gamma, beta, running_mean, running_var)))
        return self._built({"type": "batchnorm", "gamma": gamma_, "beta": beta_,
                            "running_mean": mean_, "running_var": var_, "eps": float(eps)}, name)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str] | Mapping[str, Any], *,
                  dtype: Any = "float64") -> Network:
        """Builds a network from the JSON model format of the reference fixtures.

        ``source`` is a path or an already parsed dict with ``input_shape`` and ``layers``. Each
        layer has a ``type`` (dense, conv2d, relu, flatten, maxpool2d, avgpool2d, batchnorm,
        route and add with ``from``, identity, adaptive_avgpool2d with ``output_size``);
        tensors are ``{"shape": [...], "data": [...]}`` (or nested lists); ``bias`` may be null.
        conv2d takes ``stride``, ``padding`` (``[ph, pw]`` or ``[top, bottom, left, right]``)
        and optional ``dilation``; the pools ``kernel``,
        ``stride``, ``padding`` (avgpool2d also ``count_include_pad``); batchnorm ``gamma``,
        ``beta``, ``running_mean``, ``running_var`` and ``eps``. Every layer may carry a
        ``"name"`` (a string, e.g. the PyTorch module it came from; see :attr:`layer_names`).
        :meth:`to_json` writes this format. The schema is ``bindings/python/MODEL_FORMAT.md``:
        the whole model is checked against it first, and any deviation (a missing or unknown
        field, ``"false"`` for a boolean, ``2.0`` for a dimension, a count that does not match its
        shape, ...) raises :class:`dtd._model_format.ModelFormatError` (a ``DTDError`` and
        ``ValueError``) naming the layer index, the field and what was expected.
        """
        spec = _model_format.load(source)
        _model_format.validate(spec)
        network = cls(spec["input_shape"], dtype=dtype)
        try:
            for index, layer in enumerate(spec["layers"]):
                name = layer.get("name") if isinstance(layer, Mapping) else None
                if name is not None and not isinstance(name, str):
                    raise ValueError(f"layer {index}: name must be a string, got {name!r}")
                network._add_layer_spec(index, layer)
                if name is not None:
                    network._specs[-1]["name"] = name
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
        elif kind == "route":
            self.add_route(layer["from"])
        elif kind == "add":
            self.add_add(layer["from"])
        elif kind == "identity":
            self.add_identity()
        elif kind == "adaptive_avgpool2d":
            self.add_adaptive_avgpool2d(layer["output_size"])
        else:
            raise ValueError(f"layer {index}: unknown layer type {kind!r}")

    # MARK: - Serialisation

    def to_json(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The network in the JSON model format that :meth:`from_json` reads.

        Every layer as it was added (batch norms unfolded, with their own parameters), with its
        ``"name"`` if it has one; tensors as ``{"shape": [...], "data": [...]}`` holding the
        network's values exactly (float32 values written as the float64 numbers they are), so
        ``Network.from_json(net.to_json(), dtype=net.dtype)`` computes bit for bit what ``net``
        does.

        Parameters
        ----------
        path : str or os.PathLike, optional
            If given, the JSON text is also written to this file.

        Returns
        -------
        dict
            The model as plain Python values (``json.dumps`` takes it as is).
        """
        model = {"input_shape": list(self._input_spec),
                 "layers": [{key: _json_value(value) for key, value in spec.items()}
                            for spec in self._layer_specs()]}
        if path is not None:
            Path(path).write_text(json.dumps(model))
        return model

    def _layer_specs(self) -> list[dict[str, Any]]:
        if len(self._specs) != self.layer_count:  # a layer kind that does not record its spec
            raise DTDError(_capi.DTD_ERROR_UNSUPPORTED,
                           f"this network has {self.layer_count} layers but {len(self._specs)} "
                           f"recorded layer specs; it cannot be serialised")
        return self._specs

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as the layer specs (numpy tensors) and the dtype: a worker process rebuilds
        the same network. Rule-set caches are not sent."""
        self._h()  # a closed network has nothing to send
        model = {"input_shape": list(self._input_spec), "layers": list(self._layer_specs())}
        return (_unpickle, (model, self._dtype.name))

    # MARK: - Samples in, results out

    def _samples(self, x: Any, name: str, sample_shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
        """``x`` as a contiguous batch, and whether it was a single sample."""
        array = self._array(x, name)
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
        array = self._array(r, "output_relevance")
        expected = shape if single else (batch, *shape)
        if array.shape != expected:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"output_relevance has shape {array.shape}; expected {expected} "
                           f"to match x")
        return array.reshape((batch, *shape))

    def _target_seeds(self, x: np.ndarray, target: Any) -> np.ndarray:
        """r = f_k(x) e_k per sample (``dtd_relevance_target_seed_*``)."""
        batch = x.shape[0]
        if isinstance(target, str):
            target = _batching.resolve_targets(self, x, target, call="lrp")
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
            target: Any = None, ledger: bool = False, record: Any = None,
            mask: Mapping[Any, Any] | None = None) -> Any:
        """Layer-wise Relevance Propagation of ``output_relevance`` down to the input.

        Args:
            x: (N, *input_shape), or one sample of input_shape.
            output_relevance: the seed, (N, *output_shape) (output_shape for one sample). Give
                it or ``target``.
            rules: a rule for every dense/conv layer, as one of
                ``{layer: rule}`` (rule objects or reference dicts; a key is a layer index, a
                decimal string, or a layer name from :attr:`layer_names`, which sets the rule
                on every layer of that name), a composite from :mod:`dtd.composites`, e.g.
                Zennit's ``EpsilonPlusFlat()`` (optionally ``.with_overrides(...)``),
                ``{"composite": composite, layer_index: rule, ...}`` (the same, as a dict), or
                a single rule object, meaning that rule on every dense/conv layer.
            target: explain output k: the seed is f_k(x) e_k. An int, one int per sample, or
                ``"predicted"`` (each sample's largest output).
            ledger: also return the per-layer conservation ledger.
            record: layers (indices or unique layer names) whose relevance to return: the
                relevance at each one's output (what it propagates further down; for a chain,
                the relevance at the next layer's input).
            mask: ``{layer: keep}``: of the relevance arriving at that layer's output keep only
                ``keep`` and zero the rest before it propagates on. ``keep`` is a list of
                channel indices for a (C, H, W) output or of neuron indices for a flat one, or
                a boolean array with one flag per channel or per element. One mask per layer;
                it applies to every sample. (Which inputs made channel 17 of layer 5 matter:
                ``mask={5: [17]}``.)

        Returns:
            The input relevance, shaped like ``x``; with ``ledger=True`` also the ledger, a
            structured array of :data:`LEDGER_DTYPE` with shape (N, layer_count)
            ((layer_count,) for one sample); with ``record`` also ``{layer: relevance}``, each
            (N, *that layer's output shape). The pieces come as a tuple in the order relevance,
            ledger, records.
        """
        xs, single = self._samples(x, "x", self.input_shape)
        batch = xs.shape[0]
        if (output_relevance is None) == (target is None):
            raise ValueError("give exactly one of output_relevance and target")
        if output_relevance is not None:
            seeds = self._seeds(output_relevance, batch, single)
        else:
            seeds = self._target_seeds(xs, target)
        recorded_layers = [] if record is None else [self._layer_of(key, "record")
                                                     for key in _key_list(record, "record")]
        masks = self._masks(mask)
        rule_set = self._rule_set(rules)
        out = np.empty_like(xs)
        entries = np.zeros((batch, self.layer_count), dtype=LEDGER_DTYPE) if ledger else None
        ledger_args = (None if entries is None else entries.ctypes.data_as(_capi.dtd_ledger_entry_p.ctype),
                       0 if entries is None else entries.size)
        if record is None and not masks:
            _check(self._c.lrp(self._h(), rule_set.handle, batch, self._ptr(xs), xs.size,
                               self._ptr(seeds), seeds.size, self._ptr(out), out.size, *ledger_args))
            blocks: list[np.ndarray] = []
        else:
            shapes = [self._shape_at(layer) for layer in recorded_layers]
            blocks = [np.empty((batch, *shape), dtype=self._dtype) for shape in shapes]
            recorded = np.empty(sum(block.size for block in blocks), dtype=self._dtype)
            layers = np.asarray(recorded_layers, dtype=np.int64)
            flags = [keep for _, keep in masks]
            structs = (_capi.dtd_relevance_mask * max(1, len(masks)))()
            for i, (layer, keep) in enumerate(masks):
                structs[i].layer = layer
                structs[i].keep = keep.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
                structs[i].keep_count = keep.size
            _check(self._c.lrp_layers(
                self._h(), rule_set.handle, batch, self._ptr(xs), xs.size, self._ptr(seeds),
                seeds.size, self._ptr(out), out.size, *ledger_args,
                layers.ctypes.data_as(_capi.const_int64_p.ctype) if layers.size else None, layers.size,
                self._ptr(recorded) if recorded.size else None, recorded.size,
                structs if masks else None, len(masks)))
            del flags  # kept alive through the call
            offset = 0
            for block in blocks:
                block.reshape(-1)[:] = recorded[offset:offset + block.size]
                offset += block.size
        relevance = out[0] if single else out
        result: list[Any] = [relevance]
        if entries is not None:
            result.append(entries[0] if single else entries)
        if record is not None:
            records: dict[int, np.ndarray] = {}
            for layer, block in zip(recorded_layers, blocks):
                records[layer] = block[0] if single else block
            result.append(records)
        return result[0] if len(result) == 1 else tuple(result)

    def _layer_of(self, key: Any, what: str) -> int:
        """A layer index from an index or a layer name that names exactly one layer."""
        if isinstance(key, str):
            matches = [i for i, name in enumerate(self.layer_names) if name == key]
            if len(matches) != 1:
                raise DTDError(_capi.DTD_ERROR_LAYER_INDEX,
                               f"{what}: layer name {key!r} names {len(matches)} layers; give an index")
            return matches[0]
        return _int64(key, f"{what} layer")

    def _masks(self, mask: Mapping[Any, Any] | None) -> list[tuple[int, np.ndarray]]:
        """``mask`` as (layer, uint8 flags per channel or element) pairs."""
        if mask is None:
            return []
        if not isinstance(mask, Mapping):
            raise TypeError(f"mask must be a dict {{layer: kept channels or neurons}}, got {mask!r}")
        masks = []
        for key, keep in mask.items():
            layer = self._layer_of(key, "mask")
            if not 0 <= layer < self.layer_count:
                raise DTDError(_capi.DTD_ERROR_LAYER_INDEX,
                               f"mask: layer {layer} is outside [0, {self.layer_count})")
            shape = self._shape_at(layer)
            units = shape[0]  # channels of (C, H, W), neurons of (D,)
            array = np.asarray(keep)
            if array.dtype == np.bool_:
                flags = np.ascontiguousarray(array.reshape(-1), dtype=np.uint8)
            else:
                if array.dtype.kind not in "iu" or array.ndim > 1:
                    raise TypeError(f"mask[{key!r}] must be a list of channel or neuron indices or a "
                                    f"boolean array, got {keep!r}")
                indices = array.reshape(-1).astype(np.int64)
                if indices.size and (indices.min() < 0 or indices.max() >= units):
                    raise DTDError(_capi.DTD_ERROR_OUT_OF_RANGE,
                                   f"mask[{key!r}]: index {int(indices.max() if indices.max() >= units else indices.min())} "
                                   f"is outside [0, {units}) (layer {layer} has output shape {shape})")
                flags = np.zeros(units, dtype=np.uint8)
                flags[indices] = 1
            masks.append((layer, flags))
        return masks

    # MARK: - DTD roots and the root audit

    def roots(self, x: Any, *, layer: int, target: Any = REQUIRED, rule: RuleArgument | None = None,
              rules: RulesArgument | None = None, placement: str = "relevance",
              tol: float = 1e-5, neurons: NeuronsArgument = None,
              constrain: bool = False) -> Roots:
        """The DTD root points of one dense/conv layer (``Include/dtd.h`` section 6).

        The relevance ``R_j`` reaching the layer comes from the study's top-down pass: the seed
        ``f_k(x) e_k`` propagated from the output with every upper layer's rule in root form
        (bias excluded, no stabiliser, whatever the rule objects say).

        Args:
            x: (N, *input_shape), or one sample of input_shape.
            layer: index of a dense or conv2d layer.
            target: the explained output k: an int, one int per sample (the batch is split
                by output, one libdtd call each), or ``"predicted"``. Required.
            rule: one root rule (a rule object or a reference dict such as
                ``{"rule": "zplus"}``) used at every dense/conv layer, the study's protocol.
            rules: instead of ``rule``, a rule per layer as for :meth:`lrp`. Give exactly one.
                The audited layer's rule gives the direction, and every dense/conv layer
                above it needs a root rule too: ``Epsilon(0)``, ``ZPlus``, ``AlphaBeta``,
                ``Gamma``, ``WSquare`` or ``ZBox``. ``Epsilon`` with epsilon > 0 and ``Flat``
                have no roots (``DTD_ERROR_RULE``).
            placement: ``"relevance"`` (``t_j = R_j / w_j^T v_j``, the study's code) or
                ``"hyperplane"`` (``t_j = z_j / w_j^T v_j``, the root on neuron j's hyperplane).
            tol: ``|w_j^T v_j| <= tol`` (> 0) means the neuron has no root.
            neurons: the neurons to root: None (all), a ``range`` or ``slice`` (step 1) or a
                ``(begin, end)`` pair of flat indices into the layer output.
            constrain: region-constrained DTD: clip each ``t_j`` to the input's linear region.

        Returns:
            A :class:`dtd.roots.Roots`: ``points`` of shape
            ``(N, roots_per_sample, *layer_input_shape)`` and per-root arrays of shape
            ``(N, roots_per_sample)`` (without the batch axis for a single sample).
            ``roots_per_sample`` is the number of neurons, twice that for alpha-beta.
        """
        xs, single = self._samples(x, "x", self.input_shape)
        targets = _batching.resolve_targets(self, xs, target, call="roots")
        work = _batching.groups(targets, xs.shape[0])
        rule_set, query, _ = self._root_query(layer=layer, target=work[0][0], rule=rule, rules=rules,
                                              placement=placement, tol=tol, neurons=neurons,
                                              constrain=constrain)
        per_sample = self._roots_per_sample(rule_set, query)
        batch = xs.shape[0]
        points = np.empty((batch, per_sample, *self._layer_input_shape(query.layer)),
                          dtype=self._dtype)
        info = np.zeros((batch, per_sample), dtype=ROOT_INFO_DTYPE)
        for group_target, samples in work:
            query.target = group_target
            group_x, group_points, group_info = xs[samples], points[samples], info[samples]
            _check(self._c.roots_compute(self._h(), rule_set.handle, ctypes.byref(query),
                                         group_x.shape[0], self._ptr(group_x), group_x.size,
                                         self._ptr(group_points), group_points.size,
                                         _records_ptr(group_info, _capi.dtd_root_info), group_info.size))
            points[samples], info[samples] = group_points, group_info  # copies back a fancy index
        if single:
            points, info = points[0], info[0]
        return Roots._from_records(points, info, layer=query.layer,
                                   target=_batching.single_target(targets, single),
                                   placement=placement)

    def audit(self, x: Any, *, target: Any = REQUIRED, layer: int = 0,
              rule: RuleArgument | None = None, rules: RulesArgument | None = None,
              placement: str = "relevance", tol: float = 1e-5, neurons: NeuronsArgument = None,
              constrain: bool = False, chunk_size: int | None = None,
              progress: Any = None) -> AuditResult:
        """Computes the roots of a layer (as :meth:`roots`) and audits each one: does it lie in
        the input's linear region of ``g``, the network from the layer's input to the explained
        output, as Taylor's theorem requires?

        The arguments are those of :meth:`roots`, ``target`` included (required: an int, one
        per sample, or ``"predicted"``), and:

        Args:
            chunk_size: samples per libdtd call. None (default) adapts it so that each call
                takes about a quarter of a second; Ctrl-C stops the audit after the running
                chunk, and progress is reported after each.
            progress: None, True (a tqdm bar; needs tqdm) or a callable ``progress(done, total)``
                called with sample counts after each chunk.

        Returns:
            A :class:`dtd.roots.AuditResult` with the per-root checks (``same_gradient``,
            ``same_pattern``, ``output_change``, ``taylor_residual``, ``segment_inside``,
            ``admissible_t``, ``unexplained``, plus the root fields), the study's aggregates
            as attributes, the per-root rates ``pairs_outside_by_gradient`` /
            ``pairs_outside_by_pattern``, ``.summary()`` (a dict) and ``.table()`` (readable
            text)::

                res = net.audit(X, target="predicted", layer=0, rule={"rule": "zplus"})
                print(res.table())

            Samples split over several calls (by target or into chunks) have their aggregates
            tallied again over all records (see :meth:`dtd.roots.AuditResult.concatenate`).
        """
        xs, single = self._samples(x, "x", self.input_shape)
        targets = _batching.resolve_targets(self, xs, target, call="audit")
        work = _batching.groups(targets, xs.shape[0])
        rule_set, query, rules_argument = self._root_query(
            layer=layer, target=work[0][0], rule=rule, rules=rules, placement=placement, tol=tol,
            neurons=neurons, constrain=constrain)
        per_sample = self._roots_per_sample(rule_set, query)
        batch = xs.shape[0]
        records = np.zeros((batch, per_sample), dtype=AUDIT_RECORD_DTYPE)
        summaries = []
        with _batching.chunked(work, per_sample=per_sample, chunk_size=chunk_size,
                               progress=progress, description=f"audit layer {query.layer}") as parts:
            for part_target, samples in parts:
                query.target = part_target
                part_x, part_records = xs[samples], records[samples]
                summary = _capi.dtd_audit_summary()
                _check(self._c.audit_roots(self._h(), rule_set.handle, ctypes.byref(query),
                                           part_x.shape[0], self._ptr(part_x), part_x.size,
                                           _records_ptr(part_records, _capi.dtd_audit_record),
                                           part_records.size, ctypes.byref(summary)))
                records[samples] = part_records  # copies back a fancy index; a no-op for a slice
                summaries.append(summary)
        described = dict(layer=query.layer, target=_batching.single_target(targets, single),
                         placement=placement, rule=self._rule_label(rules_argument, query.layer),
                         layer_rules=self._layer_rule_labels(rules_argument),
                         constrained=bool(constrain))
        if len(summaries) == 1:  # one call: libdtd's own summary
            return AuditResult._from_records(records[0] if single else records, summaries[0],
                                             **described)
        return AuditResult._from_parts(records, [s.max_conservation_error for s in summaries],
                                       single=single, **described)

    def audit_points(self, x: Any, points: Any, *, layer: int, target: Any = REQUIRED) -> AuditResult:
        """Audits arbitrary points of layer ``layer``'s input (e.g. constructed roots) against
        ``g``, the network from that layer's input to output ``target``.

        Args:
            x: (N, *input_shape), or one sample of input_shape.
            points: (N, P, *layer_input_shape) — P points per sample — or (P, *layer_input_shape)
                for a single sample.
            layer: any layer index (the points live at its input).
            target: the explained output: an int, one int per sample, or ``"predicted"``.
                Required.

        Returns:
            A :class:`dtd.roots.AuditResult` whose record ``[n, p]`` describes point ``p`` of
            sample ``n``: ``neuron`` is ``p``; ``t``, ``wv`` and ``admissible_t`` are NaN,
            ``unexplained`` is 0, ``segment_inside`` covers the segment from the sample's
            layer input to the point, and ``max_conservation_error`` is NaN.
        """
        xs, single = self._samples(x, "x", self.input_shape)
        batch = xs.shape[0]
        targets = _batching.resolve_targets(self, xs, target, call="audit_points")
        work = _batching.groups(targets, batch)
        layer_index = _index(layer, "layer", _capi.DTD_ERROR_LAYER_INDEX)
        work = [(_index(t, "target", _capi.DTD_ERROR_OUT_OF_RANGE), samples) for t, samples in work]
        pts = self._array(points, "points")
        shape = self._layer_input_shape(layer_index) if self._valid_layer(layer_index) else None
        if shape is not None:
            expected = (len(shape) + 1) if single else (len(shape) + 2)
            lead = () if single else (batch,)
            if pts.ndim != expected or pts.shape[:len(lead)] != lead or pts.shape[-len(shape):] != shape:
                raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                               f"points has shape {pts.shape}; expected "
                               f"({'' if single else f'{batch}, '}P, {', '.join(map(str, shape))}) "
                               f"for layer {layer_index}'s input {shape}")
        axis = 0 if single else 1  # the points axis
        per_sample = pts.shape[axis] if pts.ndim > axis else 0
        if single:
            pts = pts.reshape((1, *pts.shape))
        records = np.zeros((batch, per_sample), dtype=AUDIT_RECORD_DTYPE)
        summaries = []
        for group_target, samples in work:
            group_x, group_points, group_records = xs[samples], pts[samples], records[samples]
            summary = _capi.dtd_audit_summary()
            _check(self._c.audit_points(self._h(), layer_index, group_target, group_x.shape[0],
                                        self._ptr(group_x), group_x.size, per_sample,
                                        self._ptr(group_points), group_points.size,
                                        _records_ptr(group_records, _capi.dtd_audit_record),
                                        group_records.size, ctypes.byref(summary)))
            records[samples] = group_records
            summaries.append(summary)
        described = dict(layer=layer_index, target=_batching.single_target(targets, single),
                         placement=None, rule="(given points)")
        if len(summaries) == 1:
            return AuditResult._from_records(records[0] if single else records, summaries[0],
                                             **described)
        return AuditResult._from_parts(records, [s.max_conservation_error for s in summaries],
                                       single=single, **described)

    def _root_query(self, *, layer: Any, target: Any, rule: Any, rules: Any, placement: Any,
                    tol: Any, neurons: Any, constrain: Any
                    ) -> tuple[_RuleSet, _capi.dtd_root_query, RulesArgument]:
        """The prepared rule set, the ``dtd_root_query`` and the rules argument used."""
        rules_argument = _root_rules(rule, rules)
        layer_index = _index(layer, "layer", _capi.DTD_ERROR_LAYER_INDEX)
        target_index = _index(target, "target", _capi.DTD_ERROR_OUT_OF_RANGE)
        if not isinstance(placement, str) or placement not in PLACEMENTS:
            raise DTDError(_capi.DTD_ERROR_OUT_OF_RANGE,
                           f"placement = {placement!r} is neither \"relevance\" nor \"hyperplane\"")
        if not isinstance(constrain, (bool, np.bool_)):
            raise TypeError(f"constrain must be True or False, got {constrain!r}")
        begin, end = self._neuron_range(neurons, layer_index)
        query = _capi.dtd_root_query(
            layer=layer_index, target=target_index, placement=PLACEMENTS[placement],
            flags=_capi.DTD_QUERY_CONSTRAIN_TO_REGION if constrain else 0,
            tol=_model_format.real_number(tol, "tol"),
            neuron_begin=begin, neuron_end=end)
        return self._rule_set(rules_argument), query, rules_argument

    def _roots_per_sample(self, rule_set: _RuleSet, query: _capi.dtd_root_query) -> int:
        count = ctypes.c_int64()
        _check(_capi.dtd_roots_count(self._h(), rule_set.handle, ctypes.byref(query),
                                     ctypes.byref(count)))
        return count.value

    def _valid_layer(self, layer: int) -> bool:
        return 0 <= layer < self.layer_count

    def _layer_input_shape(self, layer: int) -> tuple[int, ...]:
        """Shape of one sample at the input of ``layer`` (a valid index)."""
        return self._shape_at(layer - 1)

    def _neuron_range(self, neurons: NeuronsArgument, layer: int) -> tuple[int, int]:
        """``[begin, end)`` from None, a range, a slice or a pair. For an invalid layer, None
        and slices give a placeholder so that libdtd reports the layer."""
        if isinstance(neurons, (range, slice)) and neurons.step not in (None, 1):
            raise ValueError(f"neurons must be contiguous (step 1), got {neurons!r}")
        if neurons is None or isinstance(neurons, slice):
            if not self._valid_layer(layer):
                return 0, 1
            size = int(np.prod(self._shape_at(layer)))
            if neurons is None:
                return 0, size
            begin, end, _ = neurons.indices(size)
            return begin, end
        if isinstance(neurons, range):
            return (_index(neurons.start, "neurons.start", _capi.DTD_ERROR_OUT_OF_RANGE),
                    _index(neurons.stop, "neurons.stop", _capi.DTD_ERROR_OUT_OF_RANGE))
        items = list(neurons) if isinstance(neurons, (Sequence, np.ndarray)) else None
        if items is None or len(items) != 2:
            raise TypeError(f"neurons must be None, a range, a slice or a (begin, end) pair, "
                            f"got {neurons!r}")
        return (_index(items[0], "neurons begin", _capi.DTD_ERROR_OUT_OF_RANGE),
                _index(items[1], "neurons end", _capi.DTD_ERROR_OUT_OF_RANGE))

    def _rule_label(self, rules: RulesArgument, layer: int) -> str:
        """A short name of the rule ``rules`` puts on ``layer`` ("zplus", "gamma(1)", ...)."""
        _, layers = self._normalise_rules(rules)
        if layer in layers:
            return _describe_rule(layers[layer])
        return str(self.rule_kinds(rules)[layer])

    def _layer_rule_labels(self, rules: RulesArgument) -> dict[int, str]:
        """``{layer: short rule name}`` for every dense/conv layer that ``rules`` gives a rule."""
        kinds = self.rule_kinds(rules)
        return {layer: self._rule_label(rules, layer) for layer, kind in enumerate(kinds)
                if kind is not None}

    # MARK: - The study's theory as checks

    def gxi_distance(self, x: Any, output_relevance: Any = None, *, rules: RulesArgument,
                     target: Any = None) -> Any:
        """T2: per sample, ``||LRP(x; r) - G|| / ||G||`` for ``rules``, where ``G`` is gradient x
        input for the seed divided by the output, ``x * J(x)^T (r / f(x))``.

        For ``target=k`` (the seed ``f_k(x) e_k``) ``G = x * grad f_k(x)``. LRP-0 with the bias
        included gives 0 up to rounding on any ReLU network: DTD with a constant root at 0 is
        gradient x input.

        Returns:
            float64 distances of shape (N,), a float for a single sample.
        """
        xs, single = self._samples(x, "x", self.input_shape)
        seeds = self._seed_or_target(xs, single, output_relevance, target)
        rule_set = self._rule_set(rules)
        distances = np.empty(xs.shape[0], dtype=np.float64)
        _check(self._c.gxi_distance(self._h(), rule_set.handle, xs.shape[0], self._ptr(xs),
                                    xs.size, self._ptr(seeds), seeds.size,
                                    distances.ctypes.data_as(_capi.double_p.ctype), distances.size))
        return float(distances[0]) if single else distances

    def constant_root_explanation(self, x: Any, root: Any, output_relevance: Any = None, *,
                                  target: Any = None) -> np.ndarray:
        """T2: the explanation a constant first-layer root ``root`` gives,
        ``J(x)^T r * (x - root)``.

        Args:
            x: (N, *input_shape), or one sample.
            root: one point of input_shape shared by the batch, or one per sample.
            output_relevance: the seed ``r`` (N, *output_shape), or
            target: explain output k with the seed ``e_k`` (the gradient's seed, unlike
                :meth:`lrp`'s ``f_k(x) e_k``), giving ``grad f_k(x) * (x - root)``; with
                ``root = 0`` that is gradient x input, what LRP-0 gives for ``target=k``.
        """
        xs, single = self._samples(x, "x", self.input_shape)
        if (output_relevance is None) == (target is None):
            raise ValueError("give exactly one of output_relevance and target")
        if output_relevance is not None:
            seeds = self._seeds(output_relevance, xs.shape[0], single)
        else:
            seeds = self._unit_seeds(xs.shape[0], target)
        x0 = self._array(root, "root")
        if x0.shape != self.input_shape and x0.shape != xs.shape:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"root has shape {x0.shape}; expected {self.input_shape} (one point "
                           f"for the batch) or {xs.shape} (one per sample)")
        out = np.empty_like(xs)
        _check(self._c.constant_root(self._h(), xs.shape[0], self._ptr(xs), xs.size,
                                     self._ptr(x0), x0.size, self._ptr(seeds), seeds.size,
                                     self._ptr(out), out.size))
        return out[0] if single else out

    def construct_roots(self, x: Any, explanation: Any, *, layer: int, target: int,
                        rule: RuleArgument | None = None, rules: RulesArgument | None = None,
                        neurons: NeuronsArgument = None) -> Roots:
        """T3: roots of dense layer ``layer`` that reproduce ``explanation`` exactly.

        With ``R_j`` from the top-down pass (as for :meth:`roots`; ``rule``/``rules`` as there,
        the layer's own rule is not used) and ``R = sum_j R_j``: shares
        ``R_{i<-j} = e_i R_j / R``, ``c_j = R_j / z_j`` (1 when ``z_j`` or ``R_j`` is 0) and
        ``root_ij = a_i - R_{i<-j} / (c_j w_ij)``, so ``sum_j c_j w_ij (a_i - root_ij) = e_i``
        and every root lies on its hyperplane. Input-dependent roots can justify any
        explanation (Sixt & Landgraf 2022, Theorem 3).

        Args:
            explanation: (N, *layer_input_shape) (or one sample's); each sample must sum to the
                relevance reaching the layer (1e-6 relative), else ``DTD_ERROR_INVALID_ARGUMENT``.
            layer: a dense layer (conv2d is ``DTD_ERROR_UNSUPPORTED``).

        Returns:
            A :class:`dtd.roots.Roots` with one root per neuron of the range,
            ``placement=None``, ``t = 1 / c_j`` and ``wv`` NaN; ``no_root`` marks a neuron with
            a zero weight where its share is not zero.
        """
        xs, single = self._samples(x, "x", self.input_shape)
        rule_set, query, _ = self._root_query(layer=layer, target=target, rule=rule, rules=rules,
                                              placement="relevance", tol=1e-5, neurons=neurons,
                                              constrain=False)
        self._roots_per_sample(rule_set, query)  # validates the query with libdtd's messages
        shape = self._layer_input_shape(query.layer)
        e = self._array(explanation, "explanation")
        expected = shape if single else (xs.shape[0], *shape)
        if e.shape != expected:
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"explanation has shape {e.shape}; expected {expected} (layer "
                           f"{query.layer}'s input)")
        batch, count = xs.shape[0], query.neuron_end - query.neuron_begin
        points = np.empty((batch, count, *shape), dtype=self._dtype)
        info = np.zeros((batch, count), dtype=ROOT_INFO_DTYPE)
        _check(self._c.construct_roots(self._h(), rule_set.handle, ctypes.byref(query), batch,
                                       self._ptr(xs), xs.size, self._ptr(e), e.size,
                                       self._ptr(points), points.size,
                                       _records_ptr(info, _capi.dtd_root_info), info.size))
        if single:
            points, info = points[0], info[0]
        return Roots._from_records(points, info, layer=query.layer, target=query.target,
                                   placement=None)

    def rank1_csc(self, x: Any, seeds: Any, *, rules: RulesArgument) -> np.ndarray:
        """Rank-1 convergence (Sixt, Granz & Landgraf, ICML 2020): propagates several output
        relevance vectors per sample with ``rules`` and returns, per layer boundary, the mean
        pairwise cosine similarity of the resulting relevance vectors, averaged over samples.

        Args:
            seeds: (N, S, *output_shape) with S >= 2 seeds per sample ((S, *output_shape) for
                a single sample).

        Returns:
            float64 array of ``layer_count + 1`` values: ``[l]`` at the input of layer ``l``
            (``[0]`` the network input), ``[-1]`` the seeds themselves. z+ tends to 1 towards
            the input on deep networks; gradient x input (LRP-0) does not.
        """
        xs, single = self._samples(x, "x", self.input_shape)
        out_shape = self.output_shape
        s = self._array(seeds, "seeds")
        lead = 1 if single else 2
        if (s.ndim != lead + len(out_shape) or s.shape[lead:] != out_shape
                or (not single and s.shape[0] != xs.shape[0])):
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"seeds has shape {s.shape}; expected "
                           f"({'' if single else f'{xs.shape[0]}, '}S, "
                           f"{', '.join(map(str, out_shape))})")
        per_sample = s.shape[lead - 1]
        rule_set = self._rule_set(rules)
        csc = np.empty(self.layer_count + 1, dtype=np.float64)
        _check(self._c.rank1_csc(self._h(), rule_set.handle, xs.shape[0], self._ptr(xs), xs.size,
                                 per_sample, self._ptr(s), s.size,
                                 csc.ctypes.data_as(_capi.double_p.ctype), csc.size))
        return csc

    def full_backward(self, x: Any, *, target: int = 0, method: str = "exact", roots: bool = False,
                      regions: bool = True, seed: int = 0, directions: int = 50,
                      input_lower: float = 0.0) -> FullBackwardResult:
        """Full-backward DTD (the study's second experiment, ``Include/dtd.h`` section 8): every
        unit of every dense layer decomposed, top-down, at a root inside the input's linear
        region, for a chain of dense layers each followed by a ReLU.

        Args:
            x: ``(N, D)`` or one sample ``(D,)``; every f_target(x) must be > 0.
            target: the explained output.
            method: ``"exact"`` (LP and QP with COIN-OR CLP; see :func:`dtd.full_backward.available`),
                ``"sampled"`` (the study's procedure as its code ran) or ``"bisect"`` (with the
                refinement it intended).
            roots: also return every root (``res.roots[layer]``: ``(N, units, layer inputs)``).
            regions: also compute the region sizes (exact: 4 LPs per coordinate and layer).
            seed, directions: the sampled methods' random directions (the study: 50 per search).
            input_lower: lower bound of the input coordinates in the first layer's region: 0
                (the study's clamp), any value <= every input, or ``-inf``.

        Returns:
            A :class:`dtd.full_backward.FullBackwardResult`; ``.table()`` prints the aggregates.

        Raises:
            DTDError: ``DTD_ERROR_UNSUPPORTED`` for a network that is not a dense/ReLU chain (the
                layer is named) or for ``"exact"`` without CLP ("install coinor-libclp...");
                ``DTD_ERROR_INVALID_ARGUMENT`` for f_target(x) <= 0 (the sample is named), an
                input below ``input_lower`` or an unknown method; ``DTD_ERROR_OUT_OF_RANGE``
                for the target or directions.
        """
        if method not in METHODS:
            raise DTDError(_capi.DTD_ERROR_INVALID_ARGUMENT,
                           f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
        directions = _model_format.integer(directions, "directions")
        if not 1 <= directions <= 2**20:
            raise DTDError(_capi.DTD_ERROR_OUT_OF_RANGE, f"directions must be in [1, 2**20], got {directions}")
        xs, single = self._samples(x, "x", self.input_shape)
        query = _capi.dtd_full_backward_query(
            target=_index(target, "target", _capi.DTD_ERROR_OUT_OF_RANGE), method=METHODS[method],
            directions=directions, seed=_model_format.integer(seed, "seed") % 2**64,
            input_lower=_model_format.real_number(input_lower, "input_lower"))
        sizes = _capi.dtd_full_backward_sizes()
        _check(_capi.dtd_full_backward_count(self._h(), ctypes.byref(query), ctypes.byref(sizes)))
        batch, width = xs.shape[0], xs[0].size
        units = np.zeros((batch, sizes.units), dtype=UNIT_DTYPE)
        relevance = np.empty((batch, width), dtype=self._dtype)
        slope = np.empty((batch, width), dtype=self._dtype)
        points = np.empty((batch, sizes.root_elements), dtype=self._dtype) if roots else None
        samples = np.zeros(batch, dtype=SAMPLE_DTYPE)
        _check(self._c.full_backward(
            self._h(), ctypes.byref(query), batch, self._ptr(xs), xs.size,
            _records_ptr(units, _capi.dtd_full_backward_unit), units.size, self._ptr(relevance), relevance.size,
            self._ptr(slope), slope.size, self._ptr(points), 0 if points is None else points.size,
            _records_ptr(samples, _capi.dtd_full_backward_sample), samples.size))
        region_records = boxes = None
        if regions:
            region_records = np.zeros((batch, sizes.layers), dtype=REGION_DTYPE)
            boxes = np.empty((batch, sizes.box_elements), dtype=self._dtype)
            _check(self._c.full_backward_regions(
                self._h(), ctypes.byref(query), batch, self._ptr(xs), xs.size,
                _records_ptr(region_records, _capi.dtd_full_backward_region), region_records.size,
                self._ptr(boxes), boxes.size))
        return FullBackwardResult._from_buffers(
            method=method, target=int(query.target), units=units, input_relevance=relevance, input_slope=slope,
            roots=points, samples=samples, regions=region_records, boxes=boxes, single=single)

    def _seed_or_target(self, xs: np.ndarray, single: bool, output_relevance: Any,
                        target: Any) -> np.ndarray:
        """The seed as :meth:`lrp` takes it: given, or ``f_k(x) e_k`` for ``target``."""
        if (output_relevance is None) == (target is None):
            raise ValueError("give exactly one of output_relevance and target")
        if output_relevance is not None:
            return self._seeds(output_relevance, xs.shape[0], single)
        return self._target_seeds(xs, target)

    def _unit_seeds(self, batch: int, target: Any) -> np.ndarray:
        """``e_k`` per sample (the gradient's seed for output k)."""
        raw = np.asarray(target)
        if isinstance(target, str):
            raise ValueError('target must be an int or an array of ints here (resolve "predicted" '
                             'with net.forward(x).argmax(axis=1))')
        if raw.dtype.kind not in "iu":
            raise TypeError(f"target must be an int or an array of ints, got {target!r}")
        targets = np.broadcast_to(raw, (batch,)) if raw.ndim == 0 else raw
        if targets.shape != (batch,):
            raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                           f"target has shape {raw.shape}; expected an int or ({batch},), one "
                           f"per sample")
        size = int(np.prod(self.output_shape))
        if np.any(targets < 0) or np.any(targets >= size):
            bad = targets[(targets < 0) | (targets >= size)][0]
            raise DTDError(_capi.DTD_ERROR_OUT_OF_RANGE,
                           f"target = {bad} is outside [0, {size}) for output {self.output_shape}")
        seeds = np.zeros((batch, size), dtype=self._dtype)
        seeds[np.arange(batch), targets.astype(np.int64)] = 1
        return seeds.reshape((batch, *self.output_shape))

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
        """(libdtd preset or None, {layer: rule}) from any accepted form of ``rules``; layer
        names resolve to their indices and a :class:`~dtd.composites.Preset` to its rules."""
        if isinstance(rules, Rule):
            weighted = [i for i, kind in enumerate(self.layer_kinds) if kind in ("dense", "conv2d")]
            return None, {layer: rules for layer in weighted}
        if isinstance(rules, (Composite, Preset)):
            composite, entries = rules, []
        elif isinstance(rules, Mapping):
            composite = rules.get("composite")
            if composite is not None and not isinstance(composite, (Composite, Preset)):
                raise TypeError(f'rules["composite"] must come from dtd.composites, got {composite!r}')
            entries = [(key, rule) for key, rule in rules.items() if key != "composite"]
        else:
            raise TypeError("rules must be a {layer: rule} dict, a composite or a rule, "
                            f"got {type(rules).__name__}")
        layers: dict[int, Rule] = {}
        if isinstance(composite, Preset):
            layers.update(composite._layer_rules(self.layer_kinds))
        overrides = list(composite.overrides) if composite is not None else []
        for key, rule in overrides + entries:
            rule = rule if isinstance(rule, Rule) else rule_from_dict(rule)
            for layer in self._layer_indices(_layer_key(key)):
                layers[layer] = rule
        return (composite if isinstance(composite, Composite) else None), layers

    def _layer_indices(self, key: int | str) -> list[int]:
        """A layer index as is; a layer name as the indices of every layer of that name."""
        if isinstance(key, int):
            return [key]
        names = self.layer_names
        found = [index for index, name in enumerate(names) if name == key]
        if not found:
            known = [name for name in names if name is not None]
            hint = (f"names are e.g. {', '.join(map(repr, known[:6]))}" if known
                    else "this network's layers have no names")
            raise DTDError(_capi.DTD_ERROR_LAYER_INDEX, f"no layer is named {key!r} ({hint})")
        return found

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
