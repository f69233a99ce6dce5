#!/usr/bin/env python3
"""Do DTD's root points lie where Taylor's theorem needs them? The study's root audit, rerun.

Deep Taylor Decomposition (DTD) explains a ReLU network layer by layer: each neuron's relevance
is split among its inputs by a first-order Taylor expansion at a "root point". The expansion is
exact only if the root lies in the input's linear region (the same ReLUs on and off). Sixt &
Landgraf ("A Rigorous Study of the Deep Taylor Decomposition", TMLR 2022) checked this on a
small network and found that most roots do not. This script reruns their audit with libdtd on
the study's network and inputs (bundled with the `dtd` package), prints the table, and writes it
as CSV and JSON.

    python3 bindings/python/examples/dtd_study.py [--dtype float64|float32]
            [--placements relevance hyperplane] [--out DIR]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="element type of the network (default float64)")
    parser.add_argument("--placements", nargs="+", choices=study.PLACEMENTS,
                        default=list(study.PLACEMENTS), help="root placements to audit (default both)")
    parser.add_argument("--protocols", nargs="+", choices=study.PROTOCOLS,
                        default=list(study.PROTOCOLS), help="protocols to run (default both)")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for dtd_study.csv and dtd_study.json (default: "
                             "<repo>/.build/dtd-study inside the repository, else ./dtd-study)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rows = study.run(placements=args.placements, protocols=args.protocols, dtype=args.dtype)
    gxi = study.gxi_check(args.dtype)
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

    out_dir = (args.out or default_out_dir()).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "dtd_study.csv", out_dir / "dtd_study.json"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=study.ROW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps({
        "study": "Sixt & Landgraf, A Rigorous Study of the Deep Taylor Decomposition, TMLR 2022",
        "network": study.DATA_FILE.name, "explained_output": study.EXPLAINED_OUTPUT,
        "root_layer": study.ROOT_LAYER, "dtype": args.dtype, "libdtd_version": dtd.version(),
        "gxi_max_distance": gxi, "rows": rows,
    }, indent=2) + "\n")
    print()
    print(f"Wrote {csv_path}")
    print(f"  and {json_path}  ({len(rows)} rows, {elapsed:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
