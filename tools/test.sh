#!/usr/bin/env bash
# tools/test.sh: set up, build, and run the whole test suite; exits non-zero on any failure.
# This is the README's test command, and what CI runs (.ci/run).
#
# Usage: tools/test.sh [ctest options...]
#   tools/test.sh                    # everything
#   tools/test.sh -R Gradcheck       # only the gradient checks
#   BUILD_DIR=build-cpu NN_CMAKE_ARGS="-DNN_CUDA=OFF" tools/test.sh   # CPU-only engine
# Without a GPU the CUDA tests report as skipped; ctest's last lines say how many passed,
# failed and were skipped.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

bash tools/setup.sh
# NN_CMAKE_ARGS: extra cmake options for the build, split on spaces.
# shellcheck disable=SC2086
bash tools/build.sh ${NN_CMAKE_ARGS:-}
# Tests that read real CIFAR-100 images need the data. Without it (no archive, no network) they
# skip and say why; in CI (CI=true) a failed fetch is an error, so they never skip there.
if ! nn_fetch_data; then
  if [[ "${CI:-}" == "true" ]]; then nn_die "CIFAR-100 could not be fetched (CI needs ../shared/cifar-100-binary.tar.gz)"; fi
  nn_log "warning: CIFAR-100 could not be fetched; the tests that need it will be skipped"
fi

# ctest runs nn_jobs tests at once; each would start an OpenMP thread per core, so the cores
# would be oversubscribed (and spinning OpenMP threads slow each other down badly). Share them
# out instead, with a passive wait, unless the caller set these.
jobs="$(nn_jobs)"
cores="$(nproc 2>/dev/null || echo "$jobs")"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( cores / jobs > 0 ? cores / jobs : 1 ))}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --no-tests=error \
  --parallel "$jobs" "$@"
