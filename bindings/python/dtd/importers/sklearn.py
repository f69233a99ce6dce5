"""``dtd.from_sklearn``: a fitted scikit-learn MLP as a libdtd network.

``MLPClassifier`` and ``MLPRegressor`` with ``activation="relu"`` become
``dense, relu, dense, relu, ..., dense``. scikit-learn stores ``coefs_[i]`` as (in, out); libdtd's
dense weights are (out, in), so they are transposed. The network ends at the **logits**, before
the output activation (``out_activation_``: softmax, logistic, identity, or exp for the Poisson loss): LRP explains a
logit, as Zennit does with a PyTorch classifier's last Linear layer. ``predict`` is the argmax of
the logits (multi-class), or logit > 0 for a binary classifier, which has a single output unit.
Layers are named ``"coefs_[i]"`` (dense) and ``"relu[i]"``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedModelError
from ._graph import build, float_dtype, require

__all__ = ["from_sklearn", "convert"]


def from_sklearn(estimator: Any, *, dtype: Any = None) -> Any:
    """A :class:`dtd.Network` computing a fitted MLP's logits.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        Fitted, with ``activation="relu"``.
    dtype : {"float32", "float64"}, optional
        By default the dtype of ``coefs_`` (float64 unless fitted on float32 data).

    Returns
    -------
    dtd.Network
        ``dense, relu, ..., dense``, named ``"coefs_[i]"`` and ``"relu[i]"``.

    Raises
    ------
    dtd.UnsupportedModelError
        Another activation (the message names ``activation``).
    TypeError
        Not an MLP.
    ValueError
        Not fitted.
    """
    model, weight_dtype = _convert(estimator)
    return build(model, float_dtype(dtype, weight_dtype))


def convert(estimator: Any) -> dict[str, Any]:
    """The JSON model (a dict with numpy tensors) that :func:`from_sklearn` builds."""
    return _convert(estimator)[0]


def _convert(estimator: Any) -> tuple[dict[str, Any], Any]:
    network = require("sklearn.neural_network", "dtd.from_sklearn")
    if not isinstance(estimator, (network.MLPClassifier, network.MLPRegressor)):
        raise TypeError(f"from_sklearn takes an MLPClassifier or MLPRegressor, got "
                        f"{type(estimator).__name__}")
    kind = type(estimator).__name__
    if not hasattr(estimator, "coefs_"):
        raise ValueError(f"this {kind} is not fitted yet (no coefs_); call fit() first")
    if estimator.activation != "relu":
        raise UnsupportedModelError(f"{kind} with activation={estimator.activation!r}: libdtd "
                                    f"explains ReLU networks; train with activation='relu'")
    layers: list[dict[str, Any]] = []
    count = len(estimator.coefs_)
    for i, (coef, intercept) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        layers.append({"type": "dense", "weight": np.ascontiguousarray(np.asarray(coef).T),
                       "bias": np.array(intercept), "name": f"coefs_[{i}]"})
        if i < count - 1:
            layers.append({"type": "relu", "name": f"relu[{i}]"})
    first = np.asarray(estimator.coefs_[0])
    return {"input_shape": [int(first.shape[0])], "layers": layers}, first.dtype
