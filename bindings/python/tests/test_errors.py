"""Bad input: every documented error condition gives a DTDError with the documented status and
a message naming the argument, layer or shape (STYLE.md: one ``test_<function>_<condition>``
per condition). Conditions the Pythonic API cannot reach (NULL, lying counts, the other dtype's
entry point) go through the ``_capi`` table directly; nothing here may crash the interpreter.
"""
from __future__ import annotations

from contextlib import contextmanager
from ctypes import byref, c_int32, c_int64, c_void_p

import numpy as np
import pytest

import dtd
from dtd import _capi as C
from dtd.errors import DTDError
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus
from support import random_mlp

M = 2**31 - 1  # the library's per-dimension limit (a size above it is DTD_ERROR_SIZE)
D = C.const_double_p.ctype
F = C.const_float_p.ctype


@contextmanager
def raises(status: int, *fragments: str):
    """Expects a DTDError with ``status`` whose message contains every fragment."""
    with pytest.raises(DTDError) as info:
        yield info
    error = info.value
    assert error.status == status, f"{error.status_name} != {C.STATUS_NAMES[status]}: {error.message}"
    assert error.status_name == C.STATUS_NAMES[status]
    for fragment in fragments:
        assert fragment in error.message, f"{fragment!r} not in {error.message!r}"


def check(returned: int, status: int, *fragments: str) -> None:
    """For direct _capi calls: the returned status and the message read right after."""
    message = C.dtd_last_error_message().decode()
    assert returned == status, f"{C.STATUS_NAMES.get(returned, returned)}: {message}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def dptr(array: np.ndarray):
    return array.ctypes.data_as(D if array.dtype == np.float64 else F)


def mlp(dtype: str = "float64") -> dtd.Network:
    """dense(3 -> 4) -> relu -> dense(4 -> 2), with biases."""
    rng = np.random.default_rng(7)
    return (dtd.Network((3,), dtype=dtype)
            .add_dense(rng.normal(size=(4, 3)), rng.normal(size=4))
            .add_relu()
            .add_dense(rng.normal(size=(2, 4)), rng.normal(size=2)))


def image_net() -> dtd.Network:
    return dtd.Network((1, 4, 4))


@pytest.fixture
def net():
    with mlp() as network:
        yield network


X = np.array([0.5, -1.0, 2.0])
RULES = {0: Epsilon(), 2: Epsilon()}


def raw_network(shape=(3,), dtype=C.DTD_DTYPE_FLOAT64) -> c_void_p:
    dims = np.array(shape, dtype=np.int64)
    handle = c_void_p()
    check(C.dtd_network_create(dtype, dims.ctypes.data_as(C.const_int64_p.ctype), dims.size, byref(handle)), C.DTD_OK)
    return handle


# MARK: - dtd_network_create

def test_network_create_null_input_shape():
    handle = c_void_p(1234)
    check(C.dtd_network_create(C.DTD_DTYPE_FLOAT64, None, 1, byref(handle)), C.DTD_ERROR_NULL_POINTER, "input_shape")
    assert handle.value is None  # "set to NULL on failure"


def test_network_create_null_out_network():
    dims = np.array([3], dtype=np.int64)
    check(C.dtd_network_create(C.DTD_DTYPE_FLOAT64, dims.ctypes.data_as(C.const_int64_p.ctype), 1, None),
          C.DTD_ERROR_NULL_POINTER, "out_network")


def test_network_create_unknown_dtype():
    dims = np.array([3], dtype=np.int64)
    handle = c_void_p()
    check(C.dtd_network_create(3, dims.ctypes.data_as(C.const_int64_p.ctype), 1, byref(handle)),
          C.DTD_ERROR_INVALID_ARGUMENT, "dtype = 3")


@pytest.mark.parametrize("shape", [(3, 2), (), (1, 2, 3, 4)])
def test_network_create_rank_not_1_or_3(shape):
    with raises(C.DTD_ERROR_INVALID_ARGUMENT, "input_rank", str(len(shape))):
        dtd.Network(shape)


def test_network_create_zero_size():
    with raises(C.DTD_ERROR_SIZE, "input_shape[0]", "0"):
        dtd.Network((0,))


def test_network_create_negative_size():
    with raises(C.DTD_ERROR_SIZE, "input_shape[1]", "-1"):
        dtd.Network((3, -1, 2))


def test_network_create_size_above_limit():
    with raises(C.DTD_ERROR_SIZE, "input_shape[0]", str(2**40)):
        dtd.Network((2**40,))


def test_network_create_size_product_overflows():
    with raises(C.DTD_ERROR_OVERFLOW, "input_shape", "overflows"):
        dtd.Network((M, M, M))


def test_network_create_size_beyond_int64_is_refused_by_the_binding():
    # ctypes would silently wrap 2**64 + 3 to 3; the binding refuses it first.
    with raises(C.DTD_ERROR_OVERFLOW, "input_shape[0]", "int64"):
        dtd.Network((2**64 + 3,))


def test_network_create_unsupported_dtype_is_a_value_error():
    with pytest.raises(ValueError, match="float32 or float64"):
        dtd.Network((3,), dtype="int32")


# MARK: - dtd_network_add_dense

