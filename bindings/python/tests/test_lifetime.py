"""Handles are freed deterministically: close(), `with`, garbage collection (weakref.finalize),
and the one cached rule set per network. Freed handles are checked through the library's
registry, which reports a stale handle instead of crashing."""
from __future__ import annotations

import gc
from ctypes import byref, c_int32, c_int64

import numpy as np
import pytest

import dtd
from dtd import _capi as C
from dtd.rules import Epsilon, Gamma
from support import random_mlp


def network_is_live(handle) -> bool:
    count = c_int64()
    return C.dtd_network_layer_count(handle, byref(count)) == C.DTD_OK


def rules_are_live(handle) -> bool:
    kind = c_int32()
    return C.dtd_rules_kind(handle, 0, byref(kind)) == C.DTD_OK


def test_close_frees_the_network_and_twice_is_harmless(rng):
    net = random_mlp(rng, [3, 4, 2])
    handle = net._handle
    assert network_is_live(handle) and not net.closed
    net.close()
    assert net.closed and not network_is_live(handle)
    net.close()
    assert repr(net) == "<dtd.Network (closed)>"


def test_with_block_closes_the_network(rng):
    with random_mlp(rng, [3, 4, 2]) as net:
        handle = net._handle
        assert network_is_live(handle)
    assert net.closed and not network_is_live(handle)


def test_garbage_collection_frees_the_network_and_its_rule_set(rng):
    net = random_mlp(rng, [3, 4, 2])
    net.lrp(np.ones(3), target=0, rules=Epsilon())
    handle, finalizer = net._handle, net._finalizer
    rules_handle = net._rules_cache[1].handle
    assert finalizer.alive and rules_are_live(rules_handle)
    del net
    gc.collect()
    assert not finalizer.alive
    assert not network_is_live(handle)
    assert not rules_are_live(rules_handle)


def test_garbage_collection_frees_a_network_in_a_reference_cycle(rng):
    net = random_mlp(rng, [3, 4, 2])
    net.cycle = net  # only the cycle collector can free it
    handle, finalizer = net._handle, net._finalizer
    del net
    gc.collect()
    assert not finalizer.alive and not network_is_live(handle)


def test_repeated_lrp_reuses_the_prepared_rule_set(rng):
    with random_mlp(rng, [3, 4, 2]) as net:
        x = rng.normal(size=(2, 3))
        net.lrp(x, target=0, rules={0: Gamma(0.5), 2: Epsilon(0.1)})
        first = net._rules_cache[1]
        # Equal rules written differently (new objects, string keys, reference dicts) hit the cache.
        net.lrp(x, target=1, rules={"2": {"rule": "epsilon", "epsilon": 0.1}, 0: Gamma(0.5)})
        assert net._rules_cache[1] is first


def test_new_rules_replace_and_free_the_cached_rule_set(rng):
    with random_mlp(rng, [3, 4, 2]) as net:
        x = rng.normal(size=(2, 3))
        net.lrp(x, target=0, rules=Epsilon())
        old = net._rules_cache[1]._finalizer
        net.lrp(x, target=0, rules=Gamma())
        # Freed as soon as no call uses it any more (the handle address may be reused, so the
        # finalizer, not the registry, is the witness here).
        assert not old.alive
        assert net.rule_kinds(Gamma()) == ("gamma", None, "gamma")


def test_close_frees_the_cached_rule_set(rng):
    net = random_mlp(rng, [3, 4, 2])
    net.lrp(np.ones(3), target=0, rules=Epsilon())
    rules_handle = net._rules_cache[1].handle
    net.close()
    assert not rules_are_live(rules_handle)


def test_adding_a_layer_drops_the_cached_rule_set(rng):
    """Rule sets belong to the layer list they were made for (NETWORK_MISMATCH otherwise)."""
    net = random_mlp(rng, [3, 4, 2])
    with net:
        net.lrp(np.ones(3), target=0, rules=Epsilon())
        rules_handle = net._rules_cache[1].handle
        net.add_relu()
        assert net._rules_cache is None and not rules_are_live(rules_handle)
        relevance = net.lrp(np.ones(3), target=0, rules=Epsilon())
        assert relevance.shape == (3,)


def test_failed_rules_free_the_partial_rule_set_and_keep_the_cached_one(rng, monkeypatch):
    made = []

    class RecordingRuleSet(dtd.network._RuleSet):
        def __init__(self, handle):
            super().__init__(handle)
            made.append(self._finalizer)

    monkeypatch.setattr(dtd.network, "_RuleSet", RecordingRuleSet)
    with random_mlp(rng, [3, 4, 2]) as net:
        net.lrp(np.ones(3), target=0, rules=Epsilon())
        cached = net._rules_cache
        with pytest.raises(dtd.DTDError):
            net.lrp(np.ones(3), target=0, rules={0: Epsilon(-1.0), 2: Epsilon()})
        assert len(made) == 2 and made[0].alive and not made[1].alive
        assert net._rules_cache is cached and rules_are_live(cached[1].handle)
