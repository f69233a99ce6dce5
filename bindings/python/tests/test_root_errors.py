"""Bad input to the root, audit and theory functions (Include/dtd.h sections 6-7): each
documented error condition raises DTDError with the documented status and a message naming the
argument (STYLE.md: one ``test_<function>_<condition>`` per condition). Conditions the
Pythonic API cannot reach (NULL, small buffers, invalid query fields, the other dtype's entry
point) go through the ``_capi`` table; nothing here may crash the interpreter."""
from __future__ import annotations

import math
from contextlib import contextmanager
from ctypes import byref, c_int64

import numpy as np
import pytest

import dtd
from dtd import _capi as C
from dtd.errors import DTDError
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, ZPlus
from dtd_oracle import random_model
from support import random_cnn

D = C.const_double_p.ctype
F = C.const_float_p.ctype
X = np.array([[0.5, -1.0, 2.0, 0.3], [1.0, 1.0, 0.2, -0.4]])  # two samples of 4


@contextmanager
def raises(status: int, *fragments: str):
    """Expects a DTDError with ``status`` whose message contains every fragment."""
    with pytest.raises(DTDError) as info:
        yield info
    error = info.value
    assert error.status == status, f"{error.status_name} != {C.STATUS_NAMES[status]}: {error.message}"
    for fragment in fragments:
        assert fragment in error.message, f"{fragment!r} not in {error.message!r}"


def check(returned: int, status: int, *fragments: str) -> None:
    """For direct _capi calls: the returned status and the message read right after."""
    message = C.dtd_last_error_message().decode()
    assert returned == status, f"{C.STATUS_NAMES.get(returned, returned)}: {message}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def ptr(array: np.ndarray, pointer=None):
    return array.ctypes.data_as(pointer or (D if array.dtype == np.float64 else F))


@pytest.fixture
def net():
    """dense(4 -> 6) relu dense(6 -> 5) relu dense(5 -> 3): layers 0..4, relus at 1 and 3."""
    network, _ = random_model(np.random.default_rng(3), [4, 6, 5, 3])
    with network:
        yield network


def query(**fields) -> C.dtd_root_query:
    values = dict(layer=0, target=0, placement=C.DTD_PLACEMENT_RELEVANCE, flags=0, tol=1e-5,
                  neuron_begin=0, neuron_end=6)
    values.update(fields)
    return C.dtd_root_query(**values)


def zplus(net) -> C.dtd_rules_handle:
    return net._rule_set(ZPlus()).handle


# MARK: - Network.roots / Network.audit (dtd_roots_count, dtd_roots_compute, dtd_audit_roots)

@pytest.mark.parametrize("method", ["roots", "audit"])
@pytest.mark.parametrize("layer", [5, 99, -1, 2**63 - 1])
def test_roots_layer_out_of_range(net, method, layer):
    with raises(C.DTD_ERROR_LAYER_INDEX, str(layer)):
        getattr(net, method)(X, layer=layer, target=0, rule=ZPlus())


def test_roots_layer_index_beyond_int64_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_LAYER_INDEX, "does not fit in int64"):
        net.roots(X, layer=2**63, target=0, rule=ZPlus())


@pytest.mark.parametrize("method", ["roots", "audit"])
@pytest.mark.parametrize("layer", [1, 3])
def test_roots_layer_without_weights(net, method, layer):
    with raises(C.DTD_ERROR_RULE, f"layer {layer} is relu", "no weights"):
        getattr(net, method)(X, layer=layer, target=0, rule=ZPlus())


@pytest.mark.parametrize("method", ["roots", "audit"])
@pytest.mark.parametrize("target", [3, -1, 2**40])
def test_roots_target_out_of_range(net, method, target):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, f"target = {target}"):
        getattr(net, method)(X, layer=0, target=target, rule=ZPlus())


@pytest.mark.parametrize("neurons", [(0, 7), (5, 5), (4, 2), (-1, 3), range(2, 9), slice(4, 2)],
                         ids=["past-the-end", "empty", "reversed", "negative", "range-past-the-end",
                              "empty-slice"])