def test_network_add_dense_in_features_mismatch():
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "layer 0", "in_features = 5", "(3)"):
        net.add_dense(np.ones((4, 5)))


def test_network_add_dense_bias_count_mismatch():
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "layer 0", "bias has 3", "4 outputs"):
        net.add_dense(np.ones((4, 3)), np.ones(3))


def test_network_add_dense_weight_count_does_not_fit():
    handle = raw_network()
    try:
        check(C.dtd_network_add_dense_f64(handle, dptr(np.ones(12)), 11, 4, 3, None, 0),
              C.DTD_ERROR_SHAPE_MISMATCH, "weight has 11", "(4, 3)", "12")
    finally:
        C.dtd_network_destroy(handle)


@pytest.mark.parametrize("where, value, fragment", [("weight", np.nan, "weight[5] is nan"),
                                                    ("bias", np.inf, "bias[2] is inf")])
def test_network_add_dense_non_finite(where, value, fragment):
    weight, bias = np.ones((4, 3)), np.ones(4)
    (weight.reshape(-1) if where == "weight" else bias)[5 if where == "weight" else 2] = value
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_NON_FINITE, "layer 0", fragment):
        net.add_dense(weight, bias)


def test_network_add_dense_after_conv_needs_flatten():
    with image_net() as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "(1, 4, 4)", "flatten"):
        net.add_dense(np.ones((2, 16)))


def test_network_add_dense_weight_not_2d_is_refused_by_the_binding():
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "2-D", "(12,)"):
        net.add_dense(np.ones(12))


def test_network_add_dense_null_weight():
    handle = raw_network()
    try:
        check(C.dtd_network_add_dense_f64(handle, None, 12, 4, 3, None, 0), C.DTD_ERROR_NULL_POINTER, "weight")
    finally:
        C.dtd_network_destroy(handle)


def test_network_add_dense_null_bias_with_count():
    handle = raw_network()
    try:
        check(C.dtd_network_add_dense_f64(handle, dptr(np.ones(12)), 12, 4, 3, None, 4),
              C.DTD_ERROR_NULL_POINTER, "bias")
    finally:
        C.dtd_network_destroy(handle)


@pytest.mark.parametrize("args, fragment", [((-1, 4, 3), "weight_count"), ((12, 0, 3), "out_features"),
                                            ((12, 4, -3), "in_features")])
def test_network_add_dense_zero_or_negative_sizes(args, fragment):
    handle = raw_network()
    try:
        check(C.dtd_network_add_dense_f64(handle, dptr(np.ones(12)), *args, None, 0), C.DTD_ERROR_SIZE, fragment)
    finally:
        C.dtd_network_destroy(handle)


def test_network_add_dense_wrong_dtype_entry_point():
    with dtd.Network((3,)) as net:
        weight = np.ones(12, dtype=np.float32)
        check(C.dtd_network_add_dense_f32(net._handle, dptr(weight), 12, 4, 3, None, 0),
              C.DTD_ERROR_DTYPE, "float64", "_f64")
        assert net.layer_count == 0


# MARK: - dtd_network_add_conv2d

@pytest.mark.parametrize("kwargs, fragment", [({"stride": 0}, "stride_h"), ({"stride": (1, 0)}, "stride_w"),
                                              ({"dilation": 0}, "dilation_h"), ({"padding": -1}, "padding_h"),
                                              ({"padding": (0, -2)}, "padding_w")])
def test_network_add_conv2d_zero_or_negative_parameters(kwargs, fragment):
    with image_net() as net, raises(C.DTD_ERROR_SIZE, fragment):
        net.add_conv2d(np.ones((2, 1, 3, 3)), **kwargs)


@pytest.mark.parametrize("kernel, kwargs, fragment", [(5, {}, "kernel (5, 5)"),
                                                      (3, {"dilation": 2}, "dilation (2, 2)")])
def test_network_add_conv2d_kernel_larger_than_padded_input(kernel, kwargs, fragment):
    with image_net() as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "layer 0", fragment, "larger than the padded input"):
        net.add_conv2d(np.ones((2, 1, kernel, kernel)), **kwargs)


def test_network_add_conv2d_in_channels_mismatch():
    with image_net() as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "in_channels = 3", "(1, 4, 4)"):
        net.add_conv2d(np.ones((2, 3, 3, 3)))


def test_network_add_conv2d_on_a_flat_input():
    with dtd.Network((16,)) as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "(C, H, W)", "(16)"):
        net.add_conv2d(np.ones((2, 1, 3, 3)))


def test_network_add_conv2d_bias_count_mismatch():
    with image_net() as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "bias"):
        net.add_conv2d(np.ones((2, 1, 3, 3)), np.ones(3))


def test_network_add_conv2d_weight_count_does_not_fit():
    handle = raw_network((1, 4, 4))
    try:
        check(C.dtd_network_add_conv2d_f64(handle, dptr(np.ones(9)), 8, 1, 1, 3, 3, None, 0, 1, 1, 0, 0, 1, 1),
              C.DTD_ERROR_SHAPE_MISMATCH, "weight has 8", "9")
    finally:
        C.dtd_network_destroy(handle)


