#!/usr/bin/env python3
"""Real data, end to end: scikit-learn's digits, a ReLU MLP, imported, explained and audited.

1. Trains a 64-64-32-10 ReLU MLP (scikit-learn's ``MLPClassifier``) on the bundled 8x8 digits.
2. Imports it with ``dtd.from_sklearn`` (weights transposed to libdtd's (out, in); the network
   ends at the logits, before the softmax).
3. Explains one test digit of each class, for its predicted class, with several rules and
   presets, and draws them as a heatmap grid (rows: rules, columns: digits; red for the class,
   blue against) with ``dtd.image`` when it is there, else saves the relevance as ``.npy``.
   Zennit's ``EpsilonPlus`` is plain epsilon on an MLP (it puts z+ on conv layers only);
   libdtd's ``mlp_epsilon_plus`` puts z+ on the hidden layers.
4. Audits the DTD roots of the first and second dense layer on all test digits, each for its
   predicted class (the study of Sixt & Landgraf 2022, on real data): for each root rule, the
   share of samples with at least one root outside the input's linear region, and the share of
   the roots themselves -- the per-sample figure saturates near 100 % with 64 or 32 roots per
   sample, the per-root rate is the informative one.

    python3 bindings/python/examples/digits.py [--out DIR] [--scale 12]

Needs scikit-learn; Pillow optionally (dtd.image writes PNGs without it too).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

try:
    import dtd
except ImportError:  # run from a checkout without installing: use the package next to us
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dtd
from dtd import composites
from dtd.rules import LRP0, Epsilon

try:
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
except ImportError:
    sys.exit("this example needs scikit-learn: pip install scikit-learn")

#: Heatmap rows: (label, rules).
EXPLANATIONS = [
    ("LRP-0 (= gradient x input)", LRP0()),
    ("epsilon 0.25", Epsilon(0.25)),
    ("EpsilonPlus (Zennit: epsilon on every dense layer)", composites.EpsilonPlus()),
    ("EpsilonPlusFlat (Zennit: flat first layer, so uniform on an MLP)", composites.EpsilonPlusFlat()),
    ("mlp_epsilon_plus (z+ hidden, epsilon last)", composites.mlp_epsilon_plus()),
    ("mlp_epsilon_gamma_box(0, 1) (zbox, gamma, epsilon)", composites.mlp_epsilon_gamma_box(0.0, 1.0)),
]

#: Audit columns: root rules, used at every dense layer (the study's protocol).
AUDIT_RULES = [("LRP-0", {"rule": "epsilon", "epsilon": 0.0}), ("z+", {"rule": "zplus"}),
               ("gamma=1", {"rule": "gamma", "gamma": 1.0}), ("w^2", {"rule": "wsquare"})]


def train(seed: int = 0) -> tuple[MLPClassifier, np.ndarray, np.ndarray, float]:
    """The classifier, the held-out digits (pixels in [0, 1]), their labels, the test accuracy."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25,
                                                        random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(64, 32), activation="relu", max_iter=300,
                              random_state=seed).fit(X_train, y_train)
    return model, X_test, y_test, float(model.score(X_test, y_test))


def explain(net: dtd.Network, digits: np.ndarray) -> dict[str, np.ndarray]:
    """Relevance of each digit for its predicted class, per row of :data:`EXPLANATIONS`."""
    targets = net.forward(digits).argmax(axis=1)
    return {label: net.lrp(digits, target=targets, rules=rules) for label, rules in EXPLANATIONS}


