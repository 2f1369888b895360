# shellcheck shell=bash
# tools/common.sh: helpers shared by the shell entry points (setup, build, test, train,
# gpu_check). Source it, do not run it:
#   source "$(dirname "$0")/common.sh"
# It moves to the repository root, so every script works from any directory.

NN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$NN_ROOT" || exit 1

# Where tools/fetch_gpu_deps.sh unpacks dependencies (same default as CMake's NN_DEPS_DIR).
NN_DEPS_DIR="${NN_DEPS_DIR:-$NN_ROOT/.deps}"

# nn_log MSG...: one line on stderr, prefixed with the calling script's name.
nn_log() { echo "$(basename "$0" .sh): $*" >&2; }

# nn_die MSG...: one clear line, then exit 1.
nn_die() { nn_log "error: $*"; exit 1; }

# nn_jobs: how many parallel jobs to build and test with (all cores, or $NN_JOBS).
nn_jobs() { echo "${NN_JOBS:-$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}"; }

# nn_fetch_data: unpack CIFAR-100 into data/ when the fetch script exists and the data is not
# there yet (tools/fetch_cifar100.sh lands with the trainer issue).
nn_fetch_data() {
  if [[ -f tools/fetch_cifar100.sh && ! -f data/cifar-100-binary/train.bin ]]; then
    bash tools/fetch_cifar100.sh
  fi
}