def test_network_add_conv2d_size_product_overflows():
    """Sizes each within the limit whose products overflow int64 (only four weights passed)."""
    handle = raw_network((M, 1, 1))
    try:
        check(C.dtd_network_add_conv2d_f64(handle, dptr(np.ones(4)), 4, M, M, M, M, None, 0,
                                           1, 1, M // 2 + 1, M // 2 + 1, 1, 1),
              C.DTD_ERROR_OVERFLOW, "layer 0", "overflows")
    finally:
        C.dtd_network_destroy(handle)


def test_network_add_conv2d_weight_not_4d_is_refused_by_the_binding():
    with image_net() as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "4-D"):
        net.add_conv2d(np.ones((2, 9)))


# MARK: - dtd_network_add_maxpool2d / dtd_network_add_avgpool2d

@pytest.mark.parametrize("method", ["add_maxpool2d", "add_avgpool2d"])
@pytest.mark.parametrize("kernel, kwargs, fragment", [(0, {}, "kernel_h"), ((2, 0), {}, "kernel_w"),
                                                      (2, {"stride": 0}, "stride_h"),
                                                      (2, {"padding": -1}, "padding_h")])
def test_network_add_pool_zero_or_negative_parameters(method, kernel, kwargs, fragment):
    with image_net() as net, raises(C.DTD_ERROR_SIZE, fragment):
        getattr(net, method)(kernel, **kwargs)


@pytest.mark.parametrize("method", ["add_maxpool2d", "add_avgpool2d"])
def test_network_add_pool_kernel_larger_than_padded_input(method):
    with image_net() as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "kernel (5, 5)", "larger than the padded input"):
        getattr(net, method)(5)


@pytest.mark.parametrize("method", ["add_maxpool2d", "add_avgpool2d"])
def test_network_add_pool_padding_above_half_the_kernel(method):
    with image_net() as net, raises(C.DTD_ERROR_INVALID_ARGUMENT, "padding (2, 2)", "half the kernel"):
        getattr(net, method)(2, padding=2)


@pytest.mark.parametrize("method", ["add_maxpool2d", "add_avgpool2d"])
def test_network_add_pool_on_a_flat_input(method):
    with dtd.Network((16,)) as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "(C, H, W)"):
        getattr(net, method)(2)


# MARK: - dtd_network_add_batchnorm

BN = (np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))


def test_network_add_batchnorm_as_first_layer():
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_LAYER_ORDER, "layer 0", "dense or conv2d", "empty"):
        net.add_batchnorm(*BN)


def test_network_add_batchnorm_not_after_dense_or_conv():
    with dtd.Network((3,)).add_dense(np.ones((3, 3))).add_relu() as net, \
            raises(C.DTD_ERROR_LAYER_ORDER, "layer 2", "layer 1 is relu"):
        net.add_batchnorm(*BN)


@pytest.mark.parametrize("var, eps, fragment", [([1.0, -1.0, 1.0], 1e-5, "running_var[1] + eps"),
                                                ([1.0, 1.0, 0.0], 0.0, "running_var[2] + eps = 0"),
                                                ([1.0, 1.0, 1.0], -1e-5, "eps must be >= 0")])
def test_network_add_batchnorm_var_plus_eps_not_positive(var, eps, fragment):
    with dtd.Network((3,)).add_dense(np.ones((3, 3))) as net, \
            raises(C.DTD_ERROR_INVALID_ARGUMENT, "layer 1", fragment):
        net.add_batchnorm(np.ones(3), np.zeros(3), np.zeros(3), var, eps=eps)


def test_network_add_batchnorm_count_mismatch():
    with dtd.Network((3,)).add_dense(np.ones((3, 3))) as net, \
            raises(C.DTD_ERROR_SHAPE_MISMATCH, "count = 2", "3 output channels"):
        net.add_batchnorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2))


def test_network_add_batchnorm_non_finite():
    with dtd.Network((3,)).add_dense(np.ones((3, 3))) as net, raises(C.DTD_ERROR_NON_FINITE, "gamma[1] is nan"):
        net.add_batchnorm([1.0, np.nan, 1.0], np.zeros(3), np.zeros(3), np.ones(3))


def test_network_add_batchnorm_arrays_of_different_sizes_are_refused_by_the_binding():
    with dtd.Network((3,)).add_dense(np.ones((3, 3))) as net, raises(C.DTD_ERROR_SHAPE_MISMATCH, "[3, 3, 2, 3]"):
        net.add_batchnorm(np.ones(3), np.zeros(3), np.zeros(2), np.ones(3))


# MARK: - A failed add leaves the network unchanged

FAILING_ADDS = {
    "dense-shape": lambda n: n.add_dense(np.ones((5, 7))),
    "dense-nan": lambda n: n.add_dense(np.full((5, 2), np.nan)),
    "dense-bias": lambda n: n.add_dense(np.ones((5, 2)), np.ones(4)),
    "batchnorm-count": lambda n: n.add_batchnorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)),
    "batchnorm-var": lambda n: n.add_batchnorm(np.ones(2), np.zeros(2), np.zeros(2), -np.ones(2)),
    "conv-on-flat": lambda n: n.add_conv2d(np.ones((1, 1, 1, 1))),
    "maxpool-on-flat": lambda n: n.add_maxpool2d(2),
}


