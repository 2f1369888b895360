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

# nn_fetch_data: make sure data/cifar-100-binary holds the checked CIFAR-100 files. The fetch
# script is idempotent: with both files present and their md5 sums right it only says so
# (about half a second), so a missing test.bin or a corrupt file is caught every time.
nn_fetch_data() {
  bash tools/fetch_cifar100.sh
}
