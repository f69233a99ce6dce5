#!/usr/bin/env python3
"""Where do DTD's roots lie? The linear regions of a small 2-D network, its inputs and their roots.

A ReLU MLP (2-10-10-2) is trained with scikit-learn on two moons; its weights are copied into a
dtd.Network (scikit-learn's single logit z of class 1 becomes two outputs, -z and z, so output k
explains class k). dtd.plot.regions draws the network's linear regions (one colour per ReLU
pattern), four inputs, and each input's first-layer roots (the study's "relevance" placement) as
arrows, in red where a root leaves its input's region: z+ on the left, w^2 on the right. Roots of
neurons that carry no relevance are the input itself; roots far outside the data run off the
window. Needs scikit-learn and matplotlib.

    python3 bindings/python/examples/moons_regions.py [--out DIR]
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
from dtd.rules import WSquare, ZPlus

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import make_moons
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
except ImportError:
    sys.exit("this example needs scikit-learn and matplotlib: pip install scikit-learn matplotlib")
import dtd.plot

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs"


def trained_network() -> tuple[dtd.Network, np.ndarray, np.ndarray]:
    X, y = make_moons(n_samples=400, noise=0.15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(10, 10), activation="relu", solver="lbfgs",
                              max_iter=2000, random_state=0).fit(X, y)
    net = dtd.Network((2,))
    for weight, bias in zip(model.coefs_[:-1], model.intercepts_[:-1]):
        net.add_dense(weight.T, bias).add_relu()  # (in, out) -> (out, in)
    logit_weight, logit_bias = model.coefs_[-1].T, model.intercepts_[-1]
    net.add_dense(np.vstack([-logit_weight, logit_weight]), np.concatenate([-logit_bias, logit_bias]))
    return net, X, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for moons_regions.png")
    parser.add_argument("--resolution", type=int, default=400, help="raster pixels per side")
    args = parser.parse_args()

    net, X, y = trained_network()
    # Four inputs spread over both moons: the training points nearest to these places.
    places = np.array([[-0.8, 0.5], [0.4, 0.9], [1.0, -0.45], [1.8, 0.1]])
    inputs = X[[int(np.argmin(np.linalg.norm(X - place, axis=1))) for place in places]]
    accuracy = float((net.forward(X).argmax(axis=1) == y).mean())
    panels = [("z+", ZPlus()), ("w^2", WSquare())]
    # The window shows the data; roots farther out leave it (their arrows run off the edge).
    low, high = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.6), constrained_layout=True)
    for ax, (name, rule) in zip(axes, panels):
        dtd.plot.regions(net, inputs, target="predicted", rule=rule, placement="relevance", ax=ax,
                         extent=(low[0], high[0], low[1], high[1]), resolution=args.resolution)
        ax.scatter(X[:, 0], X[:, 1], s=4, c=np.where(y == 1, "#7a4f9a", "#3d7a3d"), alpha=0.35, zorder=1)
        audit = net.audit(inputs, target="predicted", rule=rule)
        print(f"{name:>4}: {audit.pairs_outside_by_pattern:.0%} of the roots leave their input's "
              f"region ({audit.outside_by_pattern:.0%} of the inputs have one that does)")
    figure.suptitle(f"Two moons, a 2-10-10-2 ReLU network (training accuracy {accuracy:.0%}): its linear "
                    f"regions and the first-layer roots of four inputs\n(relevance placement; arrows "
                    f"running off the edge end farther out)")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "moons_regions.png"
    figure.savefig(path, dpi=80, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