def heatmap_grid(relevances: dict[str, np.ndarray], scale: int) -> np.ndarray:
    """Rows of heatmaps (dtd.image, symmetric per image), upscaled, with 2-pixel white gaps."""
    from dtd import image
    rows = []
    for relevance in relevances.values():
        tiles = [np.kron(image.imgify(r.reshape(8, 8), cmap="bwr", symmetric=True),
                         np.ones((scale, scale, 1), dtype=np.uint8)) for r in relevance]
        gap = np.full((8 * scale, 2, 3), 255, np.uint8)
        rows.append(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    gap = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([part for row in rows for part in (row, gap)][:-1], axis=0)


def audit(net: dtd.Network, X: np.ndarray, layer: int) -> list[dict[str, float]]:
    """Per rule: the study's aggregates for the roots of ``layer``, each sample explained for its
    predicted class, per sample and per root (``AuditResult.pairs_outside_by_*``)."""
    rows = []
    for label, rule in AUDIT_RULES:
        start = time.perf_counter()
        res = net.audit(X, target="predicted", layer=layer, rule=rule, placement="relevance")
        rows.append({
            "rule": label, "samples": res.samples, "roots": res.pairs,
            "samples_outside_by_gradient": res.outside_by_gradient,
            "samples_outside_by_pattern": res.outside_by_pattern,
            "roots_outside_by_gradient": res.pairs_outside_by_gradient,
            "roots_outside_by_pattern": res.pairs_outside_by_pattern,
            "roots_unchanged": res.unchanged_output,
            "seconds": time.perf_counter() - start, "result": res})
    return rows


def print_audit(layer: int, rows: list[dict[str, float]]) -> None:
    print(f"\nDTD roots of dense layer {layer} (placement: relevance; each rule at every dense "
          f"layer; output: the predicted class)")
    header = ("rule", "samples", "roots", "samples outside", "roots outside", "roots outside",
              "roots with")
    sub = ("", "", "", "(ReLU pattern)", "(ReLU pattern)", "(gradient)", "g unchanged")
    widths = (8, 8, 7, 16, 15, 14, 12)
    for line in (header, sub):
        print("  ".join(f"{text:>{width}}" for text, width in zip(line, widths)))
    for row in rows:
        cells = (row["rule"], str(row["samples"]), str(row["roots"]),
                 f"{100 * row['samples_outside_by_pattern']:.1f} %",
                 f"{100 * row['roots_outside_by_pattern']:.1f} %",
                 f"{100 * row['roots_outside_by_gradient']:.1f} %",
                 f"{100 * row['roots_unchanged']:.1f} %")
        print("  ".join(f"{text:>{width}}" for text, width in zip(cells, widths)))


def default_out_dir() -> Path:
    """<repo>/.build/digits-demo when run inside the libdtd repository, else ./digits-demo."""
    for directory in (Path.cwd(), *Path.cwd().parents):
        if (directory / "Package.swift").is_file() and (directory / "bindings" / "python").is_dir():
            return directory / ".build" / "digits-demo"
    return Path("digits-demo")


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="where the heatmaps go (default: <repo>/.build/digits-demo inside "
                             "the repository, else ./digits-demo)")
    parser.add_argument("--scale", type=int, default=12, help="pixels per digit pixel")
    args = parser.parse_args(argv)
    args.out = args.out or default_out_dir()

    model, X_test, y_test, accuracy = train()
    print(f"MLPClassifier 64-64-32-10 (ReLU) on scikit-learn's digits: test accuracy "
          f"{100 * accuracy:.1f} % ({len(X_test)} test digits)")
    with dtd.from_sklearn(model) as net:
        print(f"imported: {net}")
        logits = net.forward(X_test)
        assert np.array_equal(model.classes_[logits.argmax(axis=1)], model.predict(X_test))

        digits = np.stack([X_test[np.flatnonzero(y_test == k)[0]] for k in range(10)])
        relevances = explain(net, digits)
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez(args.out / "digits_relevance.npz", digits=digits,
                 **{f"row{i}": r for i, r in enumerate(relevances.values())})
        print("\nheatmap rows (one test digit per class, each for its predicted class):")
        for i, label in enumerate(relevances):
            print(f"  row {i}: {label}")
        picture = None
        try:
            from dtd import image
        except ImportError:
            print(f"dtd.image is not in this build: relevance saved to "
                  f"{args.out / 'digits_relevance.npz'} only")
        else:
            picture = args.out / "digits_heatmaps.png"
            image.save(picture, heatmap_grid(relevances, args.scale))
            print(f"heatmaps: {picture}")

        tables = {}
        for layer in (0, 2):
            tables[layer] = audit(net, X_test, layer)
            print_audit(layer, tables[layer])
        print("\nThe library's own table for one of them (z+, layer 0):")
        print(tables[0][1]["result"].table())
    print("\nA sample counts as outside if any of its roots is; with one root per neuron that "
          "saturates, so read the per-root rates.")
    return {"accuracy": accuracy, "relevances": relevances, "audit": tables, "picture": picture}


if __name__ == "__main__":
    main()
