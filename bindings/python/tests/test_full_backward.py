"""Full-backward DTD (``Include/dtd.h`` section 8; DESIGN.md 6b) through the Python binding.

Checked against the HiGHS reference of 24 study inputs (``Tests/Fixtures/full_backward_cases.json``),
against numpy re-derivations written from the spec (the genuine recursive relevance, the region's
ReLU pattern, the gradient, the sampled method's random directions), and for every documented
error.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dtd
import dtd.study as study
from dtd import _capi
from dtd.errors import DTDError
from support import FIXTURES, load_json

PACKAGE_ROOT = Path(dtd.__file__).resolve().parents[1]
CASES = load_json(FIXTURES / "full_backward_cases.json")
needs_clp = pytest.mark.skipif(not dtd.full_backward.available(),
                               reason="COIN-OR CLP (libClp.so.1, Debian coinor-libclp1) is not installed")


def study_layers() -> list[tuple[np.ndarray, np.ndarray]]:
    spec = study._spec()
    return [(np.asarray(l["weight"]["data"], float).reshape(l["weight"]["shape"]), np.asarray(l["bias"]["data"], float))
            for l in spec["layers"] if l["type"] == "dense"]


def some_study_inputs(per_block: int) -> np.ndarray:
    return np.concatenate([block[:per_block] for block in study.input_blocks().values()])


@pytest.fixture(scope="module")
def net():
    with study.load_network() as network:
        yield network


# MARK: - A numpy oracle written from DESIGN.md 6b (no LP, no affine form)

class Genuine:
    """The genuine recursive relevance of the decomposition ``res`` of sample ``n``: real ReLUs,
    the engine's roots fixed, each upper unit's slope the genuine gradient at the midpoint of a
    and its root."""

    def __init__(self, layers, res: dtd.FullBackwardResult, x: np.ndarray, n: int, target: int = 0):
        self.layers, self.target = layers, target
        self.inputs = [x]
        for w, b in layers[:-1]:
            self.inputs.append(np.maximum(w @ self.inputs[-1] + b, 0))
        self.roots = [res.roots[l][n] for l in res.layers]
        self.skipped = [res.skipped[l][n] for l in res.layers]
        self.slopes: list[list[np.ndarray | None]] = [[None] * len(r) for r in self.roots]
        for l in reversed(range(len(layers))):
            for u, root in enumerate(self.roots[l]):
                if not self.skipped[l][u]:
                    self.slopes[l][u] = self.gradient(l, u, (self.inputs[l] + root) / 2)

    def relevance(self, l: int, u: int, p: np.ndarray) -> float:
        w, b = self.layers[l]
        z = w @ p + b
        if l == len(self.layers) - 1:
            return max(z[self.target], 0.0)
        q = max(z[u], 0.0)
        return sum(c[u] * (q - root[u]) for c, root, s in zip(self.slopes[l + 1], self.roots[l + 1], self.skipped[l + 1])
                   if not s)

    def gradient(self, l: int, u: int, p: np.ndarray) -> np.ndarray:
        w, b = self.layers[l]
        z = w @ p + b
        j = self.target if l == len(self.layers) - 1 else u
        c = 1.0 if l == len(self.layers) - 1 else sum(s[j] for s, k in zip(self.slopes[l + 1], self.skipped[l + 1]) if not k)
        return c * w[j] if z[j] > 0 else np.zeros_like(p)


def pattern_matches(layers, l: int, a: np.ndarray, point: np.ndarray, target: int = 0) -> bool:
    """Every ReLU of layers l.. (of the last: the target) has the same state at `point` as at `a`,
    units within 1e-9 of their hinge matching either."""
    for m in range(l, len(layers)):
        w, b = layers[m]
        za, zp = w @ a + b, w @ point + b
        units = [target] if m == len(layers) - 1 else range(len(za))
        tolerance = 1e-9 * max(1.0, np.max(np.abs(za)))
        if any(abs(zp[u]) > tolerance and (zp[u] > 0) != (za[u] > 0) for u in units):
            return False
        a, point = np.maximum(za, 0), np.maximum(zp, 0)
    return True


# MARK: - The reference cases

@needs_clp
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_backward_agrees_with_every_reference_case(dtype):
    cases = CASES["cases"]
    x = np.array([c["input"] for c in cases])
    with study.load_network(dtype) as network:
        res = network.full_backward(x, target=0, method="exact", roots=True)
    assert res.layers == (0, 2, 4)
    for n, case in enumerate(cases):
        f = case["f"]
        assert abs(res.output[n] - f) <= 1e-12 * f
        assert np.max(np.abs(res.input_relevance[n] - case["R0"])) <= 1e-6 * f
        for p, layer in enumerate(res.layers):
            entries = case["layers"][f"layer{p + 1}"]
            units = [e for e in entries if "unit" in e]
            box = next(e for e in entries if "bbox" in e)
            assert list(res.units[layer]) == [e["unit"] for e in units]
            for k, e in enumerate(units):
                assert bool(res.skipped[layer][n, k]) == e["skipped"], (n, layer, k)
                assert abs(res.relevance[layer][n, k] - e["R"]) <= 1e-6 * f
                if e["skipped"]:
                    continue
                unbounded = e["lp_min"] == "-inf"
                assert bool(res.unbounded[layer][n, k]) == unbounded and np.isneginf(res.lp_min[layer][n, k]) == unbounded
                if not unbounded:
                    assert abs(res.lp_min[layer][n, k] - e["lp_min"]) <= 1e-6 * f
                assert abs(res.unresolved[layer][n, k] - e["unresolved"]) <= 1e-6 * f
                assert np.max(np.abs(res.roots[layer][n, k] - e["root"])) <= 1e-6
                assert abs(res.root_distance[layer][n, k] - e["root_dist"]) <= 1e-6
            width = res.box_high[layer][n] - res.box_low[layer][n]
            reference = np.array([math.inf if v == "inf" else v for v in box["bbox"]])
            assert np.array_equal(np.isinf(width), np.isinf(reference))
            finite = np.isfinite(reference)
            assert np.max(np.abs(width[finite] - reference[finite]), initial=0) <= 1e-6
            clipped = res.box_high_clipped[layer][n] - res.box_low_clipped[layer][n]
            assert np.max(np.abs(clipped - box["bbox_trust1"])) <= 1e-6


# MARK: - Properties of the exact method

@pytest.fixture(scope="module")
def exact(net):
    if not dtd.full_backward.available():
        pytest.skip("COIN-OR CLP is not installed")
    x = some_study_inputs(15)
    return x, net.full_backward(x, target=0, method="exact", roots=True)


def test_full_backward_ledger_closes_to_rounding(exact):
    x, res = exact
    total = res.input_relevance.sum(axis=1)
    for layer in res.layers:
        total = total + np.where(res.skipped[layer], res.relevance[layer], res.unresolved[layer]).sum(axis=1)
    assert np.max(np.abs(total - res.output) / res.output) <= 1e-9
    assert np.max(np.abs(res.ledger_error) / res.output) <= 1e-9


def test_full_backward_roots_lie_in_the_closure_of_the_region(exact):
    x, res = exact
    layers = study_layers()
    for n in range(len(x)):
        genuine = Genuine(layers, res, x[n], n)
        for p, layer in enumerate(res.layers):
            for k, root in enumerate(res.roots[layer][n]):
                if res.skipped[layer][n, k]:
                    assert np.all(np.isnan(root))
                    continue
                assert np.all(root >= -1e-12) and pattern_matches(layers, p, genuine.inputs[p], root), (n, layer, k)


def test_full_backward_genuine_relevance_is_affine_from_input_to_root(exact):
    x, res = exact
    layers = study_layers()
    for n in range(len(x)):
        genuine = Genuine(layers, res, x[n], n)
        tolerance = 1e-9 * res.output[n]
        for p, layer in enumerate(res.layers):
            a = genuine.inputs[p]
            for k, root in enumerate(res.roots[layer][n]):
                assert abs(genuine.relevance(p, k, a) - res.relevance[layer][n, k]) <= tolerance
                if res.skipped[layer][n, k]:
                    continue
                assert abs(genuine.relevance(p, k, root) - res.unresolved[layer][n, k]) <= tolerance
                middle = (a + root) / 2
                assert abs(genuine.relevance(p, k, middle)
                           - (res.relevance[layer][n, k] + res.unresolved[layer][n, k]) / 2) <= tolerance


def test_full_backward_input_slope_is_the_gradient_without_skipped_active_units(exact, net):
    x, res = exact
    gradient = net.gradient(x, np.eye(2)[np.zeros(len(x), int)])
    layers = study_layers()
    checked = 0
    for n in range(len(x)):
        activations = [x[n]]
        for w, b in layers:
            activations.append(w @ activations[-1] + b)
        active_skipped = any(np.any(res.skipped[layer][n] & (activations[p + 1][res.units[layer]] > 0))
                             for p, layer in enumerate(res.layers))
        if active_skipped:
            continue
        checked += 1
        assert np.max(np.abs(res.input_slope[n] - gradient[n])) <= 1e-9 * np.max(np.abs(gradient[n]))
    assert checked > 0


def test_full_backward_top_unit_is_resolved_when_its_bias_is_not_positive(exact):
    _, res = exact
    assert study_layers()[-1][1][0] <= 0
    top = res.layers[-1]
    assert not res.unresolved_flag[top].any()
    assert np.all(np.abs(res.unresolved[top][:, 0]) <= 1e-9 * res.output)


def test_full_backward_table_and_summary(exact):
    _, res = exact
    rows = res.summary()
    assert [row["layer"] for row in rows] == [0, 2, 4]
    assert all(0 <= row["unresolved"] <= 1 and row["negative"] == 0 for row in rows)
    text = res.table()
    assert "Full-backward DTD (exact), output 0, 60 input(s)" in text and "max |ledger error| / f" in text


@needs_clp
def test_full_backward_single_sample_drops_the_batch_axis(net):
    x = some_study_inputs(1)[0]
    res = net.full_backward(x, target=0, roots=True, regions=False)
    assert res.input_relevance.shape == (10,) and res.relevance[0].shape == (10,) and res.roots[2].shape == (10, 10)
    assert res.relevance[4].shape == (1,) and res.hinge_distance is None and np.ndim(res.output) == 0


# MARK: - The sampled methods

def xoshiro_directions(seed: int, sample: int, layer: int, search: int, count: int, dimension: int) -> np.ndarray:
    """The header's generator, re-derived: SplitMix64 keys, xoshiro256**, Box-Muller (cosine)."""
    mask = 2**64 - 1
    golden = 0x9E3779B97F4A7C15

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    h = seed
    for v in (sample, layer, search):
        h = mix((h + golden + v) & mask)
    state = h
    words = []
    for _ in range(4):
        state = (state + golden) & mask
        words.append(mix(state))
    s0, s1, s2, s3 = words

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & mask

    def uniform():
        nonlocal s0, s1, s2, s3
        result = (rotl((s1 * 5) & mask, 7) * 9) & mask
        t = (s1 << 17) & mask
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return (result >> 11) * 2.0**-53

    out = []
    for _ in range(count):
        while True:
            v = []
            for _ in range(dimension):
                u1, u2 = uniform(), uniform()
                v.append(math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2))
            v = np.array(v)
            norm = np.linalg.norm(v)
            if norm > 0:
                out.append(v / norm)
                break
    return np.array(out)


