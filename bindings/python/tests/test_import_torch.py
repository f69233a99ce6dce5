"""dtd.from_torch against PyTorch and Zennit 0.5.1 (skipped without torch/zennit/torchvision).

The reference is Zennit with the same composite (and its canonizers: the batch-norm merge, made
exact as DESIGN.md §3b says, and ResNetCanonizer for ResNets) on the same torch model, so these
tests check the importer, the Zennit-named presets and libdtd together against a result nobody
here computed. Tolerances per sample: 1e-4 relative in float32, 1e-8 in float64.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (the extras venv: Tests/setup-extras.sh)")
pytest.importorskip("zennit", reason="needs zennit (the extras venv: Tests/setup-extras.sh)")
torchvision = pytest.importorskip("torchvision", reason="needs torchvision (the extras venv)")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from zennit import composites as zc  # noqa: E402
from zennit import rules as zr  # noqa: E402
from zennit.layer import Sum  # noqa: E402

import dtd  # noqa: E402
from dtd import composites as dc  # noqa: E402
from dtd.importers.torch import convert  # noqa: E402
from model_support import (HAS_GRAPH, NEEDS_GRAPH, ExactMergeBatchNorm, exact_resnet_canonizer,  # noqa: E402
                           per_sample_error, run_spec, zennit_hooks_by_name, zennit_lrp,
                           zennit_on_layer_list)

TOLERANCE = {"float32": 1e-4, "float64": 1e-8}
PRESETS = ["EpsilonPlus", "EpsilonPlusFlat", "EpsilonGammaBox", "EpsilonAlpha2Beta1",
           "EpsilonAlpha2Beta1Flat"]
needs_graph = pytest.mark.skipif(not HAS_GRAPH, reason=NEEDS_GRAPH)


def presets(name: str, low: float = -3.0, high: float = 3.0, like: torch.Tensor | None = None):
    """(libdtd's preset, Zennit's composite) of one name, with the box [low, high]."""
    if name == "EpsilonGammaBox":
        return (dc.EpsilonGammaBox(low, high),
                lambda canonizers: zc.EpsilonGammaBox(low=torch.full_like(like, low),
                                                      high=torch.full_like(like, high),
                                                      canonizers=canonizers))
    return dc.PRESETS[name](), lambda canonizers: getattr(zc, name)(canonizers=canonizers)


def random_batchnorm_statistics(model: nn.Module, seed: int) -> None:
    """Non-trivial eval statistics, so folding matters (as the graph reference generator)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=generator))
                module.bias.copy_(0.3 * torch.randn(c, generator=generator))
                module.running_mean.copy_(0.3 * torch.randn(c, generator=generator))
                module.running_var.copy_(0.3 + 1.5 * torch.rand(c, generator=generator))


def compare_with_zennit(model: nn.Module, x: torch.Tensor, name: str, dtype: str,
                        canonizers, net: dtd.Network | None = None) -> float:
    """Relative per-sample error of from_torch + preset against Zennit + composite."""
    if dtype == "float64":
        model = model.double()
        x = x.double()
    model.eval()
    with torch.no_grad():
        targets = model(x).argmax(1)
    ours, theirs = presets(name, like=x)
    expected = zennit_lrp(model, x, theirs(canonizers()), targets)
    own = net is None
    net = net or dtd.from_torch(model, tuple(x.shape[1:]))
    try:
        assert net.dtype == np.dtype(dtype)
        actual = net.lrp(x.numpy(), target=targets.numpy(), rules=ours)
    finally:
        if own:
            net.close()
    assert np.abs(expected).max() > 0
    return per_sample_error(actual, expected)


# MARK: - Models


