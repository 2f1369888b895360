#!/usr/bin/env bash
# tools/gpu_bench.sh: one command for a GPU machine: build (Release) the benchmarks, run the kernel
# microbenchmarks (bench_kernels), the cuDNN/cuBLAS layer benchmarks (bench_conv_gemm), the
# end-to-end training benchmark (gan_bench) and the PyTorch baseline
# (tools/pytorch_baseline.py), then print one Markdown table last: ours against PyTorch eager
# and compiled, the ratios, and the roofline floor. See bench/README.md.
#
# Usage: bash tools/gpu_bench.sh [--update-readme] [extra cmake -D options...]
#   --update-readme   also write the results (GPU, date, tables) into bench/README.md, between
#                     its "results:begin" / "results:end" markers
#
# Like tools/gpu_check.sh it needs no internet: the CUDA toolkit, PyTorch's nvidia wheels
# (cuDNN) and .deps/ (tools/fetch_gpu_deps.sh: Google Benchmark and GoogleTest sources). Without
# a GPU every part reports "skipped: no GPU" and the script still exits 0, so it can be
# rehearsed anywhere.
#
# Environment:
#   BUILD_DIR=build-gpu    build folder (shared with tools/gpu_check.sh: same cmake options)
#   OUT=dir                where results go (default: $BUILD_DIR/bench-results):
#                          bench_kernels.{json,txt} bench_conv_gemm.{json,txt} gan_bench.{json,txt}
#                          pytorch.{json,txt} summary.md build.log
#   NN_CUDA_ARCHS=90       CMAKE_CUDA_ARCHITECTURES
#   PYTHON=python3         an interpreter with torch (default: python3, then /opt/torch/.venv/bin/python3)
#   BENCH_ARGS="..."       extra Google Benchmark flags for both microbenchmark binaries
#                          (e.g. --benchmark_filter=big --benchmark_repetitions=5)
#   GAN_BENCH_ARGS="..."   extra gan_bench flags (e.g. --steps 200 --peak-tflops 67)
#   NN_JOBS=N              parallel build jobs (default: all cores)
# Exit status: 0 when the build succeeds and no part that ran failed; 1 otherwise.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

update_readme=0
if [[ "${1:-}" == "--update-readme" ]]; then update_readme=1; shift; fi

build_dir="${BUILD_DIR:-build-gpu}"
mkdir -p "$build_dir"
build_dir="$(cd "$build_dir" && pwd)"
out_dir="${OUT:-$build_dir/bench-results}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
archs="${NN_CUDA_ARCHS:-90}"
jobs="$(nn_jobs)"
if [[ -d "$NN_DEPS_DIR" ]]; then NN_DEPS_DIR="$(cd "$NN_DEPS_DIR" && pwd)"; fi
failed=0

# ------------------------------------------------------------------ the GPU and the toolkit
gpu="none"; has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 &&
   gpu_line="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1)" &&
   [[ -n "$gpu_line" ]]; then
  gpu="${gpu_line/, /, driver }"; has_gpu=1
fi
cuda_home="${CUDA_HOME:-${CUDA_PATH:-/usr/local/cuda}}"
if ! command -v nvcc >/dev/null 2>&1 && [[ -x "$cuda_home/bin/nvcc" ]]; then export PATH="$cuda_home/bin:$PATH"; fi
toolkit=none
if command -v nvcc >/dev/null 2>&1; then
  cuda_home="$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)"
  toolkit="nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
fi
nn_log "GPU: $gpu; toolkit: $toolkit"

# ------------------------------------------------------------------ cuDNN / cuBLAS from the wheels (as gpu_check.sh)
wheel_probe='
import glob, importlib.util, os
try:
    spec = importlib.util.find_spec("nvidia")
except Exception:
    spec = None
roots = list(spec.submodule_search_locations or []) if spec else []
def first(pattern):
    for root in roots:
        for hit in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
            return hit
    return ""
