"""The 1:1 ctypes table of libdtd's C API (private; not star-exported).

One entry per function of ``Include/dtd.h``, in the header's order and sections. Each entry is
a typed stub under a ``# <C prototype>`` comment, bound by the :func:`c_function` decorator
(the llama-cpp-python pattern). The prototype comments are the lines of
``Tests/abi/signatures.txt``; ``tests/test_capi_drift.py`` checks this table against that file.

Binding is lazy: the library is loaded (``_loader.library()``) and a symbol looked up only when
its function is first called. A function the loaded library does not export (sections 6-7 in
builds that predate them) therefore does not break ``import dtd`` or loading; calling it raises
:class:`dtd.DTDError` with status ``DTD_ERROR_UNSUPPORTED``.

Types are given as :class:`CType` values that pair the header's spelling with the ctypes type
that binds it, because ctypes alone cannot tell ``dtd_status`` from ``int32_t`` or ``const
double *`` from ``double *``; the spellings make the table checkable against the header.
Handles are plain addresses: ``c_void_p`` at the ctypes level, :data:`dtd_network_handle` /
:data:`dtd_rules_handle` (``NewType`` over ``c_void_p``) for readers and type checkers.
"""
from __future__ import annotations

import ctypes
import functools
from ctypes import POINTER, c_char_p, c_double, c_float, c_int32, c_int64, c_uint8, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, NewType

from . import _loader

# ================================================================================================
# Constants (every #define of dtd.h; append-only there, so append-only here)
# ================================================================================================

DTD_VERSION_MAJOR = 1
DTD_VERSION_MINOR = 0
DTD_VERSION_PATCH = 0
DTD_ABI_VERSION = 1

# Status codes (dtd_status)
DTD_OK = 0
DTD_ERROR_NULL_POINTER = 1
DTD_ERROR_INVALID_ARGUMENT = 2
DTD_ERROR_SIZE = 3
DTD_ERROR_OVERFLOW = 4
DTD_ERROR_SHAPE_MISMATCH = 5
DTD_ERROR_BUFFER_TOO_SMALL = 6
DTD_ERROR_LAYER_INDEX = 7
DTD_ERROR_DTYPE = 8
DTD_ERROR_EMPTY_NETWORK = 9
DTD_ERROR_RULE = 10
DTD_ERROR_NON_FINITE = 11
DTD_ERROR_LAYER_ORDER = 12
DTD_ERROR_NETWORK_MISMATCH = 13
DTD_ERROR_OUT_OF_RANGE = 14
DTD_ERROR_OUT_OF_MEMORY = 15
DTD_ERROR_UNSUPPORTED = 16
DTD_ERROR_INTERNAL = 17

# Element types (dtd_dtype)
DTD_DTYPE_FLOAT32 = 1
DTD_DTYPE_FLOAT64 = 2

# Layer kinds (dtd_layer_kind)
DTD_LAYER_DENSE = 1
DTD_LAYER_CONV2D = 2
DTD_LAYER_RELU = 3
DTD_LAYER_MAXPOOL2D = 4
DTD_LAYER_AVGPOOL2D = 5
DTD_LAYER_FLATTEN = 6
DTD_LAYER_BATCHNORM = 7
DTD_LAYER_ROUTE = 8
DTD_LAYER_ADD = 9
DTD_LAYER_IDENTITY = 10
DTD_LAYER_ADAPTIVE_AVGPOOL2D = 11

DTD_MAX_RANK = 3

# Rule kinds (dtd_rule_kind)
DTD_RULE_NONE = 0
DTD_RULE_EPSILON = 1
DTD_RULE_ZPLUS = 2
DTD_RULE_ALPHABETA = 3
DTD_RULE_GAMMA = 4
DTD_RULE_WSQUARE = 5
DTD_RULE_FLAT = 6
DTD_RULE_ZBOX = 7

# Bias modes (dtd_bias_mode)
DTD_BIAS_INCLUDE = 0
DTD_BIAS_EXCLUDE = 1

DTD_DEFAULT_STABILIZER = 1e-6

# Composites (dtd_composite)
DTD_COMPOSITE_EPSILON_PLUS = 1
DTD_COMPOSITE_EPSILON_PLUS_FLAT = 2
DTD_COMPOSITE_EPSILON_GAMMA_BOX = 3
DTD_COMPOSITE_EPSILON_ALPHA2_BETA1 = 4
DTD_COMPOSITE_EPSILON_ALPHA2_BETA1_FLAT = 5

# Root placements (dtd_placement)
DTD_PLACEMENT_HYPERPLANE = 1
DTD_PLACEMENT_RELEVANCE = 2

# Bits of dtd_root_info.flags
DTD_ROOT_NO_ROOT = 1
DTD_ROOT_AT_INPUT = 2
DTD_ROOT_CLIPPED = 4

# Bits of dtd_root_query.flags
DTD_QUERY_CONSTRAIN_TO_REGION = 1

# Full-backward methods (dtd_full_backward_method), directions default, bits of dtd_full_backward_unit.flags
DTD_FULL_BACKWARD_EXACT = 1
DTD_FULL_BACKWARD_SAMPLED = 2
DTD_FULL_BACKWARD_BISECT = 3
DTD_FULL_BACKWARD_DIRECTIONS = 50
DTD_UNIT_SKIPPED = 1
DTD_UNIT_UNRESOLVED = 2
DTD_UNIT_UNBOUNDED = 4
DTD_UNIT_INACTIVE = 8

#: status code -> its macro name ("DTD_ERROR_SIZE"), for error messages.
STATUS_NAMES: dict[int, str] = {
    value: name for name, value in list(globals().items())
    if name == "DTD_OK" or name.startswith("DTD_ERROR_")
}

