#!/usr/bin/env bash
# tools/build.sh: configure and build the engine (Release, all cores), the step shared by
# tools/test.sh, tools/train.sh and tools/gpu_check.sh.
#
# Usage: tools/build.sh [extra cmake -D options...]
#   BUILD_DIR=build   the build folder (default build/)
#   NN_JOBS=N         parallel jobs (default: all cores)
# Examples:
#   tools/build.sh -DNN_CUDA=OFF                       # CPU-only engine
#   BUILD_DIR=build-a100 tools/build.sh -DCMAKE_CUDA_ARCHITECTURES=80
# A new folder is configured with Ninja when it is installed; an existing folder keeps the
# generator it was configured with. Extra options are applied on every call.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

build_dir="${BUILD_DIR:-build}"
generator=()
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi

cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build_dir" --parallel "$(nn_jobs)"
