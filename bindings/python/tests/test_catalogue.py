"""The catalogue of malformed input: every malformed model (MODEL_FORMAT.md) and every bad API
argument gets its *specific* error — the status, the layer index and the field (or argument)
named in the message — and nothing malformed is silently accepted.

Issue 13 found the loose reading this guards against: ``"count_include_pad": "false"`` meaning
True, ``true`` taken as a dimension, and raw ``KeyError``/``TypeError``/numpy reshape messages
that named neither the layer nor the field.
"""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

import dtd
from dtd import _capi as C
from dtd._model_format import ArgumentTypeError, ModelFormatError, validate
from dtd.composites import EpsilonPlus, mlp_epsilon_gamma_box, mlp_epsilon_plus
from dtd.rules import AlphaBeta, Epsilon, Gamma, ZBox, rule_from_dict

INVALID, SIZE, SHAPE = C.DTD_ERROR_INVALID_ARGUMENT, C.DTD_ERROR_SIZE, C.DTD_ERROR_SHAPE_MISMATCH
INDEX, NON_FINITE, RANGE = C.DTD_ERROR_LAYER_INDEX, C.DTD_ERROR_NON_FINITE, C.DTD_ERROR_OUT_OF_RANGE


def _values(n: int, salt: float) -> list[float]:
    return [round(math.sin(salt + 0.7 * i), 6) for i in range(n)]


#: A valid model with every layer type libdtd builds today:
#: (1, 6, 6) -> conv 1->2 pad 1 -> batchnorm -> relu -> maxpool 2 -> avgpool 2 stride 1 ->
#: flatten (8) -> dense 8->3 -> relu -> dense 3->2.
BASE = {
    "name": "catalogue", "source": "test_catalogue.py", "input_shape": [1, 6, 6],
    "layers": [
        {"type": "conv2d", "weight": {"shape": [2, 1, 3, 3], "data": _values(18, 1.0)},
         "bias": [0.1, -0.1], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1]},
        {"type": "batchnorm", "gamma": [1.0, 2.0], "beta": [0.0, 0.5],
         "running_mean": [0.1, 0.2], "running_var": [1.0, 2.0], "eps": 1e-5},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]},
        {"type": "avgpool2d", "kernel": 2, "stride": 1, "padding": 0, "count_include_pad": False},
        {"type": "flatten"},
        {"type": "dense", "weight": {"shape": [3, 8], "data": _values(24, 2.0)},
         "bias": {"shape": [3], "data": [0.1, 0.0, -0.1]}},
        {"type": "relu", "name": "act"},
        {"type": "dense", "weight": [_values(3, 3.0), _values(3, 4.0)], "bias": None},
    ],
}


def test_the_base_model_is_valid_and_builds_what_it_says():
    """The catalogue's mutations start from a model that loads, equal to the same network built
    by hand, so every error below is caused by its mutation alone."""
    x = np.random.default_rng(1).normal(size=(2, 1, 6, 6))
    layers = BASE["layers"]
    with dtd.Network.from_json(BASE) as loaded, dtd.Network((1, 6, 6)) as built:
        built.add_conv2d(np.reshape(layers[0]["weight"]["data"], (2, 1, 3, 3)), [0.1, -0.1],
                         padding=1)
        built.add_batchnorm([1.0, 2.0], [0.0, 0.5], [0.1, 0.2], [1.0, 2.0], eps=1e-5)
        built.add_relu().add_maxpool2d(2).add_avgpool2d(2, stride=1, count_include_pad=False)
        built.add_flatten().add_dense(np.reshape(layers[6]["weight"]["data"], (3, 8)),
                                      [0.1, 0.0, -0.1])
        built.add_relu().add_dense(np.array(layers[8]["weight"]))
        np.testing.assert_array_equal(loaded.forward(x), built.forward(x))


# MARK: - Malformed models

def top(**changes):
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is DELETE:
            del spec[key]
        else:
            spec[key] = value
    return spec


def layer(index, **changes):
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is DELETE:
            del spec["layers"][index][key]
        else:
            spec["layers"][index][key] = value
    return spec


def tensor(index, field, **changes):
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is DELETE:
            del spec["layers"][index][field][key]
        else:
            spec["layers"][index][field][key] = value
    return spec


