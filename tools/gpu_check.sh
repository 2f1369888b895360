#!/usr/bin/env bash
# tools/gpu_check.sh: one command for a GPU machine: build the CUDA engine, run the whole test
# suite, run compute-sanitizer (memcheck) over the CUDA tests, and print a short summary last.
#
# Usage: bash tools/gpu_check.sh [extra cmake -D options...]
#
# Made for a machine with the CUDA toolkit and PyTorch's pip wheels (cuDNN, cuBLAS) but no
# internet and no Debian -dev packages: everything else comes from the working tree and
# .deps/ (run tools/fetch_gpu_deps.sh on a Debian machine first and carry .deps along).
# It never installs anything and never touches the network. It uses the same dependencies on
# every machine (.deps' GoogleTest and Benchmark sources, even where Debian's are installed),
# so running it on a machine without a GPU is a faithful rehearsal: the CUDA tests skip and
# memcheck is skipped with a message.
#
# Environment:
#   BUILD_DIR=build-gpu            build folder
#   OUT=dir                        also where the logs go (default: the build folder):
#                                  build.log ctest.log ctest-junit.xml memcheck.log summary.txt
#   NN_CUDA_ARCHS=90               CMAKE_CUDA_ARCHITECTURES (90 = Hopper: H100/H200)
#   CUDNN_ROOT=dir                 cuDNN (folder with include/ and lib/); default: the wheel
#   PYTHON=python3                 an interpreter whose site-packages hold the nvidia wheels
#                                  (default: python3, then /opt/torch/.venv/bin/python3)
#   NN_SANITIZER_FILTER=...        gtest filter for memcheck (default 'CudaParity.*:*Cuda*')
#   NN_SANITIZER_TIMEOUT=300       seconds before memcheck is stopped (counts as a failure)
#   NN_JOBS=N                      parallel build and test jobs (default: all cores)
# Exit status: 0 when the build, every test and memcheck pass; 1 otherwise.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=SCRIPTDIR/gpu_env.sh
source "$(dirname "$0")/gpu_env.sh"

build_dir="${BUILD_DIR:-build-gpu}"
mkdir -p "$build_dir"
build_dir="$(cd "$build_dir" && pwd)"
out_dir="${OUT:-$build_dir}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
archs="${NN_CUDA_ARCHS:-90}"
jobs="$(nn_jobs)"
if [[ -d "$NN_DEPS_DIR" ]]; then NN_DEPS_DIR="$(cd "$NN_DEPS_DIR" && pwd)"; fi

# ------------------------------------------------------------------ summary, printed last
gpu="none"; has_gpu=0
toolkit="none"; cudnn="not found"; backend="not built"
build_result="not run"; tests_result="not run"; memcheck_result="not run"
failed=0
start_s=$SECONDS
summary() {
  local rc=$1
  [[ $rc -ne 0 ]] && failed=1
  if [[ -f "$build_dir/CMakeCache.txt" ]]; then
    cudnn="$(sed -n 's/^CUDNN_LIBRARY:FILEPATH=//p' "$build_dir/CMakeCache.txt")"
    cudnn="${cudnn:-not searched}"
  fi
  {
    echo
    echo "==================== gpu_check summary ===================="
    echo "GPU:       $gpu"
    echo "toolkit:   $toolkit, archs $archs; cuDNN: $cudnn"
    echo "build:     $build_result (CUDA backend: $backend)"
    echo "tests:     $tests_result"
    echo "memcheck:  $memcheck_result"
    echo "logs:      $out_dir"
    echo "result:    $([[ $failed -eq 0 ]] && echo PASS || echo FAIL) in $((SECONDS - start_s)) s"
  } | tee "$out_dir/summary.txt"
  exit "$failed"
}
trap 'summary $?' EXIT

# ------------------------------------------------------------------ the GPU and the toolkit
nn_gpu_detect
if [[ "$toolkit" == none ]]; then
  [[ $has_gpu -eq 1 ]] && nn_die "a GPU is present but nvcc is not (set CUDA_HOME to the CUDA toolkit)"
  nn_log "no nvcc: building the CPU-only engine"
fi

