# shellcheck shell=bash
# tools/gpu_env.sh: the GPU-machine environment shared by tools/gpu_check.sh and
# tools/gpu_bench.sh. Source it after tools/common.sh (it uses nn_log and nn_die); sourcing it
# only defines functions, the caller runs them in order:
#   source "$(dirname "$0")/gpu_env.sh"
#   nn_gpu_detect                      # sets gpu, has_gpu, cuda_home, toolkit (PATH gets nvcc)
#   cmake_args=(...)                   # the caller's own first options
#   nn_gpu_libs strict|lenient         # cuDNN / cuBLAS: appends to cmake_args, sets LD_LIBRARY_PATH
#                                      # (and names versioned-only CUDA libraries: nn_versioned_cuda_libs)
#   nn_gpu_benchmark BUILD_DIR OUT_DIR JOBS   # appends -DCMAKE_PREFIX_PATH to cmake_args
#
# Why: the GPU machine has the CUDA toolkit and PyTorch's pip wheels (nvidia-cudnn-*, maybe
# nvidia-cublas-*) but no Debian -dev packages and no internet. So cuDNN (and cuBLAS, when the
# toolkit lacks it) is taken from the wheels, named outright to CMake and put on
# LD_LIBRARY_PATH, and Google Benchmark is built from .deps' sources (tools/fetch_gpu_deps.sh)
# into the build folder. Both scripts pass the same options, so they can share one build folder.
# On a machine without a GPU (or without nvcc) every step still runs and finds less.

# nn_gpu_detect: sets gpu ("name, driver N" or "none"), has_gpu (0/1), toolkit ("nvcc X.Y" or
# "none") and cuda_home (the toolkit's folder: CUDA_HOME, CUDA_PATH, /usr/local/cuda, or where
# nvcc is); puts $cuda_home/bin on PATH when nvcc is not on it already.
# shellcheck disable=SC2034  # gpu and has_gpu are for the caller
nn_gpu_detect() {
  local gpu_line
  gpu="none"; has_gpu=0
  if command -v nvidia-smi >/dev/null 2>&1 &&
     gpu_line="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1)" &&
     [[ -n "$gpu_line" ]]; then
    gpu="${gpu_line/, /, driver }"; has_gpu=1
  fi
  cuda_home="${CUDA_HOME:-${CUDA_PATH:-/usr/local/cuda}}"
  if ! command -v nvcc >/dev/null 2>&1 && [[ -x "$cuda_home/bin/nvcc" ]]; then
    export PATH="$cuda_home/bin:$PATH"
  fi
  toolkit=none
  if command -v nvcc >/dev/null 2>&1; then
    cuda_home="$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)"
    toolkit="nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  fi
}

# PyTorch's pip wheels put cuDNN (and maybe cuBLAS) under site-packages/nvidia/...; `nvidia`
# is a namespace package, so search its folders rather than trusting a module's __file__.
# Prints one line per library found: NAME ROOT LIBDIR.
nn_wheel_probe='
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
print("roots", " ".join(roots))
for name, header, lib in (("cudnn", "cudnn.h", "libcudnn.so*"), ("cublas", "cublas_v2.h", "libcublas.so*")):
    h, l = first("**/include/" + header), first("**/lib/" + lib)
    if h and l:
        print(name, os.path.dirname(os.path.dirname(h)), os.path.dirname(l))
'

# nn_find_wheels: sets wheel_info from the first of $PYTHON, python3, /opt/torch/.venv/bin/python3
# whose site-packages hold nvidia wheels ("" when none does).
nn_find_wheels() {
  local py
  wheel_info=""
  for py in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && wheel_info="$("$py" -c "$nn_wheel_probe" 2>/dev/null)" &&
       grep -q '^cudnn ' <<<"$wheel_info"; then
      wheel_root_dirs="$(awk '$1 == "roots" {$1 = ""; print}' <<<"$wheel_info")"
      nn_log "nvidia wheels found by $py"
      return 0
    fi
  done
  wheel_info=""; wheel_root_dirs=""
}