def test_roots_neuron_range_outside_the_layer(net, neurons):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "neuron range"):
        net.roots(X, layer=0, target=0, rule=ZPlus(), neurons=neurons)
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "neuron range"):
        net.audit(X, layer=0, target=0, rule=ZPlus(), neurons=neurons)


@pytest.mark.parametrize("tol", [0.0, -1e-5, math.nan, math.inf])
def test_roots_tol_not_positive_and_finite(net, tol):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "tol"):
        net.roots(X, layer=0, target=0, rule=ZPlus(), tol=tol)
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "tol"):
        net.audit(X, target=0, rule=ZPlus(), tol=tol)


@pytest.mark.parametrize("rule", [Epsilon(0.25), Epsilon(), Flat(), {"rule": "epsilon"}, {"rule": "flat"}],
                         ids=["epsilon0.25", "epsilon-default", "flat", "epsilon-dict", "flat-dict"])
@pytest.mark.parametrize("method", ["roots", "audit"])
def test_roots_epsilon_or_flat_is_not_a_root_rule(net, rule, method):
    """epsilon > 0 and flat have no DTD roots: DTD_ERROR_RULE, never an invented root."""
    with raises(C.DTD_ERROR_RULE, "not a DTD root rule"):
        getattr(net, method)(X, layer=0, target=0, rule=rule)


def test_roots_non_root_rule_above_the_layer(net):
    """Every dense layer above the audited one carries R down in root form, so it needs a root
    rule too; layers below it do not matter."""
    rules = {0: ZPlus(), 2: Epsilon(0.1), 4: ZPlus()}
    with raises(C.DTD_ERROR_RULE, "layer 2"):
        net.roots(X, layer=0, target=0, rules=rules)
    assert net.roots(X, layer=4, target=0, rules=rules).points.shape == (2, 3, 5)


def test_roots_dense_layer_without_rule(net):
    with raises(C.DTD_ERROR_RULE, "layer 2"):
        net.audit(X, layer=0, target=0, rules={0: ZPlus(), 4: ZPlus()})
    with raises(C.DTD_ERROR_RULE, "layer 0"):
        net.roots(X, layer=0, target=0, rules={2: ZPlus(), 4: ZPlus()})


@pytest.mark.parametrize("placement", ["Relevance", "plane", 2, None])
def test_roots_placement_invalid(net, placement):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "placement"):
        net.roots(X, layer=0, target=0, rule=ZPlus(), placement=placement)
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "placement"):
        net.audit(X, target=0, rule=ZPlus(), placement=placement)


def test_roots_need_exactly_one_of_rule_and_rules(net):
    with pytest.raises(ValueError, match="exactly one of rule"):
        net.roots(X, layer=0, target=0)
    with pytest.raises(ValueError, match="exactly one of rule"):
        net.audit(X, target=0, rule=ZPlus(), rules=ZPlus())


def test_roots_rule_of_the_wrong_type(net):
    with pytest.raises(TypeError, match="rule must be a rule object"):
        net.roots(X, layer=0, target=0, rule="zplus")
    with pytest.raises(ValueError, match="unknown rule"):
        net.audit(X, target=0, rule={"rule": "zminus"})


@pytest.mark.parametrize("neurons", [range(0, 6, 2), slice(0, 6, 2)], ids=["range", "slice"])
def test_roots_neurons_with_a_step(net, neurons):
    with pytest.raises(ValueError, match="step 1"):
        net.roots(X, layer=0, target=0, rule=ZPlus(), neurons=neurons)


@pytest.mark.parametrize("neurons", [3, (1, 2, 3), "0:3"])
def test_roots_neurons_of_the_wrong_form(net, neurons):
    with pytest.raises(TypeError, match="neurons"):
        net.roots(X, layer=0, target=0, rule=ZPlus(), neurons=neurons)


def test_roots_constrain_not_a_bool(net):
    with pytest.raises(TypeError, match="constrain"):
        net.audit(X, target=0, rule=ZPlus(), constrain=1)


def test_roots_sample_shape_mismatch_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "x has shape (2, 5)"):
        net.roots(np.ones((2, 5)), layer=0, target=0, rule=ZPlus())
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "x has shape (5,)"):
        net.audit(np.ones(5), target=0, rule=ZPlus())


