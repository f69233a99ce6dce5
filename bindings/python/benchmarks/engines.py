"""The engines under test, each behind the same small interface.

    engine = ENGINES[name](threads)        # imports its framework here, not at module import
    case = engine.prepare(spec, dtype, method, batch, x, seed)
    case()                                 # one call; returns the input relevance (numpy)

Every engine gets the same weights, inputs and output seeds (``models``). A case does all
per-network and per-rule-set work (building, rule preparation, hook registration) in
``prepare``; the timed call is what a user pays per explanation on a ready network.
"""
from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import numpy as np

import models

PY_DIR = Path(__file__).resolve().parents[1]  # bindings/python


def loaded_kernels() -> str:
    """The convolution kernels libdtd uses in this process: oneDNN when libdtd has loaded
    libdnnl (it does so on its first float32 convolution; see Kernels/OneDNN.swift), else its own
    im2col + BLAS."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "?"
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "libdnnl" in line.split()[-1]})
    choice = os.environ.get("DTD_KERNELS", "auto")
    return f"oneDNN {', '.join(paths)} (DTD_KERNELS={choice})" if paths else f"im2col + BLAS (DTD_KERNELS={choice})"


class Unavailable(RuntimeError):
    """The engine's framework does not import here."""


# ---------------------------------------------------------------------------------------------
# libdtd
# ---------------------------------------------------------------------------------------------

class LibDTD:
    name = "libdtd"

    def __init__(self, threads: int):
        if str(PY_DIR) not in sys.path:
            sys.path.insert(0, str(PY_DIR))
        import dtd
        from dtd import _capi
        self.dtd, self.capi = dtd, _capi
        self.rules = {"epsilon": dtd.rules.Epsilon(models.EPSILON),
                      "zplus": dtd.rules.ZPlus(models.STABILIZER),
                      "flat": dtd.rules.Flat(models.STABILIZER)}
        self._nets: dict = {}
        self.version = f"libdtd {dtd.version()} ({dtd.library_path()})"

    def network(self, spec, dtype):
        key = (spec["name"], dtype)
        if key not in self._nets:
            self._nets[key] = self.dtd.Network.from_json(spec, dtype=dtype)
        return self._nets[key]

    def prepare(self, spec, dtype, method, batch, x, seed):
        net = self.network(spec, dtype)
        x = np.ascontiguousarray(x, dtype=dtype)
        seed = np.ascontiguousarray(seed, dtype=dtype)
        if method == "gradient":
            return lambda: net.gradient(x, seed)
        if method == "audit":
            return self.audit_case(net, x, spec)
        rules = {i: self.rules[r] for i, r in models.rule_map(spec, method).items()}
        kinds = net.rule_kinds(rules)  # prepares (and caches) the rule set outside the timing
        expected = models.rule_map(spec, method)
        assert all(kinds[i] == r for i, r in expected.items()), (kinds, expected)
        return lambda: net.lrp(x, seed, rules=rules)

    def c_call(self, spec, dtype, method, batch, x, seed):
        """The same call straight through ctypes with preallocated buffers: the library's time
        without the binding's argument handling."""
        net = self.network(spec, dtype)
        c = self.capi
        x = np.ascontiguousarray(x, dtype=dtype)
        seed = np.ascontiguousarray(seed, dtype=dtype)
        out = np.empty_like(x)
        ptr_t = c.const_float_p.ctype if dtype == "float32" else c.const_double_p.ctype
        px, ps, po = (a.ctypes.data_as(ptr_t) for a in (x, seed, out))
        h = net._h()
        sfx = "f32" if dtype == "float32" else "f64"
        if method == "gradient":
            fn = getattr(c, f"dtd_relevance_gradient_{sfx}")
            args = (h, x.shape[0], px, x.size, ps, seed.size, po, out.size)
        else:
            rules = {i: self.rules[r] for i, r in models.rule_map(spec, method).items()}
            rs = net._rule_set(rules)
            fn = getattr(c, f"dtd_relevance_lrp_{sfx}")
            args = (h, rs.handle, x.shape[0], px, x.size, ps, seed.size, po, out.size, None, 0)
        fn = fn.c_function.bind()  # the raw ctypes function

        def call():
            status = fn(*args)
            if status != 0:
                raise RuntimeError(f"libdtd status {status}")
            return out
        return call

    def audit_case(self, net, x, spec):
        """dtd_audit_roots for layer 0, target 0, z+ on every dense layer, relevance placement."""
        c = self.capi
        handle = ctypes.c_void_p()
        assert c.dtd_rules_create(net._h(), ctypes.byref(handle)) == 0
        rules = c.dtd_rules_handle(handle)
        self._keep = getattr(self, "_keep", []) + [rules]
        for i in models.linear_layers(spec):
            assert c.dtd_rules_set_zplus(rules, i, models.STABILIZER, c.DTD_BIAS_INCLUDE) == 0
        q = c.dtd_root_query(layer=0, target=spec.get("target", 0), placement=c.DTD_PLACEMENT_RELEVANCE,
                             flags=0, tol=1e-5, neuron_begin=0,
                             neuron_end=spec["layers"][0]["weight"].shape[0])
        per = ctypes.c_int64()
        assert c.dtd_roots_count(net._h(), rules, ctypes.byref(q), ctypes.byref(per)) == 0
        n = x.shape[0]
        records = (c.dtd_audit_record * (n * per.value))()
        summary = c.dtd_audit_summary()
        sfx = "f32" if x.dtype == np.float32 else "f64"
        fn = getattr(c, f"dtd_audit_roots_{sfx}").c_function.bind()
        ptr_t = c.const_float_p.ctype if sfx == "f32" else c.const_double_p.ctype
        args = (net._h(), rules, ctypes.byref(q), n, x.ctypes.data_as(ptr_t), x.size, records, n * per.value,
                ctypes.byref(summary))

        def call():
            status = fn(*args)
            if status != 0:
                raise RuntimeError(f"dtd_audit_roots: status {status}: {c.dtd_last_error_message().decode()}")
            return records, summary
        call.roots = n * per.value
        return call