def gradient_of_output(layers, l: int, p: np.ndarray, target: int = 0) -> np.ndarray:
    masks, a = [], p
    for w, b in layers[l:]:
        z = w @ a + b
        masks.append(z > 0)
        a = np.maximum(z, 0)
    g = np.zeros(len(layers[-1][1]))
    g[target] = 1.0
    for (w, _), m in zip(reversed(layers[l:]), reversed(masks)):
        g = w.T @ (g * m)
    return g


@pytest.mark.parametrize("method", ["sampled", "bisect"])
def test_full_backward_sampled_region_box_follows_the_documented_generator(net, method):
    """The candidates' box of the search at a, recomputed in numpy from the header's generator,
    grid and validity test, equals what libdtd reports."""
    layers = study_layers()
    x = some_study_inputs(2)
    res = net.full_backward(x, target=0, method=method, seed=12345, regions=True)
    for n in range(len(x)):
        activations = [x[n]]
        for w, b in layers[:-1]:
            activations.append(np.maximum(w @ activations[-1] + b, 0))
        for p, layer in enumerate(res.layers):
            a = activations[p]
            reference = gradient_of_output(layers, p, a)

            def valid(point):
                g = gradient_of_output(layers, p, point)
                return bool(np.all(np.abs(g - reference) <= 1e-5 + 1e-3 * np.abs(g)))

            candidates = []
            for v in xoshiro_directions(12345, n, p, 0, 50, len(a)):
                grid = [1 - i / 9 for i in range(10)]
                chosen = next(i for i, s in enumerate(grid) if valid(np.maximum(a + s * v, 0)))
                s = grid[chosen]
                if method == "bisect" and chosen > 0:
                    low, high = grid[chosen], grid[chosen - 1]
                    for _ in range(10):
                        middle = (low + high) / 2
                        low, high = (middle, high) if valid(np.maximum(a + middle * v, 0)) else (low, middle)
                    s = low
                candidates.append(np.maximum(a + s * v, 0))
            candidates = np.array(candidates)
            assert np.max(np.abs(res.box_low[layer][n] - candidates.min(axis=0))) <= 1e-12, (n, layer)
            assert np.max(np.abs(res.box_high[layer][n] - candidates.max(axis=0))) <= 1e-12, (n, layer)


