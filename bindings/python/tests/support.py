"""Shared helpers for the dtd test suite: paths, tolerances and small random networks."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

import dtd

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "Tests" / "Fixtures"
ZENNIT_FILES = sorted((FIXTURES / "zennit").glob("*.json"))
SIGNATURES = REPO_ROOT / "Tests" / "abi" / "signatures.txt"
HEADER = REPO_ROOT / "Include" / "dtd.h"

#: Agreement with a float64 reference: 1e-9 relative in float64, 1e-4 in float32.
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


@lru_cache(maxsize=None)
def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def tensor(spec: dict) -> np.ndarray:
    """A ``{"shape", "data"}`` tensor of the fixture files as a float64 array."""
    return np.asarray(spec["data"], dtype=np.float64).reshape(spec["shape"])


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| / max|expected| (the plain max difference if expected is all 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    diff = np.max(np.abs(actual - expected)) if expected.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def random_mlp(rng: np.random.Generator, sizes: list[int], *, dtype: str = "float64",
               bias: bool = True, relu_last: bool = False) -> dtd.Network:
    """dense -> relu -> ... -> dense with N(0, 1/sqrt(fan_in)) weights and N(0, 0.1) biases."""
    net = dtd.Network((sizes[0],), dtype=dtype)
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weight = rng.normal(scale=fan_in ** -0.5, size=(fan_out, fan_in))
        net.add_dense(weight, rng.normal(scale=0.1, size=fan_out) if bias else None)
        if i < len(sizes) - 2 or relu_last:
            net.add_relu()
    return net


def random_cnn(rng: np.random.Generator, *, dtype: str = "float64", bias: bool = True) -> dtd.Network:
    """conv -> relu -> maxpool -> conv -> relu -> flatten -> dense -> relu -> dense, on (2, 8, 8)."""
    def b(n: int):
        return rng.normal(scale=0.1, size=n) if bias else None

    net = dtd.Network((2, 8, 8), dtype=dtype)
    net.add_conv2d(rng.normal(scale=0.3, size=(4, 2, 3, 3)), b(4), padding=1)
    net.add_relu()
    net.add_maxpool2d(2)
    net.add_conv2d(rng.normal(scale=0.3, size=(3, 4, 3, 3)), b(3), stride=1, padding=0)
    net.add_relu()
    net.add_flatten()
    net.add_dense(rng.normal(scale=0.3, size=(5, 12)), b(5))
    net.add_relu()
    net.add_dense(rng.normal(scale=0.3, size=(3, 5)), b(3))
    return net