@pytest.mark.parametrize("name", sorted(FAILING_ADDS))
def test_network_add_failure_leaves_network_unchanged(name):
    with mlp() as net:
        before = (net.layer_count, net.layer_kinds, net.output_shape, net.forward(X))
        relevance = net.lrp(X, target=0, rules=RULES)
        with pytest.raises(DTDError):
            FAILING_ADDS[name](net)
        after = (net.layer_count, net.layer_kinds, net.output_shape, net.forward(X))
        assert before[:3] == after[:3]
        np.testing.assert_array_equal(before[3], after[3])
        np.testing.assert_array_equal(net.lrp(X, target=0, rules=RULES), relevance)


def test_network_add_batchnorm_failure_leaves_folded_weights_unchanged():
    """A rejected batch-norm must not have touched the dense layer it would fold into."""
    with dtd.Network((3,)).add_dense(np.arange(9.0).reshape(3, 3), np.ones(3)) as net:
        before = net.forward(X)
        with raises(C.DTD_ERROR_INVALID_ARGUMENT):
            net.add_batchnorm([2.0, 2.0, 2.0], np.ones(3), np.ones(3), [1.0, 1.0, -5.0])
        assert net.layer_count == 1
        np.testing.assert_array_equal(net.forward(X), before)


# MARK: - dtd_network_forward / queries

def test_network_forward_empty_network():
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_EMPTY_NETWORK, "no layers"):
        net.forward(X)


def test_network_forward_zero_batch(net):
    with raises(C.DTD_ERROR_SIZE, "batch", "0"):
        net.forward(np.zeros((0, 3)))


def test_network_forward_batch_above_limit(net):
    x, out = np.ones(3), np.ones(2)
    check(C.dtd_network_forward_f64(net._handle, 2**62, dptr(x), 3, dptr(out), 2), C.DTD_ERROR_SIZE, "batch")


def test_network_forward_output_buffer_too_small(net):
    x, out = np.ones(6), np.ones(4)
    check(C.dtd_network_forward_f64(net._handle, 2, dptr(x), 6, dptr(out), 3),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "output holds 3", "4")


def test_network_forward_input_buffer_too_small(net):
    x, out = np.ones(6), np.ones(4)
    check(C.dtd_network_forward_f64(net._handle, 2, dptr(x), 5, dptr(out), 4),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "input holds 5", "6")


def test_network_forward_larger_buffers_are_allowed(net):
    """Conventions: a count may exceed the documented size; only the prefix is used."""
    x, out = np.concatenate([X, [np.nan] * 4]), np.full(6, -7.0)
    check(C.dtd_network_forward_f64(net._handle, 1, dptr(x), x.size, dptr(out), out.size), C.DTD_OK)
    np.testing.assert_array_equal(out[:2], net.forward(X))
    np.testing.assert_array_equal(out[2:], -7.0)


@pytest.mark.parametrize("which", ["input", "output"])
def test_network_forward_null_buffer(net, which):
    x, out = np.ones(3), np.ones(2)
    args = [None if which == "input" else dptr(x), 3, None if which == "output" else dptr(out), 2]
    check(C.dtd_network_forward_f64(net._handle, 1, *args), C.DTD_ERROR_NULL_POINTER, which)


def test_network_forward_negative_count(net):
    x, out = np.ones(3), np.ones(2)
    check(C.dtd_network_forward_f64(net._handle, 1, dptr(x), -3, dptr(out), 2), C.DTD_ERROR_SIZE, "input_count")


def test_network_forward_wrong_dtype_entry_point():
    with mlp("float64") as net64, mlp("float32") as net32:
        x32, out32 = np.ones(3, np.float32), np.ones(2, np.float32)
        x64, out64 = np.ones(3), np.ones(2)
        check(C.dtd_network_forward_f32(net64._handle, 1, dptr(x32), 3, dptr(out32), 2), C.DTD_ERROR_DTYPE, "_f64")
        check(C.dtd_network_forward_f64(net32._handle, 1, dptr(x64), 3, dptr(out64), 2), C.DTD_ERROR_DTYPE, "_f32")


def test_network_forward_null_network():
    x, out = np.ones(3), np.ones(2)
    check(C.dtd_network_forward_f64(None, 1, dptr(x), 3, dptr(out), 2), C.DTD_ERROR_NULL_POINTER, "network")


def test_network_forward_sample_shape_mismatch_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "(2, 4)", "(3,)"):
        net.forward(np.ones((2, 4)))


def test_network_forward_non_finite_inputs_propagate(net):
    """Documented: NaN/inf in inputs are not rejected; they propagate and never trap."""
    out = net.forward(np.array([[np.nan, 0.0, 0.0], [1.0, 2.0, 3.0]]))
    assert np.all(np.isnan(out[0]))
    np.testing.assert_array_equal(out[1], net.forward(np.array([1.0, 2.0, 3.0])))


def test_network_layer_kind_index_out_of_range(net):
    kind = c_int32()
    check(C.dtd_network_layer_kind(net._handle, 3, byref(kind)), C.DTD_ERROR_LAYER_INDEX, "layer = 3", "[0, 3)")
    check(C.dtd_network_layer_kind(net._handle, -1, byref(kind)), C.DTD_ERROR_LAYER_INDEX, "layer = -1")