def test_roots_empty_network():
    with dtd.Network((4,)) as empty, raises(C.DTD_ERROR_EMPTY_NETWORK):
        empty.roots(X, layer=0, target=0, rule=ZPlus())


def test_roots_of_a_closed_network(net):
    net.close()
    with raises(C.DTD_ERROR_NULL_POINTER, "closed"):
        net.audit(X, target=0, rule=ZPlus())


# MARK: - dtd_roots_count / dtd_roots_compute / dtd_audit_roots through _capi

def test_roots_count_null_arguments(net):
    out = c_int64()
    check(C.dtd_roots_count(None, zplus(net), byref(query()), byref(out)), C.DTD_ERROR_NULL_POINTER, "network")
    check(C.dtd_roots_count(net._handle, None, byref(query()), byref(out)), C.DTD_ERROR_NULL_POINTER, "rules")
    check(C.dtd_roots_count(net._handle, zplus(net), None, byref(out)), C.DTD_ERROR_NULL_POINTER, "query")
    check(C.dtd_roots_count(net._handle, zplus(net), byref(query()), None), C.DTD_ERROR_NULL_POINTER, "out_roots_per_sample")


def test_roots_count_counts_alpha_beta_partials_twice(net):
    out = c_int64()
    check(C.dtd_roots_count(net._handle, zplus(net), byref(query(neuron_begin=1, neuron_end=4)), byref(out)), C.DTD_OK)
    assert out.value == 3
    handle = net._rule_set(AlphaBeta()).handle
    check(C.dtd_roots_count(net._handle, handle, byref(query(neuron_begin=1, neuron_end=4)), byref(out)), C.DTD_OK)
    assert out.value == 6


@pytest.mark.parametrize("placement", [0, 3, -1])
def test_roots_count_placement_invalid(net, placement):
    check(C.dtd_roots_count(net._handle, zplus(net), byref(query(placement=placement)), byref(c_int64())),
          C.DTD_ERROR_OUT_OF_RANGE, f"placement = {placement}")


@pytest.mark.parametrize("flags", [2, 3, -1, 1 << 30])
def test_roots_count_flags_invalid(net, flags):
    check(C.dtd_roots_count(net._handle, zplus(net), byref(query(flags=flags)), byref(c_int64())),
          C.DTD_ERROR_OUT_OF_RANGE, "flags")


@pytest.mark.parametrize("fields, fragment", [
    (dict(layer=5), "layer"), (dict(layer=-1), "layer"), (dict(target=3), "target"),
    (dict(neuron_end=7), "neuron range"), (dict(neuron_begin=-2), "neuron range"),
    (dict(neuron_end=2**62), "neuron range"), (dict(tol=0.0), "tol"), (dict(tol=math.nan), "tol")])
def test_roots_count_query_out_of_range(net, fields, fragment):
    status = C.DTD_ERROR_LAYER_INDEX if "layer" in fields else C.DTD_ERROR_OUT_OF_RANGE
    check(C.dtd_roots_count(net._handle, zplus(net), byref(query(**fields)), byref(c_int64())), status, fragment)


def test_roots_count_rules_of_another_network(net):
    other, _ = random_model(np.random.default_rng(4), [4, 6, 5, 3])
    with other:
        check(C.dtd_roots_count(net._handle, zplus(other), byref(query()), byref(c_int64())),
              C.DTD_ERROR_NETWORK_MISMATCH, "another network")


def test_roots_count_destroyed_rules(net):
    handle = zplus(net)
    net._drop_rules_cache()  # destroys the cached rule set behind `handle`
    check(C.dtd_roots_count(net._handle, handle, byref(query()), byref(c_int64())),
          C.DTD_ERROR_INVALID_ARGUMENT, "rules is a dtd_rules handle that was already destroyed")


def roots_compute(net, q, *, batch=2, x=X, input_count=None, points=None, points_count=None,
                  info=None, info_count=None):
    x = np.ascontiguousarray(x, dtype=np.float64)
    points = np.zeros(2 * 6 * 4) if points is None else points
    info = (C.dtd_root_info * 12)() if info is None else info
    return C.dtd_roots_compute_f64(
        net._handle, zplus(net), byref(q), batch, ptr(x), x.size if input_count is None else input_count,
        None if points is False else ptr(points, C.double_p.ctype),
        0 if points is False else (points.size if points_count is None else points_count),
        info, len(info) if info_count is None else info_count)