def audit_records_as_arrays(records, summary, n):
    """libdtd's audit output as the numpy audit's dict layout."""
    arr = np.ctypeslib.as_array(records)
    root = arr["root"]
    shape = (n, -1)
    rec = {"relevance": root["relevance"].reshape(shape), "t": root["t"].reshape(shape),
           "has_root": ((root["flags"] & 1) == 0).reshape(shape),
           "same_gradient": (arr["same_gradient"] != 0).reshape(shape),
           "same_pattern": (arr["same_pattern"] != 0).reshape(shape),
           "output_change": arr["output_change"].reshape(shape),
           "taylor_residual": arr["taylor_residual"].reshape(shape),
           "segment_inside": arr["segment_inside"].reshape(shape)}
    summ = {name: getattr(summary, name) for name, _ in summary._fields_}
    return rec, summ


# ---------------------------------------------------------------------------------------------
# PyTorch + Zennit
# ---------------------------------------------------------------------------------------------

class Torch:
    """Zennit 0.5.1 for LRP and plain PyTorch autograd for the gradient."""

    name = "zennit"

    def __init__(self, threads: int):
        try:
            import torch
        except Exception as error:  # noqa: BLE001 - any import failure means "not here"
            raise Unavailable(f"torch does not import: {error}") from None
        try:
            import zennit  # noqa: F401
            from zennit.attribution import Gradient
            from zennit.composites import (EpsilonPlusFlat, LayerMapComposite, SpecialFirstLayerMapComposite,
                                           layer_map_base)
            from zennit.rules import Epsilon, Flat, ZPlus
            from zennit.types import Linear as AnyLinear
        except Exception as error:  # noqa: BLE001
            self.zennit_error = f"zennit does not import: {error}"
            self.zennit = None
        else:
            self.zennit_error = None
            self.zennit = dict(Gradient=Gradient, EpsilonPlusFlat=EpsilonPlusFlat, LayerMapComposite=LayerMapComposite,
                               SpecialFirstLayerMapComposite=SpecialFirstLayerMapComposite,
                               layer_map_base=layer_map_base, Epsilon=Epsilon, Flat=Flat, ZPlus=ZPlus,
                               AnyLinear=AnyLinear)
        self.torch = torch
        torch.set_num_threads(threads)
        self._models: dict = {}
        self._attributors: list = []
        try:
            from importlib.metadata import version
            zv = version("zennit")
        except Exception:  # noqa: BLE001
            zv = "?"
        if self.zennit is None:
            zv = "unavailable"
        self.version = f"torch {torch.__version__}, zennit {zv}, {torch.get_num_threads()} threads"

    def model(self, spec, dtype):
        key = (spec["name"], dtype)
        if key in self._models:
            return self._models[key]
        torch, nn = self.torch, self.torch.nn
        tdt = torch.float32 if dtype == "float32" else torch.float64
        graph = any(l["type"] in ("route", "add") for l in spec["layers"])
        layers = []
        shape = spec["input_shape"]
        for l in spec["layers"]:
            t = l["type"]
            if t == "dense":
                w = l["weight"]
                m = nn.Linear(w.shape[1], w.shape[0], bias=l.get("bias") is not None)
            elif t == "conv2d":
                w = l["weight"]
                m = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=l.get("stride", 1),
                              padding=l.get("padding", 0), bias=l.get("bias") is not None)
            elif t == "relu":
                m = nn.ReLU()
            elif t == "maxpool2d":
                m = nn.MaxPool2d(l["kernel"], stride=l.get("stride"), padding=l.get("padding", 0))
            elif t == "flatten":
                m = nn.Flatten()
            elif t == "adaptive_avgpool2d":
                m = nn.AdaptiveAvgPool2d(tuple(l["output_size"]))
            elif t in ("identity", "route"):
                m = nn.Identity()
            elif t == "add":
                m = self.sum_module()
            else:
                raise NotImplementedError(t)
            if t in ("dense", "conv2d"):
                with torch.no_grad():
                    m.weight.copy_(torch.from_numpy(l["weight"]))
                    if l.get("bias") is not None:
                        m.bias.copy_(torch.from_numpy(l["bias"]))
            layers.append(m)
        model = (GraphNet(spec, layers, torch) if graph else nn.Sequential(*layers)).to(tdt).eval()
        for p in model.parameters():
            p.requires_grad_(False)  # only input gradients are wanted, by every method
        self._models[key] = model
        return model

    def sum_module(self):
        """The residual sum as Zennit's Sum layer (its composites give it the Norm rule, as
        libdtd's add), or a plain sum when zennit is missing (gradient only)."""
        if self.zennit is not None:
            from zennit.layer import Sum
            return Sum()
        return _PlainSum(self.torch)

    def composite(self, spec, method):
        z = self.zennit
        if method == "lrp-eps":
            return z["LayerMapComposite"](layer_map=z["layer_map_base"]() + [
                (z["AnyLinear"], z["Epsilon"](epsilon=models.EPSILON))])
        if models.MODELS[spec["name"]][3] == "cnn":
            return z["EpsilonPlusFlat"](epsilon=models.EPSILON, stabilizer=models.STABILIZER)
        # MLPs: flat on the first linear layer, z+ on the others.
        return z["SpecialFirstLayerMapComposite"](
            layer_map=z["layer_map_base"]() + [(self.torch.nn.Linear, z["ZPlus"](stabilizer=models.STABILIZER))],
            first_map=[(z["AnyLinear"], z["Flat"](stabilizer=models.STABILIZER))])

    def prepare(self, spec, dtype, method, batch, x, seed):
        torch = self.torch
        self.release()
        model = self.model(spec, dtype)
        tx = torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))
        ts = torch.from_numpy(np.ascontiguousarray(seed, dtype=dtype))
        if method == "gradient":
            def call():
                xi = tx.detach().requires_grad_(True)
                out = model(xi)
                g, = torch.autograd.grad(out, xi, grad_outputs=ts)
                return g.numpy()
            return call
        if self.zennit is None:
            raise Unavailable(self.zennit_error)
        attributor = self.zennit["Gradient"](model, self.composite(spec, method))
        attributor.__enter__()  # hooks registered once, outside the timing
        self._attributors.append(attributor)

        def call():
            _, relevance = attributor(tx, ts)
            return relevance.numpy()
        return call

    def release(self):
        """Removes the hooks of earlier cases (one composite on a model at a time)."""
        while self._attributors:
            self._attributors.pop().__exit__(None, None, None)


