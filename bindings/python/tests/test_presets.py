"""Zennit's named composites (dtd.composites.EpsilonPlus, ...): the rule each layer gets, as
zennit/composites.py 0.5.1 assigns them (conv -> z+/gamma/alpha-beta, dense -> epsilon, the first
dense-or-conv layer flat, the first conv layer zbox), their parameters, overrides, lookup by
name, and the deprecated old names of libdtd's MLP presets. The comparison with Zennit's own
results on torch models is in test_import_torch.py."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import dtd
from dtd import composites
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, ZBox, ZPlus
from support import random_cnn, random_mlp

# MLP: dense(0) relu dense(2) relu dense(4) relu dense(6). Zennit maps conv layers only, so an
# MLP gets epsilon everywhere, except the flat first layer of the ...Flat presets.
MLP_EXPECTED = {
    "EpsilonPlus":            {0: "epsilon", 2: "epsilon", 4: "epsilon", 6: "epsilon"},
    "EpsilonPlusFlat":        {0: "flat", 2: "epsilon", 4: "epsilon", 6: "epsilon"},
    "EpsilonGammaBox":        {0: "epsilon", 2: "epsilon", 4: "epsilon", 6: "epsilon"},
    "EpsilonAlpha2Beta1":     {0: "epsilon", 2: "epsilon", 4: "epsilon", 6: "epsilon"},
    "EpsilonAlpha2Beta1Flat": {0: "flat", 2: "epsilon", 4: "epsilon", 6: "epsilon"},
}
# CNN: conv(0) relu maxpool conv(3) relu flatten dense(6) relu dense(8)
CNN_EXPECTED = {
    "EpsilonPlus":            {0: "zplus", 3: "zplus", 6: "epsilon", 8: "epsilon"},
    "EpsilonPlusFlat":        {0: "flat", 3: "zplus", 6: "epsilon", 8: "epsilon"},
    "EpsilonGammaBox":        {0: "zbox", 3: "gamma", 6: "epsilon", 8: "epsilon"},
    "EpsilonAlpha2Beta1":     {0: "alphabeta", 3: "alphabeta", 6: "epsilon", 8: "epsilon"},
    "EpsilonAlpha2Beta1Flat": {0: "flat", 3: "alphabeta", 6: "epsilon", 8: "epsilon"},
}


def make(name: str) -> composites.Preset:
    return composites.preset(name, low=-2.0, high=2.0) if name == "EpsilonGammaBox" else composites.preset(name)


def kinds(net: dtd.Network, mapping: dict[int, str]) -> tuple:
    return tuple(mapping.get(layer) for layer in range(net.layer_count))


@pytest.mark.parametrize("name", sorted(MLP_EXPECTED))
def test_preset_layer_mapping_on_an_mlp_is_zennits(rng, name):
    with random_mlp(rng, [5, 6, 6, 6, 3]) as net:
        assert net.rule_kinds(make(name)) == kinds(net, MLP_EXPECTED[name])


@pytest.mark.parametrize("name", sorted(CNN_EXPECTED))
def test_preset_layer_mapping_on_a_cnn_is_zennits(rng, name):
    with random_cnn(rng) as net:
        assert net.rule_kinds(make(name)) == kinds(net, CNN_EXPECTED[name])


def test_epsilon_gamma_box_boxes_the_first_conv_not_a_dense_layer_before_it():
    # (a dense layer before a conv needs a graph; the mapping itself is a function of the kinds)
    rules = composites.EpsilonGammaBox(-1.0, 1.0)._layer_rules(
        ["dense", "relu", "conv2d", "relu", "conv2d", "dense"])
    assert [type(rules[i]).__name__ for i in (0, 2, 4, 5)] == ["Epsilon", "ZBox", "Gamma", "Epsilon"]
    flat = composites.EpsilonPlusFlat()._layer_rules(["dense", "relu", "conv2d", "dense"])
    assert [type(flat[i]).__name__ for i in (0, 2, 3)] == ["Flat", "ZPlus", "Epsilon"]


def test_preset_parameters_reach_the_layers(rng):
    """Zennit's parameters and defaults: epsilon on dense layers, stabilizer on the others,
    gamma, the box, and bias=False for zero_params=['bias']."""
    with random_cnn(rng) as net:
        x = rng.uniform(-1, 1, size=(3, 2, 8, 8))
        preset = composites.EpsilonGammaBox(-1.5, 1.5, epsilon=0.05, gamma=0.4, stabilizer=1e-4,
                                            bias=False)
        explicit = {0: ZBox(-1.5, 1.5, 1e-4, bias=False), 3: Gamma(0.4, 1e-4, bias=False),
                    6: Epsilon(0.05, bias=False), 8: Epsilon(0.05, bias=False)}
        np.testing.assert_array_equal(net.lrp(x, target=0, rules=preset),
                                      net.lrp(x, target=0, rules=explicit))
        defaults = {0: Flat(1e-6), 3: AlphaBeta(2.0, 1.0, 1e-6), 6: Epsilon(1e-6), 8: Epsilon(1e-6)}
        np.testing.assert_array_equal(net.lrp(x, target=1, rules=composites.EpsilonAlpha2Beta1Flat()),
                                      net.lrp(x, target=1, rules=defaults))
        other_gamma = net.lrp(x, target=0, rules={**explicit, 3: Gamma(0.25, 1e-4, bias=False)})
        assert np.abs(other_gamma - net.lrp(x, target=0, rules=preset)).max() > 1e-9


def test_preset_box_bounds_may_be_arrays(rng):
    with random_cnn(rng) as net:
        x = rng.uniform(-1, 1, size=(2, 2, 8, 8))
        low, high = np.array([-1.0, -2.0]), np.array([1.0, 2.0])
        a = net.lrp(x, target=0, rules=composites.EpsilonGammaBox(low, high))
        b = net.lrp(x, target=0, rules={0: ZBox(low, high), 3: Gamma(), 6: Epsilon(), 8: Epsilon()})
    np.testing.assert_array_equal(a, b)


def test_preset_overrides_by_index_and_in_a_rules_dict(rng):
    with random_cnn(rng) as net:
        base = composites.EpsilonPlus()
        overridden = base.with_overrides({8: {"rule": "gamma", "gamma": 0.5}, "0": Flat()})
        assert base.overrides == ()
        assert net.rule_kinds(overridden) == ("flat", None, None, "zplus", None, None, "epsilon",
                                              None, "gamma")
        assert net.rule_kinds({"composite": base, 8: Gamma(0.5), 0: Flat()}) == \
            net.rule_kinds(overridden)


def test_preset_equality_hash_and_repr():
    assert composites.EpsilonPlus() == composites.EpsilonPlus(epsilon=1e-6)
    assert composites.EpsilonPlus() != composites.EpsilonPlusFlat()
    assert composites.EpsilonPlus(epsilon=0.1) != composites.EpsilonPlus()
    assert hash(composites.EpsilonGammaBox(0.0, 1.0)) == hash(composites.EpsilonGammaBox(0.0, 1.0))
    assert repr(composites.EpsilonPlus()) == "EpsilonPlus(epsilon=1e-06, stabilizer=1e-06, bias=True)"
    assert composites.EpsilonPlus().with_overrides({0: Flat()}) != composites.EpsilonPlus()


def test_preset_by_name():
    assert composites.preset("EpsilonPlusFlat") == composites.EpsilonPlusFlat()
    assert composites.preset("mlp_epsilon_plus", epsilon=0.5) == composites.mlp_epsilon_plus(0.5)
    with pytest.raises(ValueError, match="unknown preset 'epsilon_plus'.*EpsilonPlus"):
        composites.preset("epsilon_plus")
    assert set(composites.PRESETS) == {"EpsilonPlus", "EpsilonPlusFlat", "EpsilonGammaBox",
                                       "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat"}


def test_preset_bias_must_be_a_boolean():
    with pytest.raises(TypeError, match="bias must be True or False"):
        composites.EpsilonPlus(bias="exclude")


@pytest.mark.parametrize("old", ["epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1",
                                 "epsilon_alpha2_beta1_flat", "epsilon_gamma_box"])
def test_old_preset_names_warn_and_keep_their_meaning(rng, old):
    args = (-1.0, 1.0) if old == "epsilon_gamma_box" else ()
    with pytest.warns(DeprecationWarning, match=f"mlp_{old}"):
        deprecated = getattr(composites, old)(*args)
    assert deprecated == getattr(composites, f"mlp_{old}")(*args)
    with random_mlp(rng, [4, 5, 5, 2]) as net, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert net.rule_kinds(deprecated)[2] != "epsilon"  # the MLP preset: hidden layers layered
