#!/usr/bin/env python3
"""libdtd benchmark suite: libdtd side by side with Zennit/PyTorch and a plain numpy
implementation, in the same run.

    python3 bindings/python/benchmarks/bench.py                 # everything (a few minutes)
    python3 bindings/python/benchmarks/bench.py --quick         # fewer repetitions
    python3 bindings/python/benchmarks/bench.py --models vgg,study --json out.json

Needs ``swift build -c release`` (libdtd.so found as the ``dtd`` package finds it, or via
$DTD_LIBRARY) and numpy; torch and zennit are used when they import, and the run says so when
they do not. See README.md in this folder for what is measured and how.
"""
from __future__ import annotations

import os

# This process only orchestrates: numpy's OpenBLAS must not start spinning threads here. Each
# engine runs in its own worker process with its own settings (see start_worker).
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import models  # noqa: E402

METHODS = ("lrp-eps", "lrp-comp", "gradient")
NUMPY_MODELS = ("mlp", "vgg")  # the numpy reference LRP runs on these (float32)
TOLERANCE = {"float32": 1e-3, "float64": 1e-9}


# ---------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------

class WorkerProcess:
    def __init__(self, engine: str, threads: int):
        env = dict(os.environ)
        # BLIS (OpenMP build) would thread inside each of libdtd's GEMM blocks if OMP_NUM_THREADS
        # or BLIS_NUM_THREADS were set; libdtd does its own splitting (DTD_NUM_THREADS).
        for name in ("OMP_NUM_THREADS", "BLIS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(name, None)
        env["BENCH_THREADS"] = str(threads)
        env["OPENBLAS_NUM_THREADS"] = str(threads) if engine == "numpy" else "1"
        if engine == "libdtd":
            env["DTD_NUM_THREADS"] = str(threads)
        self.engine = engine
        self.proc = subprocess.Popen([sys.executable, str(HERE / "worker.py"), engine], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = json.loads(self.proc.stdout.readline() or '{"ready": false, "reason": "worker died"}')
        self.ready = bool(self.info.get("ready"))

    def run(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps({"op": "run", **cmd}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            return {"ok": False, "error": f"{self.engine} worker exited ({self.proc.wait()})"}
        return json.loads(line)

    def check(self, model: str) -> dict:
        """Whether this engine can build `model` (the worker builds it and says why not)."""
        self.proc.stdin.write(json.dumps({"op": "check", "model": model}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"ok": False, "error": "worker exited"}

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def run_json(args: list[str], env_extra: dict | None = None, timeout: float = 300) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "BLIS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def busy_cores(window: float) -> float:
    """CPU cores busy machine-wide (incl. steal) over `window` seconds, from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    try:
        a = sample()
        time.sleep(window)
        return (sample() - a) / os.sysconf("SC_CLK_TCK") / window
    except (OSError, ValueError, IndexError):
        return float("nan")


def wait_quiet(limit: float, threshold: float = 0.2) -> str:
    """Waits (at most `limit` s) until other processes keep < `threshold` cores busy for 3 s."""
    start = time.time()
    while True:
        busy = busy_cores(3.0)
        if not busy > threshold:
            return f"quiet after {time.time() - start:.0f} s ({busy:.2f} cores busy)"
        if time.time() - start > limit:
            return f"still busy after {limit:.0f} s ({busy:.2f} cores busy); measuring anyway"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


#: the /proc/cpuinfo flags that decide which kernels a library runs (recorded with every run)
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
                "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return ",".join(f for f in KERNEL_FLAGS if f in flags)
    except OSError:
        pass
    return "?"


def timed_run(args, worker, **cmd) -> dict:
    """One case on one worker. When other load kept more than --max-bg cores busy while it was
    timed, the case is run again (up to --retries times, each after waiting up to --retry-wait s
    for the machine to go quiet) and the least disturbed run is kept; every engine gets the same
    treatment."""
    best = None
    for attempt in range(1 + args.retries):
        time.sleep(0.15)  # let the previous engine's spinning threads (OpenBLAS, libgomp) go idle
        r = worker.run(reps=args.reps, min_sample=args.min_sample, warmup=args.warmup, cpu_time=args.cpu_time, **cmd)
        if not r.get("ok"):
            return r
        r["attempts"] = attempt + 1
        if best is None or r["background_cores"] < best["background_cores"]:
            best = dict(r, attempts=attempt + 1)
        if r["background_cores"] <= args.max_bg:
            break
        if attempt < args.retries:
            wait_quiet(args.retry_wait, args.max_bg)
    return best


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|: the relative error of a against the reference b."""
    scale = float(np.abs(b).max())
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max() / (scale if scale else 1.0))


def label(engine: str, method: str) -> str:
    return "torch" if engine == "zennit" and method == "gradient" else engine


# ---------------------------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mlp,lenet,vgg,study,resnet18,vgg16",
                   help="comma-separated subset of: " + ", ".join(models.MODELS) + " (default: all)")
    p.add_argument("--engines", default="libdtd,zennit,numpy", help="comma-separated subset (default: all)")
    p.add_argument("--methods", default=",".join(METHODS + ("audit",)),
                   help="comma-separated subset of lrp-eps, lrp-comp, gradient, audit")
    p.add_argument("--quick", action="store_true", help="3 samples per case, short samples and warm-up, float32 only, no memory probe")
    p.add_argument("--reps", type=int, default=None, help="timed samples per case (default 7; --quick 3)")
    p.add_argument("--min-sample", type=float, default=None,
                   help="seconds per timed sample; fast calls are repeated inside a sample (default 0.05)")
    p.add_argument("--warmup", type=float, default=None, help="warm-up seconds per case (>= 2 calls; default 0.3)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every engine: DTD_NUM_THREADS, torch.set_num_threads, numpy's OpenBLAS (default 2)")
    p.add_argument("--max-bg", type=float, default=0.2,
                   help="re-run a case when other processes kept more than this many cores busy while it was "
                        "timed (default 0.2)")
    p.add_argument("--retries", type=int, default=2, help="re-runs of a disturbed case (default 2; 0 disables)")
    p.add_argument("--retry-wait", type=float, default=20, metavar="SECONDS",
                   help="before a re-run, wait up to SECONDS for the other load to go (default 20)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="first wait up to SECONDS for the machine to be idle (< 0.2 cores busy for 3 s)")
    p.add_argument("--no-float64", action="store_true", help="float32 only")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    p.add_argument("--no-blas", action="store_true", help="skip the sgemm probe")
    p.add_argument("--blas-n", type=int, default=2048, help="sgemm matrix size (default 2048)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time each case by its process's CPU time instead of the wall clock (needs --threads 1): "
                        "figures a busy machine barely disturbs, for deciding while others build")
    p.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    a = p.parse_args(argv)
    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    a.engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    a.methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    for m in a.models:
        if m not in models.MODELS:
            p.error(f"unknown model {m!r}")
    if a.cpu_time and a.threads != 1:
        p.error("--cpu-time needs --threads 1 (with more threads, CPU time counts spinning, not work)")
    if a.cpu_time:
        a.retries = 0  # the CPU-time clock does not need a quiet machine
    a.reps = a.reps or (3 if a.quick else 7)
    a.min_sample = a.min_sample if a.min_sample is not None else (0.02 if a.quick else 0.05)
    a.warmup = a.warmup if a.warmup is not None else (0.1 if a.quick else 0.3)
    if a.quick:
        a.no_float64 = True
        a.no_memory = True
    return a


def prepare_data(names, tmp: Path, supported=()) -> dict:
    """Inputs and seeds per (model, batch), computed once here and shared by every engine."""
    files = {}
    for name in names:
        spec = models.build_spec(name)
        batches = set(models.MODELS[name][1])
        if name == "vgg":
            batches.add(16)
        if name in models.GRAPH_MODELS and name not in supported:
            continue
        for batch in sorted(batches):
            x = models.inputs_for(spec, batch)
            seed, targets = models.seeds_for(spec, x)
            path = tmp / f"{name}_b{batch}.npz"
            np.savez(path, x=x, seed=seed, targets=targets)
            files[(name, batch)] = str(path)
        if name == "study":
            x = models.inputs_for(spec, 4000)
            path = tmp / "study_audit.npz"
            np.savez(path, x=x, seed=np.zeros((4000, 2)))
            files[("study", "audit")] = str(path)
    return files


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.wait_quiet > 0:
        print(wait_quiet(args.wait_quiet))
    started = time.time()
    print(f"libdtd benchmark  {datetime.datetime.now().isoformat(timespec='seconds')}  "
          f"{platform.node()}  {cpu_name()} ({cpu_flags()}), {os.cpu_count()} CPUs  load {load_average()}")
    print(f"threads {args.threads} per engine; {args.reps} samples per case, median; "
          f"samples >= {args.min_sample * 1e3:.0f} ms, warm-up >= {args.warmup * 1e3:.0f} ms")
    print("GFLOP/s = 2 x multiply-adds of the dense/conv products libdtd's algorithm needs (models.py), same count "
          "for every engine; peak MB = extra RSS during the case; cores = CPU the engine used; bg = cores other "
          "processes kept busy meanwhile")

    tmp = Path(tempfile.mkdtemp(prefix="dtd-bench-"))
    workers: dict[str, WorkerProcess] = {}
    notes: list[str] = []
    for engine in args.engines:
        w = WorkerProcess(engine, args.threads)
        if w.ready:
            workers[engine] = w
            print(f"  {engine:7s} {w.info['version']}")
            if w.info.get("zennit_error"):
                notes.append(f"{w.info['zennit_error']}: Zennit LRP rows skipped (torch gradient still runs)")
        else:
            notes.append(f"{engine} not run: {w.info.get('reason')}")
            w.close()
    # The 224x224 models need libdtd's graph layers (route/add, adaptive pooling, identity):
    # until the library has them they are skipped, with the library's own reason.
    supported = []
    for name in [m for m in args.models if m in models.GRAPH_MODELS]:
        reply = workers["libdtd"].check(name) if "libdtd" in workers else {"ok": False, "error": "libdtd not run"}
        if reply.get("ok"):
            supported.append(name)
        else:
            notes.append(f"{name} skipped: libdtd cannot build it ({reply.get('error')})")
    args.models = [m for m in args.models if m not in models.GRAPH_MODELS or m in supported]
    data = prepare_data(args.models, tmp, supported)
    for n in notes:
        print(f"  NOTE: {n}")

    blas_before = {}
    if not args.no_blas and "libdtd" in workers:
        blas_before = run_json([str(HERE / "blas_probe.py"), str(args.blas_n), str(args.threads), "--all"])

    rows: list[dict] = []
    checks: list[dict] = []
    kernels_seen: set = set()
    try:
        for name in args.models:
            desc, batches, dtypes, _ = models.MODELS[name]
            spec = models.build_spec(name)
            for dtype in dtypes:
                if dtype == "float64" and args.no_float64:
                    continue
                for method in [m for m in METHODS if m in args.methods]:
                    saved = {}
                    for batch in batches:
                        for engine, w in workers.items():
                            if engine == "numpy" and (name not in NUMPY_MODELS or dtype != "float32"
                                                      or method == "gradient"):
                                continue
                            if engine == "zennit" and method != "gradient" and w.info.get("zennit_error"):
                                continue  # said once in the NOTE above
                            save = str(tmp / f"r_{name}_{dtype}_{method}_{batch}_{engine}.npy") \
                                if batch == max(batches) else None
                            r = timed_run(args, w, model=name, dtype=dtype, method=method, batch=batch,
                                          data=data[(name, batch)], save=save, c_call=(engine == "libdtd"))
                            row = {"model": name, "dtype": dtype, "batch": batch, "method": method,
                                   "engine": label(engine, method), "load": load_average()}
                            if not r.get("ok"):
                                row["error"] = r.get("error")
                                print(f"  ! {name} {dtype} b{batch} {method} {engine}: {r.get('error')}")
                            else:
                                ms = r["median_s"] * 1e3
                                fl = models.flops(spec, method, batch)
                                row.update(ms=ms, samples_ms=[s * 1e3 for s in r["samples_s"]],
                                           bg=r["background_cores"], cores=r["cpu_cores"], attempts=r["attempts"],
                                           per_s=batch / r["median_s"], gflops=fl / r["median_s"] / 1e9,
                                           flops=fl, peak_mb=r.get("peak_delta_mb"),
                                           c_call_ms=(r["c_call_s"] * 1e3 if "c_call_s" in r else None))
                                if engine == "zennit":
                                    row["engine_macs"] = models.zennit_macs(spec, method, batch)
                                if r.get("kernels"):
                                    row["kernels"] = r["kernels"]
                                    kernels_seen.add(r["kernels"])
                                if save:
                                    saved[engine] = save
                            rows.append(row)
                            print_row(row)
                    # Agreement with libdtd at the largest batch.
                    if "libdtd" in saved:
                        ref = np.load(saved["libdtd"])
                        for engine, path in saved.items():
                            if engine == "libdtd":
                                continue
                            err = rel_error(ref, np.load(path))
                            ok = err <= TOLERANCE[dtype]
                            checks.append({"model": name, "dtype": dtype, "method": method, "batch": max(batches),
                                           "against": label(engine, method), "rel_error": err,
                                           "tolerance": TOLERANCE[dtype], "ok": ok})
                            print(f"    check libdtd vs {label(engine, method)}: max|diff|/max|ref| = {err:.2e} "
                                  f"({'ok' if ok else 'MISMATCH'}, tolerance {TOLERANCE[dtype]:.0e})")
            if name == "study" and "audit" in args.methods:
                for dtype in dtypes:
                    if dtype == "float64" and args.no_float64:
                        continue
                    saved, summaries = {}, {}
                    for engine in ("libdtd", "numpy"):
                        if engine not in workers:
                            continue
                        save = str(tmp / f"audit_{dtype}_{engine}.npz")
                        r = timed_run(args, workers[engine], model=name, dtype=dtype, method="audit", batch=4000,
                                      data=data[("study", "audit")], save=save)
                        row = {"model": name, "dtype": dtype, "batch": 4000, "method": "audit", "engine": engine}
                        if not r.get("ok"):
                            row["error"] = r.get("error")
                            print(f"  ! audit {dtype} {engine}: {r.get('error')}")
                        else:
                            row.update(ms=r["median_s"] * 1e3, samples_ms=[s * 1e3 for s in r["samples_s"]],
                                       bg=r["background_cores"], cores=r["cpu_cores"], attempts=r["attempts"],
                                       per_s=4000 / r["median_s"], roots=r["roots"],
                                       roots_per_s=r["roots"] / r["median_s"], peak_mb=r.get("peak_delta_mb"),
                                       summary=r.get("summary"))
                            saved[engine], summaries[engine] = save, r.get("summary")
                        rows.append(row)
                        print_row(row)
                    if len(saved) == 2:
                        checks.append(audit_check(dtype, saved, summaries))
    finally:
        for w in workers.values():
            w.close()

    memory = {}
    if not args.no_memory:
        memory = memory_probe(args, data, workers)
    blas = {}
    if blas_before:
        blas_after = run_json([str(HERE / "blas_probe.py"), str(args.blas_n), str(args.threads), "--all"])
        blas = combine_blas(blas_before, blas_after)
        blas_report(blas)

    for k in sorted(kernels_seen):
        print(f"\nlibdtd's convolution kernels: {k}")
    ratios = ratio_table(rows)
    targets = evaluate_targets(rows, ratios, blas, memory)
    elapsed = time.time() - started
    print(f"\ntotal {elapsed:.0f} s; load average at the end {load_average()}")

    if args.json:
        meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
                "cpu": cpu_name(), "cpu_flags": cpu_flags(), "cpus": os.cpu_count(),
                "load_end": load_average(), "threads": args.threads, "reps": args.reps, "cpu_time": args.cpu_time,
                "min_sample_s": args.min_sample, "warmup_s": args.warmup, "seconds": elapsed,
                "engines": {e: w.info.get("version") for e, w in workers.items()}, "notes": notes,
                "libdtd_kernels": sorted(kernels_seen),
                "flop_model": models.__doc__}
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows, "ratios": ratios, "checks": checks,
                                               "memory": memory, "blas": blas, "targets": targets},
                                              indent=1, default=float))
        print(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------

HEADER = (f"{'model':6s} {'dtype':7s} {'batch':>5s} {'method':9s} {'engine':7s} {'ms/call':>9s} "
          f"{'samples/s':>10s} {'GFLOP/s':>8s} {'peak MB':>8s} {'cores':>5s} {'bg':>4s} {'C-call ms':>9s}")
_printed_header = False


def print_row(row: dict) -> None:
    global _printed_header
    if not _printed_header:
        print("\n" + HEADER)
        _printed_header = True
    if "error" in row:
        return
    g = f"{row['gflops']:8.2f}" if row.get("gflops") else f"{'-':>8s}"
    pk = f"{row['peak_mb']:8.1f}" if row.get("peak_mb") is not None else f"{'-':>8s}"
    cc = f"{row['c_call_ms']:9.3f}" if row.get("c_call_ms") is not None else f"{'':9s}"
    load = f"{row['cores']:5.2f} {row['bg']:4.2f}"
    extra = f"  ({row['roots_per_s']:.3g} roots/s)" if "roots_per_s" in row else ""
    print(f"{row['model']:6s} {row['dtype']:7s} {row['batch']:5d} {row['method']:9s} {row['engine']:7s} "
          f"{row['ms']:9.3f} {row['per_s']:10.1f} {g} {pk} {load} {cc}{extra}")


def audit_check(dtype: str, saved: dict, summaries: dict) -> dict:
    lib, ref = np.load(saved["libdtd"]), np.load(saved["numpy"])
    flags = {k: float((lib[k] == ref[k]).mean()) for k in ("has_root", "same_gradient", "same_pattern")}
    errs = {k: rel_error(lib[k], ref[k]) for k in ("relevance", "t", "output_change", "segment_inside")}
    tol = 1e-3 if dtype == "float32" else 1e-9
    ok = all(v >= 0.999 for v in flags.values()) and all(v <= tol for v in errs.values())
    print(f"    check libdtd vs numpy audit: flags agree {', '.join(f'{k} {v:.4%}' for k, v in flags.items())}; "
          f"max rel. error {max(errs.values()):.1e} ({'ok' if ok else 'MISMATCH'})")
    return {"model": "study", "dtype": dtype, "method": "audit", "against": "numpy", "flag_agreement": flags,
            "rel_errors": errs, "summaries": summaries, "ok": ok}


def memory_probe(args, data, workers) -> dict:
    print("\npeak memory of one LRP call at each model's largest batch, each in a fresh process "
          "(RSS before the call; peak = VmHWM after resetting it, and ru_maxrss):")
    result = {}
    for model in [m for m in args.models if m != "study"]:
        batch = 16 if model == "vgg" else max(models.MODELS[model][1])
        for method in ("lrp-eps", "lrp-comp"):
            for engine in ("libdtd", "zennit"):
                if engine not in workers or (engine == "zennit" and workers[engine].info.get("zennit_error")):
                    continue
                env = {"BENCH_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": "1",
                       "DTD_NUM_THREADS": str(args.threads)}
                r = run_json([str(HERE / "worker.py"), "memprobe", engine, model, "float32", method, str(batch),
                              data[(model, batch)]], env, timeout=900)
                result[f"{engine}/{model}/{method}"] = r
                if "error" in r:
                    print(f"  {model:8s} b{batch:<3d} {engine:7s} {method:9s} error: {r['error']}")
                else:
                    print(f"  {model:8s} b{batch:<3d} {engine:7s} {method:9s} RSS before {r['rss_before_mb']:7.1f} MB, "
                          f"peak during the call +{r['call_peak_mb']:6.1f} MB (VmHWM {r['hwm_after_mb']:.1f} MB; "
                          f"ru_maxrss before {r['ru_maxrss_before_mb']:.1f}, after {r['ru_maxrss_after_mb']:.1f} MB)")
    return result


def combine_blas(before: dict, after: dict) -> dict:
    """The higher of two probes per figure (the achievable rate); both kept in the JSON."""
    if "error" in before or "error" in after:
        return before if "error" not in before else after
    best = dict(before)
    for key in ("single_gflops", "split_gflops", "blas_threads_gflops", "best_gflops"):
        if key in before and key in after:
            best[key] = max(before[key], after[key])
    if after.get("best_gflops", 0) > before.get("best_gflops", 0):
        best["best_source"] = after.get("best_source")
    best["runs"] = [before, after]
    return best


def blas_report(blas: dict) -> None:
    if "error" in blas:
        print(f"\nsgemm probe failed: {blas['error']}")
        return
    print(f"\nsgemm {blas['n']}x{blas['n']} of {blas['library']}: 1 thread {blas['single_gflops']:.1f} GFLOP/s; "
          f"{blas['threads']} threads split as libdtd does {blas['split_gflops']:.1f} GFLOP/s"
          + (f"; BLIS's own {blas['threads']} threads {blas['blas_threads_gflops']:.1f} GFLOP/s"
             if "blas_threads_gflops" in blas else ""))
    for other in blas.get("others", []):
        if "error" in other:
            print(f"  {other['name']}: {other['error']}")
        elif "split_gflops" in other:
            print(f"  {other['name']} ({other['library']}): 1 thread {other['single_gflops']:.1f}, "
                  f"{blas['threads']} threads split {other['split_gflops']:.1f} GFLOP/s")
        else:
            print(f"  {other['name']} ({other['library']}): 1 thread {other['single_gflops']:.1f}, "
                  f"{blas['threads']} own threads {other['own_threads_gflops']:.1f} GFLOP/s")
    if "best_gflops" in blas:
        print(f"  best sgemm on this machine: {blas['best_gflops']:.1f} GFLOP/s ({blas['best_source']})")


def ratio_table(rows: list[dict]) -> list[dict]:
    index = {(r["model"], r["dtype"], r["batch"], r["method"], r["engine"]): r for r in rows if "ms" in r}
    out = []
    print(f"\nratios (other engine's ms / libdtd's ms; > 1 means libdtd is faster)")
    print(f"{'model':6s} {'dtype':7s} {'batch':>5s} {'method':9s} {'libdtd ms':>10s} {'zennit/torch':>13s} "
          f"{'numpy':>8s}")
    for (m, d, b, meth, e), r in index.items():
        if e != "libdtd":
            continue
        item = {"model": m, "dtype": d, "batch": b, "method": meth, "libdtd_ms": r["ms"]}
        other = index.get((m, d, b, meth, "torch" if meth == "gradient" else "zennit"))
        if other:
            item["zennit_ratio" if meth != "gradient" else "torch_ratio"] = other["ms"] / r["ms"]
        npr = index.get((m, d, b, meth, "numpy"))
        if npr:
            item["numpy_ratio"] = npr["ms"] / r["ms"]
        zr = item.get("zennit_ratio", item.get("torch_ratio"))
        zr_text = f"{zr:12.2f}x" if zr else f"{'-':>13s}"
        np_text = f"{item['numpy_ratio']:7.2f}x" if "numpy_ratio" in item else f"{'-':>8s}"
        print(f"{m:6s} {d:7s} {b:5d} {meth:9s} {r['ms']:10.3f} {zr_text} {np_text}")
        out.append(item)
    return out


#: the issue-12 targets (float32, every engine with --threads, default 2)
BATCH1_GOAL, BATCHED_GOAL, GRADIENT_GOAL, SGEMM_SHARE_GOAL = 3.0, 2.0, 1.2, 70.0
CNN_MODELS = ("vgg", "resnet18", "vgg16")  # "batched VGG/ResNet LRP >= 70 % of the best sgemm"


def evaluate_targets(rows, ratios, blas, memory) -> list[dict]:
    """Each target over every float32 case it covers; a target holds only when every case does.
    The worst case is named, and every case below the goal listed."""
    targets = []
    print("\ntargets (float32)")

    def add(name, value, goal, ok, detail="", at_most=False):
        """`value` must be >= `goal` (or <= with at_most); it is the worst case's."""
        targets.append({"target": name, "value": value, "goal": goal, "holds": ok, "detail": detail,
                        "direction": "at_most" if at_most else "at_least"})
        mark = "HOLDS" if ok else ("FAILS" if ok is not None else "n/a")
        print(f"  [{mark:5s}] {name}: {detail}")

    f32 = [r for r in ratios if r["dtype"] == "float32"]
    lrp = [r for r in f32 if r["method"] in ("lrp-eps", "lrp-comp") and "zennit_ratio" in r]
    if lrp:
        for group, goal, name in (([r for r in lrp if r["batch"] == 1], BATCH1_GOAL,
                                   f"LRP >= {BATCH1_GOAL:g}x faster than Zennit at batch 1"),
                                  ([r for r in lrp if r["batch"] > 1], BATCHED_GOAL,
                                   f"LRP >= {BATCHED_GOAL:g}x faster than Zennit batched")):
            if not group:
                continue
            worst = min(group, key=lambda r: r["zennit_ratio"])
            failing = [f"{r['model']} b{r['batch']} {r['method']} {r['zennit_ratio']:.2f}x"
                       for r in group if r["zennit_ratio"] < goal]
            add(name, worst["zennit_ratio"], goal, not failing,
                f"worst {worst['model']} b{worst['batch']} {worst['method']} {worst['zennit_ratio']:.2f}x"
                + (f"; below: {', '.join(failing)}" if failing else f"; all {len(group)} cases hold"))
    else:
        add("LRP vs Zennit", None, None, None, "Zennit not run")

    # Batched epsilon-LRP against PyTorch's plain gradient of the same model and batch.
    index = {(r["model"], r["dtype"], r["batch"], r["method"], r["engine"]): r for r in rows if "ms" in r}
    cases = []
    for (m, d, b, meth, e), r in index.items():
        if d == "float32" and b > 1 and meth == "lrp-eps" and e == "libdtd":
            grad = index.get((m, d, b, "gradient", "torch"))
            if grad:
                cases.append((r["ms"] / grad["ms"], m, b, r["ms"], grad["ms"]))
    if cases:
        worst = max(cases)
        failing = [f"{m} b{b} {q:.2f}x" for q, m, b, _, _ in cases if q > GRADIENT_GOAL]
        add(f"batched eps-LRP <= {GRADIENT_GOAL:g}x PyTorch's gradient", worst[0], GRADIENT_GOAL, not failing,
            f"worst {worst[1]} b{worst[2]}: {worst[3]:.1f} ms vs {worst[4]:.1f} ms = {worst[0]:.2f}x"
            + (f"; above: {', '.join(failing)}" if failing else f"; all {len(cases)} cases hold"), at_most=True)

    best = blas.get("best_gflops") or blas.get("split_gflops")
    cnn = [r for r in rows if r["model"] in CNN_MODELS and r["engine"] == "libdtd" and r["batch"] > 1
           and r["dtype"] == "float32" and r["method"] in ("lrp-eps", "lrp-comp") and r.get("gflops")]
    if cnn and best:
        shares = [(100 * r["gflops"] / best, r) for r in cnn]
        worst = min(shares, key=lambda t: t[0])
        failing = [f"{r['model']} b{r['batch']} {r['method']} {p:.0f}%" for p, r in shares if p < SGEMM_SHARE_GOAL]
        add(f"batched CNN LRP >= {SGEMM_SHARE_GOAL:g}% of the best sgemm", worst[0], SGEMM_SHARE_GOAL, not failing,
            f"worst {worst[1]['model']} b{worst[1]['batch']} {worst[1]['method']} {worst[1]['gflops']:.1f} GFLOP/s = "
            f"{worst[0]:.0f}% of {best:.1f} GFLOP/s ({blas.get('best_source', 'libdtd split sgemm')})"
            + (f"; below: {', '.join(failing)}" if failing else f"; all {len(shares)} cases hold"))

    audit = [r for r in rows if r["method"] == "audit" and r["engine"] == "libdtd" and "roots_per_s" in r]
    for r in audit:
        add(f"root audit {r['dtype']} >= 1e6 roots/s", r["roots_per_s"], 1e6, r["roots_per_s"] >= 1e6,
            f"{r['roots_per_s']:.3g} roots/s ({r['roots']} roots in {r['ms']:.1f} ms)")

    mem = []
    for key, lib in memory.items():
        engine, model, method = key.split("/")
        zen = memory.get(f"zennit/{model}/{method}")
        if engine == "libdtd" and zen and "error" not in lib and "error" not in zen:
            mem.append((lib["call_peak_mb"] / max(zen["call_peak_mb"], 1e-9), model, method, lib["call_peak_mb"],
                        zen["call_peak_mb"]))
    if mem:
        worst = max(mem)
        failing = [f"{m} {meth} +{l:.0f} vs +{z:.0f} MB" for q, m, meth, l, z in mem if l > z]
        add("peak memory <= Zennit's (libdtd / Zennit)", worst[3] / max(worst[4], 1e-9), 1.0, not failing,
            f"worst {worst[1]} {worst[2]}: libdtd +{worst[3]:.1f} MB vs Zennit +{worst[4]:.1f} MB during the call"
            + (f"; above: {', '.join(failing)}" if failing else f"; all {len(mem)} cases hold"), at_most=True)
    return targets


if __name__ == "__main__":
    sys.exit(main())