def test_full_backward_sampled_reproduces_the_studys_artefacts(net):
    x = some_study_inputs(25)
    res = net.full_backward(x, target=0, method="sampled", regions=False)
    rows = res.summary()
    for row in rows[:-1]:
        assert row["negative"] / (1 - row["skipped"]) > 0.25, row  # roots that overshoot
    assert rows[-1]["unresolved"] >= 0.9  # the top unit, although its bias is <= 0
    assert np.all(np.isnan(res.lp_min[0])) and res.solver_calls.sum() == 0 and np.all(res.root_searches >= 3)


def test_full_backward_sampled_is_reproducible_from_its_seed(net):
    x = some_study_inputs(3)
    a = net.full_backward(x, method="sampled", seed=3, roots=True, regions=False)
    b = net.full_backward(x, method="sampled", seed=3, roots=True, regions=False)
    c = net.full_backward(x, method="sampled", seed=4, roots=True, regions=False)
    assert np.array_equal(a.roots[0], b.roots[0], equal_nan=True)
    assert not np.array_equal(a.roots[0], c.roots[0], equal_nan=True)


# MARK: - Errors

def dense_relu(rng, sizes):
    network = dtd.Network((sizes[0],))
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        network.add_dense(rng.normal(size=(fan_out, fan_in)), rng.normal(size=fan_out)).add_relu()
    return network


