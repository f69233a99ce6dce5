"""The root audit (Include/dtd.h section 6): every per-root check against
numpy, the invariants that tie the fields together, the exact segment walk against dense
sampling, region-constrained roots, and the summary against the records."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd.rules import AlphaBeta, Epsilon, Gamma, WSquare, ZBox, ZPlus
from dtd_oracle import (HINGE, ROOT_RULE_IDS, ROOT_RULES, activations, audit_point, forward_from,
                        matches_a_choice, random_model)
from support import random_cnn

PLACEMENTS = ["relevance", "hyperplane"]
SIZES = [5, 9, 8, 3]  # dense layers 0, 2, 4


def layer_inputs(layers, x, layer):
    return np.array([activations(layers, sample)[layer] for sample in x])


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rule", ROOT_RULES, ids=ROOT_RULE_IDS)
def test_audit_checks_match_numpy(rng, rule, placement):
    """same_gradient, same_pattern, output_change and taylor_residual of every root, recomputed
    in numpy from the weights at the points libdtd returns. A hyperplane root sits on neuron
    j's kink, where the gradient (ReLU'(0) = 0) depends on how the pre-activation rounds; the
    oracle then allows either state of the units on their hinge."""
    net, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=(6, SIZES[0])))
    with net:
        for layer in (0, 2):
            result = net.audit(x, target=0, layer=layer, rule=rule, placement=placement)
            roots = net.roots(x, layer=layer, target=0, rule=rule, placement=placement)
            np.testing.assert_array_equal(result.t, roots.t)
            a = layer_inputs(layers, x, layer)
            for n, j in np.ndindex(result.neuron.shape):
                expected = audit_point(layers, layer, a[n], roots.points[n, j], target=0)
                assert result.same_pattern[n, j] == expected["same_pattern"], (n, j)
                scale = max(1.0, abs(forward_from(layers, layer, a[n])[0]))
                assert abs(result.output_change[n, j] - expected["output_change"]) <= 1e-12 * scale
                assert matches_a_choice(expected["gradient_choices"], result.same_gradient[n, j],
                                        result.taylor_residual[n, j], 1e-10 * scale), (n, j)
    assert result.same_gradient.dtype == bool and result.same_pattern.dtype == bool


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rule", ROOT_RULES, ids=ROOT_RULE_IDS)
def test_audit_invariants(rng, rule, placement):
    """Roots at the input change nothing; a root in the region has a zero Taylor residual;
    unexplained = relevance * (1 - segment_inside); roots without a root are not pairs."""
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(20, SIZES[0]))
    with net:
        for layer in (0, 2):
            res = net.audit(x, target=1, layer=layer, rule=rule, placement=placement)
            at = res.at_input
            # R_j = 0 where the ReLU switches a neuron off, except for w^2 and zbox, whose
            # relevance does not depend on the activations.
            assert at.any() or isinstance(rule, (WSquare, ZBox))
            assert np.all(res.output_change[at] == 0) and np.all(res.segment_inside[at] == 1)
            assert np.all(res.same_pattern[at]) and np.all(res.same_gradient[at])
            assert np.all(res.taylor_residual[at] == 0)
            pairs = res.has_root
            np.testing.assert_allclose(res.unexplained[pairs],
                                       res.relevance[pairs] * (1 - res.segment_inside[pairs]),
                                       rtol=1e-12, atol=1e-15)
            assert np.all(res.unexplained[~pairs] == 0)
            assert np.all((res.segment_inside >= 0) & (res.segment_inside <= 1))
            # Inside the region g is affine, so its Taylor expansion at the root is exact (a
            # root on a kink may see another gradient, hence same_gradient too).
            inside = pairs & res.same_pattern & res.same_gradient
            scale = np.maximum(1.0, np.abs(res.relevance))
            assert np.all(np.abs(res.taylor_residual[inside]) <= 1e-9 * scale[inside])
            # A whole segment inside the region means the root is in the region.
            assert np.all(res.same_pattern[pairs & (res.segment_inside == 1)])


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rule", [Epsilon(0.0), ZPlus(), Gamma(1.0), WSquare(), AlphaBeta(2.0, 1.0)],
                         ids=["lrp0", "zplus", "gamma1", "wsquare", "alpha2beta1"])
def test_audit_constrained_roots_stay_in_the_region(rng, rule, placement):
    """constrain=True clips t to admissible_t: every root then has the input's ReLU pattern
    (by libdtd and by numpy), |t| <= |admissible_t|, and exactly the roots whose segment left
    the region are clipped; the others are unchanged."""
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(25, SIZES[0]))
    with net:
        free = net.audit(x, target=0, layer=0, rule=rule, placement=placement)
        held = net.audit(x, target=0, layer=0, rule=rule, placement=placement, constrain=True)
        roots = net.roots(x, target=0, layer=0, rule=rule, placement=placement, constrain=True)
    pairs = held.has_root
    assert held.clipped.any() and not free.clipped.any()
    assert np.all(held.same_pattern[pairs])
    assert np.all(np.abs(held.t[pairs]) <= np.abs(held.admissible_t[pairs]) * (1 + 1e-12))
    np.testing.assert_array_equal(held.admissible_t, free.admissible_t)
    np.testing.assert_array_equal(held.clipped, pairs & (free.segment_inside < 1))
    np.testing.assert_array_equal(held.t[~held.clipped], free.t[~held.clipped])
    np.testing.assert_allclose(np.abs(held.t[held.clipped]), np.abs(free.admissible_t[held.clipped]),
                               rtol=1e-15)
    np.testing.assert_array_equal(roots.clipped, held.clipped)
    a = layer_inputs(layers, x, 0)
    for n, j in zip(*np.nonzero(pairs)):
        assert audit_point(layers, 0, a[n], roots.points[n, j], target=0)["same_pattern"], (n, j)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rule", [Epsilon(0.0), ZPlus(), Gamma(0.25), WSquare(), ZBox(-1.0, 2.0)],
                         ids=["lrp0", "zplus", "gamma", "wsquare", "zbox"])
def test_audit_segment_walk_agrees_with_dense_sampling(rng, rule, placement):
    """segment_inside is exact: 2000 points along a -> root, with the ReLU pattern of each
    computed in numpy, bracket it (the last sample inside <= segment_inside <= the first
    sample outside)."""
    net, layers = random_model(rng, [4, 12, 12, 10, 2])
    x = rng.normal(size=(6, 4))
    steps = np.arange(1, 2001) / 2000
    partly_inside = 0
    with net:
        for layer in (0, 2):
            res = net.audit(x, target=1, layer=layer, rule=rule, placement=placement)
            roots = net.roots(x, target=1, layer=layer, rule=rule, placement=placement)
            a = layer_inputs(layers, x, layer)
            for n, j in zip(*np.nonzero(res.has_root & ~res.at_input)):
                line = a[n] + steps[:, None] * (roots.points[n, j] - a[n])
                inside = line_inside(layers, layer, a[n], line)
                outside = np.nonzero(~inside)[0]
                segment = res.segment_inside[n, j]
                if outside.size == 0:
                    assert segment >= 1 - 1e-9, (n, j, segment)
                else:
                    k = outside[0]
                    low = steps[k - 1] if k > 0 else 0.0
                    assert low - 1e-9 <= segment <= steps[k] + 1e-9, (n, j, low, segment, steps[k])
                    partly_inside += 0 < segment < 1
    assert partly_inside >= 3, "the test needs segments that leave the region"


def line_inside(layers, layer, a, points):
    """For each row of ``points``: does it have a's ReLU pattern (hinge units match either)?"""
    inside = np.ones(len(points), dtype=bool)
    for spec in layers[layer:]:
        if spec[0] == "relu":
            tolerance = HINGE * np.max(np.abs(points), axis=1, keepdims=True)
            differs = ((a > 0) != (points > 0)) & (np.abs(points) > tolerance)
            inside &= ~differs.any(axis=1)
            a, points = np.maximum(a, 0.0), np.maximum(points, 0.0)
        else:
            a, points = spec[1] @ a + spec[2], points @ spec[1].T + spec[2]
    return inside


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rule", [Epsilon(0.0), ZPlus(), AlphaBeta(2.0, 1.0), WSquare()],
                         ids=["lrp0", "zplus", "alpha2beta1", "wsquare"])