# wheel NAME FIELD: field 2 (root) or 3 (library folder) of wheel NAME (cudnn, cublas), or "".
wheel() { awk -v n="$1" -v f="$2" '$1 == n {print $f}' <<<"$wheel_info"; }

# prepend_lib DIR: put DIR first on LD_LIBRARY_PATH.
prepend_lib() { export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; }
# append_lib DIR: put DIR last on LD_LIBRARY_PATH unless it is there already (so it never goes
# ahead of cuDNN's folder).
append_lib() {
  case ":${LD_LIBRARY_PATH:-}:" in *":$1:"*) return 0 ;; esac
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$1"
}

# nn_gpu_libs strict|lenient: cuDNN (CUDNN_ROOT, default: the wheel's) and, only when the
# toolkit has none, cuBLAS from the wheel. Appends their -D options to the caller's cmake_args,
# exports CUDNN_ROOT (and CXXFLAGS/CUDAFLAGS for a wheel's cuBLAS) and sets LD_LIBRARY_PATH.
# Needs nn_gpu_detect first. strict: die when the toolkit has no cuBLAS and no wheel has one
# (gpu_check); lenient: go on without (gpu_bench: the build then reports what is missing).
nn_gpu_libs() {
  local mode="$1" cudnn_lib cublas_root cublas_lib lib lib_lt
  nn_find_wheels
  # The toolkit's own libraries last in the search order (prepended first), so the wheel's
  # cuDNN (and cuBLAS, when taken from a wheel) is the one loaded, matching the headers
  # compiled against.
  if [[ "$toolkit" != none && -d "$cuda_home/lib64" ]]; then prepend_lib "$cuda_home/lib64"; fi
  if [[ -z "${CUDNN_ROOT:-}" && -n "$(wheel cudnn 2)" ]]; then
    CUDNN_ROOT="$(wheel cudnn 2)"
    export CUDNN_ROOT
  fi
  if [[ -n "${CUDNN_ROOT:-}" ]]; then
    cmake_args+=(-DCUDNN_ROOT="$CUDNN_ROOT")
    # Name the header and library outright: CMake's find_library tries each name in every
    # folder before the next name, so a toolkit's libcudnn.so would win over the wheel's
    # libcudnn.so.9 and pair the wheel's headers with another cuDNN.
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
    if [[ -z "$cublas_root" ]]; then
      [[ "$mode" == strict ]] && nn_die "the toolkit has no cuBLAS and no nvidia cuBLAS wheel was found"
      return 0
    fi
    nn_log "cuBLAS from the wheel: $cublas_lib"
    lib="$(compgen -G "$cublas_lib/libcublas.so*" | head -n1)" ||
      [[ "$mode" != strict ]] || nn_die "no libcublas.so in $cublas_lib"
    lib_lt="$(compgen -G "$cublas_lib/libcublasLt.so*" | head -n1)" ||
      [[ "$mode" != strict ]] || nn_die "no libcublasLt.so in $cublas_lib"
    cmake_args+=(-DCUDA_cublas_LIBRARY="$lib" -DCUDA_cublasLt_LIBRARY="$lib_lt")
    export CXXFLAGS="${CXXFLAGS:-} -isystem $cublas_root/include"
    export CUDAFLAGS="${CUDAFLAGS:-} -isystem $cublas_root/include"
    prepend_lib "$cublas_lib"
  fi
  # Libraries present only under versioned names: name them to CMake (see nn_versioned_cuda_libs).
  if [[ "$toolkit" != none ]]; then
    local opt dirs
    mapfile -t dirs < <(nn_cuda_lib_dirs)
    while IFS= read -r opt; do
      [[ -n "$opt" ]] || continue
      case "$opt" in -DCUDA_cublas_LIBRARY=*|-DCUDA_cublasLt_LIBRARY=*)
        # already named above when cuBLAS came from a wheel
        [[ " ${cmake_args[*]} " == *" ${opt%%=*}="* ]] && continue ;;
      esac
      nn_log "versioned-only library: $opt"
      cmake_args+=("$opt")
      append_lib "$(dirname "${opt#*=}")"
    done < <(nn_versioned_cuda_libs "${dirs[@]}")
  fi
}

