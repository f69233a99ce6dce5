"""Strict checks of what enters the package as data: JSON model files, rule dicts and arrays.

The JSON model format is specified in ``bindings/python/MODEL_FORMAT.md`` (its one home);
:func:`validate` implements that schema. A model is checked completely before anything is
built, and every deviation is an error naming the layer index, the field and what was expected,
because a loosely read model file is a silently different network (``"count_include_pad":
"false"`` used to mean True; a typo such as ``paddding`` used to be ignored).

Errors carry the ``dtd_status`` libdtd itself uses for the same kind of mistake:

- ``DTD_ERROR_INVALID_ARGUMENT``: a wrong JSON type (a string, a boolean or a float where an
  integer belongs, ``"false"`` for a boolean), a missing or unknown field, an unknown layer type;
- ``DTD_ERROR_SIZE``: a dimension that is not positive (a padding that is negative), or above
  libdtd's per-dimension limit;
- ``DTD_ERROR_SHAPE_MISMATCH``: an element count that does not match a shape, a ragged nested
  list, a tensor of the wrong rank, a bias or batch-norm vector of the wrong length;
- ``DTD_ERROR_LAYER_INDEX``: a ``from`` reference that is not an earlier layer;
- ``DTD_ERROR_NON_FINITE``: NaN or infinity in a tensor or parameter.

Adding a layer kind is one entry of :data:`LAYER_FIELDS` (and its ``add_*`` call in
``network.py``).
"""
from __future__ import annotations

import json
import math
import numbers
import operator
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _capi
from .errors import DTDError

__all__ = ["ModelFormatError", "ArgumentTypeError", "load", "validate", "check_rule_dict",
           "real_number", "real_array", "integer", "boolean"]

#: libdtd's largest dimension (``Limits.maxDimension``: BLAS dimensions are 32-bit).
MAX_DIMENSION = 2**31 - 1


class ModelFormatError(DTDError, ValueError):
    """A malformed model file or rule dict.

    Attributes:
        layer: the layer index, or None for a top-level field (or a rule dict).
        field: the field, e.g. ``"padding"``, ``"weight.data"``, ``"stride[1]"``.
    """

    def __init__(self, status: int, message: str, *, layer: int | None = None,
                 field: str | None = None):
        super().__init__(status, message)
        self.layer = layer
        self.field = field


class ArgumentTypeError(DTDError, TypeError):
    """An argument of a type libdtd cannot take (a complex, object or string array): numpy would
    drop an imaginary part with only a warning, or fail with a message naming no argument."""


# MARK: - Describing values in messages

