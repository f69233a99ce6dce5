"""The conservation ledger (dtd_ledger_entry): per layer and sample,
relevance_out = relevance_in + absorbed_bias + absorbed_stabilizer + dropped."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus
from support import random_cnn, random_mlp

RULES = [Epsilon(0.0), Epsilon(0.1), Epsilon(0.1, bias=False), ZPlus(), ZPlus(bias=False),
         AlphaBeta(), AlphaBeta(3.0, 2.0, bias=False), Gamma(0.5), Gamma(0.25, bias=False),
         WSquare(), WSquare(bias=False), Flat(), ZBox(-3.0, 3.0)]
NETWORKS = {"mlp": lambda rng, dtype: random_mlp(rng, [6, 8, 8, 3], dtype=dtype),
            "cnn": lambda rng, dtype: random_cnn(rng, dtype=dtype)}
INPUT_SHAPES = {"mlp": (6,), "cnn": (2, 8, 8)}
TERMS = ["relevance_out", "relevance_in", "absorbed_bias", "absorbed_stabilizer", "dropped"]


def check_identity(ledger: np.ndarray, tol: float) -> None:
    balance = (ledger["relevance_out"] - ledger["relevance_in"] - ledger["absorbed_bias"]
               - ledger["absorbed_stabilizer"] - ledger["dropped"])
    scale = np.max(np.abs(np.stack([ledger[t] for t in TERMS])), axis=0)
    assert np.all(np.abs(balance) <= tol * np.maximum(scale, 1e-300)), balance


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_ledger_identity_holds_per_layer_and_sample(rng, kind, rule, dtype):
    with NETWORKS[kind](rng, dtype) as net:
        x = rng.normal(size=(4, *INPUT_SHAPES[kind]))
        seed = rng.normal(size=(4, *net.output_shape))
        relevance, ledger = net.lrp(x, seed, rules=rule, ledger=True)
        assert ledger.shape == (4, net.layer_count)
    check_identity(ledger, 1e-9 if dtype == "float64" else 1e-4)
    np.testing.assert_array_equal(ledger["layer"], np.broadcast_to(np.arange(ledger.shape[1]), ledger.shape))
    # The ledger chains: what layer l passes down is what layer l-1 receives; the top receives
    # the seed and the bottom passes the returned relevance.
    rtol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(ledger["relevance_in"][:, 1:], ledger["relevance_out"][:, :-1], rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(ledger["relevance_out"][:, -1], seed.reshape(4, -1).sum(axis=1), rtol=rtol)
    np.testing.assert_allclose(ledger["relevance_in"][:, 0], relevance.reshape(4, -1).sum(axis=1),
                               rtol=1e-9 if dtype == "float64" else 1e-4, atol=1e-12)


def test_ledger_epsilon_with_bias_shows_absorbed_bias(rng):
    with random_mlp(rng, [6, 8, 8, 3]) as net:
        x = rng.normal(size=(4, 6))
        _, ledger = net.lrp(x, target=0, rules=Epsilon(0.01, bias=True), ledger=True)
        _, no_bias = net.lrp(x, target=0, rules=Epsilon(0.01, bias=False), ledger=True)
        dense = [i for i, kind in enumerate(net.layer_kinds) if kind == "dense"]
    assert np.all(np.abs(ledger["absorbed_bias"][:, dense]) > 0)
    assert np.all(no_bias["absorbed_bias"] == 0)
    assert np.all(np.abs(ledger["absorbed_stabilizer"][:, dense]) > 0)  # epsilon > 0 takes a share


def test_ledger_reports_relevance_dropped_at_a_zero_denominator():
    """LRP-0 on an output neuron with z = 0 gives a share of 0, never NaN: the seed is dropped."""
    weight = np.array([[1.0, 2.0], [0.0, 0.0]])  # neuron 1 has z = 0 for every input
    with dtd.Network((2,)).add_dense(weight) as net:
        relevance, ledger = net.lrp(np.array([1.0, 1.0]), [3.0, 5.0], rules=Epsilon(0.0), ledger=True)
    assert np.all(np.isfinite(relevance))
    np.testing.assert_allclose(relevance.sum(), 3.0, rtol=1e-12)
    assert ledger["dropped"][0] == pytest.approx(5.0, rel=1e-12)
    check_identity(ledger, 1e-12)


def test_ledger_not_requested_returns_only_relevance(rng):
    with random_mlp(rng, [3, 4, 2]) as net:
        result = net.lrp(rng.normal(size=(2, 3)), target=0, rules=Epsilon())
    assert isinstance(result, np.ndarray) and result.shape == (2, 3)


def test_ledger_single_sample_drops_the_batch_axis(rng):
    with random_mlp(rng, [3, 4, 2]) as net:
        relevance, ledger = net.lrp(rng.normal(size=3), target=1, rules=Epsilon(), ledger=True)
        assert relevance.shape == (3,)
        assert ledger.shape == (net.layer_count,)
        assert ledger.dtype == dtd.LEDGER_DTYPE
