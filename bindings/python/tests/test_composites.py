"""Composites: which rule lands on which layer (dtd_rules_kind), as documented at
dtd_rules_set_composite: feature layers are the conv layers if there are any, otherwise every
dense layer but the last; the other dense layers get epsilon."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd import composites
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, ZBox, ZPlus
from support import random_cnn, random_mlp, relative_error

# MLP: dense(0) relu dense(2) relu dense(4) relu dense(6)
MLP_EXPECTED = {
    "mlp_epsilon_plus":              {0: "zplus", 2: "zplus", 4: "zplus", 6: "epsilon"},
    "mlp_epsilon_plus_flat":         {0: "flat", 2: "zplus", 4: "zplus", 6: "epsilon"},
    "mlp_epsilon_gamma_box":         {0: "zbox", 2: "gamma", 4: "gamma", 6: "epsilon"},
    "mlp_epsilon_alpha2_beta1":      {0: "alphabeta", 2: "alphabeta", 4: "alphabeta", 6: "epsilon"},
    "mlp_epsilon_alpha2_beta1_flat": {0: "flat", 2: "alphabeta", 4: "alphabeta", 6: "epsilon"},
}
# CNN: conv(0) relu maxpool conv(3) relu flatten dense(6) relu dense(8): dense layers are all
# classifier layers because the network has conv layers.
CNN_EXPECTED = {
    "mlp_epsilon_plus":              {0: "zplus", 3: "zplus", 6: "epsilon", 8: "epsilon"},
    "mlp_epsilon_plus_flat":         {0: "flat", 3: "zplus", 6: "epsilon", 8: "epsilon"},
    "mlp_epsilon_gamma_box":         {0: "zbox", 3: "gamma", 6: "epsilon", 8: "epsilon"},
    "mlp_epsilon_alpha2_beta1":      {0: "alphabeta", 3: "alphabeta", 6: "epsilon", 8: "epsilon"},
    "mlp_epsilon_alpha2_beta1_flat": {0: "flat", 3: "alphabeta", 6: "epsilon", 8: "epsilon"},
}


def make(name: str) -> composites.Composite:
    if name == "mlp_epsilon_gamma_box":
        return composites.mlp_epsilon_gamma_box(low=-2.0, high=2.0)
    return getattr(composites, name)()


def expected_kinds(net: dtd.Network, mapping: dict[int, str]) -> tuple:
    return tuple(mapping.get(layer) for layer in range(net.layer_count))


@pytest.mark.parametrize("name", sorted(MLP_EXPECTED))
def test_composite_layer_mapping_on_an_mlp(rng, name):
    with random_mlp(rng, [5, 6, 6, 6, 3]) as net:
        assert net.rule_kinds(make(name)) == expected_kinds(net, MLP_EXPECTED[name])


@pytest.mark.parametrize("name", sorted(CNN_EXPECTED))
def test_composite_layer_mapping_on_a_cnn(rng, name):
    with random_cnn(rng) as net:
        assert net.layer_kinds == ("conv2d", "relu", "maxpool2d", "conv2d", "relu", "flatten",
                                   "dense", "relu", "dense")
        assert net.rule_kinds(make(name)) == expected_kinds(net, CNN_EXPECTED[name])


@pytest.mark.parametrize("name", sorted(CNN_EXPECTED))
def test_composite_encodes_its_name_and_code(name):
    composite = make(name)
    assert composite.name == name
    assert composite.code == getattr(dtd._capi, f"DTD_COMPOSITE_{name[len('mlp_'):].upper()}")


def test_composite_equals_the_explicit_rules_it_assigns_on_a_cnn(rng):
    """The preset's parameters reach the layers: epsilon_gamma_box(low, high, epsilon, gamma)
    gives exactly zbox / gamma / epsilon with those values and the default stabiliser."""
    with random_cnn(rng) as net:
        x = rng.uniform(-1, 1, size=(3, 2, 8, 8))
        composite = composites.mlp_epsilon_gamma_box(low=-1.0, high=1.0, epsilon=0.05, gamma=0.4)
        explicit = {0: ZBox(-1.0, 1.0), 3: Gamma(0.4), 6: Epsilon(0.05), 8: Epsilon(0.05)}
        a = net.lrp(x, target=0, rules=composite)
        b = net.lrp(x, target=0, rules=explicit)
        c = net.lrp(x, target=0, rules={0: ZBox(-1.0, 1.0), 3: Gamma(0.25), 6: Epsilon(0.05), 8: Epsilon(0.05)})
    np.testing.assert_array_equal(a, b)
    assert relative_error(c, a) > 1e-6  # gamma 0.4 vs 0.25 must matter, or the check is empty


@pytest.mark.parametrize("name, lower", [("mlp_epsilon_plus_flat", ZPlus()),
                                         ("mlp_epsilon_alpha2_beta1_flat", AlphaBeta(2.0, 1.0))])
def test_composite_equals_the_explicit_rules_it_assigns_on_an_mlp(rng, name, lower):
    with random_mlp(rng, [5, 6, 6, 3]) as net:
        x = rng.normal(size=(4, 5))
        a = net.lrp(x, target=1, rules=getattr(composites, name)(epsilon=0.01))
        b = net.lrp(x, target=1, rules={0: Flat(), 2: lower, 4: Epsilon(0.01)})
    np.testing.assert_array_equal(a, b)


def test_composite_with_overrides_replaces_single_layers(rng):
    with random_cnn(rng) as net:
        base = composites.mlp_epsilon_plus_flat()
        overridden = base.with_overrides({0: Epsilon(0.0), "8": {"rule": "gamma", "gamma": 0.5}})
        assert base.overrides == ()  # frozen: with_overrides returns a new composite
        assert net.rule_kinds(overridden) == ("epsilon", None, None, "zplus", None, None,
                                              "epsilon", None, "gamma")
        x = rng.normal(size=(2, 2, 8, 8))
        a = net.lrp(x, target=0, rules=overridden)
        b = net.lrp(x, target=0, rules={0: Epsilon(0.0), 3: ZPlus(), 6: Epsilon(), 8: Gamma(0.5)})
    np.testing.assert_array_equal(a, b)


def test_composite_overrides_in_a_rules_dict_mean_the_same(rng):
    with random_mlp(rng, [5, 6, 6, 3]) as net:
        x = rng.normal(size=(4, 5))
        composite = composites.mlp_epsilon_alpha2_beta1()
        as_dict = {"composite": composite, 2: ZPlus(), "4": {"rule": "epsilon", "epsilon": 0.5}}
        as_method = composite.with_overrides({2: ZPlus(), 4: Epsilon(0.5)})
        assert net.rule_kinds(as_dict) == net.rule_kinds(as_method) == ("alphabeta", None, "zplus", None, "epsilon")
        np.testing.assert_array_equal(net.lrp(x, target=0, rules=as_dict),
                                      net.lrp(x, target=0, rules=as_method))


def test_composite_key_in_rules_dict_must_be_a_composite(rng):
    with random_mlp(rng, [3, 4, 2]) as net, pytest.raises(TypeError, match="composite"):
        net.lrp(np.ones(3), target=0, rules={"composite": "mlp_epsilon_plus"})