def test_roots_compute_buffers_too_small(net):
    check(roots_compute(net, query(), info_count=11), C.DTD_ERROR_BUFFER_TOO_SMALL, "info holds 11")
    check(roots_compute(net, query(), points_count=47), C.DTD_ERROR_BUFFER_TOO_SMALL, "points holds 47")
    check(roots_compute(net, query(), input_count=7), C.DTD_ERROR_BUFFER_TOO_SMALL, "input")


def test_roots_compute_points_may_be_null(net):
    check(roots_compute(net, query(), points=False), C.DTD_OK)


def test_roots_compute_null_info(net):
    check(C.dtd_roots_compute_f64(net._handle, zplus(net), byref(query()), 2, ptr(X), 8, None, 0, None, 0),
          C.DTD_ERROR_NULL_POINTER, "info")


@pytest.mark.parametrize("batch, fragment", [(0, "batch"), (-2, "batch"), (2**40, "batch")])
def test_roots_compute_batch_size(net, batch, fragment):
    check(roots_compute(net, query(), batch=batch), C.DTD_ERROR_SIZE, fragment)


def test_roots_compute_wrong_dtype_entry_point(net):
    x32, points, info = X.astype(np.float32), np.zeros(48, np.float32), (C.dtd_root_info * 12)()
    check(C.dtd_roots_compute_f32(net._handle, zplus(net), byref(query()), 2, ptr(x32), 8,
                                  ptr(points, C.float_p.ctype), 48, info, 12), C.DTD_ERROR_DTYPE)


def test_audit_roots_records_too_small(net):
    records = (C.dtd_audit_record * 12)()
    check(C.dtd_audit_roots_f64(net._handle, zplus(net), byref(query()), 2, ptr(X), 8, records, 11, None),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "records holds 11")


def test_audit_roots_summary_may_be_null(net):
    records = (C.dtd_audit_record * 12)()
    check(C.dtd_audit_roots_f64(net._handle, zplus(net), byref(query()), 2, ptr(X), 8, records, 12, None), C.DTD_OK)
    assert records[11].root.neuron == 5


def test_audit_roots_invalid_query(net):
    records = (C.dtd_audit_record * 12)()
    check(C.dtd_audit_roots_f64(net._handle, zplus(net), byref(query(flags=4)), 2, ptr(X), 8, records, 12, None),
          C.DTD_ERROR_OUT_OF_RANGE, "flags")
    check(C.dtd_audit_roots_f64(net._handle, zplus(net), None, 2, ptr(X), 8, records, 12, None),
          C.DTD_ERROR_NULL_POINTER, "query")


def test_audit_roots_wrong_dtype_entry_point(net):
    records = (C.dtd_audit_record * 12)()
    x32 = X.astype(np.float32)
    check(C.dtd_audit_roots_f32(net._handle, zplus(net), byref(query()), 2, ptr(x32), 8, records, 12, None),
          C.DTD_ERROR_DTYPE)


# MARK: - Network.audit_points / dtd_audit_points

@pytest.mark.parametrize("layer", [5, -1])
def test_audit_points_layer_out_of_range(net, layer):
    with raises(C.DTD_ERROR_LAYER_INDEX, str(layer)):
        net.audit_points(X, np.zeros((2, 3, 4)), target=0, layer=layer)


@pytest.mark.parametrize("target", [3, -1])
def test_audit_points_target_out_of_range(net, target):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, f"target = {target}"):
        net.audit_points(X, np.zeros((2, 3, 4)), layer=0, target=target)


@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 3, 4), (2, 4), (6, 4)])
def test_audit_points_shape_mismatch_is_refused_by_the_binding(net, shape):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, f"points has shape {shape}"):
        net.audit_points(X, np.zeros(shape), target=0, layer=0)


def test_audit_points_no_points(net):
    with raises(C.DTD_ERROR_SIZE, "points_per_sample"):
        net.audit_points(X, np.zeros((2, 0, 4)), target=0, layer=0)