def insert(index, new_layer):
    spec = copy.deepcopy(BASE)
    spec["layers"].insert(index, new_layer)
    return spec


DELETE = object()
W6 = _values(24, 2.0)  # the dense layer 6's weights, flat

#: (id, model, status, layer index or None, field, a fragment of what was expected)
MALFORMED = [
    # the top level
    ("model-is-a-list", [BASE], INVALID, None, "(model)", "JSON object"),
    ("input_shape-missing", top(input_shape=DELETE), INVALID, None, "input_shape", "every model"),
    ("layers-missing", top(layers=DELETE), INVALID, None, "layers", "every model"),
    ("layers-is-a-dict", top(layers={"0": {"type": "relu"}}), INVALID, None, "layers", "a list"),
    ("input_shape-is-an-int", top(input_shape=36), INVALID, None, "input_shape", "[C, H, W]"),
    ("input_shape-rank-2", top(input_shape=[6, 6]), INVALID, None, "input_shape", "[C, H, W]"),
    ("input_shape-zero", top(input_shape=[1, 0, 6]), SIZE, None, "input_shape[1]", "positive"),
    ("input_shape-negative", top(input_shape=[1, 6, -6]), SIZE, None, "input_shape[2]", "positive"),
    ("input_shape-string", top(input_shape=[1, "6", 6]), INVALID, None, "input_shape[1]", "integer"),
    ("input_shape-float", top(input_shape=[1, 6.0, 6]), INVALID, None, "input_shape[1]", "integer"),
    ("input_shape-true", top(input_shape=[True, 6, 6]), INVALID, None, "input_shape[0]", "integer"),
    ("input_shape-too-large", top(input_shape=[1, 6, 2**31]), SIZE, None, "input_shape[2]", "2147483647"),
    ("top-level-typo", top(layer=[]), INVALID, None, "layer", "input_shape"),
    ("dtype-float16", top(dtype="float16"), INVALID, None, "dtype", "float64"),
    ("metadata-not-an-object", top(metadata="v2"), INVALID, None, "metadata", "an object"),
    # the layer objects and their types
    ("layer-is-a-string", top(layers=["relu"]), INVALID, 0, "layers", "an object"),
    ("type-missing", layer(2, type=DELETE), INVALID, 2, "type", "dense"),
    ("type-unknown", layer(2, type="softmax"), INVALID, 2, "type", "one of"),
    ("type-capitalised", layer(2, type="ReLU"), INVALID, 2, "type", "relu"),
    ("type-a-number", layer(2, type=3), INVALID, 2, "type", "one of"),
    ("name-not-a-string", layer(7, name=7), INVALID, 7, "name", "a string"),
    # unknown fields: a typo must not silently change the network
    ("conv2d-paddding", layer(0, paddding=[2, 2]), INVALID, 0, "paddding", '"padding"'),
    ("relu-inplace", layer(2, inplace=True), INVALID, 2, "inplace", '"type"'),
    ("dense-note", layer(6, note="ignored?"), INVALID, 6, "note", '"weight"'),
    ("maxpool2d-count_include_pad", layer(3, count_include_pad=True), INVALID, 3,
     "count_include_pad", '"kernel"'),
    ("batchnorm-momentum", layer(1, momentum=0.1), INVALID, 1, "momentum", '"running_var"'),
    ("avgpool2d-ceil_mode", layer(4, ceil_mode=False), INVALID, 4, "ceil_mode", '"count_include_pad"'),
    # booleans are JSON booleans
    ("count_include_pad-string-false", layer(4, count_include_pad="false"), INVALID, 4,
     "count_include_pad", "JSON boolean"),
    ("count_include_pad-zero", layer(4, count_include_pad=0), INVALID, 4, "count_include_pad",
     "JSON boolean"),
    ("count_include_pad-null", layer(4, count_include_pad=None), INVALID, 4, "count_include_pad",
     "JSON boolean"),
    # dimensions are positive integers
    ("stride-true", layer(0, stride=True), INVALID, 0, "stride", "positive integer"),
    ("stride-string", layer(0, stride="1"), INVALID, 0, "stride", "positive integer"),
    ("stride-float", layer(0, stride=2.0), INVALID, 0, "stride", "positive integer"),
    ("stride-zero", layer(0, stride=0), SIZE, 0, "stride", "positive integer"),
    ("stride-one-value", layer(0, stride=[1]), INVALID, 0, "stride", "[h, w]"),
    ("stride-three-values", layer(0, stride=[1, 1, 1]), INVALID, 0, "stride", "[h, w]"),
    ("stride-negative-item", layer(0, stride=[1, -1]), SIZE, 0, "stride[1]", "positive integer"),
    ("dilation-zero-item", layer(0, dilation=[1, 0]), SIZE, 0, "dilation[1]", "positive integer"),
    ("dilation-true-item", layer(0, dilation=[True, 1]), INVALID, 0, "dilation[0]", "positive integer"),
    ("padding-negative", layer(0, padding=-1), SIZE, 0, "padding", "non-negative integer"),
    ("padding-three-values", layer(0, padding=[1, 1, 1]), INVALID, 0, "padding",
     "[top, bottom, left, right]"),
    ("padding-four-with-negative", layer(0, padding=[0, 0, 0, -1]), SIZE, 0, "padding[3]",
     "non-negative integer"),
    ("padding-same", layer(0, padding="same"), INVALID, 0, "padding", "non-negative integer"),
    ("kernel-missing", layer(3, kernel=DELETE), INVALID, 3, "kernel", "requires it"),
    ("kernel-zero", layer(3, kernel=0), SIZE, 3, "kernel", "positive integer"),
    ("kernel-float-item", layer(3, kernel=[2, 2.5]), INVALID, 3, "kernel[1]", "positive integer"),
    ("pool-stride-false", layer(4, stride=False), INVALID, 4, "stride", "positive integer"),
    ("pool-padding-true", layer(3, padding=True), INVALID, 3, "padding", "non-negative integer"),
    # tensors
    ("weight-missing", layer(6, weight=DELETE), INVALID, 6, "weight", "requires it"),
    ("weight-null", layer(6, weight=None), INVALID, 6, "weight", "a tensor"),
    ("weight-string", layer(6, weight="0.1, 0.2"), INVALID, 6, "weight", "a tensor"),
    ("weight-count-short", tensor(6, "weight", data=W6[:-1]), SHAPE, 6, "weight.data",
     "24 numbers for shape [3, 8]"),
    ("weight-count-long", tensor(6, "weight", data=W6 + [0.5]), SHAPE, 6, "weight.data",
     "24 numbers"),
    ("weight-shape-missing", tensor(6, "weight", shape=DELETE), INVALID, 6, "weight.shape",
     '"shape"'),
    ("weight-data-missing", tensor(6, "weight", data=DELETE), INVALID, 6, "weight.data", '"data"'),
    ("weight-extra-key", tensor(6, "weight", dtype="float32"), INVALID, 6, "weight.dtype", '"shape"'),
    ("weight-shape-zero", tensor(6, "weight", shape=[3, 0]), SIZE, 6, "weight.shape[1]",
     "positive integer"),
    ("weight-shape-string", tensor(6, "weight", shape=[3, "8"]), INVALID, 6, "weight.shape[1]",
     "positive integer"),
    ("weight-shape-rank-3", tensor(6, "weight", shape=[3, 8, 1]), SHAPE, 6, "weight.shape",
     "2 dimensions"),
    ("weight-shape-not-a-list", tensor(6, "weight", shape="3x8"), INVALID, 6, "weight.shape",
     "a list"),
    ("weight-ragged", layer(8, weight=[[0.1, 0.2, 0.3], [0.4, 0.5]]), SHAPE, 8, "weight",
     "rectangular"),
    ("weight-ragged-mixed", layer(8, weight=[[0.1, 0.2, 0.3], 0.4]), SHAPE, 8, "weight",
     "rectangular"),
    ("weight-rank-1-list", layer(8, weight=[0.1, 0.2, 0.3]), SHAPE, 8, "weight", "2 dimensions"),
    ("weight-data-true", tensor(6, "weight", data=W6[:-1] + [True]), INVALID, 6, "weight.data",
     "numbers only"),
    ("weight-data-null", tensor(6, "weight", data=[None] + W6[1:]), INVALID, 6, "weight.data",
     "numbers only"),
    ("weight-data-string", tensor(6, "weight", data=["0.5"] + W6[1:]), INVALID, 6, "weight.data",
     "numbers only"),
    ("weight-data-nan", tensor(6, "weight", data=[math.nan] + W6[1:]), NON_FINITE, 6,
     "weight.data", "finite"),
    ("weight-data-infinity", tensor(6, "weight", data=W6[:-1] + [-math.inf]), NON_FINITE, 6,
     "weight.data", "finite"),
    ("weight-data-huge-integer", tensor(6, "weight", data=[10**400] + W6[1:]), NON_FINITE, 6,
     "weight.data", "finite"),
    ("weight-data-nested-wrong-shape", tensor(6, "weight", data=np.reshape(W6, (8, 3)).tolist()),
     SHAPE, 6, "weight.data", "nested in that shape"),
    ("weight-data-empty", tensor(6, "weight", data=[]), SIZE, 6, "weight.data", "non-empty"),
    ("conv-weight-rank-2", tensor(0, "weight", shape=[2, 9]), SHAPE, 0, "weight.shape",
     "4 dimensions"),
    ("bias-too-short", layer(6, bias=[0.1, 0.2]), SHAPE, 6, "bias", "3 values"),
    ("bias-rank-2", layer(6, bias=[[0.1, 0.2, 0.3]]), SHAPE, 6, "bias", "1 dimensions"),
    ("bias-string", layer(6, bias="none"), INVALID, 6, "bias", "a tensor"),
    ("bias-false", layer(6, bias=False), INVALID, 6, "bias", "a tensor"),
    ("conv-bias-too-long", layer(0, bias=[0.1, 0.2, 0.3]), SHAPE, 0, "bias", "2 values"),
    # batch norm
    ("batchnorm-running_var-missing", layer(1, running_var=DELETE), INVALID, 1, "running_var",
     "requires it"),
    ("batchnorm-beta-length", layer(1, beta=[0.0, 0.5, 1.0]), SHAPE, 1, "beta", 'as many as "gamma"'),
    ("batchnorm-eps-string", layer(1, eps="1e-5"), INVALID, 1, "eps", "a number"),
    ("batchnorm-eps-negative", layer(1, eps=-1e-5), INVALID, 1, "eps", ">= 0"),
    ("batchnorm-eps-nan", layer(1, eps=math.nan), NON_FINITE, 1, "eps", "finite"),
    ("batchnorm-eps-true", layer(1, eps=True), INVALID, 1, "eps", "a number"),
    ("batchnorm-gamma-scalar", layer(1, gamma=1.0), INVALID, 1, "gamma", "a tensor"),
    # the graph layers (DESIGN.md §3b), checked even before libdtd builds them
    ("route-from-an-int", insert(3, {"type": "route", "from": 1}), INVALID, 3, "from", "earlier layer"),
    ("route-from-empty", insert(3, {"type": "route", "from": []}), INVALID, 3, "from", "non-empty"),
    ("add-from-a-later-layer", insert(3, {"type": "add", "from": [5]}), INDEX, 3, "from[0]",
     "[-1, 3)"),
    ("add-from-itself", insert(3, {"type": "add", "from": [3]}), INDEX, 3, "from[0]", "[-1, 3)"),
    ("add-from-minus-two", insert(3, {"type": "add", "from": [-2]}), INDEX, 3, "from[0]",
     "network input"),
    ("route-from-true", insert(3, {"type": "route", "from": [True]}), INVALID, 3, "from[0]",
     "earlier layer"),
    ("add-from-missing", insert(3, {"type": "add"}), INVALID, 3, "from", "requires it"),
    ("adaptive-output_size-zero", insert(3, {"type": "adaptive_avgpool2d", "output_size": 0}),
     SIZE, 3, "output_size", "positive integer"),
    ("adaptive-output_size-missing", insert(3, {"type": "adaptive_avgpool2d"}), INVALID, 3,
     "output_size", "requires it"),
    ("adaptive-output_size-three", insert(3, {"type": "adaptive_avgpool2d", "output_size": [1, 1, 1]}),
     INVALID, 3, "output_size", "[h, w]"),
    ("identity-with-p", insert(3, {"type": "identity", "p": 0.5}), INVALID, 3, "p", '"type"'),
]


