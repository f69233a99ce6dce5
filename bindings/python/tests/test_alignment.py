"""Buffers whose address is not a multiple of their element size (numpy arrays unpickled from a
byte stream, as dask does, often are) give the results of aligned ones and never crash the
process: libdtd works on an aligned copy for the call and copies outputs back after a success
(Sources/DTD/Boundary/Realignment.swift)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import dtd
from dtd import _capi
from support import random_mlp


def misaligned(values: np.ndarray) -> np.ndarray:
    """A copy of `values` one byte past an aligned address."""
    values = np.ascontiguousarray(values)
    raw = np.zeros(values.nbytes + values.itemsize, dtype=np.uint8)
    copy = raw[1:1 + values.nbytes].view(values.dtype).reshape(values.shape)
    copy[...] = values
    assert not copy.flags.aligned
    return copy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_misaligned_inputs_give_the_aligned_results(dtype):
    rng = np.random.default_rng(7)
    net = random_mlp(rng, [6, 8, 8, 3], dtype=dtype)
    x = rng.normal(size=(5, 6)).astype(dtype)
    seed = rng.normal(size=(5, 3)).astype(dtype)
    rules = dtd.rules.ZPlus()
    np.testing.assert_array_equal(net.forward(misaligned(x)), net.forward(x))
    np.testing.assert_array_equal(net.gradient(misaligned(x), misaligned(seed)), net.gradient(x, seed))
    relevance, ledger = net.lrp(x, seed, rules=rules, ledger=True)
    shifted, shifted_ledger = net.lrp(misaligned(x), misaligned(seed), rules=rules, ledger=True)
    np.testing.assert_array_equal(shifted, relevance)
    np.testing.assert_array_equal(shifted_ledger, ledger)


def test_a_misaligned_output_is_written_in_full():
    """Through the C call itself: a misaligned output buffer receives exactly what an aligned one
    does, and its elements beyond the documented size stay as they were."""
    rng = np.random.default_rng(8)
    net = random_mlp(rng, [4, 5, 2])
    x = rng.normal(size=(3, 4))
    expected = net.forward(x)
    out = misaligned(np.full(3 * 2 + 1, 42.0))
    status = _capi.dtd_network_forward_f64(net._h(), 3, x.ctypes.data_as(_capi.const_double_p.ctype), x.size,
                                           out.ctypes.data_as(_capi.double_p.ctype), out.size)
    assert status == 0
    np.testing.assert_array_equal(out[:6].reshape(3, 2), expected)
    assert out[6] == 42.0