def test_audit_summary_matches_the_records(rng, rule, placement):
    """Each aggregate recomputed from the per-root arrays; the conservation error from the
    root-form relevance of the points and f_k(x) of a numpy forward pass."""
    net, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=(30, SIZES[0])))
    with net:
        for layer in (0, 2):
            res = net.audit(x, target=2, layer=layer, rule=rule, placement=placement)
            roots = net.roots(x, target=2, layer=layer, rule=rule, placement=placement)
            pairs = res.has_root
            assert res.samples == 30 and res.pairs == pairs.sum()
            assert res.outside_by_gradient == np.mean(np.any(pairs & ~res.same_gradient, axis=1))
            assert res.outside_by_pattern == np.mean(np.any(pairs & ~res.same_pattern, axis=1))
            assert res.unchanged_output == pytest.approx(np.mean(np.abs(res.output_change[pairs]) < 1e-6), abs=1e-15)
            assert res.mean_segment_inside == pytest.approx(np.mean(res.segment_inside[pairs]), rel=1e-12)
            assert res.unexplained_fraction == pytest.approx(
                np.sum(np.abs(res.unexplained[pairs])) / np.sum(np.abs(res.relevance[pairs])), rel=1e-12)
            # sum_i R_i with R_i = sum_j c_j w_ij (a_i - root_ij), c_j = R_j / (t_j w_j^T v_j).
            W = layers[layer][1]
            a = layer_inputs(layers, x, layer)
            moved = pairs & ~roots.at_input
            c = np.where(moved, roots.relevance / np.where(moved, roots.t * roots.wv, 1.0), 0.0)
            total = np.einsum("nj,njd,njd->n", c, W[roots.neuron], a[:, None, :] - roots.points)
            f = np.array([forward_from(layers, 0, sample)[2] for sample in x])
            assert res.max_conservation_error == pytest.approx(np.max(np.abs(total - f)), rel=1e-9, abs=1e-12)
            assert res.summary() == {name: getattr(res, name) for name in dtd.roots.AUDIT_SUMMARY_FIELDS}
            assert list(res.summary()) == ["samples", "pairs", "outside_by_gradient", "outside_by_pattern",
                                           "unchanged_output", "mean_segment_inside",
                                           "max_conservation_error", "unexplained_fraction"]


