"""DTD root points (Include/dtd.h section 6) against the definitions:
every field of every root from a numpy oracle, roots on their hyperplane, and the equivalence
lemma (the root form equals the rule's propagation without bias and stabiliser)."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd.rules import AlphaBeta, Epsilon, Gamma, WSquare, ZBox, ZPlus
from dtd_oracle import (ROOT_RULE_IDS, ROOT_RULES, activations, expected_roots, partials,
                        propagation_rule, random_model)
from support import relative_error

PLACEMENTS = ["relevance", "hyperplane"]
SIZES = [6, 10, 9, 3]  # dense layers at indices 0, 2, 4
DENSE = [0, 2, 4]


def every_dense(layers, rule):
    return {i: rule for i, layer in enumerate(layers) if layer[0] == "dense"}


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rule", ROOT_RULES, ids=ROOT_RULE_IDS)
def test_roots_match_the_definitions(rng, rule, placement):
    """neuron, partial, flags, relevance, z, w^T v, t and the points, from a loop-by-loop
    numpy implementation of Include/dtd.h section 6 and the study's top-down pass."""
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(5, SIZES[0]))
    rules = every_dense(layers, rule)
    with net:
        for layer in DENSE:
            roots = net.roots(x, layer=layer, target=1, rule=rule, placement=placement)
            per_sample = (SIZES[DENSE.index(layer) + 1]) * len(partials(rule))
            assert roots.points.shape == (5, per_sample, SIZES[DENSE.index(layer)])
            for n in range(5):
                expected = expected_roots(layers, rules, x[n], layer, 1, placement)
                for key in ("neuron", "partial", "flags"):
                    np.testing.assert_array_equal(getattr(roots, key)[n], expected[key], err_msg=key)
                for key in ("relevance", "z", "wv", "t"):
                    np.testing.assert_allclose(getattr(roots, key)[n], expected[key], rtol=1e-10,
                                               atol=1e-12, err_msg=key)
                np.testing.assert_allclose(roots.points[n], expected["points"], rtol=1e-10, atol=1e-12)
            assert roots.layer == layer and roots.target == 1 and roots.placement == placement


@pytest.mark.parametrize("rule", ROOT_RULES, ids=ROOT_RULE_IDS)
def test_roots_lie_on_their_hyperplane(rng, rule):
    """Hyperplane placement: w_j^T root + b_j = 0 for every neuron that has a root away from
    the input (R_j = 0 puts the root at the input itself)."""
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(8, SIZES[0]))
    with net:
        for layer in DENSE:
            _, W, b = layers[layer]
            roots = net.roots(x, layer=layer, target=0, rule=rule, placement="hyperplane")
            moved = roots.has_root & ~roots.at_input
            assert moved.sum() >= 5, "the test needs roots away from the input"
            residual = np.einsum("njd,njd->nj", W[roots.neuron], roots.points) + b[roots.neuron]
            scale = np.maximum(1.0, np.einsum("njd,njd->nj", np.abs(W[roots.neuron]), np.abs(roots.points)))
            assert np.max(np.abs(residual[moved]) / scale[moved]) <= 1e-10
            # ... and they did move: the input itself is not on the hyperplane.
            assert np.all(np.abs(roots.z[moved]) > 0)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rule", ROOT_RULES, ids=ROOT_RULE_IDS)