def _show(value: Any) -> str:
    """A short, JSON-like rendering of a bad value and its type."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, str):
        text = json.dumps(value)
    elif isinstance(value, (list, tuple, Mapping)):
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    else:
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = {bool: "a boolean", str: "a string", type(None): "null", float: "a float",
            int: "an integer", list: "a list", dict: "an object"}.get(type(value),
                                                                          type(value).__name__)
    return f"{text} ({kind})"


class _Where:
    """Where a field lives: a layer (index and type) or the top level, for messages."""

    def __init__(self, layer: int | None = None, kind: str | None = None, prefix: str = "model"):
        self.layer, self.kind, self.prefix = layer, kind, prefix

    def __str__(self) -> str:
        if self.layer is None:
            return self.prefix
        return f"layer {self.layer}" + (f" ({self.kind})" if self.kind else "")

    def error(self, status: int, field: str, expected: str, value: Any = None, *,
              got: str | None = None) -> ModelFormatError:
        shown = got if got is not None else _show(value)
        return ModelFormatError(status, f'{self}: "{field}" expected {expected}; got {shown}',
                                layer=self.layer, field=field)

    def unknown(self, field: str, accepted: Any) -> ModelFormatError:
        """A key the schema does not have here: a typo must not be ignored."""
        names = ", ".join(f'"{k}"' for k in accepted)
        return ModelFormatError(_capi.DTD_ERROR_INVALID_ARGUMENT,
                                f'{self}: unknown field "{field}" (a typo?); expected only '
                                f'{names}', layer=self.layer, field=field)


_INVALID = _capi.DTD_ERROR_INVALID_ARGUMENT
_SIZE = _capi.DTD_ERROR_SIZE
_SHAPE = _capi.DTD_ERROR_SHAPE_MISMATCH
_NON_FINITE = _capi.DTD_ERROR_NON_FINITE


# MARK: - Scalars

def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return (isinstance(value, (numbers.Real, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def _dimension(value: Any, where: _Where, field: str, *, minimum: int = 1) -> int:
    expected = "a positive integer" if minimum == 1 else "a non-negative integer"
    if not _is_int(value):
        raise where.error(_INVALID, field, expected, value)
    if value < minimum:
        raise where.error(_SIZE, field, expected, value)
    if value > MAX_DIMENSION:
        raise where.error(_SIZE, field, f"{expected} at most {MAX_DIMENSION}", value)
    return int(value)


def _int_or_pair(value: Any, where: _Where, field: str, *, minimum: int = 1,
                 allow_quad: bool = False) -> tuple[int, ...]:
    """An integer, ``[h, w]`` or (padding) ``[top, bottom, left, right]``."""
    word = "positive" if minimum == 1 else "non-negative"
    expected = (f"a {word} integer, [h, w]" + (" or [top, bottom, left, right]" if allow_quad
                                              else "") + f" of {word} integers")
    if isinstance(value, list):
        if len(value) not in ((2, 4) if allow_quad else (2,)):
            raise where.error(_INVALID, field, expected, value)
        return tuple(_dimension(v, where, f"{field}[{i}]", minimum=minimum)
                     for i, v in enumerate(value))
    if not _is_int(value):
        raise where.error(_INVALID, field, expected, value)
    return (_dimension(value, where, field, minimum=minimum),)


def _boolean(value: Any, where: _Where, field: str) -> bool:
    if not isinstance(value, bool):
        raise where.error(_INVALID, field, "a JSON boolean (true or false)", value)
    return value


def _nonnegative_number(value: Any, where: _Where, field: str) -> float:
    if not _is_real(value):
        raise where.error(_INVALID, field, "a number", value)
    if not math.isfinite(value):
        raise where.error(_NON_FINITE, field, "a finite number", value)
    if value < 0:
        raise where.error(_INVALID, field, "a number >= 0", value)
    return float(value)


# MARK: - Tensors

def _number_type(kind: type) -> bool:
    """A JSON number's type, or numpy's real scalars (a dict built in Python may hold them)."""
    return kind in (int, float) or (issubclass(kind, (np.integer, np.floating))
                                    and not issubclass(kind, np.bool_))


def _nested_shape(value: Any, where: _Where, field: str) -> tuple[int, ...]:
    """The shape of a rectangular nested list of numbers; ragged lists and non-numbers are errors."""
    if not isinstance(value, list):
        raise where.error(_INVALID, field, "a list of numbers", value)
    if not value:
        raise where.error(_SIZE, field, "a non-empty list", value)
    if all(isinstance(v, list) for v in value):
        inner = [_nested_shape(v, where, f"{field}[{i}]") for i, v in enumerate(value)]
        for i, shape in enumerate(inner):
            if shape != inner[0]:
                raise where.error(_SHAPE, field, f"a rectangular nested list (row 0 has shape "
                                                 f"{list(inner[0])}, row {i} has {list(shape)})",
                                  got="a ragged list")
        return (len(value), *inner[0])
    kinds = set(map(type, value))
    if not all(_number_type(kind) for kind in kinds):
        bad = next(v for v in value if not _number_type(type(v)))
        if isinstance(bad, list):
            raise where.error(_SHAPE, field, "a rectangular nested list (numbers and lists mixed "
                                             "at one level)", got="a ragged list")
        raise where.error(_INVALID, field, "numbers only", bad)
    return (len(value),)


def _finite(value: Any, where: _Where, field: str) -> None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise where.error(_NON_FINITE, field, "finite numbers",
                          got="an integer too large for a float64") from None
    if not np.all(np.isfinite(array)):
        raise where.error(_NON_FINITE, field, "finite numbers", got="NaN or infinity")


def _tensor(value: Any, where: _Where, field: str, rank: int) -> tuple[int, ...]:
    """A tensor of ``rank`` dimensions, ``{"shape", "data"}`` or a nested list; its shape."""
    names = {1: "(n)", 2: "(out_features, in_features)", 4: "(out_channels, in_channels, kH, kW)"}
    if isinstance(value, Mapping):
        keys = set(value)
        for key in sorted(keys - {"shape", "data"}, key=str):
            raise where.unknown(f"{field}.{key}", ("shape", "data"))
        for key in ("shape", "data"):
            if key not in keys:
                raise where.error(_INVALID, f"{field}.{key}", f'a tensor object with "shape" and '
                                                              f'"data"', got="nothing (missing)")
        shape_value = value["shape"]
        if not isinstance(shape_value, list):
            raise where.error(_INVALID, f"{field}.shape", "a list of positive integers", shape_value)
        shape = tuple(_dimension(d, where, f"{field}.shape[{i}]") for i, d in enumerate(shape_value))
        if len(shape) != rank:
            raise where.error(_SHAPE, f"{field}.shape", f"{rank} dimensions {names.get(rank, '')}",
                              shape_value)
        data_shape = _nested_shape(value["data"], where, f"{field}.data")
        count = math.prod(shape)
        if data_shape not in ((count,), shape):
            raise where.error(_SHAPE, f"{field}.data",
                              f"{count} numbers for shape {list(shape)} (flat, or nested in "
                              f"that shape)", got=f"shape {list(data_shape)}")
        _finite(value["data"], where, f"{field}.data")
        return shape
    if isinstance(value, np.ndarray):  # a dict built in Python (pickling sends these)
        if value.dtype.kind not in "iuf":
            raise where.error(_INVALID, field, "real numbers", got=f"an array of dtype {value.dtype}")
        if value.ndim != rank:
            raise where.error(_SHAPE, field, f"{rank} dimensions {names.get(rank, '')}",
                              got=f"an array of shape {list(value.shape)}")
        if value.size == 0:
            raise where.error(_SIZE, field, "a non-empty tensor", got=f"an array of shape {list(value.shape)}")
        _finite(value, where, field)
        return tuple(int(d) for d in value.shape)
    if isinstance(value, list):
        shape = _nested_shape(value, where, field)
        if len(shape) != rank:
            raise where.error(_SHAPE, field, f"{rank} dimensions {names.get(rank, '')}",
                              got=f"a nested list of shape {list(shape)}")
        _finite(value, where, field)
        return shape
    raise where.error(_INVALID, field, 'a tensor: {"shape": [...], "data": [...]} or a nested '
                                       'list', value)


def _vector(value: Any, where: _Where, field: str, length: int | None, what: str) -> int:
    shape = _tensor(value, where, field, 1)
    if length is not None and shape[0] != length:
        raise where.error(_SHAPE, field, f"{length} values ({what})", got=f"{shape[0]}")
    return shape[0]


# MARK: - Layers

Check = Callable[[Any, _Where, str, dict], None]


def _weight(rank: int) -> Check:
    def check(value, where, field, seen):
        seen["weight_shape"] = _tensor(value, where, field, rank)
    return check


def _bias(value, where, field, seen):
    if value is not None:
        _vector(value, where, field, seen["weight_shape"][0], "one per output")


def _positive(value, where, field, seen):
    _int_or_pair(value, where, field)


def _positive_or_null(value, where, field, seen):
    if value is not None:
        _int_or_pair(value, where, field)


def _padding(value, where, field, seen):
    _int_or_pair(value, where, field, minimum=0, allow_quad=True)


def _flag(value, where, field, seen):
    _boolean(value, where, field)


def _eps(value, where, field, seen):
    _nonnegative_number(value, where, field)


def _statistic(value, where, field, seen):
    length = _vector(value, where, field, seen.get("statistic_length"),
                     'as many as "gamma"')
    seen.setdefault("statistic_length", length)


def _sources(value, where, field, seen):
    expected = (f"a non-empty list of earlier layer indices, each in [-1, {where.layer}) "
                f"(-1 = the network input)")
    if not isinstance(value, list) or not value:
        raise where.error(_INVALID, field, expected, value)
    for i, source in enumerate(value):
        if not _is_int(source):
            raise where.error(_INVALID, f"{field}[{i}]", expected, source)
        if not -1 <= source < where.layer:
            raise where.error(_capi.DTD_ERROR_LAYER_INDEX, f"{field}[{i}]", expected, source)


#: Per layer type: field -> (required, check), in the order the checks run. ``type`` and the
#: optional ``name`` are common to all layers.
LAYER_FIELDS: dict[str, dict[str, tuple[bool, Check]]] = {
    "dense": {"weight": (True, _weight(2)), "bias": (False, _bias)},
    "conv2d": {"weight": (True, _weight(4)), "bias": (False, _bias), "stride": (False, _positive),
               "padding": (False, _padding), "dilation": (False, _positive)},
    "relu": {},
    "flatten": {},
    "identity": {},
    "maxpool2d": {"kernel": (True, _positive), "stride": (False, _positive_or_null),
                  "padding": (False, _padding)},
    "avgpool2d": {"kernel": (True, _positive), "stride": (False, _positive_or_null),
                  "padding": (False, _padding), "count_include_pad": (False, _flag)},
    "adaptive_avgpool2d": {"output_size": (True, _positive)},
    "batchnorm": {"gamma": (True, _statistic), "beta": (True, _statistic),
                  "running_mean": (True, _statistic), "running_var": (True, _statistic),
                  "eps": (False, _eps)},
    "route": {"from": (True, _sources)},
    "add": {"from": (True, _sources)},
}

#: Top-level keys besides ``input_shape`` and ``layers``: descriptive metadata the fixtures
#: carry (never read by the loader); ``metadata`` is the free-form home for anything else.
METADATA_KEYS = ("name", "dtype", "source", "note", "notes", "what", "explained_output",
                 "input_blocks", "cases", "metadata")


def _layer(index: int, layer: Any) -> None:
    where = _Where(index)
    if not isinstance(layer, Mapping):
        raise where.error(_INVALID, "layers", "each layer to be an object", layer)
    kinds = ", ".join(LAYER_FIELDS)
    if "type" not in layer:
        raise where.error(_INVALID, "type", f"one of {kinds}", got="nothing (missing)")
    kind = layer["type"]
    if not isinstance(kind, str) or kind not in LAYER_FIELDS:
        raise ModelFormatError(_INVALID, f'layer {index}: unknown layer type {kind!r}; "type" '
                                         f"expected one of {kinds}", layer=index, field="type")
    where.kind = kind
    fields = LAYER_FIELDS[kind]
    for key in layer:
        if key not in fields and key not in ("type", "name"):
            raise where.unknown(str(key), ("type", "name", *fields))
    if "name" in layer and not isinstance(layer["name"], str):
        raise where.error(_INVALID, "name", "a string", layer["name"])
    seen: dict[str, Any] = {}
    for field, (required, check) in fields.items():
        if field not in layer:
            if required:
                raise where.error(_INVALID, field, f"a value ({kind} requires it)",
                                  got="nothing (missing)")
            continue
        check(layer[field], where, field, seen)


def validate(spec: Any) -> None:
    """Checks a parsed model against the schema of ``MODEL_FORMAT.md``; raises
    :class:`ModelFormatError` at the first deviation. Whether the layers fit each other (a
    dense layer's ``in_features`` against the shape before it) is libdtd's check, made when the
    layer is added and likewise naming the layer."""
    top = _Where()
    if not isinstance(spec, Mapping):
        raise top.error(_INVALID, "(model)", 'a JSON object with "input_shape" and "layers"', spec)
    for key in spec:
        if key not in ("input_shape", "layers", *METADATA_KEYS):
            raise top.unknown(str(key), ("input_shape", "layers", *METADATA_KEYS))
    for key in ("input_shape", "layers"):
        if key not in spec:
            raise top.error(_INVALID, key, "a value (every model has it)", got="nothing (missing)")
    shape = spec["input_shape"]
    if not isinstance(shape, list) or len(shape) not in (1, 3):
        raise top.error(_INVALID, "input_shape", "[D] or [C, H, W] of positive integers", shape)
    for i, d in enumerate(shape):
        _dimension(d, top, f"input_shape[{i}]")
    if "dtype" in spec and spec["dtype"] not in ("float32", "float64"):
        raise top.error(_INVALID, "dtype", '"float32" or "float64"', spec["dtype"])
    if "metadata" in spec and not isinstance(spec["metadata"], Mapping):
        raise top.error(_INVALID, "metadata", "an object", spec["metadata"])
    layers = spec["layers"]
    if not isinstance(layers, list):
        raise top.error(_INVALID, "layers", "a list of layer objects", layers)
    for index, layer in enumerate(layers):
        _layer(index, layer)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ModelFormatError(_INVALID, f'model file: the key "{key}" appears twice in one '
                                             f"object; expected each key once", field=key)
        result[key] = value
    return result


def load(source: Any) -> Any:
    """The model ``source`` names: a path (``str`` or ``os.PathLike``) is read and parsed, with
    a key given twice in one object an error (``json`` would keep the last one silently) and
    text that is not JSON a ``json.JSONDecodeError``; anything else is taken as already parsed,
    for :func:`validate` to check."""
    if isinstance(source, (str, os.PathLike)):
        return json.loads(Path(source).read_text(), object_pairs_hook=_reject_duplicates)
    return source


# MARK: - Rule dicts

#: Per rule: its parameters and their kinds ("number", "bias", "bound").
RULE_FIELDS: dict[str, dict[str, str]] = {
    "epsilon": {"epsilon": "number", "bias": "bias"},
    "zplus": {"stabilizer": "number", "bias": "bias"},
    "alphabeta": {"alpha": "number", "beta": "number", "stabilizer": "number", "bias": "bias"},
    "gamma": {"gamma": "number", "stabilizer": "number", "bias": "bias"},
    "wsquare": {"stabilizer": "number", "bias": "bias"},
    "flat": {"stabilizer": "number", "bias": "bias"},
    "zbox": {"low": "bound", "high": "bound", "stabilizer": "number", "bias": "bias"},
}


def check_rule_dict(spec: Any) -> None:
    """Checks a rule dict such as ``{"rule": "zplus", "bias": "exclude"}`` strictly: a known
    rule name, only its own keys, numbers that are numbers (not strings or booleans), ``bias``
    a boolean or "include"/"exclude", zbox bounds a number or a rectangular list of numbers."""
    where = _Where(prefix="rule dict")
    if not isinstance(spec, Mapping):
        raise ModelFormatError(_INVALID, f"a rule dict must be a mapping, got {_show(spec)}",
                               field="(rule)")
    if "rule" not in spec:
        raise where.error(_INVALID, "rule", f'a "rule" key naming one of {", ".join(RULE_FIELDS)}',
                          got=f"{dict(spec)!r} without it")
    name = spec["rule"]
    if not isinstance(name, str) or name not in RULE_FIELDS:
        raise where.error(_INVALID, "rule", f"one of {', '.join(RULE_FIELDS)} (unknown rule "
                                            f"{name!r})", name)
    where.prefix = f'rule dict "{name}"'
    fields = RULE_FIELDS[name]
    for key in spec:
        if key != "rule" and key not in fields:
            raise ModelFormatError(_INVALID, f"{where}: unknown key {key!r} for rule {name!r}; "
                                             f"accepted: rule, {', '.join(sorted(fields))}",
                                   field=str(key))
    for key, kind in fields.items():
        if key not in spec:
            if kind == "bound":
                raise where.error(_INVALID, key, 'a value: rule "zbox" needs "low" and "high"',
                                  got="nothing (missing)")
            continue
        value = spec[key]
        if kind == "number":
            if not _is_real(value):
                raise where.error(_INVALID, key, "a number", value)
            if not math.isfinite(value):
                raise where.error(_NON_FINITE, key, "a finite number", value)
        elif kind == "bias":
            if not isinstance(value, (bool, np.bool_)) and value not in ("include", "exclude"):
                raise where.error(_INVALID, key, 'true, false, "include" or "exclude"', value)
        elif kind == "bound":
            if _is_real(value):
                if not math.isfinite(value):
                    raise where.error(_NON_FINITE, key, "a finite number", value)
            elif isinstance(value, np.ndarray):
                real_array(value, np.float64, f'rule dict "{name}" {key}')
            elif isinstance(value, (list, tuple)):
                _nested_shape(list(value), where, key)
                _finite(list(value), where, key)
            else:
                raise where.error(_INVALID, key, "a number or a (nested) list of numbers", value)


# MARK: - Arrays and numbers from Python callers

def real_number(value: Any, name: str) -> float:
    """A real number as a float: ``"0.25"``, ``True`` or ``1j`` are errors naming ``name``."""
    if not _is_real(value):
        raise ArgumentTypeError(_INVALID, f"{name} must be a real number, got {_show(value)}")
    return float(value)


def integer(value: Any, name: str) -> int:
    """An integer argument: ``True``, ``2.0`` and ``"2"`` are errors naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(_INVALID, f"{name} must be an integer, got {_show(value)}")
    try:
        return operator.index(value)
    except TypeError:
        raise ArgumentTypeError(_INVALID, f"{name} must be an integer, got {_show(value)}") from None


def boolean(value: Any, name: str) -> bool:
    """A flag argument: ``"false"`` (truthy) or ``0`` must not stand for a boolean."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(_INVALID, f"{name} must be True or False, got {_show(value)}")
    return bool(value)


def real_array(value: Any, dtype: Any, name: str) -> np.ndarray:
    """``value`` as a C-contiguous array of ``dtype``, refusing what numpy would convert with a
    loss or a confusing message: complex (the imaginary part would be dropped with only a
    warning), object, string and structured arrays, and ragged nested lists."""
    try:
        array = np.asarray(value)
    except ValueError as error:  # numpy >= 1.24: "inhomogeneous shape"
        raise DTDError(_SHAPE, f"{name} is a ragged nested sequence; expected a rectangular "
                               f"array ({error})") from None
    kind = array.dtype.kind
    if kind not in "biuf":
        what = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "V": "structured",
                "M": "datetime", "m": "timedelta"}.get(kind, str(array.dtype))
        raise ArgumentTypeError(_INVALID, f"{name} is a {what} array (dtype {array.dtype}); "
                                          f"expected real numbers")
    return np.ascontiguousarray(array, dtype=dtype)