def small_cnn(seed: int = 0) -> nn.Sequential:
    """Every sequential layer kind: conv, batch norm, both pools, dropout, flatten, linear."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AvgPool2d(2), nn.Dropout(),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Identity(),
        nn.Linear(16, 5))
    random_batchnorm_statistics(model, seed)
    return model.eval()


class ResidualConcatNet(nn.Module):
    """A hand-made graph: a residual block (with a downsampling branch), a concatenation, and
    adaptive pooling. ``zennit=True`` writes the residual sums as Zennit's ``Sum`` layer
    (as ResNetCanonizer does), the form Zennit's composites give the Norm rule."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.zennit = False
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.down = nn.Conv2d(8, 12, 1, stride=2)
        self.down_bn = nn.BatchNorm2d(12)
        self.side = nn.Conv2d(12, 4, 1)
        self.pool = nn.AdaptiveAvgPool2d((4, 4))  # on 6x6 maps: overlapping bins
        self.fc = nn.Linear(16 * 16, 6)
        self.sum1, self.sum2 = Sum(), Sum()
        random_batchnorm_statistics(self, seed)

    def _sum(self, layer: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return layer(torch.stack([a, b], dim=-1)) if self.zennit else a + b

    def forward(self, x):
        a = F.relu(self.stem_bn(self.stem(x)))
        b = self._sum(self.sum1, F.relu(self.conv1(a)), a)
        c = F.relu(self._sum(self.sum2, self.conv2(b), self.down_bn(self.down(b))))
        d = torch.cat([c, F.relu(self.side(c))], dim=1)
        return self.fc(torch.flatten(self.pool(d), 1))


# MARK: - Translation (runs on every libdtd: checks the layer list against torch itself)


def test_from_torch_sequential_indices_and_names_match_the_sequential():
    model = small_cnn()
    with dtd.from_torch(model, (3, 16, 16)) as net:
        assert net.layer_names == tuple(str(i) for i in range(len(model)))
        assert net.layer_kinds[:4] == ("conv2d", "batchnorm", "relu", "maxpool2d")
        assert net.layer_kinds[9:11] == ("dense", "batchnorm")
        x = torch.randn(4, 3, 16, 16)
        with torch.no_grad():
            expected = model(x).numpy()
        assert np.abs(net.forward(x.numpy()) - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("builder, shape", [
    (lambda: torchvision.models.vgg11(weights=None), (3, 64, 64)),
    (lambda: torchvision.models.resnet18(weights=None), (3, 64, 64)),
    (lambda: torchvision.models.resnet34(weights=None), (3, 32, 32)),
    (lambda: torchvision.models.resnet50(weights=None), (3, 32, 32)),
    (lambda: ResidualConcatNet(), (3, 12, 12)),
], ids=["vgg11", "resnet18", "resnet34", "resnet50", "residual_concat"])
def test_from_torch_layer_list_computes_the_model(builder, shape):
    """The emitted layer list, run by an independent torch interpreter of DESIGN.md §3b, gives
    the model's output: routes, adds, batch-norm placement and pooling are translated right."""
    model = builder()
    random_batchnorm_statistics(model, 1)
    model = model.double().eval()
    spec = convert(model, shape)
    x = torch.randn(2, *shape, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
        actual = run_spec(spec, x)
    assert torch.allclose(actual, expected, rtol=1e-10, atol=1e-10 * expected.abs().max())


def test_from_torch_resnet_block_layout_is_design_3b():
    spec = convert(torchvision.models.resnet18(weights=None), (3, 64, 64))
    layers = spec["layers"]
    kinds = [layer["type"] for layer in layers]
    # stem, then BasicBlock layer1.0: conv, bn, relu, conv, bn, add(from: [block input]), relu
    assert kinds[:11] == ["conv2d", "batchnorm", "relu", "maxpool2d", "conv2d", "batchnorm", "relu",
                          "conv2d", "batchnorm", "add", "relu"]
    assert layers[9]["from"] == [3] and layers[9]["name"] == "layer1.0.add"
    # layer2.0 with downsample: ..., bn(=m), route(from: [block input]), conv, bn, add(from: [m]), relu
    start = [layer.get("name") for layer in layers].index("layer2.0.conv1")
    block_input = start - 1
    assert kinds[start:start + 9] == ["conv2d", "batchnorm", "relu", "conv2d", "batchnorm", "route",
                                      "conv2d", "batchnorm", "add"]
    assert layers[start + 5]["from"] == [block_input]
    assert layers[start + 8]["from"] == [start + 4]
    assert [layers[start + 6]["name"], layers[start + 7]["name"]] == \
        ["layer2.0.downsample.0", "layer2.0.downsample.1"]


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("builder", [lambda: torchvision.models.resnet18(weights=None),
                                     lambda: torchvision.models.vgg11(weights=None)],
                         ids=["resnet18", "vgg11"])
def test_preset_puts_zennits_rule_on_every_module(builder, name):
    """Rule by rule, the preset on the imported layer list = the hook Zennit's composite puts on
    the module of the same name; the layers presets leave alone get libdtd's fixed rules, which
    are the ones Zennit's composites give them (Pass, Norm, plain gradient)."""
    model = builder()
    spec = convert(model, (3, 64, 64))
    ours, theirs = presets(name, like=torch.zeros(1, 3, 64, 64))
    hooks = zennit_hooks_by_name(model, theirs(None))
    rules = ours._layer_rules([layer["type"] for layer in spec["layers"]])
    fixed = {"relu": zr.Pass, "batchnorm": zr.Pass, "avgpool2d": zr.Norm, "adaptive_avgpool2d": zr.Norm,
             "maxpool2d": type(None), "identity": type(None), "flatten": type(None)}
    checked = 0
    for index, layer in enumerate(spec["layers"]):
        module = layer.get("name")
        if module not in hooks:  # functions (flatten, add) and inserted routes
            continue
        zennit_rule = type(hooks[module]).__name__
        if layer["type"] in ("dense", "conv2d"):
            assert type(rules[index]).__name__ == zennit_rule, (index, module)
            checked += 1
        else:
            assert type(hooks[module]) is fixed[layer["type"]], (index, module, zennit_rule)
    assert checked == sum(layer["type"] in ("dense", "conv2d") for layer in spec["layers"])


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("model_name", ["resnet18", "residual_concat"])
def test_layer_list_and_preset_explained_by_zennit_equal_zennit_on_the_model(model_name, name):
    """Zennit itself, run on the imported layer list with the preset's rule per layer index,
    gives what Zennit gives on the torch model with the composite (and ResNetCanonizer): the
    translation and the preset's assignment are right on graph models, whatever libdtd's own
    graph layers do (which the graph reference cases check)."""
    torch.manual_seed(0)
    if model_name == "resnet18":
        model, shape, canonizer = (torchvision.models.resnet18(weights=None), (3, 32, 32),
                                   exact_resnet_canonizer)
    else:
        model, shape, canonizer = ResidualConcatNet(seed=2), (3, 12, 12), ExactMergeBatchNorm
    random_batchnorm_statistics(model, 5)
    model = model.double().eval()
    spec = convert(model, shape)
    x = torch.randn(2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        targets = model(x).argmax(1)
    ours, theirs = presets(name, like=x)
    rules = ours._layer_rules([layer["type"] for layer in spec["layers"]])
    on_list = zennit_on_layer_list(spec, rules, x, targets)
    model.zennit = True  # ResidualConcatNet: Zennit's Sum layers (ResNet: the canonizer does it)
    on_model = zennit_lrp(model, x, theirs([canonizer()]), targets)
    assert np.abs(on_model).max() > 0
    assert per_sample_error(on_list, on_model) <= 1e-12


# MARK: - Against Zennit


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PRESETS)
def test_from_torch_preset_equals_zennit_on_a_sequential_cnn(name, dtype):
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    error = compare_with_zennit(small_cnn(), x, name, dtype, lambda: [ExactMergeBatchNorm()])
    assert error <= TOLERANCE[dtype]


# VGG-11: at 64x64 its AdaptiveAvgPool2d(7, 7) enlarges 2x2 maps (overlapping bins), which needs
# the graph layers; until they land it runs at 224x224, where that pool is 1x1 average pooling.
VGG_SHAPE = (3, 64, 64) if HAS_GRAPH else (3, 224, 224)
VGG_BATCH = 2 if HAS_GRAPH else 1


@pytest.fixture(scope="module")
def vgg11():
    torch.manual_seed(11)
    model = torchvision.models.vgg11(weights=None).eval()
    x = torch.randn(VGG_BATCH, *VGG_SHAPE, generator=torch.Generator().manual_seed(5))
    nets = {"float32": dtd.from_torch(model, VGG_SHAPE)}
    yield model, x, nets
    for net in nets.values():
        net.close()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PRESETS)
def test_from_torch_preset_equals_zennit_on_vgg11(vgg11, name, dtype):
    model, x, nets = vgg11
    if dtype == "float64" and not HAS_GRAPH and name != "EpsilonGammaBox":
        pytest.skip("float64 VGG-11 at 224x224 for EpsilonGammaBox only (slow); every preset "
                    "at 64x64 once the graph layers (issue 10) land")
    if dtype == "float64":
        net = dtd.from_torch(model.double(), VGG_SHAPE)
        try:
            error = compare_with_zennit(model, x, name, dtype, lambda: None, net)
        finally:
            net.close()
            model.float()
    else:
        error = compare_with_zennit(model, x, name, dtype, lambda: None, nets[dtype])
    assert error <= TOLERANCE[dtype]


@needs_graph
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PRESETS)
def test_from_torch_preset_equals_zennit_on_resnet18(name, dtype):
    torch.manual_seed(18)
    model = torchvision.models.resnet18(weights=None)
    random_batchnorm_statistics(model, 18)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    error = compare_with_zennit(model, x, name, dtype, lambda: [exact_resnet_canonizer()])
    assert error <= TOLERANCE[dtype]


@needs_graph
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PRESETS)
def test_from_torch_preset_equals_zennit_on_a_residual_concat_module(name, dtype):
    model = ResidualConcatNet(seed=4)
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(9))
    net = dtd.from_torch(model, (3, 12, 12), dtype=dtype)  # traced with `+`
    model.zennit = True  # Zennit sees the same sums as Sum layers
    try:
        error = compare_with_zennit(model, x, name, dtype, lambda: [ExactMergeBatchNorm()], net)
    finally:
        net.close()
    assert error <= TOLERANCE[dtype]


