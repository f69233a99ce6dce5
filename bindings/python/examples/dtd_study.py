#!/usr/bin/env python3
"""Do DTD's root points lie where Taylor's theorem needs them? The study's two experiments, rerun.

Deep Taylor Decomposition (DTD) explains a ReLU network layer by layer: each neuron's relevance
is split among its inputs by a first-order Taylor expansion at a "root point". The expansion is
exact only if the root lies in the input's linear region (the same ReLUs on and off). Sixt &
Landgraf ("A Rigorous Study of the Deep Taylor Decomposition", TMLR 2022) checked this on a
small network and found that most roots do not. This script reruns their audit with libdtd on
the study's network and inputs (bundled with the `dtd` package), prints the table, and writes it
as CSV and JSON.

The second table is the study's second experiment, full-backward DTD: every unit of every dense
layer is decomposed at a root searched inside the input's linear region, and what the region
cannot explain is "unresolved". The study searched by sampling; libdtd also searches exactly (an
LP for the smallest relevance, a QP for the nearest root, COIN-OR CLP), on the same 400 inputs.

    python3 bindings/python/examples/dtd_study.py [--dtype float64|float32]
            [--placements relevance hyperplane] [--out DIR]
            [--full-backward-methods exact sampled [bisect]] [--full-backward-per-block 100]
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

try:
    import dtd
except ImportError:  # run from a checkout without installing: use the package next to us
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dtd
import dtd.study as study

RULE_NAMES = {"lrp0": "LRP-0", "zplus": "z+", "gamma_1": "gamma=1", "wsquare": "w^2"}
PROTOCOL_TITLES = {
    "per-rule": "Per rule: each column's rule at every dense layer, on its own inputs (as the paper describes)",
    "as-published": "As published: z+ at every dense layer, on each column's inputs (what the study's table code ran)",
}

# (header, row key, format), in print order; fractions print as percentages.
COLUMNS = [
    ("column", "column", lambda v: RULE_NAMES[v]),
    ("placement", "placement", str),
    ("inputs", "samples", lambda v: f"{v:d}"),
    ("roots", "pairs", lambda v: f"{v:d}"),
    ("outside:grad", "outside_by_gradient", lambda v: f"{100 * v:.1f} %"),
    ("outside:ReLUs", "outside_by_pattern", lambda v: f"{100 * v:.1f} %"),
    ("unchanged", "unchanged_output", lambda v: f"{100 * v:.1f} %"),
    ("in region", "mean_segment_inside", lambda v: f"{100 * v:.1f} %"),
    ("unexplained", "unexplained_fraction", lambda v: f"{100 * v:.1f} %"),
    ("sum R - f", "max_conservation_error", lambda v: f"{v:.1e}"),
    ("time", "seconds", lambda v: f"{1000 * v:.0f} ms"),
]

LEGEND = """\
What the columns mean (g is the network from the first layer's input to output 0; each input
has one root per first-layer neuron; a root "in the region" has the input's ReLU pattern):
  outside:grad   inputs with at least one root where grad g differs from grad g at the input
                 (the study's test, tolerance 1e-5; a root exactly on a ReLU's kink fails it)
  outside:ReLUs  inputs with at least one root outside the input's linear region (exact check)
  unchanged      roots with g(root) = g(input) (|difference| < 1e-6): here, the neurons that
                 carry no relevance, whose root is the input itself
  in region      mean share of the straight line input -> root that stays in the region
                 (100 % would mean every Taylor expansion is valid)
  unexplained    share of the relevance left unexplained if every root is stopped at the
                 region's border ("region-constrained DTD")
  sum R - f      largest |sum of first-layer relevance - f_0(x)|: the decomposition conserves f
Placements: "relevance" moves a root by R_j / (w_j . v_j) along the rule's direction v_j (the
study's code); "hyperplane" moves it onto neuron j's hyperplane w_j . root + b_j = 0 (textbook
DTD). Both give the same relevance values, from different points."""


def default_out_dir() -> Path:
    """<repo>/.build/dtd-study when run inside the libdtd repository, else ./dtd-study."""
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / "Package.swift").is_file() and (directory / "Include" / "dtd.h").is_file():
            return directory / ".build" / "dtd-study"
    return here / "dtd-study"


def format_table(rows: list[dict]) -> str:
    """The rows as aligned text, one block per protocol."""
    cells = [[fmt(row[key]) for _, key, fmt in COLUMNS] for row in rows]
    widths = [max(len(header), *(len(line[i]) for line in cells)) for i, (header, _, _) in enumerate(COLUMNS)]

    def line(values):  # text left, numbers right
        return "  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    out = []
    for protocol in dict.fromkeys(row["protocol"] for row in rows):
        out += ["", PROTOCOL_TITLES[protocol], line([header for header, _, _ in COLUMNS]),
                "  ".join("-" * w for w in widths)]
        previous = None
        for row, values in zip(rows, cells):
            if row["protocol"] != protocol:
                continue
            if previous is not None and row["placement"] != previous:
                out.append("")
            out.append(line(values))
            previous = row["placement"]
    return "\n".join(out)


def findings(rows: list[dict]) -> list[str]:
    """One line per placement (of the per-rule protocol when it ran), from the numbers."""
    lines = []
    placements = list(dict.fromkeys(row["placement"] for row in rows))
    width = max(len(p) for p in placements)
    for placement in placements:
        chosen = [r for r in rows if r["placement"] == placement and r["protocol"] == "per-rule"] or \
                 [r for r in rows if r["placement"] == placement]
        low = min(r["outside_by_pattern"] for r in chosen)
        high = max(r["outside_by_pattern"] for r in chosen)
        span = (f"{100 * low:.0f} %" if round(100 * low) == round(100 * high)
                else f"{100 * low:.0f}-{100 * high:.0f} %")
        lines.append(f"  {placement + ' roots:':<{width + 7}} {span} of the inputs have a root outside "
                     f"their linear region")
    lines.append("  (for those roots the first-order Taylor expansion behind DTD does not describe g)")
    return lines


FB_METHOD_TITLES = {"exact": "exact (LP/QP in the region)", "sampled": "sampled (the study's code)",
                    "bisect": "sampled + bisection (as intended)"}
FB_COLUMNS = [
    ("method", "method", str),
    ("layer", "layer", lambda v: f"{v:d}"),
    ("units", "units", lambda v: f"{v:d}"),
    ("unresolved", "unresolved", lambda v: f"{100 * v:.1f} %"),
    ("negative", "negative", lambda v: f"{100 * v:.1f} %"),
    ("skipped", "skipped", lambda v: f"{100 * v:.1f} %"),
    ("unresolved/f", "mean_unresolved_over_f", lambda v: f"{v:+.4f}"),
    ("passed down/f", "mean_passed_down_over_f", lambda v: f"{v:.4f}"),
    ("hinge dist", "mean_hinge_distance", lambda v: f"{v:.3f}"),
    ("box width", "mean_box_width_clipped", lambda v: f"{v:.3f}"),
    ("unbounded", "unbounded_box_share", lambda v: f"{100 * v:.1f} %"),
]

FB_LEGEND = """\
What the columns mean (per dense layer; layer = its index in the network, 4 is the output layer,
where only output 0 is decomposed; f = f_0(x)):
  unresolved     units whose relevance cannot be explained inside the region: exact, the LP
                 minimum of its relevance over the region is > 0; sampled, its value at the root
                 the sampling picked is > 0
  negative       units whose root overshoots: relevance at the root < 0 (impossible when exact)
  skipped        units with relevance <= 0 at the input (dropped, as the study does)
  unresolved/f   mean over inputs of the layer's relevance left at the roots, / f
  passed down/f  mean over inputs of the relevance arriving at the layer's input, / f (for
                 layer 0 this is sum R0 / f, the explanation's share of the output)
  hinge dist     mean distance from the layer input to its nearest ReLU hinge (exact geometry)
  box width      mean per-coordinate width of the region within distance 1 of the input (exact,
                 by LP); for sampling, of the candidates it found: its "region size"
  unbounded      coordinates in which the exact region is unbounded"""


def format_full_backward(rows: list[dict]) -> str:
    """The full-backward rows as aligned text, a blank line between methods."""
    cells = [[fmt(row[key]) for _, key, fmt in FB_COLUMNS] for row in rows]
    for line, row in zip(cells, rows):
        line[0] = row["method"]
        if row["method"] != "exact":
            line[-1] = "-"
    widths = [max(len(header), *(len(line[i]) for line in cells)) for i, (header, _, _) in enumerate(FB_COLUMNS)]
    out = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, ((h, _, _), w) in enumerate(zip(FB_COLUMNS, widths))),
           "  ".join("-" * w for w in widths)]
    previous = None
    for row, line in zip(rows, cells):
        if previous is not None and row["method"] != previous:
            out.append("")
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))
        previous = row["method"]
    return "\n".join(out)


def full_backward_findings(rows: list[dict], inputs: dict[str, dict]) -> list[str]:
    """Three sentences on what changes when the search is exact, from the numbers."""
    if "exact" not in inputs or "sampled" not in inputs:
        return []
    exact = [r for r in rows if r["method"] == "exact"]
    sampled = [r for r in rows if r["method"] == "sampled"]
    top_exact, top_sampled = exact[-1], sampled[-1]
    hidden = exact[:-1]
    negative = [r["negative"] for r in sampled[:-1]]
    e, s = inputs["exact"], inputs["sampled"]
    widths = [r["mean_box_width_clipped"] for r in sampled]
    unbounded = [r["unbounded_box_share"] for r in exact]
    return [
        f"  Searched exactly, no root overshoots and the decomposition conserves f (largest ledger error "
        f"{e['max_ledger_error_over_f']:.0e} f); sampled, {100 * min(negative):.0f}-{100 * max(negative):.0f} % of the "
        f"hidden units' roots overshoot (negative relevance left behind) and the ledger is off by up to "
        f"{s['max_ledger_error_over_f']:.1f} f.",
        f"  The output unit is always resolved when searched exactly ({100 * top_exact['unresolved']:.0f} % unresolved, "
        f"as its bias is <= 0), not in {100 * top_sampled['unresolved']:.0f} % of the inputs as sampled; what truly stays "
        f"unresolved is {100 * hidden[0]['unresolved']:.0f} % of the first layer's and "
        f"{100 * hidden[-1]['unresolved']:.0f} % of the second layer's units, {100 * e['mean_unresolved_over_f']:.1f} % of f "
        f"(sum R0 = {100 * e['mean_input_sum_over_f']:.1f} % of f).",
        f"  The sampled \"region size\" is its search radius (candidate boxes {min(widths):.2f}-{max(widths):.2f} wide), "
        f"while the exact regions are unbounded in {100 * min(unbounded):.0f}-{100 * max(unbounded):.0f} % of the "
        f"coordinates, their nearest hinge {exact[0]['mean_hinge_distance']:.2f}-{exact[-1]['mean_hinge_distance']:.2f} away.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="element type of the network (default float64)")
    parser.add_argument("--placements", nargs="+", choices=study.PLACEMENTS,
                        default=list(study.PLACEMENTS), help="root placements to audit (default both)")
    parser.add_argument("--protocols", nargs="+", choices=study.PROTOCOLS,
                        default=list(study.PROTOCOLS), help="protocols to run (default both)")
    parser.add_argument("--full-backward-methods", nargs="*", choices=study.FULL_BACKWARD_METHODS,
                        default=["exact", "sampled"],
                        help="methods of the second table (default exact sampled; none skips it)")
    parser.add_argument("--full-backward-per-block", type=int, default=100,
                        help="inputs per block for the second table (default 100: 400 inputs)")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for dtd_study.csv and dtd_study.json (default: "
                             "<repo>/.build/dtd-study inside the repository, else ./dtd-study)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rows = study.run(placements=args.placements, protocols=args.protocols, dtype=args.dtype)
    gxi = study.gxi_check(args.dtype)
    methods = list(args.full_backward_methods)
    if "exact" in methods and not dtd.full_backward.available():
        print("note: the exact full-backward method needs COIN-OR CLP (Debian/Ubuntu: apt-get install "
              "coinor-libclp-dev); showing the sampled methods only", file=sys.stderr)
        methods.remove("exact")
    fb_rows, fb_inputs = study.run_full_backward(methods, per_block=args.full_backward_per_block,
                                                 dtype=args.dtype) if methods else ([], {})
    elapsed = time.perf_counter() - start

    print('DTD root audit: Sixt & Landgraf, "A Rigorous Study of the Deep Taylor Decomposition" (TMLR 2022)')
    print(f"Network: the study's 10-10-10-2 ReLU MLP; explained output {study.EXPLAINED_OUTPUT}; "
          f"first-layer roots (layer {study.ROOT_LAYER})")
    print("Inputs: per column (rule), its own block of 1000 inputs |N(0, I)| with f_0(x) > 0.1")
    print(f"libdtd {dtd.version()} ({dtd.library_path()}), {args.dtype}")
    print(format_table(rows))
    print()
    print("Findings:")
    for line in findings(rows):
        print(line)
    worst = max(gxi.values())
    print(f"  T2: LRP-0 (bias included) equals gradient x input to {worst:.1e} (largest relative")
    print(f"  distance over all {len(gxi)} blocks): DTD with locally constant roots is gradient x input.")
    print()
    print(LEGEND)
    if fb_rows:
        n = 4 * args.full_backward_per_block
        print()
        print("Full-backward DTD (the study's second experiment): every unit of every dense layer decomposed,")
        print(f"top-down, at a root inside the input's linear region; output 0; {n} inputs (the first "
              f"{args.full_backward_per_block} of each block)")
        print(format_full_backward(fb_rows))
        for method, summary in fb_inputs.items():
            print(f"  {FB_METHOD_TITLES[method]}: {summary['seconds']:.1f} s for {n} inputs"
                  + (f", {summary['solver_calls']} LPs/QPs for the decomposition" if method == "exact" else
                     f", {summary['root_searches']} root searches"))
        findings_fb = full_backward_findings(fb_rows, fb_inputs)
        if findings_fb:
            print()
            print("What changes when the search is exact:")
            for line in findings_fb:
                print(line)
        print()
        print(FB_LEGEND)

    out_dir = (args.out or default_out_dir()).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "dtd_study.csv", out_dir / "dtd_study.json"
    fb_csv_path = out_dir / "dtd_full_backward.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=study.ROW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    if fb_rows:
        with fb_csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=study.FULL_BACKWARD_FIELDS)
            writer.writeheader()
            writer.writerows(fb_rows)
    json_path.write_text(json.dumps({
        "study": "Sixt & Landgraf, A Rigorous Study of the Deep Taylor Decomposition, TMLR 2022",
        "network": study.DATA_FILE.name, "explained_output": study.EXPLAINED_OUTPUT,
        "root_layer": study.ROOT_LAYER, "dtype": args.dtype, "libdtd_version": dtd.version(),
        "gxi_max_distance": gxi, "rows": rows,
        "full_backward": {"inputs_per_block": args.full_backward_per_block, "rows": fb_rows, "inputs": fb_inputs},
    }, indent=2) + "\n")
    print()
    print(f"Wrote {csv_path}")
    if fb_rows:
        print(f"  and {fb_csv_path}")
    print(f"  and {json_path}  ({len(rows)} rows, {elapsed:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