# nn_versioned_cuda_libs DIR...: one CMake option per line for each CUDA library the engine
# links (the runtime, cuBLAS and cuBLASLt, cuSOLVER with its cuSPARSE and nvJitLink) that has a
# versioned file (libcublas.so.13) but no unversioned one (libcublas.so) in any of DIRs, as a
# toolkit assembled from pip wheels has. FindCUDAToolkit looks for the unversioned names only, so
# without these options it fails on the runtime, or leaves out CUDA::cublas, or silently drops
# CUDA::cusolver (and with it the FID on the GPU). The option names the file outright:
#   -DCUDA_cublas_LIBRARY=/dir/libcublas.so.13
# (the runtime also as -DCUDA_CUDART=, FindCUDAToolkit's first probe). Of several versioned files
# the shortest name wins (libcublas.so.13 over libcublas.so.13.1.0.3: the soname link).
# Tested by tests/test_gpu_env.sh (ctest Shell.GpuEnvVersionedLibraries).
nn_versioned_cuda_libs() {
  local name dir unversioned versioned hit
  for name in cudart cublas cublasLt cusolver cusparse nvJitLink; do
    unversioned=0; versioned=""
    for dir in "$@"; do
      [[ -d "$dir" ]] || continue
      if [[ -e "$dir/lib$name.so" ]]; then unversioned=1; break; fi
      if [[ -z "$versioned" ]]; then
        hit="$(compgen -G "$dir/lib$name.so.[0-9]*" | awk '{print length($0), $0}' | sort -n | head -n1 | cut -d' ' -f2- || true)"
        versioned="$hit"
      fi
    done
    [[ $unversioned -eq 0 && -n "$versioned" ]] || continue
    if [[ $name == cudart ]]; then echo "-DCUDA_CUDART=$versioned"; fi
    echo "-DCUDA_${name}_LIBRARY=$versioned"
  done
}

# nn_cuda_lib_dirs: the folders the toolkit's libraries may be in (lib64, lib, targets/*/lib) and
# the nvidia wheels' lib folders (nvidia/*/lib), one per line.
nn_cuda_lib_dirs() {
  local d
  for d in "$cuda_home/lib64" "$cuda_home/lib" "$cuda_home"/targets/*/lib; do
    [[ -d "$d" ]] && echo "$d"
  done
  if [[ -n "${wheel_root_dirs:-}" ]]; then
    for d in $wheel_root_dirs; do
      compgen -G "$d/*/lib" || true
    done
  fi
}

# nn_gpu_benchmark BUILD_DIR OUT_DIR JOBS: Google Benchmark, built from .deps' sources into
# BUILD_DIR/deps-benchmark once (log: OUT_DIR/benchmark-build.log); the engine's CMake then finds
# it with find_package(benchmark). Appends -DCMAKE_PREFIX_PATH to cmake_args. Benchmarks are
# optional to the engine's build, so a failure only warns.
nn_gpu_benchmark() {
  local build_dir="$1" out_dir="$2" jobs="$3"
  local bench_prefix="$1/deps-benchmark" prefix_path="$NN_DEPS_DIR/usr" generator=()
  if [[ -f "$bench_prefix/.done" ]]; then
    prefix_path="$bench_prefix;$prefix_path"
  elif [[ -f "$NN_DEPS_DIR/usr/src/benchmark/CMakeLists.txt" ]]; then
    nn_log "building Google Benchmark from $NN_DEPS_DIR/usr/src/benchmark"
    if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
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
}
