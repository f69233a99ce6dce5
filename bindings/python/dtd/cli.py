"""The ``dtd`` command line (also ``python -m dtd``): explain inputs, audit DTD roots.

::

    dtd explain MODEL INPUT.npy [--target predicted|K|TARGETS.npy] [--rules EpsilonPlusFlat]
                [--out heat.png|relevance.npy] [--low L --high H] [--dtype float32|float64]
    dtd audit   MODEL INPUTS.npy [--layer 0] [--rule zplus] [--target predicted|K|TARGETS.npy]
                [--placement relevance|hyperplane] [--json summary.json]

MODEL is a JSON model (``Network.to_json``, the fixtures' format) or an ONNX file (needs the
``onnx`` package); the kind is read from the file's contents. INPUT.npy holds one sample or a
batch ``(N, *input_shape)``. Long batches run in chunks with a progress bar on stderr (tqdm when
installed; ``--progress``/``--no-progress`` override the default, which is "when stderr is a
terminal"), and Ctrl-C stops within a chunk (exit status 130). Errors print one line
``dtd: error: ...`` (exit status 1).

``--rules`` takes a preset (Zennit's ``EpsilonPlus``, ``EpsilonPlusFlat``, ``EpsilonGammaBox``,
``EpsilonAlpha2Beta1``, ``EpsilonAlpha2Beta1Flat``, or libdtd's ``mlp_epsilon_plus``, ...), a rule
name meaning that rule on every dense/conv layer (``epsilon``, ``lrp0``, ``zplus``, ``alphabeta``,
``gamma``, ``wsquare``, ``flat``), or a JSON object (inline or a file) mapping layer indices or
names to rule dicts, optionally with ``"composite": "<preset>"``. The box presets take
``--low``/``--high`` (default: the inputs' minimum and maximum).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import composites
from .errors import DTDError, UnsupportedModelError
from .network import Network
from .rules import Rule, rule_from_dict

__all__ = ["main", "load_model"]

_BOX_PRESETS = ("EpsilonGammaBox", "mlp_epsilon_gamma_box")
#: Elements of input per explain chunk: big enough to keep libdtd's cores busy, small enough
#: that Ctrl-C and the progress bar answer within about a second.
_CHUNK_ELEMENTS = 1 << 20


class CommandError(Exception):
    """A user-facing error: printed as ``dtd: error: ...`` without a traceback."""


# MARK: - Loading


def load_model(path: str | os.PathLike[str], *, dtype: Any = None) -> Network:
    """A network from a JSON model or an ONNX file, told apart by content.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    dtype : {"float32", "float64"}, optional
        Default: float64 for JSON, the weights' type for ONNX.

    Returns
    -------
    dtd.Network

    Raises
    ------
    CommandError
        The file is missing, or neither a JSON model nor an ONNX model.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read MODEL {str(path)!r}: {error.strerror or error}") from None
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            spec = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"MODEL {str(path)!r} looks like JSON but is not valid JSON: "
                               f"{error}") from None
        if not isinstance(spec, dict) or "layers" not in spec or "input_shape" not in spec:
            raise CommandError(f"MODEL {str(path)!r} is JSON but not a model (it needs "
                               f"\"input_shape\" and \"layers\")")
        return Network.from_json(spec, dtype="float64" if dtype is None else dtype)
    from .importers import onnx as onnx_importer
    try:
        return onnx_importer.from_onnx(data, dtype=dtype)
    except ImportError:
        raise CommandError(f"MODEL {str(path)!r} is not a JSON model, and reading ONNX needs the "
                           f"onnx package (pip install onnx)") from None
    except ValueError as error:
        if isinstance(error, UnsupportedModelError):
            raise
        raise CommandError(f"MODEL {str(path)!r} is neither a JSON model nor an ONNX model") from None


def _load_inputs(path: str, network: Network, what: str) -> np.ndarray:
    """INPUT.npy as a batch ``(N, *input_shape)`` of the network's dtype."""
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as error:
        raise CommandError(f"cannot read {what} {path!r}: {error.strerror or error}") from None
    except ValueError:
        raise CommandError(f"{what} {path!r} is not a .npy array of numbers") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise CommandError(f"{what} {path!r} is an .npz archive; give one .npy array")
    if array.dtype.kind not in "fiu":
        raise CommandError(f"{what} {path!r} holds {array.dtype} values; expected real numbers")
    shape = network.input_shape
    if array.shape == shape:
        array = array[None]
    if array.shape[1:] != shape:
        raise CommandError(f"{what} {path!r} has shape {array.shape}; the model takes {shape} "
                           f"(one sample) or (N, {', '.join(map(str, shape))}) (a batch)")
    return np.ascontiguousarray(array, dtype=network.dtype)


