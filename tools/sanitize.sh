#!/usr/bin/env bash
# tools/sanitize.sh: the CPU engine, its tools and its whole test suite built with
# AddressSanitizer + UndefinedBehaviorSanitizer (CMake option NN_SANITIZE), then the suite run.
# Any sanitizer report fails: UBSan aborts at the first one (-fno-sanitize-recover=all), ASan at
# its first error, and LeakSanitizer makes the process exit non-zero at the end. The binaries
# the tests run (gan_train, gan_sample, gan_eval) are the sanitized ones too. CI runs this.
#
# Usage: tools/sanitize.sh [ctest options...]      (BUILD_DIR, default build-asan)
# On 2 cores: about 6 minutes to build and 5 to run.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

build_dir="${BUILD_DIR:-build-asan}"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNN_SANITIZE=ON -DNN_CUDA=OFF \
  -DNN_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" --parallel "$(nn_jobs)"
nn_fetch_data || nn_log "warning: CIFAR-100 could not be fetched; the tests that need it will be skipped"

# allocator_may_return_null: an allocation too large to make is std::bad_alloc, as without ASan
# (the engine turns it into its out-of-memory error), not an ASan abort.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
jobs="$(nn_jobs)"
cores="$(nproc 2>/dev/null || echo "$jobs")"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( cores / jobs > 0 ? cores / jobs : 1 ))}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error --parallel "$jobs" --timeout 900 "$@"