def test_equivalence_lemma_root_form_equals_propagation_without_bias(rng, rule, placement):
    """sum_j c_j w_ij (a_i - root_ij), c_j = R_j / (t_j w_j^T v_j), from the returned points,
    equals the rule's LRP step (bias excluded, no stabiliser) seeded with the roots' R_j, run by
    net.lrp on a one-layer network. Biases of both signs, inputs of both signs."""
    net, layers = random_model(rng, SIZES, bias_scale=0.4)
    x = rng.normal(size=(8, SIZES[0]))
    with net:
        for layer in DENSE:
            _, W, b = layers[layer]
            a = np.array([activations(layers, sample)[layer] for sample in x])
            # A tiny tol: "no root" then means w^T v = 0 exactly, where the propagation's share is 0 too.
            roots = net.roots(x, layer=layer, target=2, rule=rule, placement=placement, tol=1e-300)
            assert not np.any(roots.no_root & (roots.wv != 0))
            moved = roots.has_root & ~roots.at_input
            assert np.all(roots.t[moved] != 0)
            c = np.where(moved, roots.relevance / np.where(moved, roots.t * roots.wv, 1.0), 0.0)
            root_form = np.einsum("nj,njd,njd->nd", c, W[roots.neuron], a[:, None, :] - roots.points)

            factor = partials(rule)[0]
            first = roots.partial == 0
            seed = (roots.relevance[first] / factor).reshape(len(x), W.shape[0])
            assert np.count_nonzero(seed) >= 3
            with dtd.Network((W.shape[1],)).add_dense(W, b) as one_layer:
                propagated = one_layer.lrp(a, seed, rules=propagation_rule(rule))
            assert relative_error(root_form, propagated) <= 1e-10


@pytest.mark.parametrize("rule", [ZPlus(), Gamma(0.5), AlphaBeta(2.0, 1.0), Epsilon(0.0)],
                         ids=["zplus", "gamma", "alphabeta", "lrp0"])
def test_roots_ignore_the_bias_and_stabiliser_of_the_rules(rng, rule):
    """The top-down pass and the roots use each rule's root form, whatever bias mode and
    stabiliser the rule objects carry."""
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(4, SIZES[0]))
    changed = {
        ZPlus: lambda r: ZPlus(stabilizer=0.5, bias=False),
        Gamma: lambda r: Gamma(r.gamma, stabilizer=0.3, bias=False),
        AlphaBeta: lambda r: AlphaBeta(r.alpha, r.beta, stabilizer=0.2, bias=False),
        Epsilon: lambda r: Epsilon(0.0, bias=False),
    }[type(rule)](rule)
    with net:
        one = net.roots(x, layer=0, target=0, rule=rule)
        other = net.roots(x, layer=0, target=0, rule=changed)
    np.testing.assert_array_equal(one.points, other.points)
    np.testing.assert_array_equal(one.relevance, other.relevance)


def test_roots_rule_dict_and_rules_spec_mean_the_same(rng):
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(3, SIZES[0]))
    with net:
        by_object = net.roots(x, layer=2, target=0, rule=ZPlus())
        by_dict = net.roots(x, layer=2, target=0, rule={"rule": "zplus"})
        by_spec = net.roots(x, layer=2, target=0, rules={0: ZPlus(), "2": {"rule": "zplus"}, 4: ZPlus()})
    for other in (by_dict, by_spec):
        np.testing.assert_array_equal(by_object.points, other.points)
        np.testing.assert_array_equal(by_object.t, other.t)


