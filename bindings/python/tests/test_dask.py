"""dtd.dask on a distributed.LocalCluster with 2 worker processes: the same relevance and the same
audit as the serial call."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import dtd

da = pytest.importorskip("dask.array", reason="dask is not installed (Tests/setup-extras.sh)")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (Tests/setup-extras.sh)")
dtd_dask = pytest.importorskip("dtd.dask")

from dtd.roots import AUDIT_COLUMNS  # noqa: E402
from dtd.rules import Epsilon, Gamma, ZPlus  # noqa: E402

PACKAGE_ROOT = Path(dtd.__file__).resolve().parents[1]


def tensor(array: np.ndarray) -> dict:
    return {"shape": list(array.shape), "data": array.ravel().tolist()}


def mlp_spec(rng: np.random.Generator, sizes: list[int]) -> dict:
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append({"type": "dense", "weight": tensor(rng.normal(scale=fan_in ** -0.5, size=(fan_out, fan_in))),
                       "bias": tensor(rng.normal(scale=0.1, size=fan_out))})
        if i < len(sizes) - 2:
            layers.append({"type": "relu"})
    return {"input_shape": [sizes[0]], "layers": layers}


def cnn_spec(rng: np.random.Generator) -> dict:
    return {"input_shape": [2, 6, 6], "layers": [
        {"type": "conv2d", "weight": tensor(rng.normal(scale=0.3, size=(4, 2, 3, 3))),
         "bias": tensor(rng.normal(scale=0.1, size=4)), "stride": 1, "padding": 1},
        {"type": "relu"}, {"type": "maxpool2d", "kernel": 2},
        {"type": "flatten"},
        {"type": "dense", "weight": tensor(rng.normal(scale=0.3, size=(3, 36))), "bias": None}]}


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each; they import dtd from this checkout."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), saved]))
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as connection:
            yield connection
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def workers_used(client, compute):
    """The result of ``compute()`` and the set of workers that ran its tasks."""
    with distributed.get_task_stream(client) as stream:
        result = compute()
    return result, {task["worker"] for task in stream.data}


def test_dask_lrp_equals_the_serial_call(client, rng):
    spec = mlp_spec(rng, [12, 16, 16, 5])
    X = rng.normal(size=(300, 12))
    targets = rng.integers(0, 5, size=300)
    rules = {0: ZPlus(), 2: Gamma(0.25), 4: Epsilon(0.01)}
    with dtd.Network.from_json(spec) as net:
        serial = net.lrp(X, rules=rules, target=targets)
        serial_predicted = net.lrp(X, rules=rules, target="predicted")
    lazy = dtd_dask.lrp(spec, da.from_array(X, chunks=(37, 6)), rules=rules, target=targets)
    assert isinstance(lazy, da.Array) and lazy.chunks[0][0] == 37
    relevance, workers = workers_used(client, lazy.compute)
    assert len(workers) == 2, "both worker processes should have explained blocks"
    np.testing.assert_allclose(relevance, serial, rtol=1e-12, atol=1e-14)
    predicted = dtd_dask.lrp(spec, da.from_array(X, chunks=50), rules=rules, target="predicted").compute()
    np.testing.assert_allclose(predicted, serial_predicted, rtol=1e-12, atol=1e-14)


def test_dask_lrp_of_a_cnn_with_seeds_in_float32(client, rng):
    spec = cnn_spec(rng)
    X = rng.normal(size=(64, 2, 6, 6)).astype(np.float32)
    seeds = rng.normal(size=(64, 3)).astype(np.float32)
    with dtd.Network.from_json(spec, dtype="float32") as net:
        serial = net.lrp(X, seeds, rules=ZPlus())
    relevance = dtd_dask.lrp(spec, da.from_array(X, chunks=(10, 2, 3, 6)), da.from_array(seeds, chunks=20),
                             rules=ZPlus(), dtype="float32").compute()
    assert relevance.dtype == np.float32 and relevance.shape == X.shape
    np.testing.assert_allclose(relevance, serial, rtol=1e-5, atol=1e-6)


def test_dask_audit_equals_the_serial_call(client, rng, tmp_path):
    spec = mlp_spec(rng, [10, 14, 12, 4])
    path = tmp_path / "model.json"
    import json
    path.write_text(json.dumps(spec))
    X = np.abs(rng.normal(size=(250, 10)))
    with dtd.Network.from_json(spec) as net:
        serial = net.audit(X, target="predicted", layer=2, rule=ZPlus())
    lazy = dtd_dask.audit(str(path), da.from_array(X, chunks=60), target="predicted", layer=2, rule=ZPlus())
    result, workers = workers_used(client, lazy.compute)
    assert len(workers) == 2
    assert (result.target == serial.target).all() and result.samples == 250
    for name in AUDIT_COLUMNS:
        actual, expected = getattr(result, name), getattr(serial, name)
        if actual.dtype == bool or actual.dtype.kind == "i":
            np.testing.assert_array_equal(actual, expected, err_msg=name)
        else:
            pairs = serial.has_root
            np.testing.assert_allclose(actual[pairs], expected[pairs], rtol=1e-12, atol=1e-14, err_msg=name)
    for name, value in serial.summary().items():
        assert getattr(result, name) == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert result.table().splitlines()[1:] == serial.table().splitlines()[1:]


def test_dask_rejects_what_cannot_travel(rng):
    spec = mlp_spec(rng, [3, 4, 2])
    X = da.zeros((4, 3), chunks=2)
    with pytest.raises(TypeError, match="dask.array.Array"):
        dtd_dask.lrp(spec, np.zeros((4, 3)), rules=ZPlus(), target=0)
    with pytest.raises(TypeError, match="JSON model spec"):
        dtd_dask.lrp(42, X, rules=ZPlus(), target=0)
    with pytest.raises(ValueError, match="target has 3 rows; x has 4"):
        dtd_dask.lrp(spec, X, rules=ZPlus(), target=np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match="progress"):
        dtd_dask.audit(spec, X, target=0, rule=ZPlus(), progress=True)
    with dtd.Network.from_json(spec) as net:
        if not dtd_dask._pickles(net):
            with pytest.raises(TypeError, match="cannot be pickled to Dask workers yet"):
                dtd_dask.lrp(net, X, rules=ZPlus(), target=0)