def test_dtd_full_backward_compute_unsupported_conv_layer(rng):
    network = dtd.Network((1, 4, 4)).add_conv2d(rng.normal(size=(2, 1, 3, 3))).add_relu().add_flatten() \
        .add_dense(rng.normal(size=(2, 8))).add_relu()
    with pytest.raises(DTDError) as info:
        network.full_backward(rng.uniform(size=(1, 4, 4)), method="sampled")
    assert info.value.status == _capi.DTD_ERROR_UNSUPPORTED and "layer 0 is conv2d" in info.value.message


def test_dtd_full_backward_compute_unsupported_pooling_layer(rng):
    network = dtd.Network((1, 4, 4)).add_maxpool2d(2).add_flatten().add_dense(rng.normal(size=(2, 4))).add_relu()
    with pytest.raises(DTDError) as info:
        network.full_backward(rng.uniform(size=(1, 4, 4)), method="sampled")
    assert info.value.status == _capi.DTD_ERROR_UNSUPPORTED and "layer 0 is maxpool2d" in info.value.message


def test_dtd_full_backward_compute_unsupported_missing_relu(rng):
    network = dtd.Network((3,)).add_dense(rng.normal(size=(3, 3))).add_dense(rng.normal(size=(2, 3))).add_relu()
    with pytest.raises(DTDError) as info:
        network.full_backward(np.ones(3), method="sampled")
    assert info.value.status == _capi.DTD_ERROR_UNSUPPORTED and "without a ReLU" in info.value.message
    last = dtd.Network((3,)).add_dense(rng.normal(size=(3, 3))).add_relu().add_dense(rng.normal(size=(2, 3)))
    with pytest.raises(DTDError) as info:
        last.full_backward(np.ones(3), method="sampled")
    assert info.value.status == _capi.DTD_ERROR_UNSUPPORTED and "ends with layer 2 (dense)" in info.value.message


@pytest.mark.parametrize("method", ["exact", "sampled"])
def test_dtd_full_backward_compute_invalid_argument_output_not_positive(net, method):
    if method == "exact" and not dtd.full_backward.available():
        pytest.skip("COIN-OR CLP is not installed")
    x = np.vstack([some_study_inputs(1)[0], np.zeros(10)])
    with pytest.raises(DTDError) as info:
        net.full_backward(x, method=method)
    assert info.value.status == _capi.DTD_ERROR_INVALID_ARGUMENT and "sample 1: f_0(x) = 0.0 is not > 0" in info.value.message


