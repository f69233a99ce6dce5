"""The scratch cap (``dtd.set_max_scratch_bytes``, ``dtd_set_max_scratch_bytes``): a call that
would allocate past it raises DTD_ERROR_OUT_OF_MEMORY naming the cap, before allocating."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd import _capi as C
from dtd._model_format import ArgumentTypeError
from dtd.rules import Epsilon
from support import random_cnn


@pytest.fixture
def no_cap_afterwards():
    yield
    dtd.set_max_scratch_bytes(0)


def test_set_max_scratch_bytes_refuses_a_call_that_needs_more(rng, no_cap_afterwards):
    with random_cnn(rng) as net:
        x = rng.normal(size=(64, 2, 8, 8))
        expected = net.lrp(x, target=0, rules=Epsilon(0.01))
        assert dtd.set_max_scratch_bytes(64 << 10) == 0
        with pytest.raises(dtd.DTDError) as info:
            net.lrp(x, target=0, rules=Epsilon(0.01))
        assert info.value.status == C.DTD_ERROR_OUT_OF_MEMORY
        assert "scratch limit of 65536 bytes" in info.value.message
        with pytest.raises(dtd.DTDError):
            net.forward(x)
        # one sample fits under the cap; the whole batch again once it is raised
        np.testing.assert_array_equal(net.lrp(x[0], target=0, rules=Epsilon(0.01)), expected[0])
        assert dtd.set_max_scratch_bytes(1 << 30) == 64 << 10
        np.testing.assert_array_equal(net.lrp(x, target=0, rules=Epsilon(0.01)), expected)


def test_set_max_scratch_bytes_rejects_a_negative_cap_and_a_non_integer():
    with pytest.raises(dtd.DTDError) as info:
        dtd.set_max_scratch_bytes(-1)
    assert info.value.status == C.DTD_ERROR_SIZE and "max_bytes" in info.value.message
    for bad in (True, 1.5, "1024"):
        with pytest.raises(ArgumentTypeError, match="max_bytes"):
            dtd.set_max_scratch_bytes(bad)


def test_building_is_not_capped(rng, no_cap_afterwards):
    dtd.set_max_scratch_bytes(1024)
    with dtd.Network((64,)).add_dense(rng.normal(size=(256, 64))) as net:  # 128 KiB of weights
        assert net.layer_count == 1