for name, header, lib in (("cudnn", "cudnn.h", "libcudnn.so*"), ("cublas", "cublas_v2.h", "libcublas.so*")):
    h, l = first("**/include/" + header), first("**/lib/" + lib)
    if h and l:
        print(name, os.path.dirname(os.path.dirname(h)), os.path.dirname(l))
'
wheel_info=""
for py in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && wheel_info="$("$py" -c "$wheel_probe" 2>/dev/null)" && [[ -n "$wheel_info" ]]; then
    break
  fi
done
wheel() { awk -v n="$1" -v f="$2" '$1 == n {print $f}' <<<"$wheel_info"; }
prepend_lib() { export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; }
if [[ "$toolkit" != none && -d "$cuda_home/lib64" ]]; then prepend_lib "$cuda_home/lib64"; fi

cmake_args=(-DCMAKE_BUILD_TYPE=Release -DNN_DEPS_DIR="$NN_DEPS_DIR" -DCMAKE_CUDA_ARCHITECTURES="$archs")
if [[ -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" ]]; then
  cmake_args+=(-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON)   # the same options as gpu_check.sh
elif ! compgen -G "/usr/lib/*/cmake/GTest/GTestConfig.cmake" >/dev/null && ! compgen -G "/usr/lib/cmake/GTest/*" >/dev/null; then
  cmake_args+=(-DNN_BUILD_TESTS=OFF)                     # no GoogleTest anywhere: benchmarks only
fi
if [[ -z "${CUDNN_ROOT:-}" && -n "$(wheel cudnn 2)" ]]; then CUDNN_ROOT="$(wheel cudnn 2)"; export CUDNN_ROOT; fi
if [[ -n "${CUDNN_ROOT:-}" ]]; then
  cmake_args+=(-DCUDNN_ROOT="$CUDNN_ROOT")
  cudnn_lib="$(compgen -G "$CUDNN_ROOT/lib*/libcudnn.so*" | sort | head -n1 || true)"
  if [[ -f "$CUDNN_ROOT/include/cudnn.h" && -n "$cudnn_lib" ]]; then
    cmake_args+=(-DCUDNN_INCLUDE_DIR="$CUDNN_ROOT/include" -DCUDNN_LIBRARY="$cudnn_lib")
  fi
  if [[ -d "$CUDNN_ROOT/lib64" ]]; then prepend_lib "$CUDNN_ROOT/lib64"; fi
  if [[ -d "$CUDNN_ROOT/lib" ]]; then prepend_lib "$CUDNN_ROOT/lib"; fi
fi
if [[ "$toolkit" != none ]] && ! compgen -G "$cuda_home/lib*/libcublas.so*" >/dev/null &&
   ! compgen -G "$cuda_home/targets/*/lib/libcublas.so*" >/dev/null && [[ -n "$(wheel cublas 2)" ]]; then
  cublas_root="$(wheel cublas 2)"; cublas_lib="$(wheel cublas 3)"
  cmake_args+=(-DCUDA_cublas_LIBRARY="$(compgen -G "$cublas_lib/libcublas.so*" | head -n1)"
               -DCUDA_cublasLt_LIBRARY="$(compgen -G "$cublas_lib/libcublasLt.so*" | head -n1)")
  export CXXFLAGS="${CXXFLAGS:-} -isystem $cublas_root/include"
  export CUDAFLAGS="${CUDAFLAGS:-} -isystem $cublas_root/include"
  prepend_lib "$cublas_lib"
fi

# ------------------------------------------------------------------ Google Benchmark from .deps (as gpu_check.sh)
bench_prefix="$build_dir/deps-benchmark"
prefix_path="$NN_DEPS_DIR/usr"
if [[ -f "$bench_prefix/.done" ]]; then
  prefix_path="$bench_prefix;$prefix_path"
elif [[ -f "$NN_DEPS_DIR/usr/src/benchmark/CMakeLists.txt" ]]; then
  nn_log "building Google Benchmark from $NN_DEPS_DIR/usr/src/benchmark"
  generator=(); command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  if { cmake -S "$NN_DEPS_DIR/usr/src/benchmark" -B "$build_dir/deps-benchmark-build" "${generator[@]}" \
         -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$bench_prefix" -DGIT_VERSION=0.0.0 \
         -DBENCHMARK_ENABLE_TESTING=OFF -DBENCHMARK_ENABLE_GTEST_TESTS=OFF \
         -DBENCHMARK_ENABLE_WERROR=OFF -DBENCHMARK_INSTALL_DOCS=OFF &&
       cmake --build "$build_dir/deps-benchmark-build" --parallel "$jobs" &&
       cmake --install "$build_dir/deps-benchmark-build"; } >"$out_dir/benchmark-build.log" 2>&1; then
    touch "$bench_prefix/.done"
    prefix_path="$bench_prefix;$prefix_path"
  else
    nn_log "warning: Google Benchmark did not build (see $out_dir/benchmark-build.log)"
  fi
fi
cmake_args+=(-DCMAKE_PREFIX_PATH="$prefix_path")

# ------------------------------------------------------------------ build
nn_log "building the benchmarks into $build_dir (log: $out_dir/build.log)"
generator=()
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if ! { cmake -S . -B "$build_dir" "${generator[@]}" "${cmake_args[@]}" "$@" &&
       cmake --build "$build_dir" --parallel "$jobs" --target gan_bench; } >"$out_dir/build.log" 2>&1; then
  tail -n 40 "$out_dir/build.log" >&2
  nn_die "the build failed (see $out_dir/build.log)"
fi
bench_bins=()
for b in bench_kernels bench_conv_gemm; do
  if grep -q "bench: Google Benchmark .* found" "$out_dir/build.log"; then
    if cmake --build "$build_dir" --parallel "$jobs" --target "$b" >>"$out_dir/build.log" 2>&1; then
      bench_bins+=("$b")
    else
      tail -n 40 "$out_dir/build.log" >&2
      nn_die "building $b failed (see $out_dir/build.log)"
    fi
  fi
done
if [[ ${#bench_bins[@]} -eq 0 ]]; then
  nn_log "the microbenchmarks were not configured: $(grep -o 'bench: .*' "$out_dir/build.log" | head -n1)"
fi

# ------------------------------------------------------------------ run
status=()   # one line per part for the summary
# shellcheck disable=SC2086
for b in "${bench_bins[@]}"; do
  nn_log "running $b (results: $out_dir/$b.json)"
  rm -f "$out_dir/$b.json"
  set +e
  "$build_dir/bench/$b" --benchmark_out="$out_dir/$b.json" --benchmark_out_format=json ${BENCH_ARGS:-} \
    2>&1 | tee "$out_dir/$b.txt"
  rc=${PIPESTATUS[0]}
  set -e
  if grep -q "^$b: skipped:" "$out_dir/$b.txt"; then status+=("$b: $(sed -n "s/^$b: //p" "$out_dir/$b.txt" | head -n1)")
  elif [[ $rc -ne 0 ]]; then failed=1; status+=("$b: FAILED (exit $rc)")
  else
    errs="$(grep -c 'ERROR OCCURRED' "$out_dir/$b.txt" || true)"
    [[ "$errs" -gt 0 ]] && failed=1
    status+=("$b: ran, $errs case(s) with errors (validation or CUDA)")
  fi
done
[[ ${#bench_bins[@]} -eq 0 ]] && status+=("microbenchmarks: skipped: not built (Google Benchmark or the CUDA backend missing)")

nn_log "running gan_bench (results: $out_dir/gan_bench.json)"
set +e
# shellcheck disable=SC2086
"$build_dir/gan_bench" --json "$out_dir/gan_bench.json" ${GAN_BENCH_ARGS:-} 2>&1 | tee "$out_dir/gan_bench.txt"
rc=${PIPESTATUS[0]}
set -e
if grep -q "^gan_bench: skipped:" "$out_dir/gan_bench.txt"; then status+=("$(grep -m1 '^gan_bench: skipped:' "$out_dir/gan_bench.txt")")
elif [[ $rc -ne 0 ]]; then failed=1; status+=("gan_bench: FAILED (exit $rc)")
else status+=("gan_bench: ran"); fi

rm -f "$out_dir/pytorch.json"
if [[ $has_gpu -eq 0 ]]; then
  status+=("pytorch_baseline: skipped: no GPU (nvidia-smi finds none)")
elif [[ ! -f tools/pytorch_baseline.py ]]; then
  status+=("pytorch_baseline: skipped: tools/pytorch_baseline.py is missing")
else
  torch_py=""
  for py in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c "import torch" >/dev/null 2>&1; then torch_py="$py"; break; fi
  done
  if [[ -z "$torch_py" ]]; then
    status+=("pytorch_baseline: skipped: no python with torch (set PYTHON)")
  else
    nn_log "running the PyTorch baseline with $torch_py (results: $out_dir/pytorch.json)"
    set +e
    "$torch_py" tools/pytorch_baseline.py --device cuda --presets dcgan,keras --batch-sizes 64,256 \
      --modes eager,compiled --json "$out_dir/pytorch.json" 2>&1 | tee "$out_dir/pytorch.txt"
    rc=${PIPESTATUS[0]}
    set -e
    if [[ $rc -ne 0 ]]; then failed=1; status+=("pytorch_baseline: FAILED (exit $rc)"); else status+=("pytorch_baseline: ran"); fi
  fi
fi

# ------------------------------------------------------------------ the final table (stdlib-only Python)
printf '%s\n' "${status[@]}" >"$out_dir/status.txt"
merge_py="$(command -v python3 || true)"
[[ -n "$merge_py" ]] || nn_die "python3 is needed to print the summary table"
"$merge_py" - "$out_dir" "$gpu" "$update_readme" "$NN_ROOT/bench/README.md" <<'PY' || failed=1
import datetime, json, os, re, sys

out_dir, gpu, update_readme, readme = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]

def load(name):
    try:
        with open(os.path.join(out_dir, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def fmt(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)

lines = []
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
gb = load("gan_bench.json") or {}
device = gb.get("device") or gpu
lines += ["GPU: %s  " % device, "Date: %s  " % date, ""]
with open(os.path.join(out_dir, "status.txt")) as f:
    lines += ["- " + l.strip() for l in f if l.strip()]
lines.append("")

# ---- kernel microbenchmarks: %copyBW of the memory-bound kernels at the size that fills the GPU
def bench_rows(doc):
    rows = {}
    for b in (doc or {}).get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name") or b["name"]
        if b.get("run_type") == "aggregate" or name not in rows:
            rows[name] = b
    return rows

kern = bench_rows(load("bench_kernels.json"))
if kern:
    big = {n: b for n, b in kern.items() if "/big/" in n and "%copyBW" in b}
    errors = [n for n, b in kern.items() if b.get("error_occurred")]
    met = [n for n, b in big.items() if b["%copyBW"] >= 85.0]
    lines.append("Memory-bound kernels at the size that fills the GPU: %d of %d at >= 85%% of the measured "
                 "copy bandwidth (target: all)%s" % (len(met), len(big), "; errors: " + ", ".join(errors) if errors else ""))
    lines += ["", "| kernel (big) | GB/s | %copyBW | target >= 85% |", "|---|---|---|---|"]
    for n in sorted(big):
        b = big[n]
        lines.append("| %s | %.0f | %.1f | %s |" % (n, b["GB/s"], b["%copyBW"], "met" if b["%copyBW"] >= 85 else "missed"))
    lines.append("")
conv = bench_rows(load("bench_conv_gemm.json"))
if conv:
    lines += ["| cuDNN / cuBLAS call | median us | TFLOP/s |", "|---|---|---|"]
    for n, b in conv.items():
        lines.append("| %s | %s | %s |" % (n, fmt(b.get("median_us"), ".1f"),
                                            "error: " + b.get("error_message", "") if b.get("error_occurred") else fmt(b.get("TFLOP/s"), ".2f")))
    lines.append("")

# ---- end to end
ours = {}
for r in gb.get("results", []):
    ours[(r.get("preset"), int(r.get("batch", 0)), r.get("mode"))] = r
if ours:
    lines += ["| preset | batch | data | ms/step | images/s | peak MiB | kernel launches/step | GFLOP/step | TFLOP/s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for (p, b, m), r in ours.items():
        if "error" in r:
            lines.append("| %s | %d | %s | error: %s | | | | | |" % (p, b, m, r["error"]))
            continue
        launches = r.get("kernel_launches")
        launches = "%d (+%d copies)" % (launches, r.get("copy_nodes") or 0) if launches is not None else r.get("launches_note", "n/a")
        lines.append("| %s | %d | %s | %.3f | %.0f | %.1f | %s | %.2f | %.2f |" % (
            p, b, m, r["ms_per_step"], r["images_per_s"], r["peak_mib"], launches, r["step_gflop"], r["tflops"]))
    lines.append("")

# ---- PyTorch baseline: accept a list of rows or {"results"|"rows": [...]}, tolerant of key names
pt = load("pytorch.json")
if isinstance(pt, dict):
    pt = pt.get("results") or pt.get("rows") or []
torch_ms = {}
for r in pt or []:
    if not isinstance(r, dict):
        continue
    ms = next((r[k] for k in ("ms_per_step", "ms/step", "ms", "step_ms") if isinstance(r.get(k), (int, float))), None)
    try:
        torch_ms[(r.get("preset"), int(r.get("batch", r.get("batch_size", 0))), r.get("mode"))] = ms
    except (TypeError, ValueError):
        pass

def ms_of(key):
    r = ours.get(key)
    return r.get("ms_per_step") if r and "error" not in r else None

table = ["| preset | batch | ours ms/step (synthetic) | ours ms/step (real data) | PyTorch eager | PyTorch compiled "
         "| eager / ours | compiled / ours | roofline floor ms | ours / floor | target |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
for p in ("dcgan", "keras"):
    for b in (64, 256):
        syn, real = ms_of((p, b, "synthetic")), ms_of((p, b, "real"))
        eager, comp = torch_ms.get((p, b, "eager")), torch_ms.get((p, b, "compiled"))
        ref = syn if syn is not None else real
        floor = next((r.get("roofline_floor_ms") for k, r in ours.items() if k[:2] == (p, b) and "error" not in r), None)
        re_ = eager / ref if eager and ref else None
        rc_ = comp / ref if comp and ref else None
        rf = ref / floor if ref and floor else None
        target = ""
        if (p, b) == ("dcgan", 64):
            ok = re_ is not None and rc_ is not None and re_ >= 5 and rc_ > 1
            target = ">= 5x eager and ahead of compiled: " + ("met" if ok else "missed" if re_ is not None else "n/a")
        elif (p, b) == ("keras", 256):
            target = "<= 2x roofline floor: " + ("n/a" if rf is None else "met" if rf <= 2 else "missed")
        table.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p, b, fmt(syn), fmt(real), fmt(eager), fmt(comp), fmt(re_, ".2f"), fmt(rc_, ".2f"),
            fmt(floor), fmt(rf, ".2f"), target))
lines += ["Ratios use our synthetic-data step (eager / ours > 1: we are faster); "
          "the floor is the step's FLOPs over the peak FP32 TFLOP/s (%s TFLOP/s, %s)." % (
              fmt(gb.get("peak_tflops"), ".1f"), gb.get("peak_source", "n/a")), ""] + table

text = "\n".join(lines) + "\n"
with open(os.path.join(out_dir, "summary.md"), "w") as f:
    f.write(text)
if update_readme:
    with open(readme) as f:
        doc = f.read()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin) + len(begin)] + "\n" + text + doc[doc.index(end):]
        with open(readme, "w") as f:
            f.write(doc)
        print("gpu_bench: results written into %s" % readme, file=sys.stderr)
    else:
        print("gpu_bench: %s has no results markers; not updated" % readme, file=sys.stderr)
print()
print("==================== gpu_bench summary (also %s) ====================" % os.path.join(out_dir, "summary.md"))
print(text, end="")
PY
exit "$failed"
