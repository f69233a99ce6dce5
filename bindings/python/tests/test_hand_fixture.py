"""The hand-computed example of the header: x = [1, 2, 3], W1 = 2*ones(3, 3), ReLU,
W2 = 3*ones(1, 3), no biases. f(x) = 3 * 3 * 2 * (1 + 2 + 3) = 108, and every explanation that
is exact here splits 108 in proportion to x: [18, 36, 54]."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd.rules import Epsilon, LRP0

X = np.array([1.0, 2.0, 3.0])
EXPECTED = np.array([18.0, 36.0, 54.0])
TOL = {"float64": 1e-12, "float32": 1e-6}


def hand_network(dtype: str) -> dtd.Network:
    return (dtd.Network((3,), dtype=dtype)
            .add_dense(2 * np.ones((3, 3)))
            .add_relu()
            .add_dense(3 * np.ones((1, 3))))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hand_fixture_forward_is_108(dtype):
    with hand_network(dtype) as net:
        np.testing.assert_allclose(net.forward(X), [108.0], rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rule", [LRP0(), Epsilon(0.0), Epsilon(1e-9), Epsilon(1e-6, bias=False)],
                         ids=["LRP0", "epsilon0", "epsilon1e-9", "epsilon1e-6-nobias"])
def test_hand_fixture_lrp_epsilon_seeded_by_target(dtype, rule):
    # eps only shrinks each layer's share by z / (z + eps), z >= 18, so 1e-6 stays within 1e-7.
    with hand_network(dtype) as net:
        relevance = net.lrp(X, target=0, rules={0: rule, 2: rule})
    np.testing.assert_allclose(relevance, EXPECTED, rtol=max(TOL[dtype], 1e-7))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hand_fixture_lrp_with_explicit_seed_108(dtype):
    with hand_network(dtype) as net:
        relevance = net.lrp(X, [108.0], rules={0: Epsilon(0.0), 2: Epsilon(0.0)})
    np.testing.assert_allclose(relevance, EXPECTED, rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hand_fixture_gradient_x_input_seeded_with_1(dtype):
    with hand_network(dtype) as net:
        np.testing.assert_allclose(net.gradient_x_input(X, [1.0]), EXPECTED, rtol=TOL[dtype])
        np.testing.assert_allclose(net.gradient(X, [1.0]), EXPECTED / X, rtol=TOL[dtype])


def test_hand_fixture_batch_and_single_sample_agree():
    batch = np.stack([X, 2 * X])
    with hand_network("float64") as net:
        relevance = net.lrp(batch, target=[0, 0], rules=Epsilon(0.0))
        assert relevance.shape == (2, 3)
        np.testing.assert_allclose(relevance[0], EXPECTED, rtol=1e-12)
        # Doubling x doubles the output (the network is 1-homogeneous); the shares stay x / sum(x).
        np.testing.assert_allclose(relevance[1], 2 * EXPECTED, rtol=1e-12)
        assert net.lrp(X, target=0, rules=Epsilon(0.0)).shape == (3,)
