"""sgemm GFLOP/s of the BLAS that libdtd links, called through ctypes.

``cblas_sgemm`` is looked up through libdtd's own handle (dlsym searches a library's
dependencies), so it is exactly the BLAS the engine calls; dladdr names the file it lives in.
Three ways, on square n x n float32 matrices (2 n^3 FLOP per call), median of several calls:

  1 thread        one cblas_sgemm on the calling thread;
  libdtd split    C cut into column blocks of a multiple of 16 columns, one per worker thread, each
                  an ordinary cblas_sgemm on the sub-matrices, all at once: what libdtd's
                  Gemm.multiply does with DTD_NUM_THREADS workers (ctypes releases the GIL);
  BLAS threads    one call with the BLAS's own threading (BLIS: bli_thread_set_num_threads),
                  where the library offers it; reset to 1 afterwards.

Run it alone (``python3 blas_probe.py [n] [threads]``) or from bench.py, which runs it in a
process of its own; it prints one JSON object.
"""
from __future__ import annotations

import ctypes
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

CblasRowMajor, CblasNoTrans = 101, 111


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _library_of(function) -> str:
    libc = ctypes.CDLL(None)
    info = _DlInfo()
    address = ctypes.cast(function, ctypes.c_void_p)
    if libc.dladdr(address, ctypes.byref(info)) and info.dli_fname:
        return os.path.realpath(info.dli_fname.decode())
    return "?"


def load_sgemm():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dtd
    path = dtd.library_path()
    lib = ctypes.CDLL(path)
    sgemm = lib.cblas_sgemm  # resolved in libdtd's dependency tree: the linked BLAS
    sgemm.restype = None
    sgemm.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                      ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    return lib, sgemm, path


def probe(n: int = 2048, threads: int = 2, reps: int = 5) -> dict:
    lib, sgemm, dtd_path = load_sgemm()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.zeros((n, n), dtype=np.float32)
    pa, pb, pc = (m.ctypes.data for m in (a, b, c))
    fsize = 4

    def block(first, cols):
        sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cols, n, 1.0, pa, n, pb + first * fsize, n,
              0.0, pc + first * fsize, n)

    def single():
        block(0, n)

    # libdtd's split: width = ceil(n / parts) rounded up to a multiple of 16.
    parts = max(1, min(threads, n // 32))
    width = ((n + parts - 1) // parts + 15) // 16 * 16
    blocks = [(f, min(width, n - f)) for f in range(0, n, width)]

    def split():
        ts = [threading.Thread(target=block, args=blk) for blk in blocks[1:]]
        for t in ts:
            t.start()
        block(*blocks[0])
        for t in ts:
            t.join()

    def timed(fn):
        fn()  # warm-up (packing buffers, thread start)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return 2.0 * n ** 3 / statistics.median(times) / 1e9

    result = {"n": n, "threads": threads, "library": _library_of(sgemm), "via": dtd_path,
              "single_gflops": timed(single)}
    single()
    expected = a @ b
    result["max_rel_error"] = float(np.abs(c - expected).max() / np.abs(expected).max())
    result["split_gflops"] = timed(split)
    set_threads = getattr(lib, "bli_thread_set_num_threads", None)
    if set_threads is not None:
        set_threads.argtypes = [ctypes.c_long]
        set_threads(threads)
        result["blas_threads_gflops"] = timed(single)
        set_threads(1)
    return result


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    print(json.dumps(probe(n, threads)))
