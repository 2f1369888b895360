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
# (cuDNN) and .deps/ (tools/fetch_gpu_deps.sh: Google Benchmark and GoogleTest sources), or
# gpu-bundle/deps (tools/gpu_bundle.sh). Without
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
# shellcheck source=SCRIPTDIR/gpu_env.sh
source "$(dirname "$0")/gpu_env.sh"

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
# tools/gpu_bundle.sh's folder serves as .deps when .deps has no GoogleTest sources.
bundle="${NN_GPU_BUNDLE:-gpu-bundle}"
if [[ ! -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" && -f "$bundle/deps/usr/src/googletest/CMakeLists.txt" ]]; then
  NN_DEPS_DIR="$bundle/deps"
fi
if [[ -d "$NN_DEPS_DIR" ]]; then NN_DEPS_DIR="$(cd "$NN_DEPS_DIR" && pwd)"; fi
failed=0

# ------------------------------------------------------------------ the GPU and the toolkit
nn_gpu_detect
nn_log "GPU: $gpu; toolkit: $toolkit"

# ------------------------------------------------------------------ cuDNN, cuBLAS, Google Benchmark (as gpu_check.sh)
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DNN_DEPS_DIR="$NN_DEPS_DIR" -DCMAKE_CUDA_ARCHITECTURES="$archs")
if [[ -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" ]]; then
  cmake_args+=(-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON)   # the same options as gpu_check.sh
elif ! compgen -G "/usr/lib/*/cmake/GTest/GTestConfig.cmake" >/dev/null && ! compgen -G "/usr/lib/cmake/GTest/*" >/dev/null; then
  cmake_args+=(-DNN_BUILD_TESTS=OFF)                     # no GoogleTest anywhere: benchmarks only
fi
# tools/gpu_env.sh; lenient: a toolkit without cuBLAS and no wheel with it is left to the build.
nn_gpu_libs lenient
nn_gpu_benchmark "$build_dir" "$out_dir" "$jobs"

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

# FID and IS of 10,000 images, stage by stage (bench/bench_fid.cpp; random weights: same time).
if grep -q "bench: Google Benchmark .* found" "$out_dir/build.log" &&
   cmake --build "$build_dir" --parallel "$jobs" --target bench_fid >>"$out_dir/build.log" 2>&1; then
  nn_log "running bench_fid (results: $out_dir/bench_fid.txt)"
  set +e
  # shellcheck disable=SC2086
  "$build_dir/bench/bench_fid" ${BENCH_FID_ARGS:-} 2>&1 | tee "$out_dir/bench_fid.txt"
  rc=${PIPESTATUS[0]}
  set -e
  if grep -q "^skipped:" "$out_dir/bench_fid.txt"; then status+=("bench_fid: $(head -n1 "$out_dir/bench_fid.txt")")
  elif [[ $rc -ne 0 ]]; then failed=1; status+=("bench_fid: FAILED (exit $rc)")
  else status+=("bench_fid: ran ($(grep -m1 '^| total' "$out_dir/bench_fid.txt" | tr -s ' '))"); fi
else
  status+=("bench_fid: skipped: not built (see $out_dir/build.log)")
fi

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
    ms = next((r[k] for k in ("ms_median", "ms_per_step", "ms/step", "ms") if isinstance(r.get(k), (int, float))), None)
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
