"""dtd.from_onnx against from_torch on the same networks (exported by torch.onnx.export) and
against onnx's own reference evaluator on hand-made graphs (skipped without onnx/torch)."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx (the extras venv: Tests/setup-extras.sh)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import dtd  # noqa: E402
from dtd.importers.onnx import convert  # noqa: E402

HAS_GRAPH = hasattr(dtd.Network, "add_add")
needs_graph = pytest.mark.skipif(not HAS_GRAPH, reason="needs graph layers (issue 10)")


# MARK: - Exported from torch: the same relevance as from_torch


def _export(model, shape, **options) -> bytes:
    torch = pytest.importorskip("torch", reason="needs torch (the extras venv)")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), torch.zeros(1, *shape), buffer, dynamo=False,
                          input_names=["x"], output_names=["y"], **options)
    return buffer.getvalue()


def _small_cnn():
    torch = pytest.importorskip("torch", reason="needs torch (the extras venv)")
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Dropout(), nn.Flatten(),
        nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 5))
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.3, 0.3)
        model[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


def _same_relevance(model, shape, onnx_bytes, rules, batch=3, tolerance=1e-5):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(size=(batch, *shape)).astype(np.float32)
    with dtd.from_torch(model, shape) as ours, dtd.from_onnx(onnx_bytes) as theirs:
        assert theirs.dtype == np.float32
        targets = ours.forward(x).argmax(1)
        a = ours.lrp(x, target=targets, rules=rules)
        b = theirs.lrp(x, target=targets, rules=rules)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        assert np.abs(theirs.forward(x) - expected).max() <= 1e-5 * np.abs(expected).max()
        names = theirs.layer_names
    scale = np.abs(a).reshape(batch, -1).max(1)
    assert (np.abs(a - b).reshape(batch, -1).max(1) / scale).max() <= tolerance
    return names


@pytest.mark.parametrize("preserve_batchnorm", [False, True])
def test_from_onnx_equals_from_torch_on_a_sequential_cnn(preserve_batchnorm):
    """The exporter folds batch norm into the conv (in float32) unless told to keep it; kept, it
    is a BatchNormalization node that from_onnx folds itself."""
    torch = pytest.importorskip("torch")
    model = _small_cnn()
    options = ({"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False}
               if preserve_batchnorm else {})
    data = _export(model, (3, 16, 16), **options)
    kinds = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert ("BatchNormalization" in kinds) == preserve_batchnorm
    for name in ("EpsilonPlusFlat", "EpsilonAlpha2Beta1", "EpsilonGammaBox"):
        rules = dtd.composites.preset(name, **({"low": -3.0, "high": 3.0} if "Box" in name else {}))
        names = _same_relevance(model, (3, 16, 16), data, rules)
    assert names[0].endswith("Conv") and names[-1].endswith("Gemm")


def test_from_onnx_equals_from_torch_on_vgg11():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision", reason="needs torchvision (the extras venv)")
    torch.manual_seed(11)
    model = torchvision.models.vgg11(weights=None).eval()
    shape = (3, 224, 224)  # torch's ONNX exporter refuses VGG's adaptive pool on smaller maps
    _same_relevance(model, shape, _export(model, shape), dtd.composites.EpsilonPlusFlat(), batch=1)


@needs_graph
def test_from_onnx_equals_from_torch_on_resnet18():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision", reason="needs torchvision (the extras venv)")
    torch.manual_seed(18)
    model = torchvision.models.resnet18(weights=None).eval()
    _same_relevance(model, (3, 64, 64), _export(model, (3, 64, 64)),
                    dtd.composites.EpsilonPlusFlat(), batch=2, tolerance=1e-4)


def test_from_onnx_dynamic_batch_and_view_flatten():
    """torch.onnx.export writes x.view(x.size(0), -1) with a dynamic batch as Shape, Gather,
    Unsqueeze, Concat and Reshape: evaluated, a flatten."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class Viewing(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)
            self.fc = nn.Linear(3 * 4 * 4, 2)

        def forward(self, x):
            a = torch.relu(self.conv(x))
            return self.fc(a.view(a.size(0), -1))

    model = Viewing()
    data = _export(model, (2, 6, 6), dynamic_axes={"x": {0: "batch"}})
    ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
    assert {"Shape", "Reshape"} <= ops
    with dtd.from_onnx(data) as net:
        assert net.layer_kinds == ("conv2d", "relu", "flatten", "dense")
    _same_relevance(model, (2, 6, 6), data, dtd.composites.EpsilonPlus(), tolerance=1e-6)


