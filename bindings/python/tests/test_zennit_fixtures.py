"""Every case of every Zennit 0.5.1 reference file (chains and graph networks), in float64 and
float32.

The networks come in through ``Network.from_json``; the expected values are Zennit's, so these
are the binding's (and the engine's) external ground truth. See Tests/Fixtures/README.md.

Float32 budget: 1e-4, or three times the error that rounding the case's data to float32 causes
by itself (measured with float64 arithmetic on the rounded data), whichever is larger. An
ill-conditioned case (epsilon 1e-9 with the bias excluded on ``cnn_poolpad_nobias``) loses
4.9e-5 to data rounding alone; Zennit's own float32 run misses its float64 result there by
1.1e-4. The engine's float32 arithmetic may add at most twice what the data rounding costs.
"""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from support import TOLERANCE, ZENNIT_FILES, ZENNIT_GRAPH_FILES, load_json, relative_error, tensor

CASES = [
    pytest.param(path, index, dtype, id=f"{path.stem}-{case['name']}-{dtype}")
    for path in ZENNIT_FILES + ZENNIT_GRAPH_FILES
    for index, case in enumerate(load_json(path)["cases"])
    for dtype in ("float64", "float32")
]

TARGET_CASES = [
    pytest.param(path, index, dtype, id=f"{path.stem}-{case['name']}-{dtype}")
    for path in ZENNIT_FILES + ZENNIT_GRAPH_FILES
    for index, case in enumerate(load_json(path)["cases"])
    if case["method"] == "lrp" and case["name"].endswith("/target_logit")
    for dtype in ("float64", "float32")
]


def _relevance(net, case, x, seed):
    if case["method"] == "lrp":
        return net.lrp(x, seed, rules=case["rules"])
    if case["method"] == "gradient":
        return net.gradient(x, seed)
    if case["method"] == "gradient_x_input":
        return net.gradient_x_input(x, seed)
    pytest.fail(f"unknown method {case['method']!r}")


def _rounded_to_float32(spec):
    """The network file with every weight and bias rounded to float32 (kept as float64)."""
    def rounded(tensor_spec):
        if tensor_spec is None:
            return None
        if isinstance(tensor_spec, dict):
            return {**tensor_spec, "data": np.float32(tensor_spec["data"]).astype(np.float64).tolist()}
        return np.float32(tensor_spec).astype(np.float64).tolist()
    layers = [{**layer, **{key: rounded(layer[key]) for key in ("weight", "bias") if key in layer}}
              for layer in spec["layers"]]
    return {**spec, "layers": layers}


def _budget(spec, case, dtype):
    if dtype == "float64":
        return TOLERANCE[dtype]
    x = tensor(case["input"]).astype(np.float32).astype(np.float64)
    seed = tensor(case["output_relevance"]).astype(np.float32).astype(np.float64)
    with dtd.Network.from_json(_rounded_to_float32(spec), dtype="float64") as net:
        floor = relative_error(_relevance(net, case, x, seed), tensor(case["expected_relevance"]))
    return max(TOLERANCE[dtype], 3 * floor)


def test_fixture_files_are_present():
    assert len(ZENNIT_FILES) == 5
    assert all(len(load_json(path)["cases"]) == 28 for path in ZENNIT_FILES)
    assert [path.stem for path in ZENNIT_GRAPH_FILES] == ["densenet_tiny", "mlp_skip", "resnet_tiny"]
    assert all(len(load_json(path)["cases"]) == 40 for path in ZENNIT_GRAPH_FILES)


@pytest.mark.parametrize("path, index, dtype", CASES)
def test_zennit_case(path, index, dtype):
    spec = load_json(path)
    case = spec["cases"][index]
    x, seed = tensor(case["input"]), tensor(case["output_relevance"])
    with dtd.Network.from_json(spec, dtype=dtype) as net:
        output = net.forward(x)
        relevance = _relevance(net, case, x, seed)
    assert output.dtype == relevance.dtype == np.dtype(dtype)
    assert relative_error(output, tensor(case["expected_output"])) <= TOLERANCE[dtype]
    assert relative_error(relevance, tensor(case["expected_relevance"])) <= _budget(spec, case, dtype)


@pytest.mark.parametrize("path, index, dtype", TARGET_CASES)
def test_zennit_case_seeded_by_target(path, index, dtype):
    """The "target_logit" seeds are f_k(x) e_k with k the argmax output (fixture README):
    ``target=k`` must rebuild them through dtd_relevance_target_seed and give Zennit's result."""
    spec = load_json(path)
    case = spec["cases"][index]
    x = tensor(case["input"])
    targets = np.argmax(tensor(case["expected_output"]), axis=1)
    with dtd.Network.from_json(spec, dtype=dtype) as net:
        relevance = net.lrp(x, target=targets, rules=case["rules"])
    assert relative_error(relevance, tensor(case["expected_relevance"])) <= _budget(spec, case, dtype)