def test_network_layer_shape_capacity_too_small(net):
    shape, rank = (c_int64 * 3)(), c_int64()
    check(C.dtd_network_layer_shape(net._handle, 0, shape, 0, byref(rank)), C.DTD_ERROR_BUFFER_TOO_SMALL, "out_shape")


def test_network_layer_shape_index_out_of_range(net):
    shape, rank = (c_int64 * 3)(), c_int64()
    check(C.dtd_network_layer_shape(net._handle, 3, shape, 3, byref(rank)), C.DTD_ERROR_LAYER_INDEX, "3")
    check(C.dtd_network_layer_shape(net._handle, -2, shape, 3, byref(rank)), C.DTD_ERROR_LAYER_INDEX, "-2")


@pytest.mark.parametrize("query", ["dtd_network_dtype", "dtd_network_layer_count",
                                   "dtd_network_input_size", "dtd_network_output_size"])
def test_network_queries_null_arguments(net, query):
    function = getattr(C, query)
    out = c_int32() if query == "dtd_network_dtype" else c_int64()
    check(function(None, byref(out)), C.DTD_ERROR_NULL_POINTER, "network")
    check(function(net._handle, None), C.DTD_ERROR_NULL_POINTER, "out_")


# MARK: - dtd_relevance_*

def test_relevance_target_seed_target_out_of_range(net):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "targets[0] = 2", "[0, 2)"):
        net.lrp(X, target=2, rules=RULES)
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "targets[1] = -1"):
        net.lrp(np.stack([X, X]), target=[0, -1], rules=RULES)


def test_relevance_target_seed_output_too_small(net):
    targets, seed = np.zeros(1, np.int64), np.ones(2)
    check(C.dtd_relevance_target_seed_f64(net._handle, 1, dptr(X), 3, targets.ctypes.data_as(C.const_int64_p.ctype),
                                          1, dptr(seed), 1), C.DTD_ERROR_BUFFER_TOO_SMALL, "output_seed")


def test_relevance_target_seed_wrong_number_of_targets_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "target", "(2,)"):
        net.lrp(np.stack([X, X]), target=[0, 1, 1], rules=RULES)


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input"])
def test_relevance_gradient_empty_network(method):
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_EMPTY_NETWORK):
        getattr(net, method)(X, X)


@pytest.mark.parametrize("function", ["dtd_relevance_gradient_f64", "dtd_relevance_gradient_x_input_f64"])
def test_relevance_gradient_buffers_too_small(net, function):
    seed, out = np.ones(2), np.ones(3)
    check(getattr(C, function)(net._handle, 1, dptr(X), 3, dptr(seed), 1, dptr(out), 3),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "output_relevance holds 1")
    check(getattr(C, function)(net._handle, 1, dptr(X), 3, dptr(seed), 2, dptr(out), 2),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "relevance holds 2")


def test_relevance_gradient_seed_shape_mismatch_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "output_relevance", "(2,)"):
        net.gradient(X, np.ones(3))


def test_relevance_lrp_dense_layer_without_rule(net):
    with raises(C.DTD_ERROR_RULE, "layer 2 (dense) has no rule"):
        net.lrp(X, target=0, rules={0: Epsilon()})


def test_relevance_lrp_needs_exactly_one_seed(net):
    with pytest.raises(ValueError, match="exactly one"):
        net.lrp(X, rules=RULES)
    with pytest.raises(ValueError, match="exactly one"):
        net.lrp(X, [1.0, 1.0], target=0, rules=RULES)


def raw_rules(network: dtd.Network, rules: dict) -> c_void_p:
    handle = c_void_p()
    check(C.dtd_rules_create(network._handle, byref(handle)), C.DTD_OK)
    for layer, rule in rules.items():
        rule._apply(handle, layer, network.dtype)
    return handle


def lrp_status(network: dtd.Network, rules, ledger=None, ledger_count=0) -> int:
    seed, out = np.ones(2), np.ones(3)
    return C.dtd_relevance_lrp_f64(network._handle, rules, 1, dptr(X), 3, dptr(seed), 2, dptr(out), 3,
                                   ledger, ledger_count)


def test_relevance_lrp_ledger_too_small(net):
    rules = raw_rules(net, RULES)
    try:
        ledger = (C.dtd_ledger_entry * 3)()
        check(lrp_status(net, rules, ledger, 2), C.DTD_ERROR_BUFFER_TOO_SMALL, "ledger holds 2", "3 layers")
        check(lrp_status(net, rules, ledger, 3), C.DTD_OK)
    finally:
        C.dtd_rules_destroy(rules)


def test_relevance_lrp_null_rules(net):
    check(lrp_status(net, None), C.DTD_ERROR_NULL_POINTER, "rules")


def test_relevance_lrp_rules_of_another_network(net):
    with mlp() as other:
        rules = raw_rules(other, RULES)
        try:
            check(lrp_status(net, rules), C.DTD_ERROR_NETWORK_MISMATCH, "another network")
            check(lrp_status(other, rules), C.DTD_OK)
        finally:
            C.dtd_rules_destroy(rules)