# MARK: - Rules by name, dtype, mode


def test_from_torch_rules_by_name_equal_rules_by_index():
    from collections import OrderedDict
    torch.manual_seed(2)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)), ("flatten", nn.Flatten()), ("fc1", nn.Linear(4 * 8 * 8, 8)),
        ("relu2", nn.ReLU()), ("fc2", nn.Linear(8, 3))])).eval()
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16))
    with dtd.from_torch(model, (3, 16, 16), dtype="float64") as net:
        assert net.layer_names == ("conv1", "bn1", "relu1", "pool", "flatten", "fc1", "relu2", "fc2")
        by_index = {0: dtd.rules.Flat(), 5: dtd.rules.Epsilon(0.1), 7: dtd.rules.Epsilon()}
        by_name = {"conv1": dtd.rules.Flat(), "fc1": dtd.rules.Epsilon(0.1), "fc2": dtd.rules.Epsilon()}
        np.testing.assert_array_equal(net.lrp(x, target=1, rules=by_index),
                                      net.lrp(x, target=1, rules=by_name))
        mixed = dc.EpsilonPlus().with_overrides({"fc1": dtd.rules.ZPlus()})
        assert net.rule_kinds(mixed) == ("zplus", None, None, None, None, "zplus", None, "epsilon")
        assert net.rule_kinds({"composite": dc.EpsilonPlus(), "conv1": {"rule": "flat"}})[0] == "flat"


