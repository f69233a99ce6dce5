"""Every case of every Zennit 0.5.1 reference file, in float64 and float32.

The networks come in through ``Network.from_json``; the expected values are Zennit's, so these
are the binding's (and the engine's) external ground truth. See Tests/Fixtures/README.md.
"""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from support import TOLERANCE, ZENNIT_FILES, load_json, relative_error, tensor

CASES = [
    pytest.param(path, index, dtype, id=f"{path.stem}-{case['name']}-{dtype}")
    for path in ZENNIT_FILES
    for index, case in enumerate(load_json(path)["cases"])
    for dtype in ("float64", "float32")
]

TARGET_CASES = [
    pytest.param(path, index, dtype, id=f"{path.stem}-{case['name']}-{dtype}")
    for path in ZENNIT_FILES
    for index, case in enumerate(load_json(path)["cases"])
    if case["method"] == "lrp" and case["name"].endswith("/target_logit")
    for dtype in ("float64", "float32")
]


def test_fixture_files_are_present():
    assert len(ZENNIT_FILES) == 5
    assert all(len(load_json(path)["cases"]) == 28 for path in ZENNIT_FILES)


@pytest.mark.parametrize("path, index, dtype", CASES)
def test_zennit_case(path, index, dtype):
    spec = load_json(path)
    case = spec["cases"][index]
    x, seed = tensor(case["input"]), tensor(case["output_relevance"])
    with dtd.Network.from_json(spec, dtype=dtype) as net:
        output = net.forward(x)
        if case["method"] == "lrp":
            relevance = net.lrp(x, seed, rules=case["rules"])
        elif case["method"] == "gradient":
            relevance = net.gradient(x, seed)
        elif case["method"] == "gradient_x_input":
            relevance = net.gradient_x_input(x, seed)
        else:
            pytest.fail(f"unknown method {case['method']!r}")
    assert output.dtype == relevance.dtype == np.dtype(dtype)
    assert relative_error(output, tensor(case["expected_output"])) <= TOLERANCE[dtype]
    assert relative_error(relevance, tensor(case["expected_relevance"])) <= TOLERANCE[dtype]


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
    assert relative_error(relevance, tensor(case["expected_relevance"])) <= TOLERANCE[dtype]
