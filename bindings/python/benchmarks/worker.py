"""A benchmark worker: one engine in its own process, driven by bench.py over stdin/stdout.

Each engine runs in a process of its own so that no engine's thread pool (OpenBLAS's and
libgomp's spinning workers, libdispatch's) competes with another's, and each gets the thread
settings that are fair to it (bench.py sets the environment; see README "Threads").

Protocol: one JSON object per line. The worker first prints
``{"ready": true, "engine", "version"}`` (or ``{"ready": false, "reason"}``), then answers each
``{"op": "run", ...}`` with ``{"ok": true, ...}`` or ``{"ok": false, "error"}`` until
``{"op": "quit"}`` or end of input.

``python3 worker.py memprobe ENGINE MODEL DTYPE METHOD BATCH DATA.npz`` instead measures the
peak resident memory of one call in a fresh process and prints one JSON object.
"""
from __future__ import annotations

import gc
import json
import math
import os
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402  (bench.py has set OPENBLAS_NUM_THREADS in our environment)

import engines  # noqa: E402
import models  # noqa: E402


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def cpu_snapshot() -> tuple[float, float, float]:
    """(wall s, machine-wide busy CPU s incl. steal, this process's CPU s over all its threads)."""
    busy = float("nan")
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    own = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), busy, own.ru_utime + own.ru_stime


def background_cores(before, after) -> float:
    """CPU cores kept busy by everything but this process (other processes, other tenants,
    hypervisor steal) while it was timed: the contention the measurement saw."""
    wall = after[0] - before[0]
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall) if wall > 0 else float("nan")


def reset_peak() -> bool:
    """Resets the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


BUDGET_S = 30.0


def measure(call, reps: int, min_sample: float, warmup: float, clock=time.perf_counter):
    """Median seconds per call: warm up (>= 2 calls and >= `warmup` s), then `reps` samples,
    each the mean of enough back-to-back calls to last >= `min_sample` s. GC is off while timing."""
    gc.collect()
    gc.disable()
    try:
        start, calls = clock(), 0
        while calls < 2 or clock() - start < warmup:
            call()
            calls += 1
        single = (clock() - start) / calls
        inner = max(1, math.ceil(min_sample / max(single, 1e-9)))
        # Calls of seconds (VGG-16 at batch 8): at most ~BUDGET_S of samples, but never fewer than 3.
        reps = max(3, min(reps, int(BUDGET_S / max(single * inner, 1e-9))))
        samples = []
        for _ in range(reps):
            t = clock()
            for _ in range(inner):
                call()
            samples.append((clock() - t) / inner)
    finally:
        gc.enable()
    return statistics.median(samples), samples, inner


class Worker:
    def __init__(self, engine: str, threads: int):
        self.engine = engines.ENGINES[engine](threads)
        self.specs: dict = {}

    def spec(self, name):
        if name not in self.specs:
            self.specs[name] = models.build_spec(name)
        return self.specs[name]

    def check(self, cmd: dict) -> dict:
        """Builds the model's network (float32), to learn whether this engine supports it."""
        spec = self.spec(cmd["model"])
        build = getattr(self.engine, "network", None) or getattr(self.engine, "model", None)
        build(spec, "float32")
        return {"ok": True}

    def run(self, cmd: dict) -> dict:
        spec = self.spec(cmd["model"])
        data = np.load(cmd["data"])
        x, seed = data["x"], data["seed"]
        dtype, method, batch = cmd["dtype"], cmd["method"], int(cmd["batch"])
        case = self.engine.prepare(spec, dtype, method, batch, x, seed)
        result = case()  # also the first warm-up call
        reset = reset_peak()
        rss0 = _status_kb("VmRSS")
        before = cpu_snapshot()
        # --cpu-time (one thread): the process's CPU time, which a busy machine barely disturbs.
        clock = time.process_time if cmd.get("cpu_time") else time.perf_counter
        median, samples, inner = measure(case, cmd["reps"], cmd["min_sample"], cmd["warmup"], clock)
        after = cpu_snapshot()
        peak = _status_kb("VmHWM")
        reply = {"ok": True, "median_s": median, "samples_s": samples, "inner": inner,
                 "background_cores": background_cores(before, after), "cpu_cores": (after[2] - before[2]) / (after[0] - before[0]),
                 "peak_delta_mb": max(0, peak - rss0) / 1024 if reset else None, "rss_mb": rss0 / 1024}
        if hasattr(case, "roots"):
            reply["roots"] = case.roots
        if isinstance(self.engine, engines.LibDTD):
            reply["kernels"] = engines.loaded_kernels()
        if cmd.get("c_call") and hasattr(self.engine, "c_call"):
            direct = self.engine.c_call(spec, dtype, method, batch, x, seed)
            reply["c_call_s"] = measure(direct, cmd["reps"], cmd["min_sample"], cmd["warmup"] / 2, clock)[0]
        if cmd.get("save"):
            if method == "audit":
                records, summary = (result if isinstance(result[1], dict)
                                    else engines.audit_records_as_arrays(*result, x.shape[0]))
                np.savez(cmd["save"], **{k: np.asarray(v) for k, v in records.items()})
                reply["summary"] = summary
            else:
                np.save(cmd["save"], np.asarray(result))
        return reply


def serve(engine: str, threads: int) -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but protocol lines on the pipe
    try:
        worker = Worker(engine, threads)
    except Exception as error:  # noqa: BLE001 - report any import/setup failure
        out.write(json.dumps({"ready": False, "reason": f"{type(error).__name__}: {error}"}) + "\n")
        out.flush()
        return
    info = {"ready": True, "engine": engine, "version": worker.engine.version,
            "zennit_error": getattr(worker.engine, "zennit_error", None)}
    out.write(json.dumps(info) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        try:
            reply = worker.check(cmd) if cmd.get("op") == "check" else worker.run(cmd)
        except Exception as error:  # noqa: BLE001
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}",
                     "trace": traceback.format_exc(limit=4)}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def memprobe(engine: str, model: str, dtype: str, method: str, batch: int, data: str, threads: int) -> None:
    """Peak RSS of one call in this fresh process: everything is built and the rule set or
    composite prepared first; then RSS before, one call, and the peaks after."""
    eng = engines.ENGINES[engine](threads)
    spec = models.build_spec(model)
    arrays = np.load(data)
    case = eng.prepare(spec, dtype, method, batch, arrays["x"], arrays["seed"])
    gc.collect()
    reset = reset_peak()
    rss0 = _status_kb("VmRSS")
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    case()
    hwm = _status_kb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"engine": engine, "rss_before_mb": rss0 / 1024,
                      "ru_maxrss_before_mb": maxrss0 / 1024, "ru_maxrss_after_mb": maxrss / 1024,
                      "hwm_after_mb": hwm / 1024 if reset else None,
                      "call_peak_mb": (hwm - rss0) / 1024 if reset else (maxrss - rss0) / 1024,
                      "peak_source": "VmHWM reset by /proc/self/clear_refs" if reset else "ru_maxrss"}))


if __name__ == "__main__":
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    if sys.argv[1] == "memprobe":
        _, _, eng, mdl, dt, meth, b, path = sys.argv
        memprobe(eng, mdl, dt, meth, int(b), path, threads)
    else:
        serve(sys.argv[1], threads)