def test_from_torch_a_module_used_twice_gets_its_rule_at_both_layers():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(F.relu(self.fc(F.relu(self.fc(x)))))

    with dtd.from_torch(Twice(), (4,)) as net:
        assert net.layer_names == ("fc", "relu", "fc", "relu_1", "out") or \
            net.layer_names[0] == net.layer_names[2] == "fc"
        assert net.rule_kinds({"fc": dtd.rules.ZPlus(), "out": dtd.rules.Epsilon()}) == \
            ("zplus", None, "zplus", None, "epsilon")


def test_from_torch_dtype_follows_the_model_unless_given():
    model = small_cnn()
    with dtd.from_torch(model, (3, 16, 16)) as net:
        assert net.dtype == np.float32
    with dtd.from_torch(model, (3, 16, 16), dtype="float64") as net:
        assert net.dtype == np.float64
    with dtd.from_torch(model.double(), (3, 16, 16)) as net:
        assert net.dtype == np.float64


def test_from_torch_restores_training_mode_and_leaves_statistics_alone():
    model = small_cnn().train()
    model[10].eval()  # a frozen batch norm among training modules keeps its own mode
    before = model[1].running_mean.clone()
    dtd.from_torch(model, (3, 16, 16)).close()
    assert model.training and model[1].training and not model[10].training
    assert torch.equal(model[1].running_mean, before)


def test_from_torch_convert_copies_the_parameters():
    model = small_cnn()
    spec = convert(model, (3, 16, 16))
    weight = spec["layers"][0]["weight"].copy()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    np.testing.assert_array_equal(spec["layers"][0]["weight"], weight)


