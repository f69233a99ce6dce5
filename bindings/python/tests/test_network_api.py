"""The Pythonic Network: construction, queries, from_json, and numpy in / numpy out."""
from __future__ import annotations

import json

import numpy as np
import pytest

import dtd
from dtd.rules import Epsilon, ZPlus
from support import REPO_ROOT, FIXTURES, ZENNIT_FILES, load_json, random_cnn, random_mlp, relative_error, tensor


def test_network_properties_follow_the_layers(rng):
    with random_cnn(rng, dtype="float32") as net:
        assert net.dtype == np.dtype("float32")
        assert net.input_shape == (2, 8, 8)
        assert net.output_shape == (3,)
        assert net.layer_count == 9
        assert net.layer_kinds == ("conv2d", "relu", "maxpool2d", "conv2d", "relu", "flatten",
                                   "dense", "relu", "dense")
        assert "float32 (2, 8, 8) -> (3,)" in repr(net)


def test_network_empty_reports_its_input_shape():
    with dtd.Network(5) as net:
        assert (net.input_shape, net.output_shape, net.layer_count, net.layer_kinds) == ((5,), (5,), 0, ())


def test_network_builders_chain_and_accept_int_or_pair(rng):
    with dtd.Network((1, 6, 6)) as net:
        assert net.add_conv2d(rng.normal(size=(2, 1, 3, 3)), stride=(1, 1), padding=[1, 1]) is net
        assert net.add_relu().add_avgpool2d((2, 3), stride=(2, 3)).add_flatten() is net
        assert net.output_shape == (2 * 3 * 2,)
    with pytest.raises(ValueError, match="pair"):
        dtd.Network((1, 6, 6)).add_maxpool2d((2, 2, 2))


def test_network_single_sample_and_batch_agree(rng):
    with random_mlp(rng, [4, 5, 3]) as net:
        x = rng.normal(size=(3, 4))
        seed = rng.normal(size=(3, 3))
        batch = net.lrp(x, seed, rules=ZPlus())
        for i in range(3):  # (BLAS may sum a batch of one in another order: 1 ulp apart)
            assert net.forward(x[i]).shape == (3,)
            np.testing.assert_allclose(net.lrp(x[i], seed[i], rules=ZPlus()), batch[i], rtol=1e-12)
            np.testing.assert_allclose(net.gradient(x[i], seed[i]), net.gradient(x, seed)[i], rtol=1e-12)


def test_network_accepts_non_contiguous_and_other_dtype_inputs(rng):
    with random_mlp(rng, [4, 5, 3]) as net:
        wide = rng.normal(size=(3, 8))
        x = wide[:, ::2]  # a strided view
        assert not x.flags.c_contiguous
        np.testing.assert_array_equal(net.forward(x), net.forward(np.ascontiguousarray(x)))
        np.testing.assert_array_equal(net.forward(np.asfortranarray(x)), net.forward(x.copy()))
        np.testing.assert_array_equal(net.forward(x.tolist()), net.forward(x))
        assert net.forward(x.astype(np.float32)).dtype == np.float64


def test_network_float32_returns_float32(rng):
    with random_mlp(rng, [4, 5, 3], dtype="float32") as net:
        x = rng.normal(size=(2, 4))  # float64 in, converted
        for result in (net.forward(x), net.gradient(x, np.ones((2, 3))), net.gradient_x_input(x, np.ones((2, 3))),
                       net.lrp(x, target=0, rules=Epsilon())):
            assert result.dtype == np.float32


def test_network_per_sample_targets(rng):
    with random_mlp(rng, [4, 5, 3]) as net:
        x = rng.normal(size=(3, 4))
        targets = np.array([2, 0, 1])
        together = net.lrp(x, target=targets, rules=Epsilon())
        for i, k in enumerate(targets):
            np.testing.assert_allclose(net.lrp(x[i], target=int(k), rules=Epsilon()), together[i], rtol=1e-12)
        # The seed it builds is f_k(x) e_k.
        seeds = net.forward(x) * np.eye(3)[targets]
        np.testing.assert_array_equal(net.lrp(x, seeds, rules=Epsilon()), together)
        with pytest.raises(TypeError, match="target"):
            net.lrp(x, target=1.5, rules=Epsilon())


def test_network_weights_are_copied(rng):
    weight = rng.normal(size=(2, 3))
    with dtd.Network(3).add_dense(weight) as net:
        before = net.forward(np.ones(3))
        weight[:] = 0
        np.testing.assert_array_equal(net.forward(np.ones(3)), before)


# MARK: - from_json

def test_from_json_reads_a_path_and_a_dict_alike():
    path = ZENNIT_FILES[0]
    with dtd.Network.from_json(path) as a, dtd.Network.from_json(load_json(path)) as b, \
            dtd.Network.from_json(str(path)) as c:
        x = tensor(load_json(path)["cases"][0]["input"])
        assert a.layer_kinds == b.layer_kinds == c.layer_kinds
        np.testing.assert_array_equal(a.forward(x), b.forward(x))
        np.testing.assert_array_equal(a.forward(x), c.forward(x))


