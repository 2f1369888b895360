#!/usr/bin/env bash
# tools/fuzz.sh: build and run the libFuzzer harnesses of fuzz/ (the checkpoint reader, the
# CIFAR-100 reader, the PNG folder reader of gan_eval --images, the three tools' command lines).
#
# Usage:
#   tools/fuzz.sh SECONDS [HARNESS...]
#                              fuzz each harness (all four, or the ones named: fuzz_cli ...) for
#                              SECONDS, one after another (NN_FUZZ_JOBS=2:
#                              two at a time). New inputs go to build-fuzz/corpus/<harness>/, any
#                              crash, leak, timeout or sanitizer report to build-fuzz/findings/.
#                              Prints one line per harness: executions, corpus size, findings.
#   tools/fuzz.sh --replay     run every harness once over its committed seeds and over what
#                              earlier runs here found (CI: a regression run of seconds)
#   tools/fuzz.sh --build      only build
#
# The build (build-fuzz/) is clang with -fsanitize=fuzzer,address,undefined, CPU only, without
# OpenBLAS and oneDNN (the readers do not use them). Exit status: 0 when no harness found
# anything, 1 otherwise.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"
cd "$NN_ROOT"

build_dir="${NN_FUZZ_BUILD_DIR:-build-fuzz}"
harnesses=(fuzz_safetensors fuzz_cifar100 fuzz_image_folder fuzz_cli)
# Inputs up to these sizes: two CIFAR records (3,074 bytes each), a small PNG, a short command line.
declare -A max_len=([fuzz_safetensors]=4096 [fuzz_cifar100]=7000 [fuzz_image_folder]=8192 [fuzz_cli]=512)

mode="${1:-}"
if [[ $# -gt 1 ]]; then
  for h in "${@:2}"; do
    [[ " ${harnesses[*]} " == *" $h "* ]] || nn_die "unknown harness '$h' (the harnesses: ${harnesses[*]})"
  done
  harnesses=("${@:2}")
fi
case "$mode" in
  --replay|--build) ;;
  ''|-*) nn_die "usage: tools/fuzz.sh SECONDS [HARNESS...] | --replay | --build" ;;
  *) [[ "$mode" =~ ^[0-9]+$ && "$mode" -gt 0 ]] || nn_die "SECONDS must be a positive whole number, got '$mode'" ;;
esac

command -v clang++ >/dev/null 2>&1 || nn_die "clang++ not found (Debian: apt-get install clang; tools/setup.sh does)"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  mkdir -p "$build_dir"
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DNN_FUZZ=ON -DNN_CUDA=OFF -DNN_OPENBLAS=OFF -DNN_ONEDNN=OFF -DNN_BUILD_TESTS=OFF -DNN_BUILD_BENCH=OFF \
    >"$build_dir/configure.log" 2>&1 || { tail -n 20 "$build_dir/configure.log" >&2; nn_die "configure failed"; }
fi
cmake --build "$build_dir" --parallel "$(nn_jobs)" --target "${harnesses[@]}" >/dev/null ||
  { cmake --build "$build_dir" --target "${harnesses[@]}" 2>&1 | grep -m 20 -E "error" >&2; nn_die "build failed"; }
[[ "$mode" == --build ]] && { nn_log "built ${harnesses[*]} in $build_dir"; exit 0; }

# ASan: also report leaks; UBSan: print the stack. (-fno-sanitize-recover already aborts.)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
findings_dir="$build_dir/findings"
mkdir -p "$findings_dir"
failed=0

if [[ "$mode" == --replay ]]; then
  for h in "${harnesses[@]}"; do
    name="${h#fuzz_}"
    files=()
    for dir in "fuzz/corpus/$name" "$build_dir/corpus/$name"; do
      [[ -d "$dir" ]] && while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir" -type f -print0)
    done
    [[ ${#files[@]} -gt 0 ]] || nn_die "$h: no seeds in fuzz/corpus/$name"
    log="$build_dir/replay_$name.log"
    # Given files, libFuzzer runs each once and stops.
    if "$build_dir/fuzz/$h" -timeout=20 "${files[@]}" >"$log" 2>&1; then
      nn_log "$h: replayed ${#files[@]} inputs, no finding"
    else
      tail -n 30 "$log" >&2
      nn_log "$h: FAILED on its corpus (log: $log)"
      failed=1
    fi
  done
  exit "$failed"
fi

seconds="$mode"
run_one() {  # run_one HARNESS: fuzz it for $seconds, print its line
  local h="$1" name="${1#fuzz_}" log
  log="$build_dir/fuzz_$name.log"
  mkdir -p "$build_dir/corpus/$name"
  local status=0
  "$build_dir/fuzz/$h" -max_total_time="$seconds" -max_len="${max_len[$h]}" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$findings_dir/$name-" \
    "$build_dir/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1 || status=$?
  local execs corpus found
  execs="$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -n 1)"
  corpus="$(find "$build_dir/corpus/$name" -type f | wc -l)"
  found="$(find "$findings_dir" -name "$name-*" -type f | wc -l)"
  echo "$h: ${execs:-?} executions in $seconds s, corpus $corpus inputs, findings $found, exit $status (log: $log)"
  [[ $status -eq 0 && $found -eq 0 ]]
}
jobs_at_once="${NN_FUZZ_JOBS:-1}"
pids=()
for h in "${harnesses[@]}"; do
  run_one "$h" &
  pids+=($!)
  if [[ ${#pids[@]} -ge $jobs_at_once ]]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit "$failed"