def test_audit_conserves_relevance_on_the_studys_kind_of_input(rng):
    """Positive inputs, no dropped neurons: the root-form relevance at the first layer sums to
    f_k(x) (the summary's max conservation error, Include/dtd.h section 6)."""
    net, _ = random_model(rng, [6, 10, 10, 2], relu_last=True)
    x = np.abs(rng.normal(size=(40, 6)))
    with net:
        x = x[net.forward(x)[:, 0] > 0.1]
        res = net.audit(x, target=0, layer=0, rule=Epsilon(0.0))
    assert len(x) >= 5
    assert res.max_conservation_error <= 1e-12


def test_audit_the_reference_dict_call(rng):
    """The documented call, with a reference-style rule dict."""
    net, _ = random_model(rng, SIZES)
    X = np.abs(rng.normal(size=(10, SIZES[0])))
    with net:
        res = net.audit(X, target=0, layer=0, rule={"rule": "zplus"}, placement="relevance")
        same = net.audit(X, target=0, layer=0, rule=ZPlus(), placement="relevance")
    assert res.summary() == same.summary()
    np.testing.assert_array_equal(res.segment_inside, same.segment_inside)
    assert res.rule == "zplus" and res.placement == "relevance" and res.layer == 0 and res.target == 0
    assert res.neuron.shape == (10, 9)


def test_audit_table_is_readable(rng):
    net, _ = random_model(rng, SIZES)
    with net:
        res = net.audit(np.abs(rng.normal(size=(10, SIZES[0]))), target=0, rule=Gamma(1.0), placement="hyperplane")
    table = res.table()
    lines = table.splitlines()
    assert lines[0] == "DTD root audit: layer 0, output 0, rule gamma(1), placement hyperplane"
    assert lines[1] == "  rule per dense/conv layer: 0: gamma(1), 2: gamma(1), 4: gamma(1)"
    assert lines[3].split()[-1] == str(res.pairs)
    assert lines[4].endswith("per root  per sample")
    assert lines[5].endswith(f"{100 * res.pairs_outside_by_gradient:.1f} %"
                             f"  {100 * res.outside_by_gradient:>8.1f} %")
    assert lines[6].endswith(f"{100 * res.pairs_outside_by_pattern:.1f} %"
                             f"  {100 * res.outside_by_pattern:>8.1f} %")
    assert lines[9].endswith(f"{res.max_conservation_error:.1e}")
    assert len({len(line) for line in lines[2:] if line.endswith("%") and "per root" not in line
                and line not in lines[4:7]}) == 1  # single-column rows aligned
    assert len({len(line) for line in lines[4:7]}) == 1  # the two-column block aligned
    assert str(res) == table and "AuditResult" in repr(res)


def test_audit_of_a_single_sample_has_no_batch_axis(rng):
    net, _ = random_model(rng, SIZES)
    x = rng.normal(size=(3, SIZES[0]))
    with net:
        batch = net.audit(x, target=0, rule=ZPlus())
        single = net.audit(x[2], target=0, rule=ZPlus())
    assert single.same_pattern.shape == (9,) and single.samples == 1
    np.testing.assert_array_equal(single.segment_inside, batch.segment_inside[2])
    np.testing.assert_array_equal(single.output_change, batch.output_change[2])