# MARK: - Hand-made graphs: against onnx.reference


def _model(nodes, inputs, output, initializers, opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
                     for name, shape in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)
         for name, value in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _agrees_with_reference(model, shape, dtype="float64"):
    x = np.random.default_rng(2).normal(size=(3, *shape)).astype(np.float32)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    with dtd.from_onnx(model, dtype=dtype) as net:
        actual = net.forward(x)
        kinds = net.layer_kinds
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    return kinds


def test_from_onnx_gemm_attributes_and_matmul_add(rng):
    w1, b1 = rng.normal(size=(6, 5)), rng.normal(size=(5,))   # (in, out): transB = 0
    w2, b2 = rng.normal(size=(4, 5)), rng.normal(size=(1, 4))  # (out, in): transB = 1
    w3, b3 = rng.normal(size=(4, 3)), rng.normal(size=(3,))
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], alpha=0.5, beta=2.0, name="g1"),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"], transB=1, name="g2"),
        helper.make_node("Dropout", ["h2"], ["d2"], name="drop"),
        helper.make_node("Relu", ["d2"], ["r2"]),
        helper.make_node("MatMul", ["r2", "w3"], ["m3"], name="mm"),
        helper.make_node("Add", ["m3", "b3"], ["y"], name="bias"),
    ]
    model = _model(nodes, [("x", ["N", 6])], "y", dict(w1=w1, b1=b1, w2=w2, b2=b2, w3=w3, b3=b3))
    kinds = _agrees_with_reference(model, (6,))
    assert kinds == ("dense", "relu", "dense", "identity" if HAS_GRAPH else "flatten", "relu", "dense")
    with dtd.from_onnx(model) as net:
        assert net.layer_names == ("g1", "relu1", "g2", "drop", "Relu#4", "mm")


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_from_onnx_conv_pool_and_flatten(rng, count_include_pad):
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[1, 2],
                         dilations=[2, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("AveragePool", ["r"], ["a"], kernel_shape=[3, 2], pads=[1, 0, 1, 0],
                         strides=[2, 1], count_include_pad=count_include_pad),
        helper.make_node("MaxPool", ["a"], ["m"], kernel_shape=[2, 2]),  # ONNX's stride: 1
        helper.make_node("Conv", ["m", "w2"], ["c2"], auto_pad="SAME_UPPER", kernel_shape=[3, 3]),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["y"]),
    ]
    model = _model(nodes, [("x", [1, 2, 9, 10])], "y",
                   dict(w=rng.normal(size=(4, 2, 3, 3)), b=rng.normal(size=4),
                        w2=rng.normal(size=(3, 4, 3, 3))))
    kinds = _agrees_with_reference(model, (2, 9, 10))
    assert kinds == ("conv2d", "relu", "avgpool2d", "maxpool2d", "conv2d", "avgpool2d", "flatten")


@needs_graph
def test_from_onnx_asymmetric_pads_and_residual_concat(rng):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[0, 1, 2, 0], name="conv"),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Conv", ["r", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r"], ["s"]),
        helper.make_node("Concat", ["s", "r"], ["k"], axis=1),
        helper.make_node("MaxPool", ["k"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 0, 0, 1]),
    ]
    model = _model(nodes, [("x", [1, 2, 6, 7])], "y",
                   dict(w=rng.normal(size=(3, 2, 3, 3)), w2=rng.normal(size=(3, 3, 3, 3)),
                        b2=rng.normal(size=3)))
    kinds = _agrees_with_reference(model, (2, 6, 7))
    assert kinds[3:5] == ("add", "route")


# MARK: - Bad input


