#!/usr/bin/env python3
"""PyTorch's own CPU kernels on the kernel probe's shapes: the reference row of the kernel
comparison (oneDNN 3.x and MKL inside PyTorch). Same JSONL format as kernel_probe --json, so
summarize.py shows it as one more column.

    python3 torch_reference.py [--threads 1,2] [--cpu-time] [--reps 5] [--min-ms 40] [--json out.jsonl]

fwd: F.conv2d / F.linear; bwd: F.conv_transpose2d (the transposed product W^T dY, with the
output padding that restores the input size) / dY @ W. float32 and float64. With --cpu-time
(one thread) the clock is this thread's CPU time (time.thread_time), as kernel_probe's.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# (group, name, dense, cin, h, w, cout, k, stride, pad, batches): kernel_probe.c's SHAPES
SHAPES = [
    ("mlp", "784->1000", 1, 784, 1, 1, 1000, 1, 1, 0, (1, 64)),
    ("mlp", "1000->1000", 1, 1000, 1, 1, 1000, 1, 1, 0, (1, 64)),
    ("vgg16", "fc 4096->4096", 1, 4096, 1, 1, 4096, 1, 1, 0, (1, 8)),
    ("cifar", "3->64 @32", 0, 3, 32, 32, 64, 3, 1, 1, (1, 16)),
    ("cifar", "64->64 @32", 0, 64, 32, 32, 64, 3, 1, 1, (1, 16)),
    ("cifar", "128->128 @16", 0, 128, 16, 16, 128, 3, 1, 1, (1, 16)),
    ("cifar", "256->256 @8", 0, 256, 8, 8, 256, 3, 1, 1, (1, 16)),
    ("vgg16", "3->64 @224", 0, 3, 224, 224, 64, 3, 1, 1, (1, 8)),
    ("vgg16", "64->64 @224", 0, 64, 224, 224, 64, 3, 1, 1, (1, 8)),
    ("vgg16", "128->128 @112", 0, 128, 112, 112, 128, 3, 1, 1, (1, 8)),
    ("vgg16", "256->256 @56", 0, 256, 56, 56, 256, 3, 1, 1, (1, 8)),
    ("vgg16", "512->512 @28", 0, 512, 28, 28, 512, 3, 1, 1, (1, 8)),
    ("vgg16", "512->512 @14", 0, 512, 14, 14, 512, 3, 1, 1, (1, 8)),
    ("resnet18", "7x7/2 3->64 @224", 0, 3, 224, 224, 64, 7, 2, 3, (1, 8)),
    ("resnet18", "64->64 @56", 0, 64, 56, 56, 64, 3, 1, 1, (1, 8)),
    ("resnet18", "3x3/2 64->128 @56", 0, 64, 56, 56, 128, 3, 2, 1, (1, 8)),
    ("resnet18", "1x1/2 64->128 @56", 0, 64, 56, 56, 128, 1, 2, 0, (1, 8)),
    ("resnet18", "256->256 @14", 0, 256, 14, 14, 256, 3, 1, 1, (1, 8)),
    ("resnet18", "512->512 @7", 0, 512, 7, 7, 512, 3, 1, 1, (1, 8)),
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--cpu-time", action="store_true")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-ms", type=float, default=40)
    p.add_argument("--groups", default="mlp,cifar,vgg16,resnet18")
    p.add_argument("--f32", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    out = open(a.json, "w") if a.json else None
    clock = time.thread_time if a.cpu_time else time.perf_counter
    groups = a.groups.split(",")
    for threads in map(int, a.threads.split(",")):
        if a.cpu_time and threads != 1:
            print(f"--cpu-time times one thread only; skipping {threads} threads", file=sys.stderr)
            continue
        torch.set_num_threads(threads)
        for dtype in (torch.float32,) if a.f32 else (torch.float32, torch.float64):
            for group, name, dense, cin, h, w, cout, k, stride, pad, batches in SHAPES:
                if group not in groups:
                    continue
                for batch in batches:
                    g = torch.Generator().manual_seed(1)
                    if dense:
                        wt = torch.rand(cout, cin, generator=g, dtype=dtype) - 0.5
                        x = torch.rand(batch, cin, generator=g, dtype=dtype)
                        y = torch.rand(batch, cout, generator=g, dtype=dtype)
                        ops = {"fwd": lambda: F.linear(x, wt), "bwd": lambda: y @ wt}
                        macs = batch * cin * cout
                    else:
                        wt = torch.rand(cout, cin, k, k, generator=g, dtype=dtype) - 0.5
                        x = torch.rand(batch, cin, h, w, generator=g, dtype=dtype)
                        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
                        y = torch.rand(batch, cout, oh, ow, generator=g, dtype=dtype)
                        extra = (h - ((oh - 1) * stride - 2 * pad + k), w - ((ow - 1) * stride - 2 * pad + k))
                        ops = {"fwd": lambda: F.conv2d(x, wt, stride=stride, padding=pad),
                               "bwd": lambda: F.conv_transpose2d(y, wt, stride=stride, padding=pad,
                                                                 output_padding=extra)}
                        macs = batch * cout * oh * ow * cin * k * k
                    with torch.no_grad():
                        for op, fn in ops.items():
                            fn(); fn()
                            t = clock(); fn(); one = max(clock() - t, 1e-7)
                            inner = max(1, math.ceil(a.min_ms / 1e3 / a.reps / one))
                            samples = []
                            for _ in range(a.reps):
                                t = clock()
                                for _ in range(inner):
                                    fn()
                                samples.append((clock() - t) / inner)
                            ms = 1e3 * statistics.median(samples)
                            gf = 2 * macs / (ms / 1e3) / 1e9
                            dt = "float32" if dtype == torch.float32 else "float64"
                            print(f"{group:8s} {name:18s} b{batch:<3d} {op} {dt} t{threads}  torch {ms:9.3f} ms {gf:7.1f} GFLOP/s")
                            if out:
                                out.write(json.dumps({"group": group, "layer": name, "batch": batch, "op": op, "dtype": dt,
                                                      "threads": threads, "candidate": "torch", "impl": f"torch {torch.__version__}",
                                                      "ms": ms, "gflops": gf, "samples_ms": [1e3 * s for s in samples]}) + "\n")
                                out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
