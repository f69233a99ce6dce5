"""The study's theory as checks (Include/dtd.h section 7): T2 (constant
roots give gradient x input), T3 (constructed roots reproduce any explanation) and rank-1
convergence of z+, each against numpy or against another libdtd path."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd.rules import AlphaBeta, Epsilon, Gamma, LRP0, WSquare, ZPlus
from dtd_oracle import (activations, audit_point, build, gradient_from, random_model,
                        top_down)
from support import relative_error

SIZES = [6, 10, 9, 3]


def gradients(layers, x, target):
    return np.array([gradient_from(layers, 0, sample, target) for sample in x])


# MARK: - T2

@pytest.mark.parametrize("sizes", [[6, 10, 9, 3], [8, 16, 16, 16, 16, 4]], ids=["3-layer", "5-layer"])
def test_gxi_distance_of_lrp0_with_bias_is_zero(rng, sizes):
    """T2: LRP-0 with the bias included is gradient x input on any ReLU network."""
    net, _ = random_model(rng, sizes, bias_scale=0.5)
    x = rng.normal(size=(12, sizes[0]))
    with net:
        by_target = net.gxi_distance(x, rules=LRP0(bias=True), target=1)
        by_seed = net.gxi_distance(x, rng.normal(size=(12, sizes[-1])), rules=LRP0(bias=True))
    assert by_target.shape == (12,) and by_target.dtype == np.float64
    assert np.max(by_target) <= 1e-10 and np.max(by_seed) <= 1e-10


@pytest.mark.parametrize("rule", [ZPlus(), Gamma(0.5), Epsilon(0.1), WSquare(), LRP0(bias=False)],
                         ids=["zplus", "gamma", "epsilon", "wsquare", "lrp0-no-bias"])
def test_gxi_distance_is_the_relative_distance_to_gradient_x_input(rng, rule):
    """||LRP(x) - x * grad f_k(x)|| / ||x * grad f_k(x)||, with the gradient from numpy (the
    plain norm of the difference where gradient x input is 0, e.g. f_k flat at x)."""
    net, layers = random_model(rng, SIZES, bias_scale=0.5)
    x = rng.normal(size=(10, SIZES[0]))
    with net:
        distances = net.gxi_distance(x, rules=rule, target=2)
        relevance = net.lrp(x, target=2, rules=rule)
    gxi = x * gradients(layers, x, 2)
    difference, norm = np.linalg.norm(relevance - gxi, axis=1), np.linalg.norm(gxi, axis=1)
    expected = np.where(norm > 0, difference / np.where(norm > 0, norm, 1.0), difference)
    np.testing.assert_allclose(distances, expected, rtol=1e-9)
    assert np.max(distances) > 1e-3  # these rules are not gradient x input


def test_gxi_distance_of_a_single_sample_is_a_float(rng):
    net, _ = random_model(rng, SIZES)
    x = rng.normal(size=SIZES[0])
    with net:
        distance = net.gxi_distance(x, rules=ZPlus(), target=0)
        batch = net.gxi_distance(x[None], rules=ZPlus(), target=0)
    assert isinstance(distance, float) and distance == batch[0]


def test_constant_root_explanation_is_gradient_times_distance_to_the_root(rng):
    """T2: a constant root x~ gives J(x)^T r * (x - x~), for a shared and a per-sample root."""
    net, _ = random_model(rng, SIZES, bias_scale=0.5)
    x = rng.normal(size=(7, SIZES[0]))
    seed = rng.normal(size=(7, SIZES[-1]))
    shared = rng.normal(size=SIZES[0])
    per_sample = rng.normal(size=(7, SIZES[0]))
    with net:
        gradient = net.gradient(x, seed)
        np.testing.assert_allclose(net.constant_root_explanation(x, shared, seed),
                                   gradient * (x - shared), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(net.constant_root_explanation(x, per_sample, seed),
                                   gradient * (x - per_sample), rtol=1e-12, atol=1e-14)


def test_constant_root_explanation_for_a_target_is_grad_f_k_times_the_step(rng):
    """target=k seeds e_k: grad f_k(x) * (x - x~) (numpy gradient); with x~ = 0 that is what
    LRP-0 gives for target=k (T2: DTD with a constant root at 0 is gradient x input)."""
    net, layers = random_model(rng, SIZES, bias_scale=0.5)
    x = rng.normal(size=(5, SIZES[0]))
    root = rng.normal(size=SIZES[0])
    with net:
        explanation = net.constant_root_explanation(x, root, target=1)
        at_zero = net.constant_root_explanation(x, np.zeros(SIZES[0]), target=[1, 0, 2, 1, 0])
        lrp0 = net.lrp(x, target=[1, 0, 2, 1, 0], rules=LRP0(bias=True))
        single = net.constant_root_explanation(x[3], root, target=1)
    np.testing.assert_allclose(explanation, gradients(layers, x, 1) * (x - root), rtol=1e-10, atol=1e-13)
    assert relative_error(at_zero, lrp0) <= 1e-10
    np.testing.assert_array_equal(single, explanation[3])


# MARK: - T3

@pytest.mark.parametrize("rule", [ZPlus(), LRP0(), Gamma(1.0), AlphaBeta(2.0, 1.0)],
                         ids=["zplus", "lrp0", "gamma1", "alpha2beta1"])
@pytest.mark.parametrize("layer", [0, 2])
def test_construct_roots_reproduce_a_target_explanation(rng, rule, layer):
    """T3: for a random explanation e rescaled to the relevance R reaching the layer (from the
    numpy top-down pass), sum_j c_j w_ij (a_i - root_ij) = e_i with c_j = 1 / t_j, and every
    root with R_j != 0 lies on its hyperplane."""
    net, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=(5, SIZES[0])))
    rules = {i: rule for i, spec in enumerate(layers) if spec[0] == "dense"}
    R = np.array([top_down(layers, rules, sample, layer, 0) for sample in x])
    a = np.array([activations(layers, sample)[layer] for sample in x])
    _, W, b = layers[layer]
    e = rng.normal(size=a.shape)
    e *= (R.sum(axis=1) / e.sum(axis=1))[:, None]
    with net:
        roots = net.construct_roots(x, e, layer=layer, target=0, rule=rule)
    assert roots.points.shape == (5, W.shape[0], W.shape[1]) and roots.placement is None
    assert np.all(np.isnan(roots.wv))
    np.testing.assert_allclose(roots.relevance, R, rtol=1e-10, atol=1e-14)
    reproduced = np.einsum("nj,jd,njd->nd", 1 / roots.t, W, a[:, None, :] - roots.points)
    assert relative_error(reproduced, e) <= 1e-10
    on = (R != 0) & (roots.z != 0)
    assert on.sum() >= 5
    residual = np.einsum("jd,njd->nj", W, roots.points) + b
    assert np.max(np.abs(residual[on])) <= 1e-9 * max(1.0, np.max(np.abs(roots.points)))
    np.testing.assert_array_equal(roots.at_input, R == 0)


def test_construct_roots_for_a_neuron_range_carry_their_share(rng):
    """For the neurons j in a range, sum_j c_j w_ij (a_i - root_ij) = e_i * sum_j R_j / R."""
    net, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=(4, SIZES[0])))
    rules = {0: ZPlus(), 2: ZPlus(), 4: ZPlus()}
    R = np.array([top_down(layers, rules, sample, 2, 1) for sample in x])
    a = np.array([activations(layers, sample)[2] for sample in x])
    e = rng.normal(size=a.shape)
    e *= (R.sum(axis=1) / e.sum(axis=1))[:, None]
    with net:
        roots = net.construct_roots(x, e, layer=2, target=1, rule=ZPlus(), neurons=range(3, 7))
    W = layers[2][1][3:7]
    reproduced = np.einsum("nj,jd,njd->nd", 1 / roots.t, W, a[:, None, :] - roots.points)
    expected = e * (R[:, 3:7].sum(axis=1) / R.sum(axis=1))[:, None]
    assert relative_error(reproduced, expected) <= 1e-10
    np.testing.assert_array_equal(roots.neuron, np.tile(np.arange(3, 7), (4, 1)))


def test_construct_roots_can_be_audited(rng):
    """Constructed roots go through audit_points; its output change agrees with numpy."""
    net, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=(3, SIZES[0])))
    rules = {0: ZPlus(), 2: ZPlus(), 4: ZPlus()}
    R = np.array([top_down(layers, rules, sample, 0, 0) for sample in x])
    e = rng.uniform(size=(3, SIZES[0]))
    e *= (R.sum(axis=1) / e.sum(axis=1))[:, None]
    with net:
        roots = net.construct_roots(x, e, layer=0, target=0, rule=ZPlus())
        res = net.audit_points(x, roots.points, layer=0, target=0)
    assert res.neuron.shape == (3, 10) and res.samples == 3
    assert np.all((res.segment_inside >= 0) & (res.segment_inside <= 1))
    for n, j in np.ndindex(3, 10):
        expected = audit_point(layers, 0, x[n], roots.points[n, j], target=0)
        assert res.output_change[n, j] == pytest.approx(expected["output_change"], abs=1e-12)
        assert res.same_pattern[n, j] == expected["same_pattern"]


def test_construct_roots_of_a_single_sample_have_no_batch_axis(rng):
    net, layers = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=SIZES[0]))
    R = top_down(layers, {0: ZPlus(), 2: ZPlus(), 4: ZPlus()}, x, 0, 0)
    e = np.full(SIZES[0], R.sum() / SIZES[0])
    with net:
        roots = net.construct_roots(x, e, layer=0, target=0, rule={"rule": "zplus"})
        batch = net.construct_roots(x[None], e[None], layer=0, target=0, rule=ZPlus())
    assert roots.points.shape == (10, SIZES[0]) and roots.t.shape == (10,)
    np.testing.assert_array_equal(roots.points, batch.points[0])


# MARK: - Rank-1 convergence

def deep_mlp(rng):
    sizes = [20] + [20] * 9 + [10]  # 10 dense layers, 19 layers in all
    return random_model(rng, sizes, bias_scale=0.1)


def test_rank1_csc_zplus_converges_and_gradient_x_input_does_not(rng):
    """On a deep ReLU MLP with positive inputs, the z+ explanations of different outputs become
    nearly identical towards the input; those of LRP-0 (= gradient x input) do not."""
    net, layers = deep_mlp(rng)
    x = np.abs(rng.normal(size=(8, 20)))
    seeds = np.broadcast_to(np.eye(10)[:5], (8, 5, 10))  # explain outputs 0..4
    with net:
        zplus = net.rank1_csc(x, seeds, rules=ZPlus())
        lrp0 = net.rank1_csc(x, seeds, rules=LRP0())
    assert zplus.shape == (len(layers) + 1,) and zplus.dtype == np.float64
    assert zplus[-1] == 0 and lrp0[-1] == 0  # distinct one-hot seeds are orthogonal
    assert zplus[0] >= 0.99
    assert zplus[0] - zplus[-2] >= 0.3  # clearly higher at the input than at the top
    assert lrp0[0] <= 0.6


@pytest.mark.parametrize("rule", [ZPlus(), LRP0()], ids=["zplus", "lrp0"])
def test_rank1_csc_is_the_mean_pairwise_cosine_of_lrp_results(rng, rule):
    """Every layer boundary, recomputed: the relevance at the input of layer l is net.lrp on
    the sub-network layers[l:] at layer l's input; then numpy's mean pairwise cosine."""
    net, layers = random_model(rng, [6, 8, 8, 8, 4], bias_scale=0.2)
    x = np.abs(rng.normal(size=(3, 6)))
    seeds = rng.normal(size=(3, 4, 4))
    with net:
        csc = net.rank1_csc(x, seeds, rules=rule)
    for layer in range(len(layers)):
        a = np.array([activations(layers, sample)[layer] for sample in x])
        with build(layers[layer:], a.shape[1]) as top:
            relevance = np.stack([top.lrp(a, seeds[:, s], rules=rule) for s in range(4)], axis=1)
        assert csc[layer] == pytest.approx(mean_pairwise_cosine(relevance), abs=1e-10), layer
    assert csc[-1] == pytest.approx(mean_pairwise_cosine(seeds), abs=1e-12)


def mean_pairwise_cosine(vectors):
    """Mean over samples of the mean cosine over pairs of vectors (zero vectors count 0)."""
    values = []
    for sample in vectors:
        cosines = []
        for i in range(len(sample)):
            for j in range(i + 1, len(sample)):
                norm = np.linalg.norm(sample[i]) * np.linalg.norm(sample[j])
                cosines.append(sample[i] @ sample[j] / norm if norm > 0 else 0.0)
        values.append(np.mean(cosines))
    return float(np.mean(values))


def test_rank1_csc_of_a_single_sample(rng):
    net, _ = random_model(rng, SIZES)
    x = np.abs(rng.normal(size=SIZES[0]))
    seeds = rng.normal(size=(3, SIZES[-1]))
    with net:
        single = net.rank1_csc(x, seeds, rules=ZPlus())
        batch = net.rank1_csc(x[None], seeds[None], rules=ZPlus())
    np.testing.assert_array_equal(single, batch)
