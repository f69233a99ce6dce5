#!/usr/bin/env python3
"""Summarises kernel_probe --json output (one or more files) as a table: one row per layer
shape, batch, operation, dtype and threads; one column per candidate (GFLOP/s, the best marked
with *). Several files of the same cases: the median per candidate over the files.

    python3 summarize.py probe.jsonl [more.jsonl ...] [--markdown]
"""
from __future__ import annotations

import json
import statistics
import sys

SHORT = {"onednn plain": "dnnl plain", "onednn blocked+reorder": "dnnl blk+reord",
         "onednn blocked (no reorder)": "dnnl blocked", "onednn dnnl_sgemm": "dnnl_sgemm"}


def main(argv):
    markdown = "--markdown" in argv
    paths = [a for a in argv if not a.startswith("--")]
    cases, candidates = {}, []
    for path in paths:
        for line in open(path):
            r = json.loads(line.replace(':nan,', ':null,').replace(':-nan,', ':null,'))
            key = (r["group"], r["layer"], r["batch"], r["op"], r["dtype"], r["threads"])
            name = SHORT.get(r["candidate"], r["candidate"])
            if name not in candidates:
                candidates.append(name)
            cases.setdefault(key, {}).setdefault(name, []).append(r["gflops"])
    head = ["model", "layer", "batch", "op", "dtype", "thr"] + candidates
    rows = []
    for key, by in cases.items():
        med = {c: statistics.median(v) for c, v in by.items()}
        best = max(med.values())
        cells = [f"{med[c]:.0f}{'*' if med[c] == best else ''}" if c in med else "-" for c in candidates]
        rows.append([key[0], key[1], f"{key[2]}", key[3], key[4].replace("float", "f"), f"{key[5]}"] + cells)
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        for r in [head] + rows:
            print("  ".join(str(x).rjust(w) if i >= 2 else str(x).ljust(w) for i, (x, w) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    main(sys.argv[1:])