#: layer kind code -> the name used by the Python API ("dense", "conv2d", ...).
LAYER_KIND_NAMES: dict[int, str] = {
    DTD_LAYER_DENSE: "dense", DTD_LAYER_CONV2D: "conv2d", DTD_LAYER_RELU: "relu",
    DTD_LAYER_MAXPOOL2D: "maxpool2d", DTD_LAYER_AVGPOOL2D: "avgpool2d",
    DTD_LAYER_FLATTEN: "flatten", DTD_LAYER_BATCHNORM: "batchnorm", DTD_LAYER_ROUTE: "route",
    DTD_LAYER_ADD: "add", DTD_LAYER_IDENTITY: "identity",
    DTD_LAYER_ADAPTIVE_AVGPOOL2D: "adaptive_avgpool2d",
}

#: rule kind code -> name (None for DTD_RULE_NONE).
RULE_KIND_NAMES: dict[int, str | None] = {
    DTD_RULE_NONE: None, DTD_RULE_EPSILON: "epsilon", DTD_RULE_ZPLUS: "zplus",
    DTD_RULE_ALPHABETA: "alphabeta", DTD_RULE_GAMMA: "gamma", DTD_RULE_WSQUARE: "wsquare",
    DTD_RULE_FLAT: "flat", DTD_RULE_ZBOX: "zbox",
}

# ================================================================================================
# Structs, field for field as in dtd.h
# ================================================================================================


class dtd_ledger_entry(ctypes.Structure):
    """One layer's relevance balance for one sample (section 4)."""

    _fields_ = [
        ("layer", c_int64),
        ("relevance_out", c_double),
        ("relevance_in", c_double),
        ("absorbed_bias", c_double),
        ("absorbed_stabilizer", c_double),
        ("dropped", c_double),
    ]


class dtd_relevance_mask(ctypes.Structure):
    """Keep only some of the relevance arriving at a layer's output (section 4)."""

    _fields_ = [
        ("layer", c_int64),
        ("keep", POINTER(c_uint8)),
        ("keep_count", c_int64),
    ]


class dtd_root_query(ctypes.Structure):
    """Which roots to compute (section 6)."""

    _fields_ = [
        ("layer", c_int64),
        ("target", c_int64),
        ("placement", c_int32),  # dtd_placement
        ("flags", c_int32),
        ("tol", c_double),
        ("neuron_begin", c_int64),
        ("neuron_end", c_int64),
    ]


class dtd_root_info(ctypes.Structure):
    """One root (or alpha-beta partial root) of one neuron for one sample (section 6)."""

    _fields_ = [
        ("neuron", c_int64),
        ("partial", c_int32),
        ("flags", c_int32),
        ("relevance", c_double),
        ("z", c_double),
        ("wv", c_double),
        ("t", c_double),
    ]


class dtd_audit_record(ctypes.Structure):
    """The audit of one root (section 6)."""

    _fields_ = [
        ("root", dtd_root_info),
        ("same_gradient", c_int32),
        ("same_pattern", c_int32),
        ("output_change", c_double),
        ("taylor_residual", c_double),
        ("segment_inside", c_double),
        ("admissible_t", c_double),
        ("unexplained", c_double),
    ]


class dtd_audit_summary(ctypes.Structure):
    """The study's table row for one audit call (section 6)."""

    _fields_ = [
        ("samples", c_int64),
        ("pairs", c_int64),
        ("outside_by_gradient", c_double),
        ("outside_by_pattern", c_double),
        ("unchanged_output", c_double),
        ("mean_segment_inside", c_double),
        ("max_conservation_error", c_double),
        ("unexplained_fraction", c_double),
    ]


class dtd_full_backward_query(ctypes.Structure):
    """What to decompose and how (section 8)."""

    _fields_ = [
        ("target", c_int64),
        ("method", c_int32),  # dtd_full_backward_method
        ("directions", c_int32),
        ("seed", c_uint64),
        ("input_lower", c_double),
    ]


class dtd_full_backward_sizes(ctypes.Structure):
    """Output sizes per sample (section 8)."""

    _fields_ = [
        ("layers", c_int64),
        ("units", c_int64),
        ("root_elements", c_int64),
        ("box_elements", c_int64),
    ]


class dtd_full_backward_unit(ctypes.Structure):
    """One unit's decomposition for one sample (section 8)."""

    _fields_ = [
        ("layer", c_int64),
        ("unit", c_int64),
        ("dense_index", c_int32),
        ("flags", c_int32),
        ("relevance", c_double),
        ("lp_min", c_double),
        ("unresolved", c_double),
        ("root_distance", c_double),
    ]


class dtd_full_backward_sample(ctypes.Structure):
    """One sample's ledger and work (section 8)."""

    _fields_ = [
        ("output", c_double),
        ("input_sum", c_double),
        ("unresolved_sum", c_double),
        ("skipped_sum", c_double),
        ("ledger_error", c_double),
        ("solver_calls", c_int64),
        ("root_searches", c_int64),
    ]


class dtd_full_backward_region(ctypes.Structure):
    """The size of one dense layer's region for one sample (section 8)."""

    _fields_ = [
        ("layer", c_int64),
        ("constraints", c_int64),
        ("unbounded", c_int64),
        ("hinge_distance", c_double),
        ("mean_width", c_double),
        ("mean_width_clipped", c_double),
    ]


# ================================================================================================
# C types: the header's spelling paired with the ctypes type that binds it
# ================================================================================================


@dataclass(frozen=True)
class CType:
    """A C type as spelled in dtd.h (``"const double *"``) and its ctypes binding."""

    spelling: str
    ctype: Any  # a ctypes type, or None for void


#: A network handle: an address held in a ``c_void_p`` (NULL is ``c_void_p(None)``).
dtd_network_handle = NewType("dtd_network_handle", c_void_p)
#: A rule-set handle.
dtd_rules_handle = NewType("dtd_rules_handle", c_void_p)

