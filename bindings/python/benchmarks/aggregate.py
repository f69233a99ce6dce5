#!/usr/bin/env python3
"""Combines several ``bench.py --json`` runs: per case the median over runs of each engine's
median time, the ratios with their range over runs, and each target's value per run.

    python3 bindings/python/benchmarks/aggregate.py run1.json run2.json run3.json

Separate runs minutes apart vary more than the samples within one run (the machine is shared
and its state drifts); a target verdict should hold across runs, not in one lucky run.
"""
from __future__ import annotations

import json
import statistics
import sys


def main(paths: list[str]) -> int:
    runs = [json.load(open(p)) for p in paths]
    print(f"{len(runs)} runs: " + ", ".join(f"{r['meta']['date']} (load at end {r['meta']['load_end']})" for r in runs))
    cases: dict = {}
    for run in runs:
        for row in run["rows"]:
            if "ms" in row:
                key = (row["model"], row["dtype"], row["batch"], row["method"])
                cases.setdefault(key, {}).setdefault(row["engine"], []).append(row)
    print(f"\n{'model':6s} {'dtype':7s} {'batch':>5s} {'method':9s} {'libdtd ms':>10s} {'GFLOP/s':>8s}  "
          f"{'zennit|torch / libdtd':>22s}  {'numpy / libdtd':>18s}")
    for key, engines in cases.items():
        lib = engines.get("libdtd")
        if not lib:
            continue
        ms = statistics.median(r["ms"] for r in lib)
        gf = [r["gflops"] for r in lib if r.get("gflops")]
        line = f"{key[0]:6s} {key[1]:7s} {key[2]:5d} {key[3]:9s} {ms:10.3f} "
        line += f"{statistics.median(gf):8.1f}  " if gf else f"{'-':>8s}  "
        for other, width in (("zennit" if key[3] != "gradient" else "torch", 22), ("numpy", 18)):
            rows = engines.get(other)
            if not rows:
                line += f"{'-':>{width}s}  "
                continue
            ratios = [o["ms"] / l["ms"] for o, l in zip(rows, lib)]
            text = f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
            line += f"{text:>{width}s}  "
        print(line)
    print("\ntargets (value per run)")
    names = []
    for run in runs:
        for t in run["targets"]:
            if t["target"] not in names:
                names.append(t["target"])
    for name in names:
        values = []
        for run in runs:
            t = next((t for t in run["targets"] if t["target"] == name), None)
            values.append(t)
        holds = [t["holds"] for t in values if t]
        # A target holds only when it holds in every run; the worst value over the runs is quoted.
        verdict = "HOLDS" if holds and all(holds) and len(holds) == len(runs) else (
            "FAILS" if not any(holds) else "MIXED")
        shown = ", ".join(f"{t['value']:.3g}" if t and t["value"] is not None else "-" for t in values)
        numbers = [t["value"] for t in values if t and t["value"] is not None]
        at_most = any(t and t.get("direction") == "at_most" for t in values)
        worst = (max(numbers) if at_most else min(numbers)) if numbers else None
        goal = next((t["goal"] for t in values if t), "?")
        print(f"  [{verdict}] {name}: per run {shown}; worst {worst:.3g} (goal {'<=' if at_most else '>='} {goal:.3g})"
              if worst is not None else f"  [{verdict}] {name}: per run {shown}")
        for i, t in enumerate(values):
            if t and not t["holds"]:
                print(f"      run {i + 1}: {t['detail']}")
    blas = [r["blas"].get("split_gflops") for r in runs if r.get("blas")]
    if blas:
        print(f"\nsgemm 2-thread split GFLOP/s per run: {', '.join(f'{b:.1f}' for b in blas if b)}")
    best = [(r["blas"].get("best_gflops"), r["blas"].get("best_source")) for r in runs if r.get("blas", {}).get("best_gflops")]
    if best:
        print("best sgemm on the machine per run: " + ", ".join(f"{g:.1f} ({src})" for g, src in best))
    print("CPU flags: " + "; ".join(sorted({r["meta"].get("cpu_flags", "?") for r in runs})))
    kernels = sorted({k for r in runs for k in r["meta"].get("libdtd_kernels", [])})
    if kernels:
        print("libdtd's convolution kernels: " + "; ".join(kernels))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