def GraphNet(spec, layers, torch):
    """A layer list with §3b route/add layers as a torch module: every layer reads the previous
    output, a route reads (concatenates) the listed outputs, an add sums the previous output and
    the listed ones through its Sum module (operands stacked on a last axis, as Zennit's
    ResNet canonizer does). The modules stay in list order, so Zennit's first-layer mapping
    (EpsilonPlusFlat) finds the same first conv as libdtd."""
    nn = torch.nn

    class _GraphNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(layers)
            self.kinds = [l["type"] for l in spec["layers"]]
            self.sources = [l.get("from", []) for l in spec["layers"]]

        def forward(self, x):
            outputs, a = [], x
            for module, kind, src in zip(self.layers, self.kinds, self.sources):
                if kind == "route":
                    parts = [x if i == -1 else outputs[i] for i in src]
                    a = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
                elif kind == "add":
                    a = module(torch.stack([a] + [x if i == -1 else outputs[i] for i in src], dim=-1))
                else:
                    a = module(a)
                outputs.append(a)
            return a

    return _GraphNet()


def _PlainSum(torch):
    class Sum(torch.nn.Module):
        def forward(self, x):
            return x.sum(dim=-1)
    return Sum()


# ---------------------------------------------------------------------------------------------
# numpy reference
# ---------------------------------------------------------------------------------------------

class Numpy:
    name = "numpy"

    def __init__(self, threads: int):
        from np_audit import NumpyAudit
        from np_lrp import NumpyNet
        self.NumpyNet, self.NumpyAudit = NumpyNet, NumpyAudit
        self._nets: dict = {}
        blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
        self.version = f"numpy {np.__version__} (OPENBLAS_NUM_THREADS={blas})"

    def prepare(self, spec, dtype, method, batch, x, seed):
        x = np.ascontiguousarray(x, dtype=dtype)
        if method == "audit":
            auditor = self.NumpyAudit(spec, dtype)
            target = spec.get("target", 0)
            call = lambda: auditor.audit(x, layer=0, target=target)  # noqa: E731
            call.roots = x.shape[0] * spec["layers"][0]["weight"].shape[0]
            return call
        key = (spec["name"], dtype)
        if key not in self._nets:
            self._nets[key] = self.NumpyNet(spec, dtype)
        net = self._nets[key]
        seed = np.ascontiguousarray(seed, dtype=dtype)
        if method == "gradient":
            return lambda: net.gradient(x, seed)
        rules = models.rule_map(spec, method)
        net.lrp(x[:1], seed[:1], rules)  # computes the modified weights once, outside the timing
        return lambda: net.lrp(x, seed, rules)


ENGINES = {"libdtd": LibDTD, "zennit": Torch, "numpy": Numpy}