def test_dtd_full_backward_compute_rejects_bad_queries(net):
    x = some_study_inputs(1)
    cases = [({"target": 2}, _capi.DTD_ERROR_OUT_OF_RANGE), ({"method": "grid"}, _capi.DTD_ERROR_INVALID_ARGUMENT),
             ({"directions": 0}, _capi.DTD_ERROR_OUT_OF_RANGE), ({"input_lower": math.nan}, _capi.DTD_ERROR_INVALID_ARGUMENT),
             ({"input_lower": 0.5}, _capi.DTD_ERROR_INVALID_ARGUMENT)]
    for arguments, status in cases:
        with pytest.raises(DTDError) as info:
            net.full_backward(x, **{"method": "sampled", **arguments})
        assert info.value.status == status, arguments
    bad = x.copy()
    bad[0, 3] = np.inf
    with pytest.raises(DTDError) as info:
        net.full_backward(bad, method="sampled")
    assert info.value.status == _capi.DTD_ERROR_NON_FINITE and "input[0][3]" in info.value.message


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), **env)
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120)


def test_dtd_full_backward_compute_unsupported_without_clp():
    """DTD_CLP_LIBRARY pointing at a missing file simulates a machine without CLP: the exact
    method is unsupported with a message that says what to install; the sampled one still runs."""
    code = """
import numpy as np, dtd, dtd.study as study
from dtd.errors import DTDError
print("available", dtd.full_backward.available())
x = np.concatenate([b[:2] for b in study.input_blocks().values()])
with study.load_network() as net:
    try:
        net.full_backward(x, method="exact")
    except DTDError as e:
        print("status", e.status_name, "|", e.message)
    for method in ("sampled", "bisect"):
        res = net.full_backward(x, method=method)
        print(method, "ok", res.input_relevance.shape)
"""
    result = run_python(code, DTD_CLP_LIBRARY="/nonexistent/libClp.so.1")
    assert result.returncode == 0, result.stderr
    assert "available False" in result.stdout
    assert "status DTD_ERROR_UNSUPPORTED | dtd_full_backward_count" not in result.stdout
    assert "status DTD_ERROR_UNSUPPORTED" in result.stdout and "install coinor-libclp" in result.stdout
    assert "/nonexistent/libClp.so.1" in result.stdout
    assert "sampled ok (8, 10)" in result.stdout and "bisect ok (8, 10)" in result.stdout


# MARK: - Numerically degenerate regions (found by the fuzzer; Tests/fuzz/regressions/full-backward-*)

@needs_clp
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_backward_on_a_hyperplane_with_free_inputs(dtype):
    """A 5 -> 1 ReLU unit with no lower input bound: the root set {w . x + b = 0} is a hyperplane
    in free coordinates (CLP's QP answered far-off points there) and one input has weight 0 (its
    box LP is unbounded; CLP called it infeasible). The root must be the projection of x onto
    the hyperplane, and the untouched coordinate's box (-inf, inf)."""
    w, b = np.array([2.325, -3.1, 0.0, -1.425, -0.4]), -1.425
    x = np.array([[-1.425] * 5, [-1.425, -1.425, -1.425, -1.2954545021057129, -2.2022726535797119]])
    with dtd.Network(5, dtype=dtype) as net:
        net.add_dense(w[None, :], [b]).add_relu()
        res = net.full_backward(x, roots=True, input_lower=-np.inf)
        xs = x.astype(dtype).astype(float)
        wq, bq = np.float64(w.astype(dtype)), float(np.float32(b)) if dtype == "float32" else b
        for n in range(2):
            z = wq @ xs[n] + bq
            projection = xs[n] - z * wq / (wq @ wq)
            np.testing.assert_allclose(res.roots[0][n, 0], projection, rtol=0, atol=1e-6 * np.abs(xs[n]).max())
        assert np.all(np.isneginf(res.box_low[0][:, 2])) and np.all(np.isposinf(res.box_high[0][:, 2]))


@needs_clp
def test_full_backward_regions_with_denormal_weights():
    """Weights of 1e-310 (denormal) into a unit: the unit's hinge is beyond the double range, so
    coordinate 1, which only such weights touch, is unbounded above; coordinate 0 keeps the
    finite bound of the other unit, 0.5546... (computed from the batch-norm-folded row)."""
    with dtd.Network(2) as net:
        net.add_dense(np.array([[1e-310, 1e-310], [-1.6, 1e-310]]))
        net.add_batchnorm([-1.45, -1.45], [-1.45, -1.45], [-3.025, -0.275], [3.175, 0.375])
        net.add_relu()
        res = net.full_backward(np.array([[2.975, 2.975]]), target=1, regions=True)
    scale = -1.45 / np.sqrt(0.375 + 1e-5)
    hinge = (-1.45 + 0.275 * scale) / (1.6 * scale)   # -1.6 s x0 + (beta - mean s) = 0
    np.testing.assert_allclose(res.box_low[0][0], [hinge, 0.0], rtol=1e-9)
    assert np.isposinf(res.box_high[0][0]).all()