def test_from_json_reads_the_study_network():
    spec = load_json(REPO_ROOT / "bindings" / "python" / "dtd" / "data" / "dtd_study_mlp.json")
    with dtd.Network.from_json(spec, dtype="float32") as net:
        assert net.input_shape == (10,) and net.output_shape == (2,)
        assert net.layer_kinds == ("dense", "relu") * 3
        x = np.asarray(spec["input_blocks"][0]["inputs"][:50], dtype=np.float32)
        # The blocks were drawn with f_0(x) > 0.1 (fixture README): a check of weights and order.
        assert np.all(net.forward(x)[:, spec["explained_output"]] > 0.1)


def test_from_json_bias_forms_null_list_and_tensor():
    weight = [[1.0, 2.0], [3.0, -4.0]]
    x = np.array([0.5, 1.5])
    base = {"input_shape": [2], "layers": []}
    forms = [None, [1.0, -1.0], {"shape": [2], "data": [1.0, -1.0]}]
    results = []
    for bias in forms:
        spec = dict(base, layers=[{"type": "dense", "weight": weight, "bias": bias, "name": "fc"}])
        with dtd.Network.from_json(spec) as net:
            results.append(net.forward(x))
    np.testing.assert_array_equal(results[0], np.array(weight) @ x)
    np.testing.assert_array_equal(results[1], np.array(weight) @ x + [1.0, -1.0])
    np.testing.assert_array_equal(results[1], results[2])


def test_from_json_conv_dilation_pools_and_batchnorm(rng):
    w = rng.normal(size=(2, 1, 3, 3))
    spec = {"input_shape": [1, 9, 9], "layers": [
        {"type": "conv2d", "weight": {"shape": [2, 1, 3, 3], "data": w.ravel().tolist()}, "bias": None,
         "stride": [1, 1], "padding": [1, 1], "dilation": [2, 2]},
        {"type": "batchnorm", "gamma": [1.0, 2.0], "beta": [0.0, 1.0], "running_mean": [0.5, 0.0],
         "running_var": [1.0, 4.0], "eps": 0.0},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": [2, 2], "stride": [1, 1], "padding": [1, 1]},
        {"type": "avgpool2d", "kernel": 2, "stride": 2, "padding": 0, "count_include_pad": False},
        {"type": "flatten"},
    ]}
    x = rng.normal(size=(2, 1, 9, 9))
    with dtd.Network.from_json(spec) as loaded, dtd.Network((1, 9, 9)) as built:
        built.add_conv2d(w, stride=1, padding=1, dilation=2)
        built.add_batchnorm([1.0, 2.0], [0.0, 1.0], [0.5, 0.0], [1.0, 4.0], eps=0.0)
        built.add_relu().add_maxpool2d(2, stride=1, padding=1)
        built.add_avgpool2d(2, count_include_pad=False).add_flatten()
        assert loaded.layer_kinds == built.layer_kinds
        np.testing.assert_array_equal(loaded.forward(x), built.forward(x))
        assert loaded.output_shape == built.output_shape == (2 * 4 * 4,)


def test_from_json_unknown_layer_type_names_the_layer():
    spec = {"input_shape": [2], "layers": [{"type": "relu"}, {"type": "softmax"}]}
    with pytest.raises(ValueError, match="layer 1: unknown layer type 'softmax'"):
        dtd.Network.from_json(spec)


def test_from_json_library_errors_name_the_layer(tmp_path):
    spec = {"input_shape": [3], "layers": [{"type": "dense", "weight": [[1.0, 2.0]], "bias": None}]}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(dtd.DTDError) as info:
        dtd.Network.from_json(path)
    assert info.value.status == dtd.errors.DTD_ERROR_SHAPE_MISMATCH
    assert "layer 0 (dense)" in info.value.message


def test_from_json_float32_matches_float64_within_tolerance():
    path = ZENNIT_FILES[-1]
    case = load_json(path)["cases"][0]
    x = tensor(case["input"])
    with dtd.Network.from_json(path, dtype="float32") as f32, dtd.Network.from_json(path) as f64:
        assert relative_error(f32.forward(x), f64.forward(x)) <= 1e-5


def test_network_is_usable_from_several_threads_at_once(rng):
    """A built network and its rule set are immutable (header: safe from many threads); the
    ctypes calls release the GIL, so these really run concurrently."""
    from concurrent.futures import ThreadPoolExecutor

    with random_cnn(rng) as net:
        x = rng.normal(size=(8, 2, 8, 8))
        expected_lrp = net.lrp(x, target=0, rules=Epsilon(0.01))
        expected_forward = net.forward(x)

        def work(i):
            return net.lrp(x, target=0, rules=Epsilon(0.01)), net.forward(x)

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(work, range(16)))
    for lrp, forward in results:
        np.testing.assert_array_equal(lrp, expected_lrp)
        np.testing.assert_array_equal(forward, expected_forward)
