#!/usr/bin/env bash
# tools/setup.sh: make sure every tool and library the build needs is installed.
#
# Usage: tools/setup.sh            (called by tools/test.sh and tools/train.sh)
#
# It checks each dependency and, on Debian/Ubuntu, apt-get installs only what is missing
# (one `apt-get update` first, and only then). With everything present it prints one line
# and changes nothing, so it is cheap to call every time.
#   * Not root and something missing: uses `sudo -n` when that works, otherwise prints the
#     apt-get command to run and exits 1.
#   * No apt-get (the lent GPU machine): header-only libraries and GoogleTest's sources may
#     come from .deps/ (tools/fetch_gpu_deps.sh); it says what is still missing.
# Set NN_SKIP_SETUP=1 to skip every check (a machine with apt-get but no network).
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

if [[ "${NN_SKIP_SETUP:-0}" == 1 ]]; then
  nn_log "NN_SKIP_SETUP=1: skipping the dependency check"
  exit 0
fi

have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_header() { [[ -f "/usr/include/$1" || -f "/usr/local/include/$1" ]]; }
deps_header() { [[ -f "$NN_DEPS_DIR/usr/include/$1" ]]; }

missing=()       # Debian packages to install
deps_used=()     # satisfied from .deps instead of the system
optional=()      # missing but not needed to build and test (benchmarks)

check_cmd() {    # check_cmd COMMAND PACKAGE
  have_cmd "$1" || missing+=("$2")
}
check_header() { # check_header HEADER PACKAGE: header-only libraries, system or .deps
  if have_header "$1"; then return; fi
  if deps_header "$1"; then deps_used+=("$2"); return; fi
  missing+=("$2")
}

check_cmd cmake cmake
check_cmd g++ g++
have_cmd ninja || have_cmd make || missing+=(ninja-build)
check_cmd python3 python3
check_cmd clang++ clang   # the fuzz harnesses (tools/fuzz.sh: libFuzzer is clang's)
# GoogleTest: Debian's prebuilt libgtest-dev, or its sources unpacked into .deps.
if have_header gtest/gtest.h; then :
elif [[ -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" ]]; then deps_used+=(googletest)
else missing+=(libgtest-dev)
fi
check_header stb/stb_image_write.h libstb-dev
check_header CLI/CLI.hpp libcli11-dev
check_header nlohmann/json.hpp nlohmann-json3-dev
check_header xxhash.h libxxhash-dev   # the checkpoints' checksums, header-only (src/io/checksum.h)
have_header benchmark/benchmark.h || missing+=(libbenchmark-dev)
# Libraries by file: have_lib NAME (a glob) under /usr/lib, /usr/lib/<multiarch>, /usr/local/lib.
have_lib() { compgen -G "/usr/lib/$1" >/dev/null || compgen -G "/usr/lib/*-linux-gnu/$1" >/dev/null ||
             compgen -G "/usr/local/lib/$1" >/dev/null; }
# OpenBLAS, its OpenMP build: the CPU path's matrix products (linear layers, convolutions as
# im2col + GEMM, the FID) and its LAPACK (dsyevd, the FID's eigendecompositions). The OpenMP
# build shares the engine's OpenMP threads instead of starting a second pool. Required: without
# it the CPU path falls back to its reference loops, about 10x slower.
have_header "$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp/cblas.h" ||
  missing+=(libopenblas-openmp-dev)
# oneDNN: the CPU path's float32 convolutions (the library PyTorch runs its own on; OpenMP too).
have_header oneapi/dnnl/dnnl.hpp || missing+=(libdnnl-dev)
speedups=()

# CMakeLists.txt requires CMake 3.24; say so here rather than in a configure error.
if have_cmd cmake; then
  cmake_version="$(cmake --version | head -n1 | awk '{print $3}')"
  if [[ "$(printf '%s\n' 3.24 "$cmake_version" | sort -V | head -n1)" != 3.24 ]]; then
    nn_die "CMake $cmake_version is too old: the build needs CMake >= 3.24"
  fi
fi

summary="cmake ${cmake_version:-?}, $(have_cmd ninja && echo ninja || echo make)"
if [[ ${#deps_used[@]} -gt 0 ]]; then summary+=", from .deps: ${deps_used[*]}"; fi

# Speed-ups (OpenBLAS) are tried on their own, as root or with passwordless sudo, and only warn.
try_speedups() {
  [[ ${#speedups[@]} -gt 0 ]] && have_cmd apt-get || return 0
  local sudo_try=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if have_cmd sudo && sudo -n true 2>/dev/null; then sudo_try=(sudo -n); else
      nn_log "optional, not installed: ${speedups[*]} (faster FID on the CPU; apt-get install ${speedups[*]})"
      return 0
    fi
  fi
  if DEBIAN_FRONTEND=noninteractive "${sudo_try[@]}" apt-get install -y -qq --no-install-recommends "${speedups[@]}" \
      >/dev/null 2>&1 </dev/null ||
     { "${sudo_try[@]}" apt-get update -qq >/dev/null 2>&1 &&
       DEBIAN_FRONTEND=noninteractive "${sudo_try[@]}" apt-get install -y -qq --no-install-recommends "${speedups[@]}" \
         >/dev/null 2>&1 </dev/null; }; then
    nn_log "installed ${speedups[*]}"
  else
    nn_log "warning: could not install ${speedups[*]} (optional: a faster FID on the CPU); continuing"
  fi
}

if [[ ${#missing[@]} -eq 0 ]]; then
  try_speedups
  nn_log "all dependencies present ($summary)"
  exit 0
fi

if ! have_cmd apt-get; then
  # Not Debian-like (the lent GPU machine): nothing can be installed from here. Google
  # Benchmark is optional there (tools/gpu_check.sh builds it from .deps sources), and so is
  # LAPACK (the CUDA build's FID uses cuSOLVER).
  required=()
  for pkg in "${missing[@]}"; do
    if [[ "$pkg" == libbenchmark-dev || "$pkg" == liblapack-dev || "$pkg" == clang ]]; then
      optional+=("$pkg")
    else
      required+=("$pkg")
    fi
  done
  if [[ ${#required[@]} -gt 0 ]]; then
    nn_die "no apt-get here and missing: ${required[*]} (run tools/fetch_gpu_deps.sh on a Debian machine and bring .deps/ along)"
  fi
  nn_log "no apt-get here; using what is present ($summary)${optional[*]:+; optional and missing: ${optional[*]} (without Google Benchmark the benchmarks may not build; without LAPACK the FID runs on the GPU only; without clang no fuzzing)}"
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  if have_cmd sudo && sudo -n true 2>/dev/null; then
    sudo_cmd=(sudo -n)
  else
    nn_die "missing ${missing[*]}; as root run: apt-get update && apt-get install -y ${missing[*]}"
  fi
fi

nn_log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! "${sudo_cmd[@]}" apt-get update -qq >"$log" 2>&1; then
  nn_log "warning: apt-get update reported errors (continuing):"; tail -n 5 "$log" >&2
fi
if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 </dev/null; then
  tail -n 20 "$log" >&2
  nn_die "apt-get install ${missing[*]} failed"
fi
nn_log "installed ${missing[*]}"
try_speedups