def test_relevance_lrp_rules_after_the_network_gained_a_layer():
    with dtd.Network((3,)).add_dense(np.ones((2, 3))) as net:
        rules = raw_rules(net, {0: Epsilon()})
        try:
            check(lrp_status(net, rules), C.DTD_OK)
            net.add_relu()
            check(lrp_status(net, rules), C.DTD_ERROR_NETWORK_MISMATCH, "create a new rule set")
        finally:
            C.dtd_rules_destroy(rules)
        # The Network itself made a fresh rule set for the new layer list.
        np.testing.assert_allclose(net.lrp(X, target=0, rules={0: Epsilon()}).sum(),
                                   net.forward(X)[0], rtol=1e-5)


def test_relevance_lrp_wrong_dtype_entry_point(net):
    rules = raw_rules(net, RULES)
    try:
        x, seed, out = np.ones(3, np.float32), np.ones(2, np.float32), np.ones(3, np.float32)
        check(C.dtd_relevance_lrp_f32(net._handle, rules, 1, dptr(x), 3, dptr(seed), 2, dptr(out), 3, None, 0),
              C.DTD_ERROR_DTYPE, "_f64")
    finally:
        C.dtd_rules_destroy(rules)


# MARK: - dtd_rules_*

def test_rules_create_empty_network():
    with dtd.Network((3,)) as net, raises(C.DTD_ERROR_EMPTY_NETWORK, "dtd_rules_create", "no layers"):
        net.lrp(X, X, rules={})


def test_rules_create_null_arguments(net):
    handle = c_void_p()
    check(C.dtd_rules_create(None, byref(handle)), C.DTD_ERROR_NULL_POINTER, "network")
    check(C.dtd_rules_create(net._handle, None), C.DTD_ERROR_NULL_POINTER, "out_rules")


@pytest.mark.parametrize("layer", [3, -1, 2**40])
def test_rules_set_layer_index_out_of_range(net, layer):
    with raises(C.DTD_ERROR_LAYER_INDEX, f"layer = {layer}", "[0, 3)"):
        net.lrp(X, target=0, rules={**RULES, layer: Epsilon()})


def test_rules_set_layer_index_beyond_int64_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_LAYER_INDEX, str(2**64)):
        net.lrp(X, target=0, rules={**RULES, 2**64: Epsilon()})


def test_rules_set_on_a_layer_without_weights(net):
    with raises(C.DTD_ERROR_RULE, "layer 1 is relu"):
        net.lrp(X, target=0, rules={**RULES, 1: Epsilon()})


@pytest.mark.parametrize("rule, fragment", [(Epsilon(-0.1), "epsilon must be >= 0"),
                                            (ZPlus(-1e-6), "stabilizer must be >= 0"),
                                            (WSquare(-1.0), "stabilizer must be >= 0"),
                                            (Flat(-1.0), "stabilizer must be >= 0"),
                                            (Gamma(-0.25), "gamma must be >= 0"),
                                            (AlphaBeta(2.0, 0.5), "alpha - beta must be 1"),
                                            (AlphaBeta(0.5, -0.5), "beta must be >= 0"),
                                            (AlphaBeta(-1.0, -2.0), "must be >= 0"),
                                            (ZBox(1.0, -1.0), "low must be <= high"),
                                            (ZBox([0.0, 0.0, 2.0], [1.0, 1.0, 1.0]), "at 2")], ids=repr)
def test_rules_set_parameter_out_of_domain(net, rule, fragment):
    with raises(C.DTD_ERROR_INVALID_ARGUMENT, "layer 0", rule.name, fragment):
        net.lrp(X, target=0, rules={**RULES, 0: rule})


@pytest.mark.parametrize("rule", [Epsilon(float("nan")), Epsilon(float("inf")), ZPlus(float("nan")),
                                  Gamma(float("inf")), AlphaBeta(float("nan"), 1.0), Flat(float("inf")),
                                  ZBox(float("-inf"), 1.0), ZBox([0.0, np.nan, 0.0], 1.0)], ids=repr)
def test_rules_set_parameter_not_finite(net, rule):
    with raises(C.DTD_ERROR_NON_FINITE, "layer 0"):
        net.lrp(X, target=0, rules={**RULES, 0: rule})


@pytest.mark.parametrize("low, high", [([0.0, 0.0], 1.0), (0.0, np.ones(4)), (np.zeros((3, 2)), 1.0)])
def test_rules_set_zbox_bounds_of_the_wrong_size(net, low, high):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "layer 0", "_count =", "layer input (3)"):
        net.lrp(X, target=0, rules={**RULES, 0: ZBox(low, high)})


def test_rules_set_zbox_bounds_wrong_dtype_entry_point(net):
    rules = raw_rules(net, RULES)
    try:
        low, high = np.zeros(3, np.float32), np.ones(3, np.float32)
        check(C.dtd_rules_set_zbox_bounds_f32(rules, 0, dptr(low), 3, dptr(high), 3, 1e-6, C.DTD_BIAS_INCLUDE),
              C.DTD_ERROR_DTYPE, "_f64")
        check(C.dtd_rules_set_zbox_bounds_f64(rules, 0, None, 3, dptr(np.ones(3)), 3, 1e-6, C.DTD_BIAS_INCLUDE),
              C.DTD_ERROR_NULL_POINTER, "low")
    finally:
        C.dtd_rules_destroy(rules)


def test_rules_set_unknown_bias_mode(net):
    rules = raw_rules(net, RULES)
    try:
        check(C.dtd_rules_set_epsilon(rules, 0, 0.1, 5), C.DTD_ERROR_INVALID_ARGUMENT, "bias = 5")
    finally:
        C.dtd_rules_destroy(rules)


