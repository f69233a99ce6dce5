"""Network.to_json / from_json and pickle round trips (bit-identical results), layer names, and
rules given by layer name."""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import pickle

import numpy as np
import pytest

import dtd
from dtd.rules import Epsilon, Flat, ZPlus
from support import random_cnn


def bn_cnn(rng: np.random.Generator, dtype: str) -> dtd.Network:
    """conv, batchnorm, relu, maxpool, avgpool (no count_include_pad), flatten, dense, relu, dense."""
    net = dtd.Network((2, 8, 8), dtype=dtype)
    net.add_conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), stride=1, padding=(1, 0),
                   dilation=(1, 2), name="conv")
    net.add_batchnorm(rng.uniform(0.5, 1.5, 3), rng.normal(size=3), rng.normal(size=3),
                      rng.uniform(0.5, 2, 3), eps=1e-3, name="bn")
    net.add_relu(name="relu")
    net.add_maxpool2d(2, stride=1, padding=1)
    net.add_avgpool2d((2, 3), stride=(2, 1), padding=(1, 1), count_include_pad=False)
    net.add_flatten()
    features = int(np.prod(net.output_shape))
    net.add_dense(rng.normal(size=(5, features)) / features ** 0.5, None, name="fc1")
    net.add_relu()
    net.add_dense(rng.normal(size=(4, 5)), rng.normal(size=4), name="fc2")
    return net


RULES = {"conv": Flat(), "fc1": ZPlus(), "fc2": Epsilon(0.01)}


def _results(net: dtd.Network, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (net.forward(x), net.gradient(x, np.ones((len(x), 4))),
            net.lrp(x, target=[0, 3, 1], rules=RULES))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_json_round_trip_is_bit_identical(rng, dtype):
    x = rng.normal(size=(3, 2, 8, 8))
    with bn_cnn(rng, dtype) as net:
        model = net.to_json()
        text = json.dumps(model)  # plain JSON values only
        with dtd.Network.from_json(json.loads(text), dtype=dtype) as copy:
            assert copy.layer_kinds == net.layer_kinds
            assert copy.layer_names == net.layer_names
            for ours, theirs in zip(_results(net, x), _results(copy, x)):
                np.testing.assert_array_equal(ours, theirs)
            assert copy.to_json() == model  # and it stays a fixed point


def test_to_json_writes_the_file_and_keeps_batch_norm_unfolded(rng, tmp_path):
    with bn_cnn(rng, "float64") as net:
        path = tmp_path / "model.json"
        model = net.to_json(path)
        assert json.loads(path.read_text()) == model
        layers = model["layers"]
        assert model["input_shape"] == [2, 8, 8]
        assert [layer["type"] for layer in layers] == list(net.layer_kinds)
        assert layers[0]["stride"] == [1, 1] and layers[0]["padding"] == [1, 0]
        assert layers[0]["dilation"] == [1, 2] and layers[0]["name"] == "conv"
        assert layers[1]["eps"] == 1e-3 and len(layers[1]["running_var"]["data"]) == 3
        assert layers[4] == {"type": "avgpool2d", "kernel": [2, 3], "stride": [2, 1],
                             "padding": [1, 1], "count_include_pad": False}
        assert layers[6]["bias"] is None and "name" not in layers[3]


def test_to_json_keeps_no_reference_to_the_callers_arrays(rng):
    weight = rng.normal(size=(3, 4))
    with dtd.Network((4,)) as net:
        net.add_dense(weight)
        weight[:] = 0.0
        assert np.all(np.asarray(net.to_json()["layers"][0]["weight"]["data"]) != 0)


def test_float32_values_survive_json_exactly(rng):
    with dtd.Network((3,), dtype="float32") as net:
        net.add_dense(np.float32(rng.normal(size=(2, 3))))
        data = net.to_json()["layers"][0]["weight"]["data"]
        assert np.array_equal(np.float32(data).astype(np.float64), np.asarray(data))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pickle_round_trip_is_bit_identical(rng, dtype):
    x = rng.normal(size=(3, 2, 8, 8))
    with bn_cnn(rng, dtype) as net:
        copy = pickle.loads(pickle.dumps(net))
        with copy:
            assert copy.dtype == net.dtype and copy.layer_names == net.layer_names
            for ours, theirs in zip(_results(net, x), _results(copy, x)):
                np.testing.assert_array_equal(ours, theirs)


def _explain_in_worker(net: dtd.Network, x: np.ndarray) -> np.ndarray:
    with net:
        return net.lrp(x, target=0, rules=dtd.composites.EpsilonPlusFlat())


def test_a_network_travels_to_a_worker_process(rng):
    x = rng.normal(size=(4, 2, 8, 8))
    with random_cnn(rng) as net:
        expected = net.lrp(x, target=0, rules=dtd.composites.EpsilonPlusFlat())
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing inherited
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            actual = pool.submit(_explain_in_worker, net, x).result(timeout=120)
    np.testing.assert_array_equal(actual, expected)


def test_pickling_a_closed_network_is_an_error(rng):
    net = random_cnn(rng)
    net.close()
    with pytest.raises(dtd.DTDError, match="closed"):
        pickle.dumps(net)


# MARK: - Layer names


def test_layer_names_from_add_and_from_json(rng):
    with random_cnn(rng) as net:
        assert net.layer_names == (None,) * net.layer_count
    model = {"input_shape": [3], "layers": [
        {"type": "dense", "weight": [[1.0, 2.0, 3.0]], "name": "first"}, {"type": "relu"}]}
    with dtd.Network.from_json(model) as net:
        assert net.layer_names == ("first", None)


@pytest.mark.parametrize("name", [3, b"fc", ["fc"]])
def test_layer_name_must_be_a_string(name):
    with dtd.Network((3,)) as net, pytest.raises(TypeError, match="name must be a string"):
        net.add_relu(name=name)
    model = {"input_shape": [3], "layers": [{"type": "relu", "name": name}]}
    with pytest.raises(ValueError, match='layer 0 \\(relu\\): "name" expected a string'):
        dtd.Network.from_json(model)


def test_rules_by_name_apply_to_every_layer_of_that_name(rng):
    with bn_cnn(rng, "float64") as net:
        x = rng.normal(size=(2, 2, 8, 8))
        by_index = net.lrp(x, target=1, rules={0: Flat(), 6: ZPlus(), 8: Epsilon(0.01)})
        np.testing.assert_array_equal(net.lrp(x, target=1, rules=RULES), by_index)
    with dtd.Network((3,)) as net:
        net.add_dense(np.eye(3), name="shared").add_relu().add_dense(np.eye(3), name="shared")
        assert net.rule_kinds({"shared": ZPlus()}) == ("zplus", None, "zplus")


def test_unknown_layer_name_is_a_layer_index_error(rng):
    with bn_cnn(rng, "float64") as net:
        with pytest.raises(dtd.DTDError, match="no layer is named 'fc3'.*'conv'") as info:
            net.rule_kinds({"fc3": ZPlus()})
        assert info.value.status == dtd.errors.DTD_ERROR_LAYER_INDEX
    with random_cnn(rng) as net, pytest.raises(dtd.DTDError, match="have no names"):
        net.rule_kinds({"conv": ZPlus()})