@pytest.mark.parametrize("model, status, index, field, expected",
                         [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_from_json_rejects_a_malformed_model_with_its_specific_error(model, status, index, field,
                                                                     expected):
    with pytest.raises(ModelFormatError) as info:
        dtd.Network.from_json(model)
    error = info.value
    assert error.status == status, f"{error.status_name}: {error.message}"
    assert (error.layer, error.field) == (index, field), error.message
    assert f'"{field}"' in error.message or f"{field!r}" in error.message, error.message
    if index is not None:
        assert error.message.startswith(f"layer {index}"), error.message
    assert expected in error.message, error.message
    assert isinstance(error, dtd.DTDError) and isinstance(error, ValueError)


def test_the_catalogue_has_at_least_60_malformed_models():
    assert len(MALFORMED) >= 60
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED)


def test_from_json_rejects_a_key_given_twice_in_a_file(tmp_path):
    text = json.dumps(BASE).replace('"padding": [1, 1],', '"padding": [1, 1], "padding": [0, 0],', 1)
    assert text.count('"padding"') == len([1 for l in BASE["layers"] if "padding" in l]) + 1
    path = tmp_path / "twice.json"
    path.write_text(text)
    with pytest.raises(ModelFormatError) as info:
        dtd.Network.from_json(path)
    assert info.value.status == INVALID and info.value.field == "padding"
    assert 'the key "padding" appears twice' in info.value.message


def test_the_graph_layers_validate_when_well_formed():
    """The schema covers GRAPH_API.md's layers now; libdtd builds them with issue 10."""
    spec = copy.deepcopy(BASE)
    spec["layers"][3:3] = [{"type": "identity", "name": "drop"},
                           {"type": "route", "from": [-1, 2]},
                           {"type": "add", "from": [0]},
                           {"type": "adaptive_avgpool2d", "output_size": [1, 1]}]
    spec["layers"][0]["padding"] = [1, 1, 0, 2]
    validate(spec)


def _valid_anyway(kind, field, value):
    """The sweep's values that are right for this field (so must be accepted)."""
    if field == "bias" or (field == "stride" and kind.endswith("pool2d")):
        return value is None  # no bias; a pool's stride defaults to its kernel
    if field == "padding":
        return type(value) is int and value == 0
    if field == "eps":
        return type(value) in (int, float) and value >= 0
    if field == "count_include_pad":
        return isinstance(value, bool)
    return False


def test_every_wrong_value_for_every_field_is_rejected():
    """A sweep beyond the hand-written catalogue: each field of the base model replaced by each
    of a dozen wrong values is an error naming that layer and field — 0 silent acceptances."""
    wrong = ["1", "false", True, False, None, 2.5, -1, 0, [], [1], {}, {"x": 1}, [[1, 2], [3]],
             math.nan, "nan"]
    accepted, checked = [], 0
    for index, spec_layer in enumerate(BASE["layers"]):
        for field in spec_layer:
            if field in ("type", "name"):
                continue
            for value in wrong:
                if field == "stride" and value is None and spec_layer["type"].endswith("pool2d"):
                    continue  # null means "the kernel"
                if _valid_anyway(spec_layer["type"], field, value):
                    continue
                model = layer(index, **{field: value})
                checked += 1
                try:
                    dtd.Network.from_json(model).close()
                    accepted.append((index, field, value))
                except ModelFormatError as error:
                    named = error.field.split(".")[0].split("[")[0]
                    # A vector that is valid alone but does not match its partner (gamma of
                    # another length than beta; a weight that no longer fits its bias) may be
                    # reported at the partner.
                    partners = {field} | ({"gamma", "beta", "running_mean", "running_var"}
                                          if spec_layer["type"] == "batchnorm" else set())
                    if field == "weight":
                        partners.add("bias")
                    assert error.layer == index and named in partners, \
                        (index, field, value, error.message)
    assert checked > 200
    assert accepted == []


# MARK: - Bad API arguments (Python)

def mlp() -> dtd.Network:
    rng = np.random.default_rng(5)
    return (dtd.Network((3,)).add_dense(rng.normal(size=(4, 3)), rng.normal(size=4)).add_relu()
            .add_dense(rng.normal(size=(2, 4)), rng.normal(size=2)))


X = np.array([0.5, -1.0, 2.0])
COMPLEX_X = X + 1j
SEED = np.array([1.0, 0.0])
RULES = {0: Epsilon(0.0), 2: Epsilon(0.0)}


def _image_net() -> dtd.Network:
    return dtd.Network((1, 4, 4))


#: (id, call on a fresh mlp() `net`, exception type, status, fragments the message must contain)
BAD_ARGUMENTS = [
    # arrays entering as weights
    ("add_dense-complex-weight", lambda net: net.add_dense(np.ones((2, 2)) + 1j), ArgumentTypeError,
     INVALID, ["weight", "complex"]),
    ("add_dense-object-weight", lambda net: net.add_dense([[1.0, None]]), ArgumentTypeError, INVALID,
     ["weight", "object"]),
    ("add_dense-string-weight", lambda net: net.add_dense([["1", "2"]]), ArgumentTypeError, INVALID,
     ["weight", "string"]),
    ("add_dense-ragged-weight", lambda net: net.add_dense([[1.0, 2.0], [3.0]]), dtd.DTDError, SHAPE,
     ["weight", "ragged"]),
    ("add_dense-complex-bias", lambda net: net.add_dense(np.ones((2, 2)), [1j, 0]),
     ArgumentTypeError, INVALID, ["bias", "complex"]),
    ("add_conv2d-complex-weight", lambda net: _image_net().add_conv2d(np.ones((1, 1, 3, 3)) * 1j),
     ArgumentTypeError, INVALID, ["weight", "complex"]),
    ("add_conv2d-stride-true", lambda net: _image_net().add_conv2d(np.ones((1, 1, 3, 3)), stride=True),
     ArgumentTypeError, INVALID, ["stride", "integer"]),
    ("add_conv2d-stride-string", lambda net: _image_net().add_conv2d(np.ones((1, 1, 3, 3)), stride="2"),
     ArgumentTypeError, INVALID, ["stride", "integer"]),
    ("add_conv2d-padding-float", lambda net: _image_net().add_conv2d(np.ones((1, 1, 3, 3)), padding=1.5),
     ArgumentTypeError, INVALID, ["padding", "integer"]),
    ("add_maxpool2d-kernel-string", lambda net: _image_net().add_maxpool2d("2"), ArgumentTypeError,
     INVALID, ["kernel", "integer"]),
    ("add_avgpool2d-count_include_pad-string",
     lambda net: _image_net().add_avgpool2d(2, count_include_pad="false"), ArgumentTypeError, INVALID,
     ["count_include_pad", "True or False"]),
    ("add_avgpool2d-count_include_pad-zero",
     lambda net: _image_net().add_avgpool2d(2, count_include_pad=0), ArgumentTypeError, INVALID,
     ["count_include_pad", "True or False"]),
    ("add_batchnorm-complex-gamma",
     lambda net: dtd.Network((2,)).add_dense(np.eye(2)).add_batchnorm([1j, 1], [0, 0], [0, 0], [1, 1]),
     ArgumentTypeError, INVALID, ["gamma", "complex"]),
    ("add_batchnorm-eps-string",
     lambda net: dtd.Network((2,)).add_dense(np.eye(2)).add_batchnorm([1, 1], [0, 0], [0, 0], [1, 1],
                                                                     eps="1e-5"),
     ArgumentTypeError, INVALID, ["eps", "real number"]),
    ("Network-input_shape-float", lambda net: dtd.Network((3.0,)), ArgumentTypeError, INVALID,
     ["input_shape[0]", "integer"]),
    ("Network-input_shape-true", lambda net: dtd.Network((True, 2, 2)), ArgumentTypeError, INVALID,
     ["input_shape[0]", "integer"]),
    # arrays entering as inputs and seeds
    ("forward-complex-x", lambda net: net.forward(COMPLEX_X), ArgumentTypeError, INVALID,
     ["x", "complex"]),
    ("forward-object-x", lambda net: net.forward([0.5, None, 2.0]), ArgumentTypeError, INVALID,
     ["x", "object"]),
    ("forward-ragged-x", lambda net: net.forward([[0.5, 1.0, 2.0], [1.0]]), dtd.DTDError, SHAPE,
     ["x", "ragged"]),
    ("gradient-complex-seed", lambda net: net.gradient(X, SEED + 0j), ArgumentTypeError, INVALID,
     ["output_relevance", "complex"]),
    ("gradient_x_input-complex-x", lambda net: net.gradient_x_input(COMPLEX_X, SEED),
     ArgumentTypeError, INVALID, ["x", "complex"]),
    ("lrp-complex-x", lambda net: net.lrp(COMPLEX_X, target=0, rules=RULES), ArgumentTypeError,
     INVALID, ["x", "complex"]),
    ("lrp-complex-seed", lambda net: net.lrp(X, SEED * 1j, rules=RULES), ArgumentTypeError, INVALID,
     ["output_relevance", "complex"]),
    ("lrp-string-seed", lambda net: net.lrp(X, ["1", "0"], rules=RULES), ArgumentTypeError, INVALID,
     ["output_relevance", "string"]),
    ("lrp-target-float", lambda net: net.lrp(X, target=1.5, rules=RULES), TypeError, None, ["target"]),
    ("lrp-target-complex", lambda net: net.lrp(X, target=1j, rules=RULES), TypeError, None, ["target"]),
    # rule dicts and rule objects
    ("rule-dict-epsilon-string", lambda net: net.lrp(X, target=0, rules={0: {"rule": "epsilon",
                                                                            "epsilon": "0.1"}}),
     ModelFormatError, INVALID, ['"epsilon"', "a number"]),
    ("rule-dict-epsilon-true", lambda net: net.lrp(X, target=0, rules={0: {"rule": "epsilon",
                                                                          "epsilon": True}}),
     ModelFormatError, INVALID, ['"epsilon"', "a number"]),
    ("rule-dict-epsilon-nan", lambda net: rule_from_dict({"rule": "epsilon", "epsilon": math.nan}),
     ModelFormatError, NON_FINITE, ['"epsilon"', "finite"]),
    ("rule-dict-bias-one", lambda net: rule_from_dict({"rule": "zplus", "bias": 1}), ModelFormatError,
     INVALID, ['"bias"', '"include"']),
    ("rule-dict-zbox-low-string", lambda net: rule_from_dict({"rule": "zbox", "low": "0", "high": 1}),
     ModelFormatError, INVALID, ['"low"', "a number"]),
    ("rule-dict-zbox-low-complex-list",
     lambda net: rule_from_dict({"rule": "zbox", "low": [1j], "high": [1.0]}), ModelFormatError,
     INVALID, ['"low"', "numbers only"]),
    ("rule-dict-zbox-high-ragged",
     lambda net: rule_from_dict({"rule": "zbox", "low": 0, "high": [[1.0], [1.0, 2.0]]}),
     ModelFormatError, SHAPE, ['"high"', "rectangular"]),
    ("rule-dict-unknown-rule", lambda net: rule_from_dict({"rule": "lrp0"}), ModelFormatError,
     INVALID, ['"rule"', "unknown rule 'lrp0'"]),
    ("rule-dict-unknown-key", lambda net: rule_from_dict({"rule": "gamma", "gama": 0.5}),
     ModelFormatError, INVALID, ["'gama'", "accepted"]),
    ("Epsilon-string", lambda net: Epsilon("0.1"), ArgumentTypeError, INVALID, ["epsilon", "real number"]),
    ("Gamma-true", lambda net: Gamma(gamma=True), ArgumentTypeError, INVALID, ["gamma", "real number"]),
    ("AlphaBeta-complex", lambda net: AlphaBeta(alpha=2 + 0j), ArgumentTypeError, INVALID,
     ["alpha", "real number"]),
    ("ZBox-complex-bounds", lambda net: ZBox(np.array([1j, 0]), 1.0), ArgumentTypeError, INVALID,
     ["low", "complex"]),
    ("ZBox-object-bounds", lambda net: ZBox(0.0, [1.0, None]), ArgumentTypeError, INVALID,
     ["high", "object"]),
    ("composite-epsilon-string", lambda net: mlp_epsilon_plus("1e-6"), ArgumentTypeError, INVALID,
     ["epsilon", "real number"]),
    ("composite-low-string", lambda net: mlp_epsilon_gamma_box("0", 1.0), ArgumentTypeError, INVALID,
     ["low", "real number"]),
    ("zennit-composite-stabilizer-true", lambda net: EpsilonPlus(stabilizer=True), ArgumentTypeError,
     INVALID, ["stabilizer", "real number"]),
    # roots, the audit and the theory checks
    ("roots-complex-x", lambda net: net.roots(COMPLEX_X, layer=0, target=0, rule=Epsilon(0.0)),
     ArgumentTypeError, INVALID, ["x", "complex"]),
    ("roots-tol-string", lambda net: net.roots(X, layer=0, target=0, rule=Epsilon(0.0), tol="1e-5"),
     ArgumentTypeError, INVALID, ["tol", "real number"]),
    ("roots-placement-number", lambda net: net.roots(X, layer=0, target=0, rule=Epsilon(0.0),
                                                     placement=1), dtd.DTDError, RANGE, ["placement"]),
    ("audit-neurons-string-end", lambda net: net.audit(X, layer=0, target=0, rule=Epsilon(0.0),
                                                       neurons=(0, "3")),
     ArgumentTypeError, INVALID, ["neurons end", "integer"]),
    ("audit-layer-float", lambda net: net.audit(X, layer=0.0, target=0, rule=Epsilon(0.0)),
     ArgumentTypeError, INVALID, ["layer", "integer"]),
    ("audit_points-complex-points",
     lambda net: net.audit_points(X, np.zeros((2, 3)) * 1j, layer=0, target=0), ArgumentTypeError, INVALID,
     ["points", "complex"]),
    ("constant_root-complex-root",
     lambda net: net.constant_root_explanation(X, np.zeros(3) + 0j, target=0), ArgumentTypeError,
     INVALID, ["root", "complex"]),
    ("construct_roots-complex-explanation",
     lambda net: net.construct_roots(X, np.ones(3) * 1j, layer=0, target=0, rule=Epsilon(0.0)),
     ArgumentTypeError, INVALID, ["explanation", "complex"]),
    ("rank1_csc-complex-seeds", lambda net: net.rank1_csc(X, np.ones((2, 2)) * 1j, rules=RULES),
     ArgumentTypeError, INVALID, ["seeds", "complex"]),
]


@pytest.mark.parametrize("call, kind, status, fragments", [case[1:] for case in BAD_ARGUMENTS],
                         ids=[case[0] for case in BAD_ARGUMENTS])
def test_a_bad_api_argument_gets_its_specific_error(call, kind, status, fragments):
    with mlp() as net, _no_warning():
        with pytest.raises(kind) as info:
            call(net)
    error = info.value
    if status is not None:
        assert error.status == status, f"{error.status_name}: {error.message}"
    text = error.message if isinstance(error, dtd.DTDError) else str(error)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


class _no_warning:
    """Nothing may be converted with only a warning (numpy's ComplexWarning)."""

    def __enter__(self):
        import warnings
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("error")
        return self

    def __exit__(self, *exc):
        return self._catcher.__exit__(*exc)


def test_the_catalogue_has_at_least_40_bad_api_arguments():
    assert len(BAD_ARGUMENTS) >= 40
    assert len({case[0] for case in BAD_ARGUMENTS}) == len(BAD_ARGUMENTS)


def test_real_valued_arrays_of_every_real_dtype_are_still_accepted():
    """Strictness must not refuse what is right: ints, bools, float16/32/64 inputs work."""
    with mlp() as net:
        expected = net.forward(X.astype(np.float64))
        for array in (X.astype(np.float32), X.astype(np.float16), np.array([1, 0, 2]),
                      np.array([True, False, True]), [0.5, -1, 2.0]):
            result = net.forward(array)
            np.testing.assert_allclose(result, net.forward(np.asarray(array, dtype=np.float64)))
        assert expected.shape == (2,)