def test_audit_points_buffers_too_small(net):
    points, records = np.zeros(2 * 3 * 4), (C.dtd_audit_record * 6)()
    check(C.dtd_audit_points_f64(net._handle, 0, 0, 2, ptr(X), 8, 3, ptr(points), 23, records, 6, None),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "points holds 23")
    check(C.dtd_audit_points_f64(net._handle, 0, 0, 2, ptr(X), 8, 3, ptr(points), 24, records, 5, None),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "records holds 5")


@pytest.mark.parametrize("per_sample", [0, -1, 2**40])
def test_audit_points_points_per_sample_out_of_range(net, per_sample):
    points, records = np.zeros(24), (C.dtd_audit_record * 6)()
    check(C.dtd_audit_points_f64(net._handle, 0, 0, 2, ptr(X), 8, per_sample, ptr(points), 24, records, 6, None),
          C.DTD_ERROR_SIZE, "points_per_sample")


def test_audit_points_empty_network():
    """The header lists DTD_ERROR_EMPTY_NETWORK; libdtd 1.0.0 checks the layer index first and
    reports DTD_ERROR_LAYER_INDEX ("[0, 0)"), also documented. Either is an error, not a crash
    (reported to the engine owners; the test accepts both until the header or engine settles)."""
    points, records, x = np.zeros(4), (C.dtd_audit_record * 1)(), np.zeros(4)
    with dtd.Network((4,)) as empty:
        status = C.dtd_audit_points_f64(empty._handle, 0, 0, 1, ptr(x), 4, 1, ptr(points), 4, records, 1, None)
        assert status in (C.DTD_ERROR_EMPTY_NETWORK, C.DTD_ERROR_LAYER_INDEX), C.STATUS_NAMES.get(status)
        with pytest.raises(DTDError) as info:
            empty.audit_points(x, points[None], target=0, layer=0)
        assert info.value.status in (C.DTD_ERROR_EMPTY_NETWORK, C.DTD_ERROR_LAYER_INDEX)


def test_audit_points_null_points(net):
    records = (C.dtd_audit_record * 6)()
    check(C.dtd_audit_points_f64(net._handle, 0, 0, 2, ptr(X), 8, 3, None, 24, records, 6, None),
          C.DTD_ERROR_NULL_POINTER, "points")


def test_audit_points_wrong_dtype_entry_point(net):
    points, records, x32 = np.zeros(24, np.float32), (C.dtd_audit_record * 6)(), X.astype(np.float32)
    check(C.dtd_audit_points_f32(net._handle, 0, 0, 2, ptr(x32), 8, 3, ptr(points), 24, records, 6, None),
          C.DTD_ERROR_DTYPE)


# MARK: - Network.gxi_distance / dtd_theory_gxi_distance

def test_gxi_distance_dense_layer_without_rule(net):
    with raises(C.DTD_ERROR_RULE, "layer 2"):
        net.gxi_distance(X, rules={0: ZPlus(), 4: ZPlus()}, target=0)


def test_gxi_distance_needs_exactly_one_seed(net):
    with pytest.raises(ValueError, match="exactly one of output_relevance and target"):
        net.gxi_distance(X, rules=ZPlus())
    with pytest.raises(ValueError, match="exactly one of output_relevance and target"):
        net.gxi_distance(X, np.ones((2, 3)), rules=ZPlus(), target=0)


def test_gxi_distance_target_out_of_range(net):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "targets[0] = 3"):
        net.gxi_distance(X, rules=ZPlus(), target=3)


def test_gxi_distance_seed_shape_mismatch_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "output_relevance"):
        net.gxi_distance(X, np.ones((2, 4)), rules=ZPlus())


def test_theory_gxi_distance_distances_too_small(net):
    seed, distances = np.ones(6), np.zeros(2)
    check(C.dtd_theory_gxi_distance_f64(net._handle, zplus(net), 2, ptr(X), 8, ptr(seed), 6,
                                        ptr(distances, C.double_p.ctype), 1),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "distances holds 1")


