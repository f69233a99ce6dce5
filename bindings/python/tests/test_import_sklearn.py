"""dtd.from_sklearn against scikit-learn itself and the hand-built network (skipped without
scikit-learn)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="needs scikit-learn (the extras venv: Tests/setup-extras.sh)")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

import dtd  # noqa: E402


def fitted(estimator, rng, n_features=4, classes=3):
    X = rng.normal(size=(60, n_features))
    y = rng.integers(0, classes, size=60) if classes else X @ rng.normal(size=n_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y), X


def hand_built(estimator) -> dtd.Network:
    net = dtd.Network((estimator.coefs_[0].shape[0],))
    for i, (coef, intercept) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        net.add_dense(coef.T, intercept)
        if i < len(estimator.coefs_) - 1:
            net.add_relu()
    return net


def test_from_sklearn_equals_the_hand_built_network_bit_for_bit(rng):
    clf, X = fitted(MLPClassifier(hidden_layer_sizes=(4, 5), max_iter=50, random_state=0), rng)  # square first layer
    with dtd.from_sklearn(clf) as net, hand_built(clf) as reference:
        assert net.layer_kinds == ("dense", "relu", "dense", "relu", "dense")
        assert net.layer_names == ("coefs_[0]", "relu[0]", "coefs_[1]", "relu[1]", "coefs_[2]")
        assert net.dtype == np.float64
        np.testing.assert_array_equal(net.forward(X), reference.forward(X))
        rules = dtd.composites.EpsilonPlusFlat()
        np.testing.assert_array_equal(net.lrp(X, target=1, rules=rules),
                                      reference.lrp(X, target=1, rules=rules))


def test_from_sklearn_explains_the_logits_of_a_classifier(rng):
    clf, X = fitted(MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0), rng)  # square: 4 -> 4
    with dtd.from_sklearn(clf) as net:
        logits = net.forward(X)
    assert np.array_equal(clf.predict(X), clf.classes_[logits.argmax(1)])
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probabilities / probabilities.sum(1, keepdims=True),
                               clf.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_from_sklearn_binary_classifier_has_one_logit(rng):
    clf, X = fitted(MLPClassifier(hidden_layer_sizes=(6,), max_iter=50, random_state=1), rng, classes=2)
    with dtd.from_sklearn(clf) as net:
        logit = net.forward(X)
    assert logit.shape == (60, 1)
    assert np.array_equal(clf.predict(X), clf.classes_[(logit[:, 0] > 0).astype(int)])


def test_from_sklearn_regressor_gives_predict(rng):
    reg, X = fitted(MLPRegressor(hidden_layer_sizes=(5, 3), max_iter=50, random_state=0), rng, classes=0)
    with dtd.from_sklearn(reg, dtype="float32") as net:
        assert net.dtype == np.float32
        np.testing.assert_allclose(net.forward(X)[:, 0], reg.predict(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "logistic", "identity"])
def test_from_sklearn_non_relu_activation_is_refused(rng, activation):
    clf, _ = fitted(MLPClassifier(hidden_layer_sizes=(4,), activation=activation, max_iter=5, random_state=0), rng)
    with pytest.raises(dtd.UnsupportedModelError, match=f"activation='{activation}'"):
        dtd.from_sklearn(clf)


def test_from_sklearn_unfitted_or_other_estimators_are_refused(rng):
    with pytest.raises(ValueError, match="not fitted"):
        dtd.from_sklearn(MLPClassifier())
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor, got LogisticRegression"):
        dtd.from_sklearn(LogisticRegression())
