"""dtd: Deep Taylor Decomposition and Layer-wise Relevance Propagation for ReLU networks.

A pure-Python (ctypes) binding of libdtd. ``import dtd`` never fails: ``libdtd.so`` is found
and loaded on first use (``$DTD_LIBRARY``, the copy in the wheel, the system's ``libdtd.so.1``, or
the repository's ``.build``).

    import dtd
    net = dtd.Network((3,)).add_dense(w1).add_relu().add_dense(w2)
    relevance = net.lrp(x, target=0, rules={0: dtd.rules.Epsilon(0), 2: dtd.rules.Epsilon(0)})
    audit = net.audit(X, target=0, layer=0, rule={"rule": "zplus"})   # DTD roots in the region?
    print(audit.table())
    res = net.full_backward(X, target=0, method="exact")                 # the study's 2nd experiment
    print(res.table())

``dtd.study`` runs the root audit of Sixt & Landgraf (2022) on its bundled network;
``dtd.image`` turns relevance into heatmaps, ``dtd.plot`` draws a 2-input network's linear
regions and roots (matplotlib), ``dtd.dask`` explains dask arrays (``import dtd.dask``).
``dtd.from_torch``, ``dtd.from_onnx`` and ``dtd.from_sklearn`` import models (their frameworks
are optional and imported on first use); ``python -m dtd`` is the command line.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import composites, full_backward, roots, rules, study
from . import image, plot  # numpy only; plot imports matplotlib when it draws
from ._loader import library as _library
from .errors import DTDABIError, DTDError, DTDLoadError, UnsupportedModelError
from .limits import set_max_scratch_bytes
from .network import LEDGER_DTYPE, Network
from .full_backward import FullBackwardResult
from .roots import AuditResult, Roots

__all__ = [
    "Network", "Roots", "AuditResult", "FullBackwardResult", "DTDError", "DTDLoadError", "DTDABIError",
    "LEDGER_DTYPE", "UnsupportedModelError", "rules", "composites", "roots", "full_backward", "study",
    "version", "abi_version", "library_path", "image", "plot", "from_torch", "from_onnx", "from_sklearn",
    "set_max_scratch_bytes",
]


def from_torch(module: Any, input_shape: Sequence[int], *, dtype: Any = None) -> Network:
    """A network from a PyTorch module (needs torch); see :func:`dtd.importers.torch.from_torch`."""
    from .importers.torch import from_torch as convert
    return convert(module, input_shape, dtype=dtype)


def from_onnx(model: Any, *, dtype: Any = None) -> Network:
    """A network from an ONNX file or ``onnx.ModelProto`` (needs onnx); see
    :func:`dtd.importers.onnx.from_onnx`."""
    from .importers.onnx import from_onnx as convert
    return convert(model, dtype=dtype)


def from_sklearn(estimator: Any, *, dtype: Any = None) -> Network:
    """A network from a fitted scikit-learn ``MLPClassifier``/``MLPRegressor`` (ReLU); see
    :func:`dtd.importers.sklearn.from_sklearn`."""
    from .importers.sklearn import from_sklearn as convert
    return convert(estimator, dtype=dtype)


def version() -> str:
    """The loaded library's version, e.g. ``"1.0.0"``."""
    from . import _capi
    return _capi.dtd_version_string().decode()


def abi_version() -> int:
    """The loaded library's ABI generation (this package requires 1)."""
    return _library().abi_version


def library_path() -> str:
    """The path of the loaded ``libdtd.so`` (loads it if needed)."""
    return _library().path
