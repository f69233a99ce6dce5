"""Properties that hold on any ReLU network (Include/dtd.h sections 5 and 7): LRP-0 with the bias included
is gradient x input; without bias and stabiliser LRP conserves relevance; and the binding maps
every layer's parameters (h/w order, batch-norm arguments) the way a plain numpy model does."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd.rules import Epsilon, LRP0
from support import random_cnn, random_mlp, relative_error

DTYPES = ["float64", "float32"]
TOL = {"float64": 1e-9, "float32": 1e-4}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [[4, 6, 3], [10, 16, 16, 8, 4], [7, 5, 5, 5, 5, 2]],
                         ids=["2-layer", "4-layer", "5-layer"])
def test_lrp0_with_bias_equals_gradient_x_input_on_random_mlps(rng, dtype, sizes):
    """Explaining output k: LRP-0 seeded with f_k(x) e_k is x * grad f_k(x) (Include/dtd.h section 7, T2)."""
    with random_mlp(rng, sizes, dtype=dtype) as net:
        x = rng.normal(size=(6, sizes[0]))
        targets = rng.integers(0, sizes[-1], size=6)
        lrp = net.lrp(x, target=targets, rules=LRP0(bias=True))
        gxi = net.gradient_x_input(x, np.eye(sizes[-1])[targets])
    assert relative_error(lrp, gxi) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_lrp0_with_bias_equals_gradient_x_input_for_any_seed(rng, dtype):
    """LRP-0 divides the seed by the output it explains: LRP-0(r) = x * J^T (r / f(x))."""
    with random_mlp(rng, [6, 8, 8, 4], dtype=dtype) as net:
        x = rng.normal(size=(5, 6))
        seed = rng.normal(size=(5, 4))
        lrp = net.lrp(x, seed, rules=LRP0(bias=True))
        gxi = net.gradient_x_input(x, seed / net.forward(x).astype(np.float64))
    assert relative_error(lrp, gxi) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_lrp0_with_bias_equals_gradient_x_input_on_a_cnn_with_maxpool(rng, dtype):
    with random_cnn(rng, dtype=dtype) as net:
        x = rng.normal(size=(3, 2, 8, 8))
        lrp = net.lrp(x, target=[0, 1, 2], rules=LRP0())
        gxi = net.gradient_x_input(x, np.eye(3))
    assert relative_error(lrp, gxi) <= TOL[dtype]


@pytest.mark.parametrize("sizes", [[4, 6, 3], [10, 16, 16, 8, 4]], ids=["2-layer", "4-layer"])
def test_lrp0_without_bias_conserves_relevance(rng, sizes):
    with random_mlp(rng, sizes) as net:
        x = rng.normal(size=(8, sizes[0]))
        seed = rng.normal(size=(8, sizes[-1]))
        relevance, ledger = net.lrp(x, seed, rules=Epsilon(0.0, bias=False), ledger=True)
    # The identity needs every denominator nonzero; a zero one would show up as dropped.
    assert np.all(ledger["dropped"] == 0)
    np.testing.assert_allclose(relevance.sum(axis=1), seed.sum(axis=1), rtol=1e-9, atol=1e-12)


def test_lrp0_with_bias_does_not_conserve_when_biases_are_nonzero(rng):
    """The contrast to the test above: with the bias included some relevance goes to it."""
    with random_mlp(rng, [10, 16, 16, 4]) as net:
        x = rng.normal(size=(8, 10))
        seed = rng.normal(size=(8, 4))
        relevance = net.lrp(x, seed, rules=Epsilon(0.0, bias=True))
    assert np.max(np.abs(relevance.sum(axis=1) - seed.sum(axis=1))) > 1e-6


# MARK: - The binding's parameter mapping, against plain numpy models

def conv2d_reference(x, w, b, stride, padding, dilation):
    """Naive PyTorch Conv2d (cross-correlation, zero padding) for one (C, H, W) sample."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    cout, cin, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((cout, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh: i * sh + dh * (kh - 1) + 1: dh, j * sw: j * sw + dw * (kw - 1) + 1: dw]
            out[:, i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2]))
    return out + (0 if b is None else b[:, None, None])


