#!/usr/bin/env bash
# tests/test_gpu_env.sh (ctest Shell.GpuEnvVersionedLibraries): tools/gpu_env.sh's
# nn_versioned_cuda_libs on fake library folders. A toolkit assembled from pip wheels has
# libcublas.so.13 but no libcublas.so; FindCUDAToolkit then fails or drops the library, so the
# GPU check must name such files to CMake. Exits non-zero, saying what differs, on a mismatch.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# gpu_env.sh expects common.sh's helpers; it only defines functions when sourced.
# shellcheck source=../tools/common.sh
source "$root/tools/common.sh"
# shellcheck source=../tools/gpu_env.sh
source "$root/tools/gpu_env.sh"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/toolkit/lib64" "$tmp/wheels/cusolver/lib" "$tmp/empty"
# The runtime has both names (nothing to do); cuBLAS and cuBLASLt only versioned ones, two of
# them each (the shorter, the soname link, must win); cuSOLVER only in a wheel folder;
# cuSPARSE and nvJitLink nowhere (nothing to say: CMake reports them missing itself).
touch "$tmp/toolkit/lib64/libcudart.so" "$tmp/toolkit/lib64/libcudart.so.13" \
      "$tmp/toolkit/lib64/libcublas.so.13" "$tmp/toolkit/lib64/libcublas.so.13.1.0.3" \
      "$tmp/toolkit/lib64/libcublasLt.so.13.1.0.3" "$tmp/toolkit/lib64/libcublasLt.so.13" \
      "$tmp/wheels/cusolver/lib/libcusolver.so.12"
got="$(nn_versioned_cuda_libs "$tmp/empty" "$tmp/toolkit/lib64" "$tmp/wheels/cusolver/lib" "$tmp/missing")"
want="-DCUDA_cublas_LIBRARY=$tmp/toolkit/lib64/libcublas.so.13
-DCUDA_cublasLt_LIBRARY=$tmp/toolkit/lib64/libcublasLt.so.13
-DCUDA_cusolver_LIBRARY=$tmp/wheels/cusolver/lib/libcusolver.so.12"
fail=0
if [[ "$got" != "$want" ]]; then
  echo "FAIL: nn_versioned_cuda_libs printed"; echo "$got"; echo "expected"; echo "$want"; fail=1
fi

# A runtime with only a versioned name is named twice: FindCUDAToolkit probes CUDA_CUDART first.
rm "$tmp/toolkit/lib64/libcudart.so"
all="$(nn_versioned_cuda_libs "$tmp/toolkit/lib64")"; got="$(sed -n 1,2p <<<"$all")"
want="-DCUDA_CUDART=$tmp/toolkit/lib64/libcudart.so.13
-DCUDA_cudart_LIBRARY=$tmp/toolkit/lib64/libcudart.so.13"
if [[ "$got" != "$want" ]]; then
  echo "FAIL: versioned-only runtime gave"; echo "$got"; echo "expected"; echo "$want"; fail=1
fi

# An unversioned name in an earlier folder wins over a versioned one in a later folder.
touch "$tmp/empty/libcublas.so"
if [[ "$(nn_versioned_cuda_libs "$tmp/empty" "$tmp/toolkit/lib64")" == *CUDA_cublas_LIBRARY* ]]; then
  echo "FAIL: libcublas.so present, yet cuBLAS was named"; fail=1
fi

# append_lib never puts a folder ahead of what LD_LIBRARY_PATH has, and never twice.
LD_LIBRARY_PATH="/cudnn/lib:/toolkit/lib64"
append_lib /toolkit/lib64
append_lib /wheels/cusolver/lib
if [[ "$LD_LIBRARY_PATH" != "/cudnn/lib:/toolkit/lib64:/wheels/cusolver/lib" ]]; then
  echo "FAIL: LD_LIBRARY_PATH became $LD_LIBRARY_PATH"; fail=1
fi

if [[ $fail -eq 0 ]]; then echo "nn_versioned_cuda_libs: 4 checks passed"; fi
exit "$fail"
