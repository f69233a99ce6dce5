#!/usr/bin/env python3
"""Full-backward DTD throughput: the study's 400-input table, LPs and QPs per second.

Runs the exact method (COIN-OR CLP) on the first ``--per-block`` inputs of each of the study's
four blocks (default 100: the demo's 400 inputs), with and without the region sizes, and the
sampled methods on the same inputs, and prints wall times and solver calls per second. Every
exact LP and QP builds and frees its own CLP model; samples run in parallel on libdtd's worker
threads (``DTD_NUM_THREADS``, default: the online cores).

    python3 bindings/python/benchmarks/full_backward.py [--per-block 100] [--reps 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

try:
    import dtd
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dtd
import dtd.study as study


def timed(function, reps: int) -> tuple[float, float, object]:
    """The median wall time and process CPU time (all threads) of `reps` runs, and the last result.
    CPU time is the steadier figure on a shared machine: other processes stretch the wall time."""
    times, cpu, result = [], [], None
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-block", type=int, default=100, help="inputs per block (default 100: 400 inputs)")
    parser.add_argument("--reps", type=int, default=3, help="timed runs per case; the median is reported")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    x = study.full_backward_inputs(args.per_block)
    n = len(x)
    print(f"libdtd {dtd.version()} ({dtd.library_path()}); {n} inputs of the study's network; "
          f"DTD_NUM_THREADS={os.environ.get('DTD_NUM_THREADS', 'unset (all online cores)')}; "
          f"{os.cpu_count()} CPUs; median of {args.reps}")
    figures: dict[str, dict] = {}
    with study.load_network() as net:
        box_lps = 4 * sum(net.input_shape[0] if p == 0 else 10 for p in range(3))  # 4 LPs per coordinate and layer
        if dtd.full_backward.available():
            seconds, cpu, res = timed(lambda: net.full_backward(x, method="exact", regions=False), args.reps)
            calls = int(res.solver_calls.sum())
            figures["exact"] = {"seconds": seconds, "cpu_seconds": cpu, "solver_calls": calls,
                                "per_second": calls / seconds, "per_cpu_second": calls / cpu}
            seconds_all, cpu, res = timed(lambda: net.full_backward(x, method="exact", regions=True), args.reps)
            calls_all = int(res.solver_calls.sum()) + n * box_lps
            figures["exact+regions"] = {"seconds": seconds_all, "cpu_seconds": cpu, "solver_calls": calls_all,
                                        "per_second": calls_all / seconds_all, "per_cpu_second": calls_all / cpu}
        else:
            print("NOTE: COIN-OR CLP is not installed (Debian/Ubuntu: coinor-libclp-dev): no exact figures")
        for method in ("sampled", "bisect"):
            seconds, cpu, res = timed(lambda: net.full_backward(x, method=method, regions=True), args.reps)
            figures[method] = {"seconds": seconds, "cpu_seconds": cpu, "root_searches": int(res.root_searches.sum())}

    print(f"{'case':<16} {'wall time':>10} {'CPU time':>10} {'per input':>10} {'LPs+QPs':>9} {'per s':>7} "
          f"{'per CPU s':>10}")
    for case, f in figures.items():
        per_second = f"{f['per_second']:.0f}" if "per_second" in f else "-"
        per_cpu = f"{f['per_cpu_second']:.0f}" if "per_cpu_second" in f else "-"
        calls = f"{f['solver_calls']:d}" if "solver_calls" in f else f"{f['root_searches']} srch"
        print(f"{case:<16} {f['seconds']:>9.2f}s {f['cpu_seconds']:>9.2f}s {1000 * f['seconds'] / n:>8.2f}ms "
              f"{calls:>9} {per_second:>7} {per_cpu:>10}")
    if args.json:
        args.json.write_text(json.dumps({"inputs": n, "reps": args.reps, "figures": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
