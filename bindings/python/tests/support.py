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
#: Graph networks (residual, concatenating, skip MLP): route, add, adaptive pooling, batch norms.
ZENNIT_GRAPH_FILES = sorted((FIXTURES / "zennit_graph").glob("*.json"))
SIGNATURES = REPO_ROOT / "Tests" / "abi" / "signatures.txt"
HEADER = REPO_ROOT / "Include" / "dtd.h"

#: Agreement with a float64 reference: 1e-9 relative in float64, 1e-4 in float32, per sample
#: (see relative_error).
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


@lru_cache(maxsize=None)
def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def tensor(spec: dict) -> np.ndarray:
    """A ``{"shape", "data"}`` tensor of the fixture files as a float64 array."""
    return np.asarray(spec["data"], dtype=np.float64).reshape(spec["shape"])


def element_errors(actual, expected, *, per_element_above: float = 1.0) -> np.ndarray:
    """Every element's error, per sample: the first axis indexes samples (a 1-D array is one
    sample), and element i of sample n is off by |a_i - e_i| / max(|e_i|, per_element_above * S_n)
    with S_n the sample's largest |e|. By default every element is measured against its own
    sample's scale, so a sample far smaller than the rest of the batch cannot hide its error; with
    ``per_element_above`` < 1 the entries at least that fraction of S_n are measured against
    themselves (per element) and only the near-zero rest against that floor. A sample whose
    reference is all zero is measured absolutely; NaN anywhere, in either array, is infinitely far."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    rows = 1 if expected.ndim < 2 else expected.shape[0]
    a, e = actual.reshape(rows, -1), expected.reshape(rows, -1)
    scale = np.max(np.abs(np.nan_to_num(e)), axis=1, keepdims=True, initial=0.0)
    denominator = np.maximum(np.abs(e), per_element_above * scale)
    with np.errstate(invalid="ignore"):
        errors = np.abs(a - e) / np.where(denominator > 0, denominator, 1.0)
    return np.where(np.isnan(errors), np.inf, errors).reshape(expected.shape)


def relative_error(actual, expected, *, per_element_above: float = 1.0) -> float:
    """The largest of :func:`element_errors` (0 for empty arrays): the agreement measure of every
    array tolerance in this suite."""
    errors = element_errors(actual, expected, per_element_above=per_element_above)
    return float(np.max(errors, initial=0.0))


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
