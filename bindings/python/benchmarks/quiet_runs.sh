#!/usr/bin/env bash
# The issue-12 measurements that need a quiet machine (load average < ~1.2), in the order that
# decides most first. Usage: bash quiet_runs.sh OUTDIR (from anywhere; ~30-40 min when quiet).
# Needs: the extras venv (Tests/setup-extras.sh), the MKL and OpenBLAS wheels in
# $KERNELS_VENV (python3 -m venv $KERNELS_VENV && $KERNELS_VENV/bin/pip install mkl scipy-openblas32),
# a release build, and kernels/build.sh.
set -u
out=$(mkdir -p "$1" && cd "$1" && pwd)
cd "$(dirname "$0")/../../.."
venv=$(bash Tests/setup-extras.sh)
V=${KERNELS_VENV:-$HOME/.cache/libdtd/kernels-venv}
export DTD_LIBRARY=$PWD/.build/release/libdtd.so
export DTD_BENCH_BLAS="mkl (wheel)=$V/lib/libmkl_rt.so.3,openblas 0.3.34 (scipy-openblas32)=$V/lib/python3.11/site-packages/scipy_openblas32/lib/libscipy_openblas.so:scipy_"
log() { echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a "$out/log.txt"; }
grep -m1 flags /proc/cpuinfo > "$out/cpuinfo-flags.txt"
for r in 1 2 3; do
  log "bench run $r start"
  $venv/bin/python bindings/python/benchmarks/bench.py --wait-quiet 600 --json "$out/run$r.json" > "$out/run$r.txt" 2>&1
  log "bench run $r end"
done
log "shared_process start"
$venv/bin/python bindings/python/benchmarks/shared_process.py --rounds 6 --calls 40 > "$out/shared_vgg_b1.txt" 2>&1
$venv/bin/python bindings/python/benchmarks/shared_process.py --rounds 4 --calls 10 --batch 16 > "$out/shared_vgg_b16.txt" 2>&1
OMP_WAIT_POLICY=PASSIVE $venv/bin/python bindings/python/benchmarks/shared_process.py --rounds 6 --calls 40 > "$out/shared_vgg_b1_passive.txt" 2>&1
log "shared_process end"
log "dtd-bench loops start"
for rep in 1 2 3; do for case in "vgg lrp-eps 1" "vgg lrp-comp 1" "vgg lrp-eps 16" "vgg lrp-comp 16" "vgg gradient 16" "mlp lrp-eps 64"; do for k in blas auto; do
  echo -n "$case DTD_KERNELS=$k: "; DTD_NUM_THREADS=2 DTD_KERNELS=$k .build/release/dtd-bench loop $case 2 | sed 's/.*calls, //'
done; done; cut -d' ' -f1-3 /proc/loadavg; done > "$out/dtd-bench-loops.txt" 2>&1
log "dtd-bench loops end"
log "kernel probe 2 threads start"
(cd /tmp && "$(bash bindings/python/benchmarks/kernels/build.sh)" --blas blis=/usr/lib/x86_64-linux-gnu/libblis.so.4 --blas mkl=$V/lib/libmkl_rt.so.3 \
  --blas openblas=$V/lib/python3.11/site-packages/scipy_openblas32/lib/libscipy_openblas.so:scipy_ --threads 2 --f32 --reps 5 --min-ms 40 \
  --json "$out/t2.jsonl" > "$out/t2.txt" 2>&1)
$venv/bin/python bindings/python/benchmarks/kernels/torch_reference.py --threads 2 --f32 --json "$out/t2-torch.jsonl" > "$out/t2-torch.txt" 2>&1
log "kernel probe 2 threads end"
$venv/bin/python bindings/python/benchmarks/aggregate.py "$out"/run1.json "$out"/run2.json "$out"/run3.json > "$out/aggregate.txt" 2>&1
python3 bindings/python/benchmarks/kernels/summarize.py "$out/t2.jsonl" "$out/t2-torch.jsonl" --markdown > "$out/t2-table.md" 2>&1
log "done: $out/aggregate.txt, $out/t2-table.md"