def pool_reference(x, kernel, stride, padding, mode, count_include_pad=True):
    """Naive PyTorch MaxPool2d / AvgPool2d (floor mode) for one (C, H, W) sample."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    inside = np.pad(np.ones(x.shape[1:]), ((ph, ph), (pw, pw)))
    oh = (xp.shape[1] - kh) // sh + 1
    ow = (xp.shape[2] - kw) // sw + 1
    out = np.zeros((x.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, i * sh: i * sh + kh, j * sw: j * sw + kw]
            if mode == "max":
                out[:, i, j] = window.max(axis=(1, 2))
            else:
                count = kh * kw if count_include_pad else inside[i * sh: i * sh + kh, j * sw: j * sw + kw].sum()
                out[:, i, j] = window.sum(axis=(1, 2)) / count
    return out


def test_add_conv2d_maps_stride_padding_dilation_per_axis(rng):
    w, b = rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    stride, padding, dilation = (1, 2), (2, 1), (2, 1)
    x = rng.normal(size=(4, 2, 7, 6))
    with dtd.Network((2, 7, 6)) as net:
        net.add_conv2d(w, b, stride=stride, padding=padding, dilation=dilation)
        expected = np.stack([conv2d_reference(s, w, b, stride, padding, dilation) for s in x])
        assert net.output_shape == expected.shape[1:]
        assert relative_error(net.forward(x), expected) <= 1e-12


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_add_avgpool2d_maps_kernel_stride_padding_per_axis(rng, count_include_pad):
    x = rng.normal(size=(2, 3, 7, 8))
    kernel, stride, padding = (3, 2), (2, 1), (1, 1)
    with dtd.Network((3, 7, 8)) as net:
        net.add_avgpool2d(kernel, stride=stride, padding=padding, count_include_pad=count_include_pad)
        expected = np.stack([pool_reference(s, kernel, stride, padding, "avg", count_include_pad) for s in x])
        assert relative_error(net.forward(x), expected) <= 1e-12


def test_add_maxpool2d_maps_kernel_stride_padding_per_axis(rng):
    x = rng.normal(size=(2, 3, 7, 8))
    kernel, stride, padding = (3, 2), (2, 1), (1, 0)
    with dtd.Network((3, 7, 8)) as net:
        net.add_maxpool2d(kernel, stride=stride, padding=padding)
        expected = np.stack([pool_reference(s, kernel, stride, padding, "max") for s in x])
        assert relative_error(net.forward(x), expected) <= 1e-12


def test_add_maxpool2d_stride_defaults_to_kernel(rng):
    x = rng.normal(size=(1, 1, 6, 6))
    with dtd.Network((1, 6, 6)) as a, dtd.Network((1, 6, 6)) as b:
        a.add_maxpool2d(3)
        b.add_maxpool2d(3, stride=3)
        assert a.output_shape == (1, 2, 2)
        np.testing.assert_array_equal(a.forward(x), b.forward(x))


@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_add_batchnorm_folds_like_eval_mode_batchnorm(rng, kind):
    gamma, beta = rng.uniform(0.5, 2, size=3), rng.normal(size=3)
    mean, var, eps = rng.normal(size=3), rng.uniform(0.5, 2, size=3), 1e-3
    if kind == "dense":
        w, b, x = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(5, 4))
        net = dtd.Network((4,)).add_dense(w, b)
        z = x @ w.T + b
        expected = gamma * (z - mean) / np.sqrt(var + eps) + beta
        shape = (-1,)
    else:
        w, b, x = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), rng.normal(size=(5, 2, 5, 5))
        net = dtd.Network((2, 5, 5)).add_conv2d(w, b, padding=1)
        z = np.stack([conv2d_reference(s, w, b, (1, 1), (1, 1), (1, 1)) for s in x])
        c = (slice(None), None, None)
        expected = gamma[c] * (z - mean[c]) / np.sqrt(var[c] + eps) + beta[c]
    with net:
        net.add_batchnorm(gamma, beta, mean, var, eps=eps)
        assert net.layer_kinds[-1] == "batchnorm"
        assert relative_error(net.forward(x), expected) <= 1e-12