def _targets(text: str, network: Network, x: np.ndarray, progress: Any) -> np.ndarray:
    """``--target``: "predicted", an output index, or a .npy file of one index per sample."""
    outputs = int(np.prod(network.output_shape))
    if text == "predicted":
        return np.concatenate([network.forward(x[part]).reshape(len(x[part]), -1).argmax(axis=1)
                               for part in _chunks(len(x), x[0].size, progress, "predict")])
    if text.lstrip("-").isdigit():
        targets = np.full(len(x), int(text), dtype=np.int64)
    else:
        try:
            targets = np.load(text, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise CommandError(f"--target {text!r} is neither \"predicted\", an output index nor "
                               f"a readable .npy file: {error}") from None
        if targets.dtype.kind not in "iu" or targets.shape != (len(x),):
            raise CommandError(f"--target file {text!r} has {targets.dtype} values of shape "
                               f"{targets.shape}; expected {len(x)} integers, one per sample")
    bad = targets[(targets < 0) | (targets >= outputs)]
    if bad.size:
        raise CommandError(f"--target {int(bad[0])} is outside [0, {outputs}) (the model has "
                           f"{outputs} outputs)")
    return targets.astype(np.int64)


def _rules(text: str, x: np.ndarray, low: float | None, high: float | None) -> Any:
    """``--rules``: a preset name, a rule name, or a JSON object (inline or a file)."""
    def box() -> dict[str, float]:
        return {"low": float(x.min()) if low is None else low,
                "high": float(x.max()) if high is None else high}

    def preset(name: str) -> Any:
        return composites.preset(name, **(box() if name in _BOX_PRESETS else {}))

    if text in composites.PRESETS or text.startswith("mlp_"):
        try:
            return preset(text)
        except ValueError as error:
            raise CommandError(str(error)) from None
    if text in ("lrp0", "epsilon", "zplus", "alphabeta", "gamma", "wsquare", "flat", "zbox"):
        spec = {"rule": "epsilon", "epsilon": 0.0} if text == "lrp0" else {"rule": text}
        return rule_from_dict({**spec, **(box() if text == "zbox" else {})})
    source = Path(text).read_text() if text.endswith(".json") and Path(text).is_file() else text
    try:
        spec = json.loads(source)
    except json.JSONDecodeError:
        names = ", ".join([*composites.PRESETS, "mlp_epsilon_plus, ...", "lrp0", "epsilon",
                           "zplus", "alphabeta", "gamma", "wsquare", "flat", "zbox"])
        raise CommandError(f"--rules {text!r} is neither a preset, a rule name nor JSON "
                           f"(known names: {names})") from None
    if not isinstance(spec, dict):
        raise CommandError("--rules JSON must be an object {layer: rule dict, ...}")
    rules: dict[Any, Any] = {}
    for key, value in spec.items():
        if key == "composite":
            rules["composite"] = preset(str(value))
        else:
            rules[key] = value if isinstance(value, Rule) else rule_from_dict(value)
    return rules


# MARK: - Chunks and progress


def _progress_bar(enabled: bool, total: int, description: str) -> Any:
    """A tqdm bar on stderr, or None (tqdm missing or progress off)."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=description, unit="sample", file=sys.stderr, leave=False)


def _chunks(count: int, sample_size: int, progress: bool, description: str) -> Iterator[slice]:
    """Slices of ``range(count)`` of about :data:`_CHUNK_ELEMENTS` input elements each, with a
    progress bar. Ctrl-C (KeyboardInterrupt) arrives between chunks: libdtd's call finishes
    first, so a chunk bounds the wait."""
    size = max(1, _CHUNK_ELEMENTS // max(1, sample_size))
    bar = _progress_bar(progress and count > size, count, description)
    try:
        for start in range(0, count, size):
            yield slice(start, min(count, start + size))
            if bar is not None:
                bar.update(min(count, start + size) - start)
    finally:
        if bar is not None:
            bar.close()


# MARK: - Commands


def _image_module() -> Any:
    try:
        from . import image
    except ImportError:
        raise CommandError("writing a PNG needs dtd.image, which this build of dtd does not "
                           "have; use --out relevance.npy") from None
    return image


def _image(relevance: np.ndarray, cmap: str) -> np.ndarray:
    """A heatmap (a grid for a batch) via dtd.image; flat samples of a square size (such as 8x8
    digits) as squares, other flat samples as one row."""
    image = _image_module()
    samples = relevance
    if relevance.ndim == 2:
        side = int(round(np.sqrt(relevance.shape[1])))
        shape = (side, side) if side * side == relevance.shape[1] else (1, relevance.shape[1])
        samples = relevance.reshape(len(relevance), *shape)
    if len(samples) == 1:
        return image.imgify(samples[0], cmap=cmap, symmetric=True)
    return image.imgify(samples, cmap=cmap, symmetric=True, grid=True)


def _explain(args: argparse.Namespace) -> int:
    network = load_model(args.model, dtype=args.dtype)
    x = _load_inputs(args.input, network, "INPUT")
    if args.out is not None and Path(args.out).suffix.lower() not in (".png", ".npy"):
        raise CommandError(f"--out {args.out!r}: write a .png heatmap or a .npy array")
    if args.out is not None and Path(args.out).suffix.lower() == ".png":
        _image_module()  # before the work, not after it
    targets = _targets(args.target, network, x, args.progress)
    rules = _rules(args.rules, x, args.low, args.high)
    relevance = np.empty_like(x)
    for part in _chunks(len(x), x[0].size, args.progress, "explain"):
        relevance[part] = network.lrp(x[part], target=targets[part], rules=rules)
    outputs = network.forward(x).reshape(len(x), -1)
    print(f"explained {len(x)} sample(s) of {network.input_shape} with {args.rules} "
          f"({', '.join(str(k) for k in (network.rule_kinds(rules)) if k) or 'no rules'})")
    for n in range(min(len(x), 10)):
        print(f"  sample {n}: output {targets[n]}, f = {outputs[n, targets[n]]:.6g}, "
              f"sum of relevance = {relevance[n].sum():.6g}")
    if len(x) > 10:
        print(f"  ... ({len(x) - 10} more)")
    if args.out is not None:
        if args.out.lower().endswith(".npy"):
            np.save(args.out, relevance)
        else:
            _image_module().save(args.out, _image(relevance, args.cmap))
        print(f"wrote {args.out}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    network = load_model(args.model, dtype=args.dtype)
    x = _load_inputs(args.inputs, network, "INPUTS")
    targets = _targets(args.target, network, x, args.progress)
    rule = _rules(args.rule, x, args.low, args.high)
    if not isinstance(rule, Rule):
        raise CommandError(f"--rule {args.rule!r}: the audit takes one root rule (lrp0, zplus, "
                           f"gamma, wsquare, alphabeta, zbox), used at every dense/conv layer")
    options = dict(layer=args.layer, rule=rule, placement=args.placement)
    if "progress" in inspect.signature(network.audit).parameters:
        # per-sample targets, chunks and progress in the audit itself (issue 11 part B)
        results = [network.audit(x, target=targets, progress=args.progress or None, **options)]
    else:
        results = [network.audit(x[targets == k], target=int(k), **options)
                   for k in np.unique(targets)]
    for result in results:
        print(result.table())
    if args.json is not None:
        summaries = [result.summary() for result in results]
        Path(args.json).write_text(json.dumps(summaries[0] if len(summaries) == 1 else summaries,
                                              indent=1, default=float))
        print(f"wrote {args.json}")
    return 0


# MARK: - Entry point


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtd", description="Explain ReLU networks (LRP) and audit their DTD root points "
                                "with libdtd.")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--target", default="predicted",
                         help='"predicted" (default), an output index, or a .npy of one per sample')
        sub.add_argument("--low", type=float, help="lower input bound for zbox / box presets")
        sub.add_argument("--high", type=float, help="upper input bound for zbox / box presets")
        sub.add_argument("--dtype", choices=("float32", "float64"),
                         help="network precision (default: float64 for JSON, the weights' for ONNX)")
        sub.add_argument("--progress", action=argparse.BooleanOptionalAction,
                         default=sys.stderr.isatty(),
                         help="progress bar on stderr (tqdm; default: when stderr is a terminal)")

    explain = commands.add_parser("explain", help="LRP relevance of inputs; a heatmap or .npy")
    explain.add_argument("model", help="JSON model or ONNX file")
    explain.add_argument("input", help=".npy: one sample or a batch (N, *input_shape)")
    explain.add_argument("--rules", default="EpsilonPlusFlat",
                         help="preset, rule name or JSON rules (default: EpsilonPlusFlat)")
    explain.add_argument("--out", help="write the relevance: heat.png (heatmap, a grid for a "
                                       "batch) or relevance.npy")
    explain.add_argument("--cmap", default="bwr", help="colour map of the PNG (default: bwr)")
    common(explain)
    explain.set_defaults(run=_explain)

    audit = commands.add_parser("audit", help="DTD root audit: do the roots of a layer lie in "
                                              "the input's linear region?")
    audit.add_argument("model", help="JSON model or ONNX file")
    audit.add_argument("inputs", help=".npy: a batch (N, *input_shape)")
    audit.add_argument("--layer", type=int, default=0, help="dense/conv layer index (default 0)")
    audit.add_argument("--rule", default="zplus",
                       help="root rule at every dense/conv layer (default: zplus)")
    audit.add_argument("--placement", choices=("relevance", "hyperplane"), default="relevance")
    audit.add_argument("--json", help="also write the summary as JSON to this file")
    common(audit)
    audit.set_defaults(run=_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0, 1 on an error, 130 on Ctrl-C)."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("dtd: interrupted", file=sys.stderr)
        return 130
    except (CommandError, DTDError, ValueError, TypeError) as error:
        # ValueError/TypeError: a rule dict, model file or argument the library refused
        print(f"dtd: error: {error}", file=sys.stderr)
        return 1
