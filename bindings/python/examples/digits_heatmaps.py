#!/usr/bin/env python3
"""Heatmaps of scikit-learn's digits, explained with several LRP rules: one of the README's pictures.

A small ReLU MLP (64-64-32-10, scikit-learn's MLPClassifier) is trained on the bundled 8x8
digits; its weights are copied into a dtd.Network (scikit-learn keeps them as (in, out), libdtd as
(out, in)); one test digit of each class is explained for its predicted class, and
dtd.image turns the relevance into Zennit-coloured heatmaps (red: for the class, blue: against).
Needs scikit-learn (and Pillow, optionally, to write the PNG).

    python3 bindings/python/examples/digits_heatmaps.py [--out DIR] [--scale 12]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

try:
    import dtd
except ImportError:  # run from a checkout without installing: use the package next to us
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dtd
import dtd.image
from dtd.rules import AlphaBeta, Epsilon, Gamma, ZBox, ZPlus

try:
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
except ImportError:
    sys.exit("this example needs scikit-learn: pip install scikit-learn")

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs"

# One row per explanation, top to bottom (dense layers are 0, 2 and 4).
ROWS = [
    ("LRP-0 = gradient x input", Epsilon(0.0)),
    ("epsilon = 0.25", Epsilon(0.25)),
    ("z+ on hidden layers, epsilon on the output layer", {0: ZPlus(), 2: ZPlus(), 4: Epsilon(1e-6)}),
    ("alpha2-beta1 on hidden layers, epsilon on the output", {0: AlphaBeta(2, 1), 2: AlphaBeta(2, 1), 4: Epsilon(1e-6)}),
    ("z^B in [0, 1] first, then z+, epsilon on the output", {0: ZBox(0.0, 1.0), 2: ZPlus(), 4: Epsilon(1e-6)}),
    ("gamma = 0.25 on hidden layers, epsilon on the output", {0: Gamma(0.25), 2: Gamma(0.25), 4: Epsilon(1e-6)}),
]


def trained_network() -> tuple[dtd.Network, np.ndarray, np.ndarray, float]:
    """The digits MLP as a dtd.Network, with the held-out digits, labels and test accuracy."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities in [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(64, 32), activation="relu", max_iter=300,
                              random_state=0).fit(X_train, y_train)
    net = dtd.Network((64,))
    last = len(model.coefs_) - 1
    for i, (weight, bias) in enumerate(zip(model.coefs_, model.intercepts_)):
        net.add_dense(weight.T, bias)  # (in, out) -> (out, in)
        if i < last:
            net.add_relu()
    return net, X_test, y_test, model.score(X_test, y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for digits_heatmaps.png")
    parser.add_argument("--scale", type=int, default=12, help="pixels per digit pixel")
    args = parser.parse_args()

    net, X_test, y_test, accuracy = trained_network()
    predicted = net.forward(X_test).argmax(axis=1)
    picks = [int(np.flatnonzero((y_test == digit) & (predicted == digit))[0]) for digit in range(10)]
    x = X_test[picks]

    # One row of 10 cells per explanation; each heatmap normalised on its own (symmetric bwr).
    rows = [dtd.image.imgify(1.0 - x.reshape(10, 8, 8), cmap="gray", symmetric=False, grid=(1, 10),
                             vmin=0.0, vmax=1.0)]
    for title, rules in ROWS:
        relevance = net.lrp(x, target="predicted", rules=rules)
        rows.append(dtd.image.imgify(relevance.reshape(10, 8, 8), cmap="bwr", symmetric=True, grid=(1, 10)))
        print(f"  {title:<55} relevance sums {relevance.sum(axis=1).mean():7.3f} (mean f_k(x) "
              f"{net.forward(x).max(axis=1).mean():.3f})")

    # Enlarge (nearest neighbour) and separate cells and rows with light grey lines.
    gap = max(2, args.scale // 3)
    cells = [np.repeat(np.repeat(row, args.scale, axis=0), args.scale, axis=1) for row in rows]
    width = 8 * args.scale
    def spaced(row: np.ndarray) -> np.ndarray:
        parts = [row[:, c * width:(c + 1) * width] for c in range(10)]
        white = np.full((row.shape[0], gap, 3), 200, dtype=np.uint8)
        return np.concatenate([p for part in parts for p in (part, white)][:-1], axis=1)
    lines = [spaced(row) for row in cells]
    white = np.full((2 * gap, lines[0].shape[1], 3), 200, dtype=np.uint8)
    picture = np.concatenate([p for line in lines for p in (line, white)][:-1], axis=0)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "digits_heatmaps.png"
    dtd.image.save(path, picture)
    print(f"test accuracy {accuracy:.3f}; rows: input, " + "; ".join(t for t, _ in ROWS))
    print(f"wrote {path} ({picture.shape[1]}x{picture.shape[0]})")


if __name__ == "__main__":
    main()