void = CType("void", None)
int32_t = CType("int32_t", c_int32)
int64_t = CType("int64_t", c_int64)
double = CType("double", c_double)
const_char_p = CType("const char *", c_char_p)
const_int64_p = CType("const int64_t *", POINTER(c_int64))
int64_p = CType("int64_t *", POINTER(c_int64))
const_float_p = CType("const float *", POINTER(c_float))
float_p = CType("float *", POINTER(c_float))
const_double_p = CType("const double *", POINTER(c_double))
double_p = CType("double *", POINTER(c_double))

dtd_status = CType("dtd_status", c_int32)
dtd_dtype = CType("dtd_dtype", c_int32)
dtd_dtype_p = CType("dtd_dtype *", POINTER(c_int32))
dtd_layer_kind_p = CType("dtd_layer_kind *", POINTER(c_int32))
dtd_rule_kind_p = CType("dtd_rule_kind *", POINTER(c_int32))
dtd_bias_mode = CType("dtd_bias_mode", c_int32)
dtd_composite = CType("dtd_composite", c_int32)

dtd_network_p = CType("dtd_network *", c_void_p)
const_dtd_network_p = CType("const dtd_network *", c_void_p)
dtd_network_pp = CType("dtd_network **", POINTER(c_void_p))
dtd_rules_p = CType("dtd_rules *", c_void_p)
const_dtd_rules_p = CType("const dtd_rules *", c_void_p)
dtd_rules_pp = CType("dtd_rules **", POINTER(c_void_p))

dtd_ledger_entry_p = CType("dtd_ledger_entry *", POINTER(dtd_ledger_entry))
const_dtd_relevance_mask_p = CType("const dtd_relevance_mask *", POINTER(dtd_relevance_mask))
const_dtd_root_query_p = CType("const dtd_root_query *", POINTER(dtd_root_query))
dtd_root_info_p = CType("dtd_root_info *", POINTER(dtd_root_info))
dtd_audit_record_p = CType("dtd_audit_record *", POINTER(dtd_audit_record))
dtd_audit_summary_p = CType("dtd_audit_summary *", POINTER(dtd_audit_summary))
const_dtd_full_backward_query_p = CType("const dtd_full_backward_query *", POINTER(dtd_full_backward_query))
dtd_full_backward_sizes_p = CType("dtd_full_backward_sizes *", POINTER(dtd_full_backward_sizes))
dtd_full_backward_unit_p = CType("dtd_full_backward_unit *", POINTER(dtd_full_backward_unit))
dtd_full_backward_sample_p = CType("dtd_full_backward_sample *", POINTER(dtd_full_backward_sample))
dtd_full_backward_region_p = CType("dtd_full_backward_region *", POINTER(dtd_full_backward_region))

# ================================================================================================
# The binding decorator
# ================================================================================================


class CFunction:
    """One exported C function: name, parameter and return types, and its lazy binding."""

    def __init__(self, name: str, argtypes: tuple[CType, ...], restype: CType):
        self.name = name
        self.argtypes = argtypes
        self.restype = restype
        self._bound: Callable[..., Any] | None = None
        self._library: _loader.LoadedLibrary | None = None  # what _bound was looked up in

    @property
    def prototype(self) -> str:
        """The normalised C prototype, as written in Tests/abi/signatures.txt."""
        params = ", ".join(t.spelling for t in self.argtypes) or "void"
        return f"{self.restype.spelling} {self.name}({params})"

    def is_available(self) -> bool:
        """Whether the loaded library exports this function (loads the library)."""
        return hasattr(_loader.library().cdll, self.name)

    def bind(self) -> Callable[..., Any]:
        """The function in the loaded library (loading it first), with argtypes/restype set.

        Looked up once per loaded library, so a reload (tests) rebinds.
        """
        library = _loader.library()
        if self._bound is None or self._library is not library:
            try:
                function = getattr(library.cdll, self.name)
            except AttributeError:
                # errors imports this module, so import it only on this (rare) path.
                from .errors import DTDError
                raise DTDError(DTD_ERROR_UNSUPPORTED,
                               f"{self.name}() is declared in dtd.h but not exported by "
                               f"{library.path}; this build of libdtd does not implement it "
                               f"yet") from None
            function.argtypes = [t.ctype for t in self.argtypes]
            function.restype = self.restype.ctype
            self._bound, self._library = function, library
        return self._bound


#: Every entry of the table, by C name, in header order.
FUNCTIONS: dict[str, CFunction] = {}


