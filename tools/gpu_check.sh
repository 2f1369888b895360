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
if command -v nvidia-smi >/dev/null 2>&1 &&
   gpu_line="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1)" &&
   [[ -n "$gpu_line" ]]; then
  gpu="${gpu_line/, /, driver }"; has_gpu=1
fi
cuda_home="${CUDA_HOME:-${CUDA_PATH:-/usr/local/cuda}}"
if ! command -v nvcc >/dev/null 2>&1 && [[ -x "$cuda_home/bin/nvcc" ]]; then
  export PATH="$cuda_home/bin:$PATH"
fi
if command -v nvcc >/dev/null 2>&1; then
  cuda_home="$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)"
  toolkit="nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
elif [[ $has_gpu -eq 1 ]]; then
  nn_die "a GPU is present but nvcc is not (set CUDA_HOME to the CUDA toolkit)"
else
  nn_log "no nvcc: building the CPU-only engine"
fi

[[ -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" ]] ||
  nn_die "$NN_DEPS_DIR has no GoogleTest sources: run tools/fetch_gpu_deps.sh on a Debian machine and carry .deps along"

# ------------------------------------------------------------------ cuDNN and cuBLAS wheels
# PyTorch's pip wheels put cuDNN (and maybe cuBLAS) under site-packages/nvidia/...; `nvidia`
# is a namespace package, so search its folders rather than trusting a module's __file__.
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
    nn_log "nvidia wheels found by $py"
    break
  fi
done
wheel() { awk -v n="$1" -v f="$2" '$1 == n {print $f}' <<<"$wheel_info"; }
prepend_lib() { export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; }

# The toolkit's own libraries last in the search order (prepended first), so the wheel's cuDNN
# (and cuBLAS, when taken from a wheel) is the one loaded, matching the headers compiled against.
if [[ "$toolkit" != none && -d "$cuda_home/lib64" ]]; then prepend_lib "$cuda_home/lib64"; fi
cmake_args=(-DNN_DEPS_DIR="$NN_DEPS_DIR" -DCMAKE_CUDA_ARCHITECTURES="$archs"
            -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON)
if [[ -z "${CUDNN_ROOT:-}" && -n "$(wheel cudnn 2)" ]]; then
  CUDNN_ROOT="$(wheel cudnn 2)"
  export CUDNN_ROOT
fi
if [[ -n "${CUDNN_ROOT:-}" ]]; then
  cmake_args+=(-DCUDNN_ROOT="$CUDNN_ROOT")
  # Name the header and library outright: CMake's find_library tries each name in every folder
  # before the next name, so a toolkit's libcudnn.so would win over the wheel's libcudnn.so.9
  # and pair the wheel's headers with another cuDNN.
  cudnn_lib="$(compgen -G "$CUDNN_ROOT/lib*/libcudnn.so*" | sort | head -n1 || true)"
  if [[ -f "$CUDNN_ROOT/include/cudnn.h" && -n "$cudnn_lib" ]]; then
    cmake_args+=(-DCUDNN_INCLUDE_DIR="$CUDNN_ROOT/include" -DCUDNN_LIBRARY="$cudnn_lib")
  fi
  if [[ -d "$CUDNN_ROOT/lib64" ]]; then prepend_lib "$CUDNN_ROOT/lib64"; fi
  if [[ -d "$CUDNN_ROOT/lib" ]]; then prepend_lib "$CUDNN_ROOT/lib"; fi
fi
# cuBLAS normally comes with the toolkit; only when it does not, take the wheel's.
if [[ "$toolkit" != none ]] && ! compgen -G "$cuda_home/lib*/libcublas.so*" >/dev/null &&
   ! compgen -G "$cuda_home/targets/*/lib/libcublas.so*" >/dev/null; then
  cublas_root="$(wheel cublas 2)"; cublas_lib="$(wheel cublas 3)"
  [[ -n "$cublas_root" ]] || nn_die "the toolkit has no cuBLAS and no nvidia cuBLAS wheel was found"
  nn_log "cuBLAS from the wheel: $cublas_lib"
  lib="$(compgen -G "$cublas_lib/libcublas.so*" | head -n1)"
  lib_lt="$(compgen -G "$cublas_lib/libcublasLt.so*" | head -n1)"
  cmake_args+=(-DCUDA_cublas_LIBRARY="$lib" -DCUDA_cublasLt_LIBRARY="$lib_lt")
  export CXXFLAGS="${CXXFLAGS:-} -isystem $cublas_root/include"
  export CUDAFLAGS="${CUDAFLAGS:-} -isystem $cublas_root/include"
  prepend_lib "$cublas_lib"
fi

# ------------------------------------------------------------------ Google Benchmark
# Built from .deps' sources into the build folder, once; the engine's CMake then finds it with
# find_package(benchmark). Benchmarks are optional here, so a failure only warns.
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
    nn_log "warning: Google Benchmark did not build (see $out_dir/benchmark-build.log); benchmarks may be skipped"
  fi
fi
cmake_args+=(-DCMAKE_PREFIX_PATH="$prefix_path")

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
