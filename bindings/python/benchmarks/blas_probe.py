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

With ``--all`` it also measures the best sgemm this machine offers, the physical reference of the
benchmark's "share of sgemm" target: every other CBLAS it finds (the ``mkl`` wheel's libmkl_rt,
the ``scipy-openblas32`` wheel's OpenBLAS with its ``scipy_`` prefix, Debian's BLIS and OpenBLAS,
or any given in ``$DTD_BENCH_BLAS`` as ``name=path[:prefix],...``), 1 thread and split over the
threads as above, and ``torch.mm`` with ``torch.set_num_threads(threads)`` (PyTorch's MKL with its
own OpenMP threads) when torch imports. ``best_gflops`` is the highest figure of all, ``best_source``
says whose.

Run it alone (``python3 blas_probe.py [n] [threads] [--all]``) or from bench.py, which runs it in a
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


def bind_sgemm(function):
    function.restype = None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                         ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                         ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    return function


def probe(n: int = 2048, threads: int = 2, reps: int = 5, library=None) -> dict:
    """The sgemm of libdtd's BLAS, or of `library` = (name, path, prefix) loaded on its own."""
    if library is None:
        lib, sgemm, dtd_path = load_sgemm()
    else:
        name, path, prefix = library
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        sgemm, dtd_path = bind_sgemm(getattr(lib, prefix + "cblas_sgemm")), None
        for setter, value in ((prefix + "openblas_set_num_threads", 1), ("MKL_Set_Threading_Layer", 1),
                              ("bli_thread_set_num_threads", 1)):
            fn = getattr(lib, setter, None)  # one thread inside the library: the split threads
            if fn is not None:
                fn.argtypes = [ctypes.c_long] if setter.startswith("bli") else [ctypes.c_int]
                fn(value)
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
    if library is not None:
        result["name"] = library[0]
    single()
    expected = a @ b
    result["max_rel_error"] = float(np.abs(c - expected).max() / np.abs(expected).max())
    result["split_gflops"] = timed(split)
    set_threads = getattr(lib, "bli_thread_set_num_threads", None)
    if set_threads is not None and library is None:
        set_threads.argtypes = [ctypes.c_long]
        set_threads(threads)
        result["blas_threads_gflops"] = timed(single)
        set_threads(1)
    return result


def other_libraries() -> list[tuple[str, str, str]]:
    """(name, path, symbol prefix) of every other CBLAS found on this machine."""
    found = []
    given = os.environ.get("DTD_BENCH_BLAS", "")
    for item in filter(None, given.split(",")):
        name, _, rest = item.partition("=")
        path, _, prefix = rest.partition(":")
        found.append((name, path, prefix))
    try:  # the mkl wheel puts libmkl_rt.so.N into <prefix>/lib
        import glob
        for path in sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))[-1:]:
            found.append(("mkl (wheel)", path, ""))
    except OSError:
        pass
    try:
        import scipy_openblas32
        found.append(("openblas (scipy-openblas32)", os.path.join(scipy_openblas32.get_lib_dir(),
                                                                   "libscipy_openblas.so"), "scipy_"))
    except ImportError:
        pass
    for name, path in (("blis (Debian, pthreads)", "/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4"),
                       ("openblas (Debian)", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0")):
        if os.path.exists(path):
            found.append((name, path, ""))
    return found


def probe_torch(n: int, threads: int, reps: int = 5) -> dict:
    """torch.mm on n x n float32 matrices with 1 and `threads` threads (PyTorch's own BLAS)."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = {"name": "torch.mm", "library": f"torch {torch.__version__} ({torch.backends.mkl.is_available() and 'MKL' or '?'})"}
    for key, t in (("single_gflops", 1), ("own_threads_gflops", threads)):
        torch.set_num_threads(t)
        torch.mm(a, b)
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        out[key] = 2.0 * n ** 3 / statistics.median(times) / 1e9
    return out


def probe_all(n: int, threads: int) -> dict:
    result = probe(n, threads)
    best = max(((result["split_gflops"], f"libdtd's BLAS {result['library']}, split"),
                (result["single_gflops"], f"libdtd's BLAS {result['library']}, 1 thread"),
                (result.get("blas_threads_gflops", 0), f"libdtd's BLAS {result['library']}, own threads")))
    others = []
    for library in other_libraries():
        try:
            r = probe(n, threads, library=library)
        except (OSError, AttributeError) as error:
            r = {"name": library[0], "error": str(error)}
        others.append(r)
        if "split_gflops" in r:
            best = max(best, (r["split_gflops"], f"{r['name']} {r['library']}, split"),
                       (r["single_gflops"], f"{r['name']} {r['library']}, 1 thread"))
    try:
        r = probe_torch(n, threads)
        others.append(r)
        best = max(best, (r["own_threads_gflops"], f"{r['library']} torch.mm, {threads} threads"),
                   (r["single_gflops"], f"{r['library']} torch.mm, 1 thread"))
    except ImportError as error:
        others.append({"name": "torch.mm", "error": str(error)})
    result.update(others=others, best_gflops=best[0], best_source=best[1])
    return result


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 2048
    threads = int(args[1]) if len(args) > 1 else 2
    print(json.dumps(probe_all(n, threads) if "--all" in sys.argv else probe(n, threads)))