def c_function(argtypes: list[CType], restype: CType) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers the decorated stub (named as the C function) and returns its caller.

    The caller binds the symbol on first use and forwards its arguments unchanged; the stub's
    body is never run.
    """

    def decorate(stub: Callable[..., Any]) -> Callable[..., Any]:
        entry = CFunction(stub.__name__, tuple(argtypes), restype)
        FUNCTIONS[entry.name] = entry

        @functools.wraps(stub)
        def call(*args: Any) -> Any:
            library = entry._library
            if library is None or library is not _loader._loaded:
                return entry.bind()(*args)
            return entry._bound(*args)  # type: ignore[misc]

        call.c_function = entry  # type: ignore[attr-defined]
        return call

    return decorate

# ================================================================================================
# 1. Version
# ================================================================================================

# const char * dtd_version_string(void)
@c_function([], const_char_p)
def dtd_version_string() -> bytes: ...

# int32_t dtd_version_number(void)
@c_function([], int32_t)
def dtd_version_number() -> int: ...

# int32_t dtd_abi_version(void)
@c_function([], int32_t)
def dtd_abi_version() -> int: ...


# ================================================================================================
# 2. Status codes and errors
# ================================================================================================

# const char * dtd_status_string(dtd_status)
@c_function([dtd_status], const_char_p)
def dtd_status_string(status, /) -> bytes: ...

# const char * dtd_last_error_message(void)
@c_function([], const_char_p)
def dtd_last_error_message() -> bytes: ...

# dtd_status dtd_set_max_scratch_bytes(int64_t, int64_t *)
@c_function([int64_t, int64_p], dtd_status)
def dtd_set_max_scratch_bytes(max_bytes, out_previous, /) -> int: ...


# ================================================================================================
# 3. Network handle
# ================================================================================================

# dtd_status dtd_network_create(dtd_dtype, const int64_t *, int64_t, dtd_network **)
@c_function([dtd_dtype, const_int64_p, int64_t, dtd_network_pp], dtd_status)
def dtd_network_create(dtype, input_shape, input_rank, out_network, /) -> int: ...

# void dtd_network_destroy(dtd_network *)
@c_function([dtd_network_p], void)
def dtd_network_destroy(network, /) -> None: ...

# dtd_status dtd_network_add_dense_f32(dtd_network *, const float *, int64_t, int64_t, int64_t, const float *, int64_t)
@c_function([dtd_network_p, const_float_p, int64_t, int64_t, int64_t, const_float_p, int64_t],
            dtd_status)
def dtd_network_add_dense_f32(network, weight, weight_count, out_features, in_features, bias,
                              bias_count, /) -> int: ...

# dtd_status dtd_network_add_dense_f64(dtd_network *, const double *, int64_t, int64_t, int64_t, const double *, int64_t)
@c_function([dtd_network_p, const_double_p, int64_t, int64_t, int64_t, const_double_p, int64_t],
            dtd_status)
def dtd_network_add_dense_f64(network, weight, weight_count, out_features, in_features, bias,
                              bias_count, /) -> int: ...

# dtd_status dtd_network_add_conv2d_f32(dtd_network *, const float *, int64_t, int64_t, int64_t, int64_t, int64_t, const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
@c_function([dtd_network_p, const_float_p, int64_t, int64_t, int64_t, int64_t, int64_t,
             const_float_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t],
            dtd_status)
def dtd_network_add_conv2d_f32(network, weight, weight_count, out_channels, in_channels, kernel_h,
                               kernel_w, bias, bias_count, stride_h, stride_w, padding_h, padding_w,
                               dilation_h, dilation_w, /) -> int: ...

# dtd_status dtd_network_add_conv2d_f64(dtd_network *, const double *, int64_t, int64_t, int64_t, int64_t, int64_t, const double *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
@c_function([dtd_network_p, const_double_p, int64_t, int64_t, int64_t, int64_t, int64_t,
             const_double_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t],
            dtd_status)
def dtd_network_add_conv2d_f64(network, weight, weight_count, out_channels, in_channels, kernel_h,
                               kernel_w, bias, bias_count, stride_h, stride_w, padding_h, padding_w,
                               dilation_h, dilation_w, /) -> int: ...

# dtd_status dtd_network_add_relu(dtd_network *)
@c_function([dtd_network_p], dtd_status)
def dtd_network_add_relu(network, /) -> int: ...

# dtd_status dtd_network_add_flatten(dtd_network *)
@c_function([dtd_network_p], dtd_status)
def dtd_network_add_flatten(network, /) -> int: ...

# dtd_status dtd_network_add_maxpool2d(dtd_network *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
@c_function([dtd_network_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t], dtd_status)
def dtd_network_add_maxpool2d(network, kernel_h, kernel_w, stride_h, stride_w, padding_h, padding_w,
                              /) -> int: ...

# dtd_status dtd_network_add_avgpool2d(dtd_network *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int32_t)
@c_function([dtd_network_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int32_t],
            dtd_status)
def dtd_network_add_avgpool2d(network, kernel_h, kernel_w, stride_h, stride_w, padding_h, padding_w,
                              count_include_pad, /) -> int: ...

# dtd_status dtd_network_add_batchnorm_f32(dtd_network *, const float *, const float *, const float *, const float *, int64_t, double)
@c_function([dtd_network_p, const_float_p, const_float_p, const_float_p, const_float_p, int64_t,
             double],
            dtd_status)
def dtd_network_add_batchnorm_f32(network, gamma, beta, running_mean, running_var, count, eps, /) -> int: ...

# dtd_status dtd_network_add_batchnorm_f64(dtd_network *, const double *, const double *, const double *, const double *, int64_t, double)
@c_function([dtd_network_p, const_double_p, const_double_p, const_double_p, const_double_p, int64_t,
             double],
            dtd_status)
def dtd_network_add_batchnorm_f64(network, gamma, beta, running_mean, running_var, count, eps, /) -> int: ...

# dtd_status dtd_network_add_route(dtd_network *, const int64_t *, int64_t)
@c_function([dtd_network_p, const_int64_p, int64_t], dtd_status)
def dtd_network_add_route(network, from_, count, /) -> int: ...

# dtd_status dtd_network_add_add(dtd_network *, const int64_t *, int64_t)
@c_function([dtd_network_p, const_int64_p, int64_t], dtd_status)
def dtd_network_add_add(network, from_, count, /) -> int: ...

# dtd_status dtd_network_add_identity(dtd_network *)
@c_function([dtd_network_p], dtd_status)
def dtd_network_add_identity(network, /) -> int: ...

# dtd_status dtd_network_add_adaptive_avgpool2d(dtd_network *, int64_t, int64_t)
@c_function([dtd_network_p, int64_t, int64_t], dtd_status)
def dtd_network_add_adaptive_avgpool2d(network, out_h, out_w, /) -> int: ...

# dtd_status dtd_network_add_conv2d_padded_f32(dtd_network *, const float *, int64_t, int64_t, int64_t, int64_t, int64_t, const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
@c_function([dtd_network_p, const_float_p, int64_t, int64_t, int64_t, int64_t, int64_t,
             const_float_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
             int64_t],
            dtd_status)
def dtd_network_add_conv2d_padded_f32(network, weight, weight_count, out_channels, in_channels,
                                      kernel_h, kernel_w, bias, bias_count, stride_h, stride_w,
                                      pad_top, pad_bottom, pad_left, pad_right, dilation_h,
                                      dilation_w, /) -> int: ...

# dtd_status dtd_network_add_conv2d_padded_f64(dtd_network *, const double *, int64_t, int64_t, int64_t, int64_t, int64_t, const double *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
@c_function([dtd_network_p, const_double_p, int64_t, int64_t, int64_t, int64_t, int64_t,
             const_double_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
             int64_t],
            dtd_status)
def dtd_network_add_conv2d_padded_f64(network, weight, weight_count, out_channels, in_channels,
                                      kernel_h, kernel_w, bias, bias_count, stride_h, stride_w,
                                      pad_top, pad_bottom, pad_left, pad_right, dilation_h,
                                      dilation_w, /) -> int: ...

# dtd_status dtd_network_add_maxpool2d_padded(dtd_network *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t)
@c_function([dtd_network_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t],
            dtd_status)
def dtd_network_add_maxpool2d_padded(network, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                                     pad_bottom, pad_left, pad_right, /) -> int: ...

# dtd_status dtd_network_add_avgpool2d_padded(dtd_network *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int32_t)
@c_function([dtd_network_p, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
             int32_t],
            dtd_status)
def dtd_network_add_avgpool2d_padded(network, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                                     pad_bottom, pad_left, pad_right, count_include_pad, /) -> int: ...

# dtd_status dtd_network_dtype(const dtd_network *, dtd_dtype *)
@c_function([const_dtd_network_p, dtd_dtype_p], dtd_status)
def dtd_network_dtype(network, out_dtype, /) -> int: ...

# dtd_status dtd_network_layer_count(const dtd_network *, int64_t *)
@c_function([const_dtd_network_p, int64_p], dtd_status)
def dtd_network_layer_count(network, out_count, /) -> int: ...

# dtd_status dtd_network_input_size(const dtd_network *, int64_t *)
@c_function([const_dtd_network_p, int64_p], dtd_status)
def dtd_network_input_size(network, out_size, /) -> int: ...

# dtd_status dtd_network_output_size(const dtd_network *, int64_t *)
@c_function([const_dtd_network_p, int64_p], dtd_status)
def dtd_network_output_size(network, out_size, /) -> int: ...

# dtd_status dtd_network_layer_kind(const dtd_network *, int64_t, dtd_layer_kind *)
@c_function([const_dtd_network_p, int64_t, dtd_layer_kind_p], dtd_status)
def dtd_network_layer_kind(network, layer, out_kind, /) -> int: ...

# dtd_status dtd_network_layer_shape(const dtd_network *, int64_t, int64_t *, int64_t, int64_t *)
@c_function([const_dtd_network_p, int64_t, int64_p, int64_t, int64_p], dtd_status)
def dtd_network_layer_shape(network, layer, out_shape, capacity, out_rank, /) -> int: ...

# dtd_status dtd_network_layer_sources(const dtd_network *, int64_t, int64_t *, int64_t, int64_t *)
@c_function([const_dtd_network_p, int64_t, int64_p, int64_t, int64_p], dtd_status)
def dtd_network_layer_sources(network, layer, out_from, capacity, out_count, /) -> int: ...

# dtd_status dtd_network_forward_f32(const dtd_network *, int64_t, const float *, int64_t, float *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_float_p, int64_t, float_p, int64_t], dtd_status)
def dtd_network_forward_f32(network, batch, input, input_count, output, output_count, /) -> int: ...

# dtd_status dtd_network_forward_f64(const dtd_network *, int64_t, const double *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_double_p, int64_t, double_p, int64_t], dtd_status)
def dtd_network_forward_f64(network, batch, input, input_count, output, output_count, /) -> int: ...


# ================================================================================================
# 4. Relevance: gradient, gradient x input, LRP
# ================================================================================================

# dtd_status dtd_relevance_target_seed_f32(const dtd_network *, int64_t, const float *, int64_t, const int64_t *, int64_t, float *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_float_p, int64_t, const_int64_p, int64_t, float_p,
             int64_t],
            dtd_status)
def dtd_relevance_target_seed_f32(network, batch, input, input_count, targets, target_count,
                                  output_seed, output_seed_count, /) -> int: ...

# dtd_status dtd_relevance_target_seed_f64(const dtd_network *, int64_t, const double *, int64_t, const int64_t *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_double_p, int64_t, const_int64_p, int64_t, double_p,
             int64_t],
            dtd_status)
def dtd_relevance_target_seed_f64(network, batch, input, input_count, targets, target_count,
                                  output_seed, output_seed_count, /) -> int: ...

# dtd_status dtd_relevance_gradient_f32(const dtd_network *, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_float_p, int64_t, const_float_p, int64_t, float_p,
             int64_t],
            dtd_status)
def dtd_relevance_gradient_f32(network, batch, input, input_count, output_relevance,
                               output_relevance_count, relevance, relevance_count, /) -> int: ...

# dtd_status dtd_relevance_gradient_f64(const dtd_network *, int64_t, const double *, int64_t, const double *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_double_p, int64_t, const_double_p, int64_t,
             double_p, int64_t],
            dtd_status)
def dtd_relevance_gradient_f64(network, batch, input, input_count, output_relevance,
                               output_relevance_count, relevance, relevance_count, /) -> int: ...

# dtd_status dtd_relevance_gradient_x_input_f32(const dtd_network *, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_float_p, int64_t, const_float_p, int64_t, float_p,
             int64_t],
            dtd_status)
def dtd_relevance_gradient_x_input_f32(network, batch, input, input_count, output_relevance,
                                       output_relevance_count, relevance, relevance_count, /) -> int: ...

# dtd_status dtd_relevance_gradient_x_input_f64(const dtd_network *, int64_t, const double *, int64_t, const double *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_double_p, int64_t, const_double_p, int64_t,
             double_p, int64_t],
            dtd_status)
def dtd_relevance_gradient_x_input_f64(network, batch, input, input_count, output_relevance,
                                       output_relevance_count, relevance, relevance_count, /) -> int: ...

# dtd_status dtd_relevance_lrp_f32(const dtd_network *, const dtd_rules *, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, dtd_ledger_entry *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_float_p, int64_t, const_float_p,
             int64_t, float_p, int64_t, dtd_ledger_entry_p, int64_t],
            dtd_status)
def dtd_relevance_lrp_f32(network, rules, batch, input, input_count, output_relevance,
                          output_relevance_count, relevance, relevance_count, ledger, ledger_count,
                          /) -> int: ...

# dtd_status dtd_relevance_lrp_f64(const dtd_network *, const dtd_rules *, int64_t, const double *, int64_t, const double *, int64_t, double *, int64_t, dtd_ledger_entry *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_double_p, int64_t,
             const_double_p, int64_t, double_p, int64_t, dtd_ledger_entry_p, int64_t],
            dtd_status)
def dtd_relevance_lrp_f64(network, rules, batch, input, input_count, output_relevance,
                          output_relevance_count, relevance, relevance_count, ledger, ledger_count,
                          /) -> int: ...

# dtd_status dtd_relevance_lrp_layers_f32(const dtd_network *, const dtd_rules *, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, dtd_ledger_entry *, int64_t, const int64_t *, int64_t, float *, int64_t, const dtd_relevance_mask *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_float_p, int64_t,
             const_float_p, int64_t, float_p, int64_t, dtd_ledger_entry_p, int64_t,
             const_int64_p, int64_t, float_p, int64_t, const_dtd_relevance_mask_p, int64_t],
            dtd_status)
def dtd_relevance_lrp_layers_f32(network, rules, batch, input, input_count, output_relevance,
                                 output_relevance_count, relevance, relevance_count, ledger,
                                 ledger_count, record_layers, record_count, recorded,
                                 recorded_count, masks, mask_count, /) -> int: ...

# dtd_status dtd_relevance_lrp_layers_f64(const dtd_network *, const dtd_rules *, int64_t, const double *, int64_t, const double *, int64_t, double *, int64_t, dtd_ledger_entry *, int64_t, const int64_t *, int64_t, double *, int64_t, const dtd_relevance_mask *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_double_p, int64_t,
             const_double_p, int64_t, double_p, int64_t, dtd_ledger_entry_p, int64_t,
             const_int64_p, int64_t, double_p, int64_t, const_dtd_relevance_mask_p, int64_t],
            dtd_status)
def dtd_relevance_lrp_layers_f64(network, rules, batch, input, input_count, output_relevance,
                                 output_relevance_count, relevance, relevance_count, ledger,
                                 ledger_count, record_layers, record_count, recorded,
                                 recorded_count, masks, mask_count, /) -> int: ...


# ================================================================================================
# 5. Rules and composites
# ================================================================================================

# dtd_status dtd_rules_create(const dtd_network *, dtd_rules **)
@c_function([const_dtd_network_p, dtd_rules_pp], dtd_status)
def dtd_rules_create(network, out_rules, /) -> int: ...

# void dtd_rules_destroy(dtd_rules *)
@c_function([dtd_rules_p], void)
def dtd_rules_destroy(rules, /) -> None: ...

# dtd_status dtd_rules_set_epsilon(dtd_rules *, int64_t, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, double, dtd_bias_mode], dtd_status)
def dtd_rules_set_epsilon(rules, layer, epsilon, bias, /) -> int: ...

# dtd_status dtd_rules_set_zplus(dtd_rules *, int64_t, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, double, dtd_bias_mode], dtd_status)
def dtd_rules_set_zplus(rules, layer, stabilizer, bias, /) -> int: ...

# dtd_status dtd_rules_set_alphabeta(dtd_rules *, int64_t, double, double, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, double, double, double, dtd_bias_mode], dtd_status)
def dtd_rules_set_alphabeta(rules, layer, alpha, beta, stabilizer, bias, /) -> int: ...

# dtd_status dtd_rules_set_gamma(dtd_rules *, int64_t, double, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, double, double, dtd_bias_mode], dtd_status)
def dtd_rules_set_gamma(rules, layer, gamma, stabilizer, bias, /) -> int: ...

# dtd_status dtd_rules_set_wsquare(dtd_rules *, int64_t, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, double, dtd_bias_mode], dtd_status)
def dtd_rules_set_wsquare(rules, layer, stabilizer, bias, /) -> int: ...

# dtd_status dtd_rules_set_flat(dtd_rules *, int64_t, double)
@c_function([dtd_rules_p, int64_t, double], dtd_status)
def dtd_rules_set_flat(rules, layer, stabilizer, /) -> int: ...

# dtd_status dtd_rules_set_zbox(dtd_rules *, int64_t, double, double, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, double, double, double, dtd_bias_mode], dtd_status)
def dtd_rules_set_zbox(rules, layer, low, high, stabilizer, bias, /) -> int: ...

# dtd_status dtd_rules_set_zbox_bounds_f32(dtd_rules *, int64_t, const float *, int64_t, const float *, int64_t, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, const_float_p, int64_t, const_float_p, int64_t, double,
             dtd_bias_mode],
            dtd_status)
def dtd_rules_set_zbox_bounds_f32(rules, layer, low, low_count, high, high_count, stabilizer, bias,
                                  /) -> int: ...

# dtd_status dtd_rules_set_zbox_bounds_f64(dtd_rules *, int64_t, const double *, int64_t, const double *, int64_t, double, dtd_bias_mode)
@c_function([dtd_rules_p, int64_t, const_double_p, int64_t, const_double_p, int64_t, double,
             dtd_bias_mode],
            dtd_status)
def dtd_rules_set_zbox_bounds_f64(rules, layer, low, low_count, high, high_count, stabilizer, bias,
                                  /) -> int: ...

# dtd_status dtd_rules_set_composite(dtd_rules *, dtd_composite, double, double, double, double)
@c_function([dtd_rules_p, dtd_composite, double, double, double, double], dtd_status)
def dtd_rules_set_composite(rules, composite, epsilon, gamma, low, high, /) -> int: ...

# dtd_status dtd_rules_kind(const dtd_rules *, int64_t, dtd_rule_kind *)
@c_function([const_dtd_rules_p, int64_t, dtd_rule_kind_p], dtd_status)
def dtd_rules_kind(rules, layer, out_kind, /) -> int: ...


# ================================================================================================
# 6. DTD root points and the root audit (not yet in every build: bound lazily)
# ================================================================================================

# dtd_status dtd_roots_count(const dtd_network *, const dtd_rules *, const dtd_root_query *, int64_t *)
@c_function([const_dtd_network_p, const_dtd_rules_p, const_dtd_root_query_p, int64_p], dtd_status)
def dtd_roots_count(network, rules, query, out_roots_per_sample, /) -> int: ...

# dtd_status dtd_roots_compute_f32(const dtd_network *, const dtd_rules *, const dtd_root_query *, int64_t, const float *, int64_t, float *, int64_t, dtd_root_info *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, const_dtd_root_query_p, int64_t, const_float_p,
             int64_t, float_p, int64_t, dtd_root_info_p, int64_t],
            dtd_status)
def dtd_roots_compute_f32(network, rules, query, batch, input, input_count, points, points_count,
                          info, info_count, /) -> int: ...

# dtd_status dtd_roots_compute_f64(const dtd_network *, const dtd_rules *, const dtd_root_query *, int64_t, const double *, int64_t, double *, int64_t, dtd_root_info *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, const_dtd_root_query_p, int64_t, const_double_p,
             int64_t, double_p, int64_t, dtd_root_info_p, int64_t],
            dtd_status)
def dtd_roots_compute_f64(network, rules, query, batch, input, input_count, points, points_count,
                          info, info_count, /) -> int: ...

# dtd_status dtd_audit_roots_f32(const dtd_network *, const dtd_rules *, const dtd_root_query *, int64_t, const float *, int64_t, dtd_audit_record *, int64_t, dtd_audit_summary *)
@c_function([const_dtd_network_p, const_dtd_rules_p, const_dtd_root_query_p, int64_t, const_float_p,
             int64_t, dtd_audit_record_p, int64_t, dtd_audit_summary_p],
            dtd_status)
def dtd_audit_roots_f32(network, rules, query, batch, input, input_count, records, records_count,
                        summary, /) -> int: ...

# dtd_status dtd_audit_roots_f64(const dtd_network *, const dtd_rules *, const dtd_root_query *, int64_t, const double *, int64_t, dtd_audit_record *, int64_t, dtd_audit_summary *)
@c_function([const_dtd_network_p, const_dtd_rules_p, const_dtd_root_query_p, int64_t, const_double_p,
             int64_t, dtd_audit_record_p, int64_t, dtd_audit_summary_p],
            dtd_status)
def dtd_audit_roots_f64(network, rules, query, batch, input, input_count, records, records_count,
                        summary, /) -> int: ...

# dtd_status dtd_audit_points_f32(const dtd_network *, int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, int64_t, dtd_audit_record *, int64_t, dtd_audit_summary *)
@c_function([const_dtd_network_p, int64_t, int64_t, int64_t, const_float_p, int64_t, int64_t,
             const_float_p, int64_t, dtd_audit_record_p, int64_t, dtd_audit_summary_p],
            dtd_status)
def dtd_audit_points_f32(network, layer, target, batch, input, input_count, points_per_sample,
                         points, points_count, records, records_count, summary, /) -> int: ...

# dtd_status dtd_audit_points_f64(const dtd_network *, int64_t, int64_t, int64_t, const double *, int64_t, int64_t, const double *, int64_t, dtd_audit_record *, int64_t, dtd_audit_summary *)
@c_function([const_dtd_network_p, int64_t, int64_t, int64_t, const_double_p, int64_t, int64_t,
             const_double_p, int64_t, dtd_audit_record_p, int64_t, dtd_audit_summary_p],
            dtd_status)
def dtd_audit_points_f64(network, layer, target, batch, input, input_count, points_per_sample,
                         points, points_count, records, records_count, summary, /) -> int: ...


# ================================================================================================
# 7. The study's theory as checks (not yet in every build: bound lazily)
# ================================================================================================

# dtd_status dtd_theory_gxi_distance_f32(const dtd_network *, const dtd_rules *, int64_t, const float *, int64_t, const float *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_float_p, int64_t, const_float_p,
             int64_t, double_p, int64_t],
            dtd_status)
def dtd_theory_gxi_distance_f32(network, rules, batch, input, input_count, output_relevance,
                                output_relevance_count, distances, distances_count, /) -> int: ...

# dtd_status dtd_theory_gxi_distance_f64(const dtd_network *, const dtd_rules *, int64_t, const double *, int64_t, const double *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_double_p, int64_t,
             const_double_p, int64_t, double_p, int64_t],
            dtd_status)
def dtd_theory_gxi_distance_f64(network, rules, batch, input, input_count, output_relevance,
                                output_relevance_count, distances, distances_count, /) -> int: ...

# dtd_status dtd_theory_constant_root_f32(const dtd_network *, int64_t, const float *, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_float_p, int64_t, const_float_p, int64_t,
             const_float_p, int64_t, float_p, int64_t],
            dtd_status)
def dtd_theory_constant_root_f32(network, batch, input, input_count, root, root_count,
                                 output_relevance, output_relevance_count, relevance,
                                 relevance_count, /) -> int: ...

# dtd_status dtd_theory_constant_root_f64(const dtd_network *, int64_t, const double *, int64_t, const double *, int64_t, const double *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, int64_t, const_double_p, int64_t, const_double_p, int64_t,
             const_double_p, int64_t, double_p, int64_t],
            dtd_status)
def dtd_theory_constant_root_f64(network, batch, input, input_count, root, root_count,
                                 output_relevance, output_relevance_count, relevance,
                                 relevance_count, /) -> int: ...

# dtd_status dtd_theory_construct_roots_f32(const dtd_network *, const dtd_rules *, const dtd_root_query *, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, dtd_root_info *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, const_dtd_root_query_p, int64_t, const_float_p,
             int64_t, const_float_p, int64_t, float_p, int64_t, dtd_root_info_p, int64_t],
            dtd_status)
def dtd_theory_construct_roots_f32(network, rules, query, batch, input, input_count, explanation,
                                   explanation_count, points, points_count, info, info_count, /) -> int: ...

# dtd_status dtd_theory_construct_roots_f64(const dtd_network *, const dtd_rules *, const dtd_root_query *, int64_t, const double *, int64_t, const double *, int64_t, double *, int64_t, dtd_root_info *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, const_dtd_root_query_p, int64_t, const_double_p,
             int64_t, const_double_p, int64_t, double_p, int64_t, dtd_root_info_p, int64_t],
            dtd_status)
def dtd_theory_construct_roots_f64(network, rules, query, batch, input, input_count, explanation,
                                   explanation_count, points, points_count, info, info_count, /) -> int: ...

# dtd_status dtd_theory_rank1_csc_f32(const dtd_network *, const dtd_rules *, int64_t, const float *, int64_t, int64_t, const float *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_float_p, int64_t, int64_t,
             const_float_p, int64_t, double_p, int64_t],
            dtd_status)
def dtd_theory_rank1_csc_f32(network, rules, batch, input, input_count, seeds_per_sample, seeds,
                             seeds_count, csc, csc_count, /) -> int: ...

# dtd_status dtd_theory_rank1_csc_f64(const dtd_network *, const dtd_rules *, int64_t, const double *, int64_t, int64_t, const double *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, const_dtd_rules_p, int64_t, const_double_p, int64_t, int64_t,
             const_double_p, int64_t, double_p, int64_t],
            dtd_status)
def dtd_theory_rank1_csc_f64(network, rules, batch, input, input_count, seeds_per_sample, seeds,
                             seeds_count, csc, csc_count, /) -> int: ...


# ================================================================================================
# 8. Full-backward DTD (the study's second experiment)
# ================================================================================================

# int32_t dtd_full_backward_available(void)
@c_function([], int32_t)
def dtd_full_backward_available() -> int: ...

# dtd_status dtd_full_backward_count(const dtd_network *, const dtd_full_backward_query *, dtd_full_backward_sizes *)
@c_function([const_dtd_network_p, const_dtd_full_backward_query_p, dtd_full_backward_sizes_p], dtd_status)
def dtd_full_backward_count(network, query, out_sizes, /) -> int: ...

# dtd_status dtd_full_backward_compute_f32(const dtd_network *, const dtd_full_backward_query *, int64_t, const float *, int64_t, dtd_full_backward_unit *, int64_t, float *, int64_t, float *, int64_t, float *, int64_t, dtd_full_backward_sample *, int64_t)
@c_function([const_dtd_network_p, const_dtd_full_backward_query_p, int64_t, const_float_p, int64_t,
             dtd_full_backward_unit_p, int64_t, float_p, int64_t, float_p, int64_t, float_p, int64_t,
             dtd_full_backward_sample_p, int64_t],
            dtd_status)
def dtd_full_backward_compute_f32(network, query, batch, input, input_count, units, units_count,
                                  input_relevance, input_relevance_count, input_slope, input_slope_count,
                                  roots, roots_count, samples, samples_count, /) -> int: ...

# dtd_status dtd_full_backward_compute_f64(const dtd_network *, const dtd_full_backward_query *, int64_t, const double *, int64_t, dtd_full_backward_unit *, int64_t, double *, int64_t, double *, int64_t, double *, int64_t, dtd_full_backward_sample *, int64_t)
@c_function([const_dtd_network_p, const_dtd_full_backward_query_p, int64_t, const_double_p, int64_t,
             dtd_full_backward_unit_p, int64_t, double_p, int64_t, double_p, int64_t, double_p, int64_t,
             dtd_full_backward_sample_p, int64_t],
            dtd_status)
def dtd_full_backward_compute_f64(network, query, batch, input, input_count, units, units_count,
                                  input_relevance, input_relevance_count, input_slope, input_slope_count,
                                  roots, roots_count, samples, samples_count, /) -> int: ...

# dtd_status dtd_full_backward_regions_f32(const dtd_network *, const dtd_full_backward_query *, int64_t, const float *, int64_t, dtd_full_backward_region *, int64_t, float *, int64_t)
@c_function([const_dtd_network_p, const_dtd_full_backward_query_p, int64_t, const_float_p, int64_t,
             dtd_full_backward_region_p, int64_t, float_p, int64_t],
            dtd_status)
def dtd_full_backward_regions_f32(network, query, batch, input, input_count, regions, regions_count,
                                  boxes, boxes_count, /) -> int: ...

# dtd_status dtd_full_backward_regions_f64(const dtd_network *, const dtd_full_backward_query *, int64_t, const double *, int64_t, dtd_full_backward_region *, int64_t, double *, int64_t)
@c_function([const_dtd_network_p, const_dtd_full_backward_query_p, int64_t, const_double_p, int64_t,
             dtd_full_backward_region_p, int64_t, double_p, int64_t],
            dtd_status)
def dtd_full_backward_regions_f64(network, query, batch, input, input_count, regions, regions_count,
                                  boxes, boxes_count, /) -> int: ...
