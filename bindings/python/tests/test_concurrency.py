"""Overlapping calls on one network (Include/dtd.h, "Threads"), on a network large enough for the
worker pool: a VGG-style CIFAR CNN (four 3x3 convolutions, three of them Winograd-lowered), batch
4, so that every call splits its products and elementwise steps over libdtd's workers. Six
Python threads (ctypes releases the GIL) run LRP, gradient, roots, audit and the theory checks
in a shuffled mix, three rounds each; every result must be bit for bit the serial one.
"""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dtd
from dtd.rules import AlphaBeta, Epsilon, Gamma, ZPlus


def vgg_cifar(rng: np.random.Generator) -> dict:
    """3x32x32 -> conv 3->16, conv 16->16, pool, conv 16->32, conv 32->32, pool -> dense 10."""
    layers, c, size = [], 3, 32
    for block in ((16, 16), (32, 32)):
        for out in block:
            w = rng.normal(0, np.sqrt(2 / (9 * c)), size=(out, c, 3, 3))
            layers += [{"type": "conv2d", "weight": {"shape": list(w.shape), "data": w.ravel().tolist()},
                        "bias": {"shape": [out], "data": rng.normal(0, 0.05, out).tolist()},
                        "stride": [1, 1], "padding": [1, 1]}, {"type": "relu"}]
            c = out
        layers.append({"type": "maxpool2d", "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]})
        size //= 2
    w = rng.normal(0, np.sqrt(1 / (c * size * size)), size=(10, c * size * size))
    layers += [{"type": "flatten"},
               {"type": "dense", "weight": {"shape": list(w.shape), "data": w.ravel().tolist()}, "bias": None}]
    return {"input_shape": [3, 32, 32], "layers": layers}


def arrays(result) -> dict[str, np.ndarray]:
    """Every array (and number) a call returned, by name."""
    if isinstance(result, np.ndarray):
        return {"": result}
    fields = {k: v for k, v in vars(result).items() if isinstance(v, (np.ndarray, float, int))}
    assert fields, f"{type(result).__name__} exposes no arrays to compare"
    return {k: np.asarray(v) for k, v in fields.items()}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_overlapping_calls_give_the_serial_results_bit_for_bit(dtype):
    rng = np.random.default_rng(16)
    spec = vgg_cifar(rng)
    x = rng.uniform(0, 1, size=(4, 3, 32, 32))
    seed = np.eye(10)[[1, 4, 7, 9]]
    dense = len(spec["layers"]) - 1
    with dtd.Network.from_json(spec, dtype=dtype) as net:
        calls = {
            "lrp epsilon": lambda: net.lrp(x, seed, rules=Epsilon(1e-6)),
            "lrp zplus": lambda: net.lrp(x, seed, rules=ZPlus()),
            "lrp gamma": lambda: net.lrp(x, seed, rules=Gamma(0.25)),
            "lrp alpha-beta": lambda: net.lrp(x, seed, rules=AlphaBeta(2.0, 1.0)),
            "gradient": lambda: net.gradient(x, seed),
            "forward": lambda: net.forward(x),
            "roots": lambda: net.roots(x, layer=dense, target="predicted", rule=ZPlus()),
            "audit": lambda: net.audit(x, layer=dense, target="predicted", rule=ZPlus(), chunk_size=4),
            "gxi distance": lambda: net.gxi_distance(x, seed, rules=Epsilon(0.0)),
            "rank-1 CSC": lambda: net.rank1_csc(x, np.stack([seed, 1 - seed], axis=1), rules=Epsilon(0.0)),
        }
        serial = {name: arrays(call()) for name, call in calls.items()}
        jobs = [name for name in calls for _ in range(3)]
        random.Random(16).shuffle(jobs)
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda name: (name, arrays(calls[name]())), jobs))
    assert len(results) == len(jobs)
    for name, got in results:
        want = serial[name]
        assert got.keys() == want.keys(), name
        for field, value in got.items():
            assert value.dtype == want[field].dtype and value.shape == want[field].shape, f"{name} {field}"
            assert np.array_equal(value, want[field], equal_nan=True), \
                f"{name} {field}: an overlapping call differs from the serial one"
