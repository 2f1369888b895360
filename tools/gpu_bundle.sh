#!/usr/bin/env bash
# tools/gpu_bundle.sh: fill one git-ignored folder with everything the lent GPU machine needs
# beyond the tracked tree, so tools/gpu_check.sh runs there with no internet. Run it here, on a
# Debian machine with network, then carry the folder along with the working tree.
#
# Usage: tools/gpu_bundle.sh [--train-records N] [--test-records M] [--data DIR]
#   --train-records N   records of train.bin to keep (default 8000: 24.6 MB)
#   --test-records M    records of test.bin to keep (default 2000: 6.1 MB)
#   --data DIR          where the official train.bin/test.bin are (default: data/cifar-100-binary,
#                       fetched with tools/fetch_cifar100.sh first when absent)
# Environment:
#   NN_BUNDLE_DIR=gpu-bundle   the folder to fill (git-ignored)
#   NN_BUNDLE_SKIP_DEPS=1      leave out deps/ (the test of the slicing uses this)
#
# What lands in the folder (under 48 MiB in all, checked; the device runner carries 64 MiB):
#   deps/                 tools/fetch_gpu_deps.sh's output: CLI11, nlohmann-json and stb headers,
#                         GoogleTest and Google Benchmark sources (about 6 MiB)
#   cifar-100-slice/      train.bin and test.bin: the first N and M whole 3074-byte records of the
#                         official files, byte for byte (the full set, 180 MB, is over the limit);
#                         MD5SUMS (md5sum -c format) of both slices, and SOURCE: the official
#                         files' md5 sums and record counts they were cut from.
# The engine's reader takes any whole number of records, and gan_train's start block says the
# file is a slice and never calls it the official set.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

readonly RECORD_BYTES=3074
readonly LIMIT_BYTES=$((48 * 1024 * 1024))
train_records=8000
test_records=2000
data_dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --train-records) train_records="${2:-}"; shift 2 ;;
    --test-records) test_records="${2:-}"; shift 2 ;;
    --data) data_dir="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) nn_die "unknown argument '$1' (see tools/gpu_bundle.sh --help)" ;;
  esac
done
[[ "$train_records" =~ ^[0-9]+$ && "$train_records" -ge 1 && "$train_records" -le 50000 ]] ||
  nn_die "--train-records must be a whole number from 1 to 50000, got '$train_records'"
[[ "$test_records" =~ ^[0-9]+$ && "$test_records" -ge 1 && "$test_records" -le 10000 ]] ||
  nn_die "--test-records must be a whole number from 1 to 10000, got '$test_records'"

bundle="${NN_BUNDLE_DIR:-gpu-bundle}"
mkdir -p "$bundle"
bundle="$(cd "$bundle" && pwd)"

# ------------------------------------------------------------------ the build's dependencies
if [[ "${NN_BUNDLE_SKIP_DEPS:-0}" != 1 ]]; then
  nn_log "dependencies into $bundle/deps (tools/fetch_gpu_deps.sh)"
  NN_DEPS_DIR="$bundle/deps" bash tools/fetch_gpu_deps.sh
fi

# ------------------------------------------------------------------ the CIFAR-100 slice
if [[ -z "$data_dir" ]]; then
  data_dir="data/cifar-100-binary"
  if [[ ! -f "$data_dir/train.bin" || ! -f "$data_dir/test.bin" ]]; then bash tools/fetch_cifar100.sh; fi
fi
for f in train.bin test.bin; do
  [[ -f "$data_dir/$f" ]] || nn_die "$data_dir/$f is missing (run tools/fetch_cifar100.sh)"
done
slice="$bundle/cifar-100-slice"
tmp="$bundle/.cifar-100-slice.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
# cut FILE RECORDS: the first RECORDS whole records of the official FILE into the slice.
cut_records() {
  local name="$1" records="$2" have
  have=$(($(stat -c %s "$data_dir/$name") / RECORD_BYTES))
  [[ "$records" -le "$have" ]] || nn_die "$data_dir/$name has $have records, fewer than the $records asked for"
  head -c $((records * RECORD_BYTES)) "$data_dir/$name" >"$tmp/$name"
  [[ "$(stat -c %s "$tmp/$name")" -eq $((records * RECORD_BYTES)) ]] || nn_die "could not write $tmp/$name"
}
cut_records train.bin "$train_records"
cut_records test.bin "$test_records"
(cd "$tmp" && md5sum train.bin test.bin >MD5SUMS)
{
  echo "A slice of the official CIFAR-100 binary files: the first whole records, byte for byte."
  echo "It is not the official set; gan_train and the tests say so when they read it."
  echo "train.bin: $train_records of $(($(stat -c %s "$data_dir/train.bin") / RECORD_BYTES)) records of a file with md5 $(md5sum <"$data_dir/train.bin" | cut -d' ' -f1)"
  echo "test.bin: $test_records of $(($(stat -c %s "$data_dir/test.bin") / RECORD_BYTES)) records of a file with md5 $(md5sum <"$data_dir/test.bin" | cut -d' ' -f1)"
  echo "(the official files' md5: train.bin 6172c7755cfe09b2fe270c85cebc1b15, test.bin 4499cfba6c016c1be1438163640a0898)"
} >"$tmp/SOURCE"
rm -rf "$slice"
mv "$tmp" "$slice"

# ------------------------------------------------------------------ size and what to do next
bytes="$(du -sb "$bundle" | cut -f1)"
mib="$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')"
[[ "$bytes" -le "$LIMIT_BYTES" ]] || nn_die "$bundle is $mib MiB, over the 48 MiB limit (fewer records?)"
rel="${bundle#"$NN_ROOT"/}"
nn_log "$rel: $mib MiB (slice: $train_records train + $test_records test records; md5 in $rel/cifar-100-slice/MD5SUMS)"
echo "On the GPU machine, with the folder '$rel' carried along with the working tree, run from the repository root:"
echo "  bash tools/gpu_check.sh"
echo "(carry: $rel; the check writes its results to \$OUT, else build-gpu/check)"