def test_theory_gxi_distance_wrong_dtype_entry_point(net):
    x32, seed, distances = X.astype(np.float32), np.ones(6, np.float32), np.zeros(2)
    check(C.dtd_theory_gxi_distance_f32(net._handle, zplus(net), 2, ptr(x32), 8, ptr(seed), 6,
                                        ptr(distances, C.double_p.ctype), 2), C.DTD_ERROR_DTYPE)


# MARK: - Network.constant_root_explanation / dtd_theory_constant_root

@pytest.mark.parametrize("root_shape", [(5,), (3, 4), (2, 5)])
def test_constant_root_explanation_root_shape_mismatch_is_refused_by_the_binding(net, root_shape):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "root has shape"):
        net.constant_root_explanation(X, np.zeros(root_shape), target=0)


def test_constant_root_explanation_target_out_of_range(net):
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "target = 3"):
        net.constant_root_explanation(X, np.zeros(4), target=3)
    with pytest.raises(ValueError, match="exactly one"):
        net.constant_root_explanation(X, np.zeros(4))


@pytest.mark.parametrize("count", [3, 5, 12])
def test_theory_constant_root_root_count_mismatch(net, count):
    root, seed, out = np.zeros(12), np.ones(6), np.zeros(8)
    check(C.dtd_theory_constant_root_f64(net._handle, 2, ptr(X), 8, ptr(root), count, ptr(seed), 6,
                                         ptr(out, C.double_p.ctype), 8),
          C.DTD_ERROR_SHAPE_MISMATCH, f"root has {count} values")


def test_theory_constant_root_buffers_too_small(net):
    root, seed, out = np.zeros(4), np.ones(6), np.zeros(8)
    check(C.dtd_theory_constant_root_f64(net._handle, 2, ptr(X), 8, ptr(root), 4, ptr(seed), 6,
                                         ptr(out, C.double_p.ctype), 7), C.DTD_ERROR_BUFFER_TOO_SMALL, "relevance")
    check(C.dtd_theory_constant_root_f64(net._handle, 2, ptr(X), 8, None, 4, ptr(seed), 6,
                                         ptr(out, C.double_p.ctype), 8), C.DTD_ERROR_NULL_POINTER, "root")


# MARK: - Network.construct_roots / dtd_theory_construct_roots

def test_construct_roots_on_a_conv_layer():
    with random_cnn(np.random.default_rng(5)) as cnn:
        x = np.random.default_rng(6).normal(size=(1, 2, 8, 8))
        with raises(C.DTD_ERROR_UNSUPPORTED, "conv2d", "dense layer"):
            cnn.construct_roots(x, np.ones((1, 2, 8, 8)), layer=0, target=0, rule=ZPlus())


def test_construct_roots_explanation_with_the_wrong_total(net):
    total = net.roots(X, layer=0, target=0, rule=ZPlus()).relevance.sum(axis=1)
    e = np.tile(total[:, None] / 4, (1, 4))
    assert net.construct_roots(X, e, layer=0, target=0, rule=ZPlus()).points.shape == (2, 6, 4)
    e[1] *= 1.01
    with raises(C.DTD_ERROR_INVALID_ARGUMENT, "explanation of sample 1 sums to", "rescale"):
        net.construct_roots(X, e, layer=0, target=0, rule=ZPlus())


def test_construct_roots_explanation_shape_mismatch_is_refused_by_the_binding(net):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, "explanation has shape (2, 6)"):
        net.construct_roots(X, np.ones((2, 6)), layer=0, target=0, rule=ZPlus())


def test_construct_roots_query_errors(net):
    with raises(C.DTD_ERROR_RULE, "layer 1 is relu"):
        net.construct_roots(X, np.ones((2, 6)), layer=1, target=0, rule=ZPlus())
    with raises(C.DTD_ERROR_LAYER_INDEX):
        net.construct_roots(X, np.ones((2, 4)), layer=7, target=0, rule=ZPlus())
    with raises(C.DTD_ERROR_OUT_OF_RANGE, "target = 5"):
        net.construct_roots(X, np.ones((2, 4)), layer=0, target=5, rule=ZPlus())
    with raises(C.DTD_ERROR_RULE, "layer 2"):  # the top-down pass needs root rules above
        net.construct_roots(X, np.ones((2, 4)), layer=0, target=0, rules={0: ZPlus(), 2: Flat(), 4: ZPlus()})