def _expect(model, error, *patterns):
    with pytest.raises(error) as info:
        dtd.from_onnx(model)
    for pattern in patterns:
        assert pattern in str(info.value), str(info.value)


def test_from_onnx_unsupported_op_names_the_node(rng):
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], transB=1, name="fc"),
             helper.make_node("Sigmoid", ["h"], ["y"], name="/act/Sigmoid")]
    model = _model(nodes, [("x", [1, 3])], "y", dict(w=rng.normal(size=(2, 3))))
    _expect(model, dtd.UnsupportedModelError, "'/act/Sigmoid'", "op_type Sigmoid", "not supported")


@pytest.mark.parametrize("node, initializers, patterns", [
    (helper.make_node("Conv", ["x", "w"], ["y"], group=2, name="grouped"),
     {"w": np.ones((4, 1, 1, 1))}, ["'grouped'", "group = 2"]),
    (helper.make_node("Concat", ["x", "x"], ["y"], axis=2, name="cat"), {}, ["'cat'", "axis = 2"]),
    (helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape"),
     {"s": np.array([-1, 2])}, ["'reshape'", "reshapes"]),
    (helper.make_node("Add", ["x", "c"], ["y"], name="shift"),
     {"c": np.ones((1, 2, 2, 2))}, ["'shift'", "adds a constant"]),
    (helper.make_node("Gemm", ["w", "x"], ["y"], name="left"),
     {"w": np.ones((2, 2))}, ["'left'", "weights as B"]),
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=1, name="ceil"),
     {}, ["'ceil'", "ceil_mode"]),
])
def test_from_onnx_bad_nodes_are_named(node, initializers, patterns):
    model = _model([node], [("x", [1, 2, 2, 2])], "y",
                   {k: np.asarray(v, dtype=np.float32) for k, v in initializers.items()})
    if node.input[-1] == "s":  # an int64 shape initializer
        model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array([-1, 2]), "s"))
    _expect(model, dtd.UnsupportedModelError, *patterns)


def test_from_onnx_batchnorm_must_follow_a_layer(rng):
    ones = np.ones(2, dtype=np.float32)
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("BatchNormalization", ["r", "g", "b", "m", "v"], ["y"], name="bn")]
    model = _model(nodes, [("x", [1, 2, 3, 3])], "y", dict(g=ones, b=ones, m=ones, v=ones))
    _expect(model, dtd.UnsupportedModelError, "'bn'", "folds batch normalisation")


def test_from_onnx_graph_shape_errors(rng):
    two_inputs = _model([helper.make_node("Add", ["x", "z"], ["y"])], [("x", [1, 3]), ("z", [1, 3])],
                        "y", {})
    _expect(two_inputs, dtd.UnsupportedModelError, "2 inputs")
    sequence = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, 5, 3])], "y", {})
    with pytest.raises(ValueError, match="input_shape must be"):
        dtd.from_onnx(sequence)
    unknown = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["N", "D"])], "y", {})
    _expect(unknown, dtd.UnsupportedModelError, "fixed sizes after the batch axis")


def test_from_onnx_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"input_shape": [3], "layers": []}')
    with pytest.raises(ValueError, match="is not an ONNX model"):
        dtd.from_onnx(path)
    (tmp_path / "noise.onnx").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="is not an ONNX model"):
        dtd.from_onnx(tmp_path / "noise.onnx")
    with pytest.raises(TypeError, match="path, bytes or an onnx.ModelProto"):
        dtd.from_onnx(42)


def test_from_onnx_file_path_and_convert(tmp_path, rng):
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1, name="fc")]
    model = _model(nodes, [("x", [1, 3])], "y", dict(w=rng.normal(size=(2, 3))))
    onnx.save(model, tmp_path / "fc.onnx")
    with dtd.from_onnx(tmp_path / "fc.onnx") as net:
        assert net.layer_names == ("fc",) and net.dtype == np.float32
    spec = convert(str(tmp_path / "fc.onnx"))
    assert spec["input_shape"] == [3] and spec["layers"][0]["weight"].shape == (2, 3)
