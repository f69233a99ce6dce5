#!/usr/bin/env python3
"""Regenerates the Zennit fixtures with the generators next to this file and checks them against
the committed files (Tests/Fixtures/zennit, Tests/Fixtures/zennit_graph).

    venv=$(bash Tests/setup-extras.sh)          # torch 2.15, zennit 0.5.1
    "$venv/bin/python" Tests/Fixtures/generate/check_fixtures.py [--keep DIR]

Everything the generators draw or write (networks, weights, inputs, the arbitrary seeds, rules,
names, notes) must come out exactly as committed. The values Zennit and PyTorch compute
(`expected_output`, `expected_relevance`, and the `target_logit` seeds f_k(x) e_k) go through
PyTorch's BLAS, whose kernels depend on the CPU: on the machine that made the files they come out
byte for byte; elsewhere the last bits may differ, so they must agree per sample to 1e-12
relative (they are checked against libdtd to 1e-9). Prints, per file, "byte for byte" or the
largest deviation; exits 1 when anything differs beyond that.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent
GENERATORS = [("make_reference.py", "zennit", "1000"), ("make_graph_reference.py", "zennit_graph", "100")]
VERSIONS = {"torch": "2.15.", "zennit": "0.5.1"}
COMPUTED_TOLERANCE = 1e-12


def computed(case: dict, key: str) -> bool:
    """Whether `key` of `case` holds values Zennit computed (rather than drew)."""
    return key in ("expected_output", "expected_relevance") or \
        (key == "output_relevance" and case.get("name", "").endswith("/target_logit"))


def sample_error(new: dict, old: dict) -> float:
    """max over samples of max|new - old| / max|old| within the sample ({shape, data} tensors)."""
    if new["shape"] != old["shape"]:
        return float("inf")
    rows = new["shape"][0] if new["shape"] else 1
    size = len(old["data"]) // max(rows, 1)
    worst = 0.0
    for n in range(rows):
        a, b = new["data"][n * size:(n + 1) * size], old["data"][n * size:(n + 1) * size]
        scale = max((abs(v) for v in b), default=0.0) or 1.0
        worst = max(worst, max((abs(x - y) for x, y in zip(a, b)), default=0.0) / scale)
    return worst


def compare(new: dict, old: dict) -> tuple[list[str], float]:
    """The differences in drawn or written content, and the largest deviation of computed values."""
    problems, deviation = [], 0.0
    for key in sorted(set(new) | set(old)):
        if key != "cases" and new.get(key) != old.get(key):
            problems.append(f"'{key}' differs")
    new_cases, old_cases = new.get("cases", []), old.get("cases", [])
    if len(new_cases) != len(old_cases):
        problems.append(f"{len(new_cases)} cases, committed {len(old_cases)}")
    for index, (a, b) in enumerate(zip(new_cases, old_cases)):
        for key in sorted(set(a) | set(b)):
            if computed(b, key) and key in a:
                deviation = max(deviation, sample_error(a[key], b[key]))
            elif a.get(key) != b.get(key):
                problems.append(f"case {index} ({b.get('name')}): '{key}' differs")
    return problems, deviation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="write the regenerated files here (default: a temporary directory)")
    args = parser.parse_args()
    for package, prefix in VERSIONS.items():
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "absent"
        if not version.startswith(prefix):
            print(f"check_fixtures: needs {package} {prefix}x, found {version} (use venv=$(bash Tests/setup-extras.sh))")
            return 2
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for script, folder, seed in GENERATORS:
            out = root / folder
            start = time.perf_counter()
            subprocess.run([sys.executable, str(HERE / script), str(out), seed], check=True, stdout=subprocess.DEVNULL)
            print(f"{script}: regenerated in {time.perf_counter() - start:.1f} s")
            committed = sorted(p.name for p in (FIXTURES / folder).glob("*.json"))
            made = sorted(p.name for p in out.glob("*.json"))
            if made != committed:
                print(f"  FAIL {folder}: made {made}, committed {committed}")
                failed = True
            for name in committed:
                if name not in made:
                    continue
                new_bytes, old_bytes = (out / name).read_bytes(), (FIXTURES / folder / name).read_bytes()
                if new_bytes == old_bytes:
                    print(f"  ok   {folder}/{name}: byte for byte")
                    continue
                problems, deviation = compare(json.loads(new_bytes), json.loads(old_bytes))
                ok = not problems and deviation <= COMPUTED_TOLERANCE
                failed |= not ok
                drawn = "drawn content identical" if not problems else "drawn content DIFFERS"
                print(f"  {'ok  ' if ok else 'FAIL'} {folder}/{name}: {drawn}, computed values within {deviation:.1e} "
                      f"per sample (tolerance {COMPUTED_TOLERANCE:g})")
                for problem in problems[:10]:
                    print(f"       {problem}")
    print("fixtures regenerate" if not failed else "fixtures do NOT regenerate")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
