"""Winograd's F(2x2, 3x3) through the Python binding (Include/dtd.h, "Rounding"): wide CNNs (16
channels both sides, 3x3 stride 1) with and without it (DTD_WINOGRAD=0, read once per process, so
the im2col side runs in a subprocess).

Each test checks that Winograd really ran, so all of them fail when DTD_WINOGRAD=0 is set for the
whole run, as they must.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dtd
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZPlus
from support import relative_error

RULES = {"lrp0": Epsilon(0.0), "epsilon": Epsilon(1e-6), "zplus": ZPlus(), "gamma": Gamma(0.25),
         "gamma_nobias": Gamma(0.25, bias=False), "alpha2beta1": AlphaBeta(2.0, 1.0), "wsquare": WSquare(),
         "flat": Flat()}
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def exact_wide_cnn(rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    """conv 16->16 (no bias) -> relu -> conv 16->16 (integer bias) -> relu -> maxpool 2 -> flatten
    -> dense 3, weights in {-1, 0, 1}, integer inputs below 2^8 (im2col is exact in float32): a dead
    patch, zero padding, and first-layer windows made to cancel exactly (to -1, 0 or 1)."""
    c, h, n = 16, 10, 3
    w1 = rng.integers(-1, 2, size=(c, c, 3, 3)).astype(float)
    w1[:, 0, 1, 1] = np.where(np.arange(c) % 2 == 0, 1.0, -1.0)
    w2 = rng.integers(-1, 2, size=(c, c, 3, 3)).astype(float)
    b2 = rng.integers(-8, 9, size=c).astype(float)
    w3 = rng.integers(-1, 2, size=(3, c * 25)).astype(float)
    x = rng.integers(0, 256, size=(n, c, h, h)).astype(float)
    x[:, :, 0:4, 6:10] = 0
    padded = lambda v: np.pad(v, ((0, 0), (1, 1), (1, 1)))
    for s in range(n):
        for k, (y, xx) in enumerate([(1, 1), (1, 4), (4, 1), (4, 4), (7, 2), (7, 7), (8, 5)]):
            co, target = (5 * k + s) % c, k % 3 - 1
            x[s, 0, y, xx] = 0
            rest = np.sum(w1[co] * padded(x[s])[:, y:y + 3, xx:xx + 3])
            x[s, 0, y, xx] = np.clip((target - rest) * w1[co, 0, 1, 1], 0, 2047)
    spec = {"input_shape": [c, h, h], "layers": [
        {"type": "conv2d", "weight": {"shape": [c, c, 3, 3], "data": w1.ravel().tolist()}, "bias": None,
         "stride": [1, 1], "padding": [1, 1]}, {"type": "relu"},
        {"type": "conv2d", "weight": {"shape": [c, c, 3, 3], "data": w2.ravel().tolist()},
         "bias": {"shape": [c], "data": b2.tolist()}, "stride": [1, 1], "padding": [1, 1]}, {"type": "relu"},
        {"type": "maxpool2d", "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]}, {"type": "flatten"},
        {"type": "dense", "weight": {"shape": [3, c * 25], "data": w3.ravel().tolist()}, "bias": None}]}
    seed = np.round(rng.uniform(-1, 1, size=(n, 3)) * 64) / 64
    return spec, x, seed


def compute(spec: dict, x: np.ndarray, seed: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    """Forward, gradient and LRP with every rule of RULES, in this process."""
    with dtd.Network.from_json(spec, dtype=dtype) as net:
        out = {"forward": net.forward(x), "gradient": net.gradient(x, seed)}
        for name, rule in RULES.items():
            out[name] = net.lrp(x, seed, rules=rule)
        return out


WORKER = textwrap.dedent("""
    import json, sys, numpy as np
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import test_winograd as t
    data = np.load(sys.argv[3])
    spec = json.loads(open(sys.argv[4]).read())
    np.savez(sys.argv[5], **t.compute(spec, data["x"], data["seed"], sys.argv[6]))