def test_theory_construct_roots_buffers_too_small(net):
    e, points, info = np.zeros(8), np.zeros(48), (C.dtd_root_info * 12)()
    call = C.dtd_theory_construct_roots_f64
    check(call(net._handle, zplus(net), byref(query()), 2, ptr(X), 8, ptr(e), 7, ptr(points, C.double_p.ctype), 48,
               info, 12), C.DTD_ERROR_BUFFER_TOO_SMALL, "explanation holds 7")
    check(call(net._handle, zplus(net), byref(query()), 2, ptr(X), 8, ptr(e), 8, ptr(points, C.double_p.ctype), 47,
               info, 12), C.DTD_ERROR_BUFFER_TOO_SMALL, "points holds 47")
    check(call(net._handle, zplus(net), byref(query()), 2, ptr(X), 8, ptr(e), 8, ptr(points, C.double_p.ctype), 48,
               info, 11), C.DTD_ERROR_BUFFER_TOO_SMALL, "info holds 11")


def test_theory_construct_roots_info_may_be_null(net):
    total = net.roots(X, layer=0, target=0, rule=ZPlus()).relevance.sum(axis=1)
    e, points = np.ascontiguousarray(np.tile(total[:, None] / 4, (1, 4))), np.zeros(48)
    check(C.dtd_theory_construct_roots_f64(net._handle, zplus(net), byref(query()), 2, ptr(X), 8, ptr(e), 8,
                                           ptr(points, C.double_p.ctype), 48, None, 0), C.DTD_OK)
    assert np.any(points != 0)


# MARK: - Network.rank1_csc / dtd_theory_rank1_csc

def test_rank1_csc_one_seed_per_sample(net):
    with raises(C.DTD_ERROR_SIZE, "seeds_per_sample must be >= 2"):
        net.rank1_csc(X, np.ones((2, 1, 3)), rules=ZPlus())


@pytest.mark.parametrize("shape", [(2, 3), (3, 2, 3), (2, 2, 4), (2, 2, 3, 1)])
def test_rank1_csc_seeds_shape_mismatch_is_refused_by_the_binding(net, shape):
    with raises(C.DTD_ERROR_SHAPE_MISMATCH, f"seeds has shape {shape}"):
        net.rank1_csc(X, np.ones(shape), rules=ZPlus())


def test_rank1_csc_dense_layer_without_rule(net):
    with raises(C.DTD_ERROR_RULE, "layer 4"):
        net.rank1_csc(X, np.ones((2, 2, 3)), rules={0: ZPlus(), 2: Gamma()})


def test_theory_rank1_csc_buffers_too_small(net):
    seeds, csc = np.ones(12), np.zeros(6)
    call = C.dtd_theory_rank1_csc_f64
    check(call(net._handle, zplus(net), 2, ptr(X), 8, 2, ptr(seeds), 11, ptr(csc, C.double_p.ctype), 6),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "seeds holds 11")
    check(call(net._handle, zplus(net), 2, ptr(X), 8, 2, ptr(seeds), 12, ptr(csc, C.double_p.ctype), 5),
          C.DTD_ERROR_BUFFER_TOO_SMALL, "csc holds 5")


@pytest.mark.parametrize("per_sample", [1, 0, -2])
def test_theory_rank1_csc_seeds_per_sample_out_of_range(net, per_sample):
    seeds, csc = np.ones(12), np.zeros(6)
    check(C.dtd_theory_rank1_csc_f64(net._handle, zplus(net), 2, ptr(X), 8, per_sample, ptr(seeds), 12,
                                     ptr(csc, C.double_p.ctype), 6), C.DTD_ERROR_SIZE, "seeds_per_sample")


def test_theory_rank1_csc_wrong_dtype_entry_point(net):
    x32, seeds, csc = X.astype(np.float32), np.ones(12, np.float32), np.zeros(6)
    check(C.dtd_theory_rank1_csc_f32(net._handle, zplus(net), 2, ptr(x32), 8, 2, ptr(seeds), 12,
                                     ptr(csc, C.double_p.ctype), 6), C.DTD_ERROR_DTYPE)