def test_roots_mixed_rules_per_layer(rng):
    """rules= gives each layer its own rule: the audited layer's rule gives the direction, the
    upper ones carry R down in their root forms."""
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(3, SIZES[0]))
    rules = {0: ZBox(-3.0, 3.0), 2: WSquare(), 4: AlphaBeta(2.0, 1.0)}
    with net:
        roots = net.roots(x, layer=0, target=1, rules=rules, placement="hyperplane")
    for n in range(3):
        expected = expected_roots(layers, rules, x[n], 0, 1, "hyperplane")
        np.testing.assert_allclose(roots.points[n], expected["points"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(roots.relevance[n], expected["relevance"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("neurons", [range(2, 6), slice(2, 6), (2, 6), [2, 6], slice(-7, -3)],
                         ids=["range", "slice", "tuple", "list", "negative-slice"])
def test_roots_neuron_range_selects_neurons(rng, neurons):
    net, _ = random_model(rng, SIZES)  # layer 2 has 9 neurons; slice(-7, -3) is 2..6
    x = rng.normal(size=(3, SIZES[0]))
    with net:
        everything = net.roots(x, layer=2, target=0, rule=AlphaBeta())
        some = net.roots(x, layer=2, target=0, rule=AlphaBeta(), neurons=neurons)
    selected = (everything.neuron >= 2) & (everything.neuron < 6)
    assert some.points.shape == (3, 8, 10)  # two partial roots per neuron, layer input 10
    np.testing.assert_array_equal(some.neuron, everything.neuron[selected].reshape(3, 8))
    np.testing.assert_array_equal(some.points, everything.points[selected].reshape(3, 8, 10))


def test_roots_of_a_single_sample_have_no_batch_axis(rng):
    net, _ = random_model(rng, SIZES)
    x = rng.normal(size=(2, SIZES[0]))
    with net:
        batch = net.roots(x, layer=0, target=0, rule=ZPlus())
        single = net.roots(x[1], layer=0, target=0, rule=ZPlus())
    assert single.points.shape == (10, 6) and single.t.shape == (10,) and single.no_root.shape == (10,)
    assert single.roots_per_sample == 10
    np.testing.assert_array_equal(single.points, batch.points[1])
    np.testing.assert_array_equal(single.flags, batch.flags[1])


def test_roots_flag_views(rng):
    net, layers = random_model(rng, SIZES)
    x = rng.normal(size=(6, SIZES[0]))
    with net:
        roots = net.roots(x, layer=2, target=0, rule=ZPlus())
    assert roots.no_root.dtype == bool and roots.at_input.dtype == bool
    np.testing.assert_array_equal(roots.at_input, (roots.flags & 2) != 0)
    np.testing.assert_array_equal(roots.no_root, (roots.flags & 1) != 0)
    np.testing.assert_array_equal(roots.has_root, (roots.flags & 1) == 0)
    assert not roots.clipped.any()
    # R_j = 0 (here: the neurons the ReLU switches off) puts the root at the input itself.
    assert roots.at_input.any()
    a = np.array([activations(layers, sample)[2] for sample in x])
    for n, j in zip(*np.nonzero(roots.at_input)):
        assert roots.relevance[n, j] == 0 and roots.t[n, j] == 0
        np.testing.assert_allclose(roots.points[n, j], a[n], rtol=1e-12, atol=1e-15)


def test_roots_on_a_conv_layer_zero_their_pre_activation(rng):
    """Hyperplane roots of a conv layer: neuron (channel, y, x) has pre-activation 0 at its
    root, by a plain numpy convolution."""
    w = rng.normal(size=(3, 2, 3, 3))
    b = rng.normal(scale=0.3, size=3)
    with (dtd.Network((2, 5, 5)).add_conv2d(w, b, padding=1).add_relu().add_flatten()
          .add_dense(rng.normal(size=(2, 75)) / 8, rng.normal(size=2) * 0.1)) as net:
        x = rng.normal(size=(2, 2, 5, 5))
        roots = net.roots(x, layer=0, target=1, rule=ZPlus(), placement="hyperplane")
    assert roots.points.shape == (2, 75, 2, 5, 5)
    moved = roots.has_root & ~roots.at_input
    assert moved.sum() >= 10
    for n, j in zip(*np.nonzero(moved)):
        channel, y, x0 = np.unravel_index(roots.neuron[n, j], (3, 5, 5))
        padded = np.pad(roots.points[n, j], ((0, 0), (1, 1), (1, 1)))
        z = np.sum(padded[:, y:y + 3, x0:x0 + 3] * w[channel]) + b[channel]
        assert abs(z) <= 1e-10 * max(1.0, np.sum(np.abs(padded[:, y:y + 3, x0:x0 + 3] * w[channel])))


def test_roots_float32_agree_with_float64(rng):
    net64, layers = random_model(rng, SIZES)
    x = rng.normal(size=(4, SIZES[0]))
    with net64, dtd.Network((SIZES[0],), dtype="float32") as net32:
        for layer in layers:
            net32.add_dense(layer[1], layer[2]) if layer[0] == "dense" else net32.add_relu()
        r64 = net64.roots(x, layer=0, target=0, rule=Gamma(0.25))
        r32 = net32.roots(x, layer=0, target=0, rule=Gamma(0.25))
    assert r32.points.dtype == np.float32 and r32.t.dtype == np.float64
    np.testing.assert_array_equal(r32.flags, r64.flags)
    assert relative_error(r32.points, r64.points) <= 1e-4
    assert relative_error(r32.relevance, r64.relevance) <= 1e-4