""")


def without_winograd(tmp_path: Path, spec: dict, x: np.ndarray, seed: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    """compute() in a subprocess with DTD_WINOGRAD=0 (im2col everywhere)."""
    np.savez(tmp_path / "in.npz", x=x, seed=seed)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    here = Path(__file__).resolve().parent
    subprocess.run([sys.executable, "-c", WORKER, str(here), str(here.parent), str(tmp_path / "in.npz"),
                    str(tmp_path / "spec.json"), str(tmp_path / "out.npz"), dtype],
                   env={**os.environ, "DTD_WINOGRAD": "0"}, check=True, timeout=300)
    with np.load(tmp_path / "out.npz") as data:
        return {key: data[key] for key in data.files}


def differs_somewhere(a: np.ndarray, b: np.ndarray) -> bool:
    return not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wide_cnn_explains_the_same_with_and_without_winograd(tmp_path, dtype):
    """Same ReLU masks and max-pool winners (the gradient bit for bit), same gamma gates, and every
    LRP rule within 1e-12 (float64) / 1e-5 (float32) per element."""
    spec, x, seed = exact_wide_cnn(np.random.default_rng(16))
    winograd = compute(spec, x, seed, dtype)
    im2col = without_winograd(tmp_path, spec, x, seed, dtype)
    np.testing.assert_array_equal(winograd["gradient"], im2col["gradient"])
    for key in ("forward", *RULES):
        error = relative_error(winograd[key], im2col[key], per_element_above=1e-3)
        assert error <= TOLERANCE[dtype], (key, error)
    # Winograd ran: real-valued data rounds differently in the two lowerings.
    rng = np.random.default_rng(17)
    real = {**spec, "layers": [dict(layer) for layer in spec["layers"]]}
    for layer in real["layers"]:
        if layer["type"] in ("conv2d", "dense"):
            layer["weight"] = {**layer["weight"], "data": rng.normal(size=len(layer["weight"]["data"])).tolist()}
    x_real = rng.uniform(0, 1, size=x.shape)
    a = compute(real, x_real, seed, dtype)["forward"]
    b = without_winograd(tmp_path, real, x_real, seed, dtype)["forward"]
    assert differs_somewhere(a, b), "bit for bit im2col's output: Winograd did not run"
    assert relative_error(a, b) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_window_of_zeros_gives_exactly_the_bias_and_near_zero_outputs_are_exact(tmp_path, dtype):
    """One 16->16 convolution on real data with a dead patch and windows made to cancel: every
    window of zeros gives exactly its bias, every output has the exact product's sign (math.fsum
    of the stored values), and the cancelling ones are the exact product rounded once (to 1 ulp)."""
    import math
    rng = np.random.default_rng(18)
    c, h = 16, 11
    w = np.array(rng.uniform(-1, 1, size=(c, c, 3, 3)), dtype=dtype).astype(float)
    b = np.array(rng.uniform(-0.5, 0.5, size=c), dtype=dtype).astype(float)
    x = rng.uniform(-1, 1, size=(2, c, h, h)) * 1e3
    x[:, :, 6:11, 0:5] = 0
    cancel = []
    for s in range(2):
        for k, (y, xx) in enumerate([(1, 1), (1, 5), (1, 9), (4, 3), (4, 7), (8, 8)]):
            co = (3 * k + s) % c
            x[s, 0, y, xx] = 0
            window = np.pad(x[s], ((0, 0), (1, 1), (1, 1)))[:, y:y + 3, xx:xx + 3]
            x[s, 0, y, xx] = -(np.sum(w[co] * window) + b[co]) / w[co, 0, 1, 1]
            cancel.append((s, co, y, xx))
    x = np.array(x, dtype=dtype).astype(float)
    spec = {"input_shape": [c, h, h], "layers": [
        {"type": "conv2d", "weight": {"shape": [c, c, 3, 3], "data": w.ravel().tolist()},
         "bias": {"shape": [c], "data": b.tolist()}, "stride": [1, 1], "padding": [1, 1]}]}
    seed = np.zeros((2, c, h, h))
    z = compute(spec, x, seed, dtype)["forward"].astype(float)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    exact, magnitude = np.empty_like(z), np.empty_like(z)
    for s, co, y, xx in np.ndindex(2, c, h, h):
        window = padded[s, :, y:y + 3, xx:xx + 3]
        exact[s, co, y, xx] = math.fsum([*_exact_products(w[co], window), b[co]])
        magnitude[s, co, y, xx] = np.sum(np.abs(w[co] * window)) + abs(b[co])
    dead = np.zeros((h, h), dtype=bool)
    dead[7:11, 0:4] = True
    assert np.all(z[:, :, dead] == b[None, :, None])
    assert np.array_equal(np.sign(z), np.sign(exact))
    # Twice the working precision: within 1 ulp plus (n u)^2 of the terms' magnitude (Dot2's bound).
    got = np.array([z[i] for i in cancel])
    want = np.array([exact[i] for i in cancel], dtype=dtype).astype(float)
    unit = np.finfo(dtype).eps / 2
    slack = np.spacing(np.abs(want).astype(dtype)).astype(float) + (145 * unit) ** 2 * np.array([magnitude[i] for i in cancel])
    assert np.all(np.abs(got - want) <= slack), (got, want)
    # Winograd ran: the im2col output differs from it in the last bits somewhere.
    im2col = without_winograd(tmp_path, spec, x, seed, dtype)["forward"].astype(float)
    assert differs_somewhere(z, im2col), "bit for bit im2col's output: Winograd did not run"


def _exact_products(w: np.ndarray, a: np.ndarray) -> list:
    """w * a for float64 values, each as the two floats of its exact value (Dekker's split)."""
    out = []
    for p, q in zip(w.ravel(), a.ravel()):
        product = p * q
        out += [product, _product_error(p, q, product)]
    return out


def _product_error(a: float, b: float, product: float) -> float:
    """a * b - product exactly, by Veltkamp's splitting (no fused multiply-add in numpy)."""
    def split(v):
        t = 134217729.0 * v
        high = t - (t - v)
        return high, v - high
    ah, al = split(a)
    bh, bl = split(b)
    return ((ah * bh - product) + ah * bl + al * bh) + al * bl