[[ -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" ]] ||
  nn_die "$NN_DEPS_DIR has no GoogleTest sources: run tools/fetch_gpu_deps.sh on a Debian machine and carry .deps along"

# ------------------------------------------------------------------ cuDNN, cuBLAS, Google Benchmark
# tools/gpu_env.sh: cuDNN (and cuBLAS when the toolkit lacks it) from the nvidia wheels; a
# toolkit without cuBLAS and no wheel with it is an error here. Google Benchmark from .deps.
cmake_args=(-DNN_DEPS_DIR="$NN_DEPS_DIR" -DCMAKE_CUDA_ARCHITECTURES="$archs"
            -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON)
nn_gpu_libs strict
nn_gpu_benchmark "$build_dir" "$out_dir" "$jobs"

# ------------------------------------------------------------------ build
nn_log "building into $build_dir (log: $out_dir/build.log)"
build_s=$SECONDS
if ! BUILD_DIR="$build_dir" bash tools/build.sh "${cmake_args[@]}" "$@" >"$out_dir/build.log" 2>&1; then
  tail -n 40 "$out_dir/build.log" >&2
  build_result="FAILED (see build.log)"
  exit 1
fi
build_result="ok in $((SECONDS - build_s)) s"
if grep -q -- '-DNN_WITH_CUDA=1' "$build_dir/compile_commands.json" 2>/dev/null; then
  backend="ON"
elif [[ $has_gpu -eq 1 ]]; then
  backend="OFF"
  nn_die "a GPU is present but the CUDA backend was not built (no cuDNN or nvcc? see build.log)"
else
  backend="OFF"
fi

# ------------------------------------------------------------------ tests
nn_log "running the test suite (log: $out_dir/ctest.log)"
set +e
(cd "$build_dir" && ctest --output-on-failure --no-tests=error --parallel "$jobs" \
   --output-junit "$out_dir/ctest-junit.xml") >"$out_dir/ctest.log" 2>&1
ctest_rc=$?
set -e
# Show what went wrong (failing tests' output, the FAILED list), not the passing and skipped lines.
awk '/^The following tests did not run:/ {skip = 1; next}
     skip && /^\t/ {next}
     {skip = 0}
     /^ *Start +[0-9]+:|Test +#[0-9]+: .*(Passed|Skipped)|^Test project|^ *$/ {next}
     {print}' "$out_dir/ctest.log" | head -n 200 >&2 || true
count() {  # count ATTRIBUTE: a number from the <testsuite> element of ctest's JUnit file
  grep -oE "(^|[[:space:]])$1=\"[0-9]+\"" "$out_dir/ctest-junit.xml" 2>/dev/null | head -n1 | grep -oE '[0-9]+' || true
}
total="$(count tests)"; fails="$(count failures)"; skips="$(count skipped)"
if [[ -n "$total" ]]; then
  tests_result="$((total - ${fails:-0} - ${skips:-0})) passed, ${fails:-0} failed, ${skips:-0} skipped (of $total)"
else
  tests_result="$(grep -E 'tests passed|tests failed' "$out_dir/ctest.log" | tail -n1 || true)"
fi
if [[ $has_gpu -eq 1 && "${skips:-0}" -gt 0 ]]; then
  # With a GPU, a skipped CUDA test usually means the GPU was not usable: name them.
  skipped_names="$(sed -n 's/.*<testcase name="\([^"]*\)".*status="notrun".*/\1/p' "$out_dir/ctest-junit.xml" |
                   head -n 8 | paste -sd, - || true)"
  if [[ $skips -gt 8 ]]; then skipped_names+=", ..."; fi
  tests_result+="; skipped: $skipped_names"
fi
if [[ $ctest_rc -ne 0 ]]; then
  failed=1
  tests_result="FAILED: $tests_result"
fi

# ------------------------------------------------------------------ compute-sanitizer
if [[ $has_gpu -eq 0 ]]; then
  memcheck_result="skipped: no GPU on this machine"
  nn_log "no GPU: skipping compute-sanitizer"
elif [[ "$backend" != ON ]]; then
  memcheck_result="skipped: the CUDA backend was not built"
else
  sanitizer="$(command -v compute-sanitizer || true)"
  for c in "$cuda_home/bin/compute-sanitizer" "$cuda_home/compute-sanitizer/compute-sanitizer"; do
    [[ -z "$sanitizer" && -x "$c" ]] && sanitizer="$c"
  done
  filter="${NN_SANITIZER_FILTER:-CudaParity.*:*Cuda*}"
  timeout_s="${NN_SANITIZER_TIMEOUT:-300}"
  if [[ -z "$sanitizer" ]]; then
    failed=1
    memcheck_result="FAILED: compute-sanitizer not found (PATH, $cuda_home/bin)"
  else
    nn_log "compute-sanitizer memcheck over '$filter' (log: $out_dir/memcheck.log)"
    set +e
    timeout "$timeout_s" "$sanitizer" --tool memcheck --error-exitcode 1 \
      "$build_dir/nn_tests" --gtest_filter="$filter" >"$out_dir/memcheck.log" 2>&1
    san_rc=$?
    set -e
    errors="$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) error.*/\1/p' "$out_dir/memcheck.log" | tail -n1)"
    ran="$(sed -n 's/.*\[==========\] \([0-9]*\) tests\? from .* ran\..*/\1/p' "$out_dir/memcheck.log" | tail -n1)"
    gtest_failed="$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) tests\?, listed below.*/\1/p' "$out_dir/memcheck.log" | tail -n1)"
    memcheck_result="${errors:-?} errors over ${ran:-?} tests${gtest_failed:+ ($gtest_failed failed under memcheck)}"
    if [[ $san_rc -eq 124 ]]; then
      failed=1; memcheck_result="INCOMPLETE: stopped after ${timeout_s} s (NN_SANITIZER_TIMEOUT); $memcheck_result so far"
    elif [[ $san_rc -ne 0 ]]; then
      failed=1; memcheck_result="FAILED: $memcheck_result"
      grep -E '^========= (Invalid|Program hit|Error|  +at )' "$out_dir/memcheck.log" | head -n 30 >&2 || true
    fi
  fi
fi