def test_from_torch_functional_forms_and_flatten_by_view():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, padding="same")
            self.fc = nn.Linear(4 * 3 * 3, 3)

        def forward(self, x):
            a = torch.relu(self.conv(x))
            a = F.max_pool2d(a, 2)
            a = F.avg_pool2d(a, kernel_size=2, stride=1)
            a = F.adaptive_avg_pool2d(a, (3, 3))
            a = F.dropout(a, 0.5, training=self.training)
            a = a.contiguous().view(a.size(0), -1)
            return self.fc(a.relu())

    model = Functional().eval()
    with dtd.from_torch(model, (2, 8, 8), dtype="float64") as net:
        assert net.layer_kinds == ("conv2d", "relu", "maxpool2d", "avgpool2d", "avgpool2d",
                                   *(("identity",) if HAS_GRAPH else ("maxpool2d",)), "flatten",
                                   "relu", "dense")
        assert net.layer_names[1] == "relu" and net.layer_names[6] == "view"
        x = torch.randn(3, 2, 8, 8, dtype=torch.float64)
        with torch.no_grad():
            expected = model.double()(x).numpy()
        np.testing.assert_allclose(net.forward(x.numpy()), expected, rtol=1e-12, atol=1e-12)


# MARK: - Bad input


def _traced_error(module: nn.Module, shape: tuple[int, ...], error: type, *patterns: str) -> None:
    with pytest.raises(error) as info:
        dtd.from_torch(module, shape)
    for pattern in patterns:
        assert pattern in str(info.value), str(info.value)


@pytest.mark.parametrize("module, shape, patterns", [
    (nn.Sequential(nn.Linear(4, 4), nn.Tanh()), (4,), ["Tanh at '1'", "not supported"]),
    (nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), (4,), ["LayerNorm at '1'"]),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), (4, 6, 6), ["Conv2d at '0'", "groups = 2"]),
    (nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect")), (2, 6, 6),
     ["Conv2d at '0'", "padding_mode = 'reflect'"]),
    (nn.Sequential(nn.Conv1d(2, 4, 3)), (2, 6, 6), ["Conv1d at '0'"]),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4)), (4,),
     ["BatchNorm1d at '2'", "follows ReLU at '1'"]),
    (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), (1, 5, 5), ["MaxPool2d at '0'", "ceil_mode"]),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(4, 2)), (1, 6, 6), ["Linear at '1'", "flat"]),
])
def test_from_torch_unsupported_module_names_type_and_qualified_name(module, shape, patterns):
    _traced_error(module, shape, dtd.UnsupportedModelError, *patterns)


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]


class _Lambda(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.function = function

    def forward(self, x):
        return self.function(self.fc(x))


@pytest.mark.parametrize("function, patterns", [
    (F.gelu, ["function gelu", "'gelu'"]),
    (lambda a: a * 2, ["function mul"]),
    (lambda a: a + 1, ["function add", "adds a constant"]),
    (lambda a: torch.cat([a, a], dim=0), ["function cat", "dim = 0"]),
    (lambda a: a.sigmoid(), ["method .sigmoid()"]),
    (lambda a: (a, a), ["must return one tensor"]),
    (lambda a: a.view(1, -1), ["reshapes", "(2, 4) to (1, 8)"]),
])
def test_from_torch_unsupported_function_names_the_fx_node(function, patterns):
    _traced_error(_Lambda(function), (4,), dtd.UnsupportedModelError, *patterns)


def test_from_torch_attention_is_named_whatever_the_input_shape():
    """Module types are checked before the model runs: a sequence shape (L, E), which libdtd's
    networks do not take, still gets the error that names the attention layer."""
    _traced_error(_Attention(), (3, 4), dtd.UnsupportedModelError, "MultiheadAttention at 'attn'")


def test_from_torch_inplace_relu_over_a_shared_tensor_is_refused():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            a = self.fc(x)
            return self.relu(a) + a  # in torch, `a` is overwritten: 2 * relu(a)

    _traced_error(Shared(), (4,), dtd.UnsupportedModelError, "ReLU at 'relu'", "in-place")


def test_from_torch_untraceable_model_is_a_clear_error():
    class Branching(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else -self.fc(x)

    _traced_error(Branching(), (4,), dtd.UnsupportedModelError, "torch.fx cannot trace Branching")


@pytest.mark.parametrize("shape, pattern", [
    ((3,), "does not fit the model"),
    ((1, 4), "input_shape must be (D,) or (C, H, W)"),
    ((1, 1, 1, 4), "without the batch axis"),
    ((0,), "positive sizes"),
    ("four", "tuple of ints"),
])
def test_from_torch_wrong_input_shape(shape, pattern):
    _traced_error(nn.Sequential(nn.Linear(4, 2)), shape, ValueError, pattern)


def test_from_torch_rejects_a_non_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        dtd.from_torch(lambda x: x, (4,))