def test_audit_of_part_of_a_layer_has_no_conservation_error(rng):
    """max_conservation_error needs every neuron of the layer; for a range it is NaN."""
    net, _ = random_model(rng, SIZES)
    x = rng.normal(size=(4, SIZES[0]))
    with net:
        res = net.audit(x, target=0, rule=ZPlus(), neurons=(1, 4))
        full = net.audit(x, target=0, rule=ZPlus())
    assert np.isnan(res.max_conservation_error) and not np.isnan(full.max_conservation_error)
    assert res.neuron.shape == (4, 3)
    np.testing.assert_array_equal(res.segment_inside, full.segment_inside[:, 1:4])


def test_audit_runs_on_a_cnn_with_maxpool(rng):
    """Conv layers and max-pool winners: the invariants hold there too."""
    with random_cnn(rng) as net:
        x = rng.normal(size=(3, 2, 8, 8))
        res = net.audit(x, target=1, layer=0, rule=ZPlus())
        later = net.audit(x, target=1, layer=3, rule=ZPlus(), placement="hyperplane")
    assert res.neuron.shape == (3, 4 * 8 * 8) and later.neuron.shape == (3, 3 * 2 * 2)
    for r in (res, later):
        assert np.all(r.output_change[r.at_input] == 0) and np.all(r.segment_inside[r.at_input] == 1)
        assert np.all((r.segment_inside >= 0) & (r.segment_inside <= 1))
        assert r.pairs == r.has_root.sum()


def test_audit_float32_agrees_with_float64(rng):
    net64, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=(50, SIZES[0])))
    with net64, dtd.Network((SIZES[0],), dtype="float32") as net32:
        for layer in layers:
            net32.add_dense(layer[1], layer[2]) if layer[0] == "dense" else net32.add_relu()
        r64 = net64.audit(x, target=0, rule=ZPlus())
        r32 = net32.audit(x, target=0, rule=ZPlus())
    assert r32.pairs == r64.pairs
    np.testing.assert_allclose(r32.output_change, r64.output_change, atol=1e-4)
    np.testing.assert_allclose(r32.segment_inside, r64.segment_inside, atol=1e-3)


# MARK: - audit_points

def test_audit_points_match_numpy(rng):
    """Arbitrary points around each sample's layer input: the checks against numpy, and the
    fields audit_points documents as NaN or 0."""
    net, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=(4, SIZES[0])))
    with net:
        for layer in (0, 2, 3):  # 3 is a relu: points may live at any layer's input
            a = layer_inputs(layers, x, layer)
            points = a[:, None, :] + rng.normal(scale=0.3, size=(4, 7, a.shape[1]))
            res = net.audit_points(x, points, layer=layer, target=1)
            assert res.neuron.shape == (4, 7)
            np.testing.assert_array_equal(res.neuron, np.tile(np.arange(7), (4, 1)))
            assert np.all(np.isnan(res.t)) and np.all(np.isnan(res.wv)) and np.all(np.isnan(res.admissible_t))
            assert np.all(res.unexplained == 0) and np.isnan(res.max_conservation_error)
            assert res.placement is None and res.samples == 4 and res.pairs == 28
            for n, p in np.ndindex(4, 7):
                expected = audit_point(layers, layer, a[n], points[n, p], target=1)
                assert len(expected["gradient_choices"]) == 1  # random points sit on no kink
                assert res.same_pattern[n, p] == expected["same_pattern"]
                assert res.output_change[n, p] == pytest.approx(expected["output_change"], abs=1e-12)
                assert matches_a_choice(expected["gradient_choices"], res.same_gradient[n, p],
                                        res.taylor_residual[n, p], 1e-10)
            assert not res.same_pattern.all(), "the test needs points outside the region"


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_audit_points_of_the_roots_agree_with_audit(rng, placement):
    """Two paths through libdtd: auditing the returned roots as plain points gives the same
    checks and the same segment_inside as the root audit."""
    net, _ = random_model(rng, SIZES)
    x = rng.normal(size=(8, SIZES[0]))
    with net:
        roots = net.roots(x, layer=2, target=0, rule=Gamma(0.25), placement=placement)
        res = net.audit(x, layer=2, target=0, rule=Gamma(0.25), placement=placement)
        again = net.audit_points(x, roots.points, layer=2, target=0)
        single = net.audit_points(x[3], roots.points[3], layer=2, target=0)
    for field in ("same_gradient", "same_pattern", "output_change", "taylor_residual"):
        np.testing.assert_array_equal(getattr(again, field), getattr(res, field), err_msg=field)
    pairs = res.has_root
    np.testing.assert_allclose(again.segment_inside[pairs], res.segment_inside[pairs], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(single.output_change, again.output_change[3], rtol=1e-12, atol=1e-15)