def test_rules_set_failure_keeps_the_previous_rule(net):
    rules = raw_rules(net, {0: Gamma(), 2: Epsilon()})
    kind = c_int32()
    try:
        check(C.dtd_rules_set_epsilon(rules, 0, -1.0, C.DTD_BIAS_INCLUDE), C.DTD_ERROR_INVALID_ARGUMENT)
        check(C.dtd_rules_kind(rules, 0, byref(kind)), C.DTD_OK)
        assert kind.value == C.DTD_RULE_GAMMA
    finally:
        C.dtd_rules_destroy(rules)


def test_rules_set_composite_unknown_composite(net):
    rules = raw_rules(net, {})
    try:
        check(C.dtd_rules_set_composite(rules, 99, 1e-6, 0.25, 0.0, 1.0), C.DTD_ERROR_INVALID_ARGUMENT, "composite = 99")
    finally:
        C.dtd_rules_destroy(rules)


@pytest.mark.parametrize("composite, status, fragment", [
    (dtd.composites.mlp_epsilon_gamma_box(low=1.0, high=-1.0), C.DTD_ERROR_INVALID_ARGUMENT, "low must be <= high"),
    (dtd.composites.mlp_epsilon_gamma_box(low=-1.0, high=1.0, gamma=-1.0), C.DTD_ERROR_INVALID_ARGUMENT, "gamma"),
    (dtd.composites.mlp_epsilon_plus(epsilon=-1.0), C.DTD_ERROR_INVALID_ARGUMENT, "epsilon must be >= 0"),
    (dtd.composites.mlp_epsilon_plus(epsilon=float("nan")), C.DTD_ERROR_NON_FINITE, "epsilon is nan"),
], ids=["low>high", "gamma<0", "epsilon<0", "epsilon-nan"])
def test_rules_set_composite_parameter_out_of_domain(composite, status, fragment):
    # Three dense layers, so that every preset parameter reaches a layer (gamma: layer 2).
    with random_mlp(np.random.default_rng(0), [3, 4, 4, 2]) as net, \
            raises(status, "dtd_rules_set_composite", fragment):
        net.lrp(X, target=0, rules=composite)


def test_rules_set_composite_failure_changes_no_rule(net):
    rules = raw_rules(net, {0: Flat(), 2: Gamma()})
    kind = c_int32()
    try:
        check(C.dtd_rules_set_composite(rules, C.DTD_COMPOSITE_EPSILON_PLUS, -1.0, 0.25, 0.0, 1.0),
              C.DTD_ERROR_INVALID_ARGUMENT)
        kinds = []
        for layer in (0, 2):
            check(C.dtd_rules_kind(rules, layer, byref(kind)), C.DTD_OK)
            kinds.append(kind.value)
        assert kinds == [C.DTD_RULE_FLAT, C.DTD_RULE_GAMMA]
    finally:
        C.dtd_rules_destroy(rules)


def test_rules_kind_index_out_of_range(net):
    rules = raw_rules(net, RULES)
    kind = c_int32()
    try:
        check(C.dtd_rules_kind(rules, 3, byref(kind)), C.DTD_ERROR_LAYER_INDEX, "layer = 3")
        check(C.dtd_rules_kind(rules, 0, None), C.DTD_ERROR_NULL_POINTER, "out_kind")
        check(C.dtd_rules_kind(None, 0, byref(kind)), C.DTD_ERROR_NULL_POINTER, "rules")
    finally:
        C.dtd_rules_destroy(rules)


# MARK: - Destroyed and foreign handles (the library keeps a registry: an error, not a crash)

def test_network_destroy_then_use_reports_an_error():
    handle = raw_network()
    C.dtd_network_destroy(handle)
    count = c_int64()
    for status in (C.dtd_network_layer_count(handle, byref(count)), C.dtd_network_add_relu(handle),
                   C.dtd_network_forward_f64(handle, 1, dptr(X), 3, dptr(np.ones(3)), 3)):
        message = C.dtd_last_error_message().decode()
        assert status == C.DTD_ERROR_INVALID_ARGUMENT, message  # header, conventions: Handles
        assert "network is a dtd_network handle that was already destroyed" in message


def test_network_destroy_twice_and_null_are_harmless():
    handle = raw_network()
    C.dtd_network_destroy(handle)
    C.dtd_network_destroy(handle)
    C.dtd_network_destroy(None)


def test_network_handle_that_was_never_a_network():
    check(C.dtd_network_add_relu(0x1234_5678), C.DTD_ERROR_INVALID_ARGUMENT,
          "not a live dtd_network handle (not made by libdtd)")
    with mlp() as net:
        rules = raw_rules(net, RULES)
        try:  # a rule-set handle where a network handle belongs
            check(C.dtd_network_add_relu(rules), C.DTD_ERROR_INVALID_ARGUMENT,
                  "network is a dtd_rules handle, not a dtd_network")
        finally:
            C.dtd_rules_destroy(rules)


