"""Rule objects: Zennit's names and defaults, the reference-dict format, and that each rule
encodes into the matching dtd_rules_set_* call (checked through dtd_rules_kind and results)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import dtd
from dtd.rules import LRP0, AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus, rule_from_dict
from support import random_cnn, random_mlp, relative_error


def test_rules_defaults_mirror_zennit():
    # Zennit 0.5.1: Epsilon(epsilon=1e-6), Gamma(gamma=0.25), AlphaBeta(alpha=2, beta=1),
    # stabilizer=1e-6 everywhere, bias included unless zero_params=['bias'].
    assert Epsilon() == Epsilon(epsilon=1e-6, bias=True)
    assert ZPlus() == ZPlus(stabilizer=1e-6, bias=True)
    assert AlphaBeta() == AlphaBeta(alpha=2.0, beta=1.0, stabilizer=1e-6, bias=True)
    assert Gamma() == Gamma(gamma=0.25, stabilizer=1e-6, bias=True)
    assert WSquare() == WSquare(stabilizer=1e-6, bias=True)
    assert Flat() == Flat(stabilizer=1e-6)
    assert LRP0() == Epsilon(0.0)
    assert LRP0(bias=False) == Epsilon(0.0, bias=False)


def test_rules_are_frozen_and_hashable():
    rule = Gamma(0.5, bias=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.gamma = 1.0  # type: ignore[misc]
    assert hash(rule) == hash(Gamma(0.5, bias=False))
    assert {ZBox([0, 1], [2, 3]), ZBox(np.array([0.0, 1.0]), (2, 3))} == {ZBox([0, 1], [2, 3])}
    assert ZBox([0, 1], [2, 3]) != ZBox([0, 1], [2, 4])


def test_zbox_copies_array_bounds():
    low = np.zeros(3)
    rule = ZBox(low, 1.0)
    low[0] = 5.0
    assert rule.low[0] == 0.0
    assert not rule.low.flags.writeable


@pytest.mark.parametrize("value", ["exclude", 0, None])
def test_rules_bias_must_be_a_bool(value):
    with pytest.raises(TypeError, match="bias"):
        Epsilon(0.1, bias=value)


@pytest.mark.parametrize("spec, expected", [
    ({"rule": "epsilon", "epsilon": 0.25, "bias": "include"}, Epsilon(0.25)),
    ({"rule": "epsilon", "bias": "exclude"}, Epsilon(1e-6, bias=False)),
    ({"rule": "zplus", "stabilizer": 1e-6, "bias": "exclude"}, ZPlus(1e-6, bias=False)),
    ({"rule": "alphabeta", "alpha": 3.0, "beta": 2.0}, AlphaBeta(3.0, 2.0)),
    ({"rule": "gamma", "gamma": 0.5, "stabilizer": 1e-3, "bias": "include"}, Gamma(0.5, 1e-3)),
    ({"rule": "wsquare", "bias": "exclude"}, WSquare(bias=False)),
    ({"rule": "flat", "stabilizer": 1e-6, "bias": "include"}, Flat()),
    ({"rule": "zbox", "low": -1.0, "high": 1.0, "stabilizer": 1e-6, "bias": "include"}, ZBox(-1.0, 1.0)),
    ({"rule": "zbox", "low": [0, 0], "high": [1, 2]}, ZBox([0.0, 0.0], [1.0, 2.0])),
], ids=lambda v: v.get("rule") if isinstance(v, dict) else "")
def test_rule_from_dict_reads_the_reference_format(spec, expected):
    assert rule_from_dict(spec) == expected


@pytest.mark.parametrize("spec, match", [
    ({"rule": "lrp-omega"}, "unknown rule"),
    ({"rule": None}, "unknown rule"),
    ({"epsilon": 0.1}, '"rule"'),
    ({"rule": "gamma", "gama": 0.5}, "'gama'"),
    ({"rule": "epsilon", "stabilizer": 1e-6}, "'stabilizer'"),
    ({"rule": "zbox", "low": 0.0}, "high"),
    ({"rule": "zplus", "bias": "sometimes"}, "include"),
])
def test_rule_from_dict_rejects_bad_dicts(spec, match):
    with pytest.raises(ValueError, match=match):
        rule_from_dict(spec)


RULE_OBJECTS = [Epsilon(0.1), Epsilon(0.0, bias=False), ZPlus(), AlphaBeta(), Gamma(0.3),
                WSquare(), Flat(), ZBox(-1.0, 1.0), ZBox(np.full(5, -1.0), np.full(5, 1.0))]


@pytest.mark.parametrize("rule", RULE_OBJECTS, ids=repr)
def test_rule_encodes_into_its_own_kind(rng, rule):
    with random_mlp(rng, [5, 4, 3]) as net:
        assert net.rule_kinds({0: rule, 2: Epsilon()}) == (rule.name, None, "epsilon")
        assert getattr(dtd._capi, f"DTD_RULE_{rule.name.upper()}") == rule.kind


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rule", [Epsilon(0.1, bias=False), ZPlus(bias=False),
                                  AlphaBeta(bias=False), WSquare(bias=False)], ids=repr)
def test_rule_bias_false_excludes_the_bias(rng, rule, dtype):
    """bias=False must reach the library. On one dense layer (so the rule sees the same input
    either way) it equals bias=True on the same weights without a bias, and differs from
    bias=True with the bias."""
    weight, bias = rng.normal(size=(3, 5)), rng.normal(size=3)
    x = rng.uniform(0.1, 1.0, size=(4, 5))
    seed = rng.normal(size=(4, 3))
    included = dataclasses.replace(rule, bias=True)
    with dtd.Network((5,), dtype=dtype).add_dense(weight, bias) as net, \
            dtd.Network((5,), dtype=dtype).add_dense(weight) as no_bias:
        excluded = net.lrp(x, seed, rules=rule)
        reference = no_bias.lrp(x, seed, rules=included)
        with_bias = net.lrp(x, seed, rules=included)
    assert relative_error(excluded, reference) <= (1e-12 if dtype == "float64" else 1e-5)
    assert relative_error(with_bias, excluded) > 1e-6


def test_gamma_bias_false_changes_the_result(rng):
    """Gamma keeps the true z for its gate, so only a difference can be checked generically."""
    with random_mlp(rng, [5, 6, 3]) as net:
        x = rng.normal(size=(4, 5))
        a = net.lrp(x, target=0, rules=Gamma(0.5, bias=False))
        b = net.lrp(x, target=0, rules=Gamma(0.5, bias=True))
    assert relative_error(a, b) > 1e-6


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zbox_scalar_per_channel_and_per_element_bounds_agree(rng, dtype):
    """The three encodings of the same box on a conv layer input (C=2, 8x8) give one result."""
    with random_cnn(rng, dtype=dtype) as net:
        x = rng.uniform(-1, 1, size=(3, 2, 8, 8))
        rest = {3: ZPlus(), 6: Epsilon(), 8: Epsilon()}
        scalar = net.lrp(x, target=0, rules={0: ZBox(-1.0, 2.0), **rest})
        per_channel = net.lrp(x, target=0, rules={0: ZBox([-1.0, -1.0], [2.0, 2.0]), **rest})
        per_element = net.lrp(x, target=0, rules={0: ZBox(np.full((2, 8, 8), -1.0), np.full((2, 8, 8), 2.0)), **rest})
        other = net.lrp(x, target=0, rules={0: ZBox([-1.0, -3.0], [2.0, 2.0]), **rest})
    tol = 1e-12 if dtype == "float64" else 1e-6
    assert relative_error(per_channel, scalar) <= tol
    assert relative_error(per_element, scalar) <= tol
    assert relative_error(other, scalar) > 1e-6  # a different channel bound must matter


def test_a_single_rule_means_that_rule_on_every_weighted_layer(rng):
    with random_cnn(rng) as net:
        assert net.rule_kinds(Gamma()) == ("gamma", None, None, "gamma", None, None, "gamma", None, "gamma")
