#!/usr/bin/env python3
"""libdtd next to PyTorch in one process: how much a libdtd call loses when PyTorch's OpenMP
threads have just run (issue 12's "good manners" target: at most 10 %).

    python3 shared_process.py [--model vgg] [--method lrp-eps] [--batch 1] [--rounds 5] [--calls 30]

Each round times the same libdtd LRP call twice, in two processes started for the round:
  alone     a process that never ran PyTorch (it imports nothing of torch),
  shared    a process that runs Zennit's LRP of the same model right before every libdtd call
            (only the libdtd call is timed), as a user explaining with both would.
Both processes get --threads cores (DTD_NUM_THREADS, torch.set_num_threads). The rounds alternate
which process runs first, so a change of machine load hits both alike; the report gives each
round's medians and the median ratio shared / alone.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(args) -> None:
    sys.path.insert(0, str(HERE))
    import numpy as np
    import engines
    import models
    spec = models.build_spec(args.model)
    x = models.inputs_for(spec, args.batch)
    seed, _ = models.seeds_for(spec, x)
    lib = engines.LibDTD(args.threads).prepare(spec, "float32", args.method, args.batch, x, seed)
    other = None
    if args.mode == "shared":
        other = engines.Torch(args.threads).prepare(spec, "float32", args.method, args.batch, x, seed)
    for _ in range(3):
        if other:
            other()
        lib()
    times = []
    for _ in range(args.calls):
        if other:
            other()
        start = time.perf_counter()
        lib()
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times)}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="vgg")
    p.add_argument("--method", default="lrp-eps")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--mode", choices=("alone", "shared"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        child(args)
        return 0
    env = dict(os.environ, DTD_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS="1")
    for name in ("OMP_NUM_THREADS", "BLIS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    ratios = []
    print(f"{args.model} {args.method} batch {args.batch}, {args.threads} threads, {args.calls} calls per process; "
          f"load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    for r in range(args.rounds):
        result = {}
        for mode in (("alone", "shared") if r % 2 == 0 else ("shared", "alone")):
            cmd = [sys.executable, __file__, "--mode", mode] + [f"--{k}={v}" for k, v in
                                                              (("model", args.model), ("method", args.method),
                                                               ("batch", args.batch), ("threads", args.threads),
                                                               ("calls", args.calls))]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            result[mode] = json.loads(out.strip().splitlines()[-1])
        ratio = result["shared"]["median_ms"] / result["alone"]["median_ms"]
        ratios.append(ratio)
        print(f"  round {r + 1}: alone {result['alone']['median_ms']:.2f} ms, shared {result['shared']['median_ms']:.2f} ms"
              f" -> {ratio:.2f}x  (load {' '.join(Path('/proc/loadavg').read_text().split()[:3])})")
    print(f"median shared / alone: {statistics.median(ratios):.2f}x (target <= 1.10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