def test_network_destroy_of_a_rule_set_frees_nothing_and_says_why(net):
    rules = raw_rules(net, RULES)
    kind = c_int32()
    try:
        C.dtd_network_destroy(rules)
        message = C.dtd_last_error_message().decode()
        assert message == ("dtd_network_destroy: network is a dtd_rules handle, not a dtd_network; "
                           "nothing was freed")
        check(C.dtd_rules_kind(rules, 0, byref(kind)), C.DTD_OK)
        assert kind.value == C.DTD_RULE_EPSILON
    finally:
        C.dtd_rules_destroy(rules)
    assert C.dtd_last_error_message() == b""  # a destroy that freed its handle


def test_rules_destroy_of_a_network_frees_nothing_and_says_why(net):
    C.dtd_rules_destroy(net._handle)
    message = C.dtd_last_error_message().decode()
    assert message == ("dtd_rules_destroy: rules is a dtd_network handle, not a dtd_rules; "
                       "nothing was freed")
    assert net.layer_count == 3
    np.testing.assert_array_equal(net.forward(X), net.forward(X))


def test_network_destroy_of_a_destroyed_handle_says_so():
    handle = raw_network()
    C.dtd_network_destroy(handle)
    assert C.dtd_last_error_message() == b""
    C.dtd_network_destroy(handle)
    assert b"already destroyed; nothing was freed" in C.dtd_last_error_message()


def test_destroyed_handles_stay_rejected_after_new_creations():
    """Issue 13's reproducer: with an address-keyed registry, 206 of 500 destroyed handles were
    accepted (and acted on a new network) after 500 new creations."""
    old = [raw_network() for _ in range(500)]
    for handle in old:
        C.dtd_network_destroy(handle)
    fresh = [raw_network() for _ in range(500)]
    count = c_int64()
    try:
        accepted = sum(C.dtd_network_layer_count(h, byref(count)) == C.DTD_OK for h in old)
        assert accepted == 0
        for handle in old:  # destroying the stale handles again frees none of the new ones
            C.dtd_network_destroy(handle)
        assert all(C.dtd_network_layer_count(h, byref(count)) == C.DTD_OK for h in fresh)
    finally:
        for handle in fresh:
            C.dtd_network_destroy(handle)


def test_rules_destroy_then_use_reports_an_error(net):
    rules = raw_rules(net, RULES)
    C.dtd_rules_destroy(rules)
    kind = c_int32()
    check(C.dtd_rules_kind(rules, 0, byref(kind)), C.DTD_ERROR_INVALID_ARGUMENT,
          "rules is a dtd_rules handle that was already destroyed")
    check(lrp_status(net, rules), C.DTD_ERROR_INVALID_ARGUMENT, "already destroyed")
    C.dtd_rules_destroy(rules)  # twice: harmless
    C.dtd_rules_destroy(None)


def test_rules_outlive_their_destroyed_network():
    """Header: rule sets made for a destroyed network stay valid handles."""
    net = mlp()
    rules = raw_rules(net, RULES)
    net.close()
    kind = c_int32()
    try:
        check(C.dtd_rules_kind(rules, 0, byref(kind)), C.DTD_OK)
        assert kind.value == C.DTD_RULE_EPSILON
        with mlp() as other:
            check(lrp_status(other, rules), C.DTD_ERROR_NETWORK_MISMATCH)
    finally:
        C.dtd_rules_destroy(rules)


def test_closed_network_refuses_use():
    net = mlp()
    net.close()
    with raises(C.DTD_ERROR_NULL_POINTER, "closed"):
        net.forward(X)
    with raises(C.DTD_ERROR_NULL_POINTER, "closed"):
        net.add_relu()


def test_status_string_knows_every_code_and_tolerates_unknown_ones():
    for code in C.STATUS_NAMES:
        assert C.dtd_status_string(code)
    assert C.dtd_status_string(12345) == b"unknown status"
    assert C.dtd_status_string(-1) == b"unknown status"


def test_last_error_message_is_empty_after_success(net):
    with pytest.raises(DTDError):
        net.add_dense(np.ones((2, 9)))
    count = c_int64()
    check(C.dtd_network_layer_count(net._handle, byref(count)), C.DTD_OK)
    assert C.dtd_last_error_message() == b""


def test_dtd_error_str_names_the_status():
    error = DTDError(C.DTD_ERROR_SIZE, "batch must be positive")
    assert str(error) == "DTD_ERROR_SIZE: batch must be positive"
    assert (error.status, error.message, error.status_name) == (3, "batch must be positive", "DTD_ERROR_SIZE")
    assert DTDError(99, "x").status_name == "DTD_STATUS_99"


def test_rules_set_composite_override_beyond_int64_is_refused_by_the_binding(net):
    composite = dtd.composites.mlp_epsilon_plus().with_overrides({2**64 + 2: Epsilon()})
    with raises(C.DTD_ERROR_LAYER_INDEX, str(2**64 + 2)):
        net.lrp(X, target=0, rules=composite)


@pytest.mark.parametrize("kwargs", [{"stride": 2**64 + 1}, {"padding": (0, 2**63)}, {"dilation": -(2**63) - 1}])
def test_network_add_conv2d_parameter_beyond_int64_is_refused_by_the_binding(kwargs):
    with image_net() as net:
        with raises(C.DTD_ERROR_OVERFLOW, "int64"):
            net.add_conv2d(np.ones((2, 1, 3, 3)), **kwargs)
        assert net.layer_count == 0
