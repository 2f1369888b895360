#!/usr/bin/env bash
# tests/test_gpu_bundle.sh (ctest Shell.GpuBundleCutsWholeRecords): tools/gpu_bundle.sh cuts the
# first whole records of the real CIFAR-100 files, byte for byte, records their md5 sums, and
# refuses bad counts. The dependency download is left out (NN_BUNDLE_SKIP_DEPS=1). Skips (exit
# 77) without the data.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${NN_CIFAR100_DIR:-$root/data/cifar-100-binary}"
if [[ ! -f "$data/train.bin" || ! -f "$data/test.bin" ]]; then
  echo "skipped: CIFAR-100 is not in $data (run tools/fetch_cifar100.sh)"; exit 77
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
out="$(NN_BUNDLE_DIR="$tmp/b" NN_BUNDLE_SKIP_DEPS=1 bash "$root/tools/gpu_bundle.sh" --data "$data" \
        --train-records 10 --test-records 3 2>&1)" || { echo "FAIL: gpu_bundle.sh exited non-zero: $out"; exit 1; }
s="$tmp/b/cifar-100-slice"
[[ "$(stat -c %s "$s/train.bin")" -eq $((10 * 3074)) ]] || { echo "FAIL: train.bin size $(stat -c %s "$s/train.bin")"; fail=1; }
[[ "$(stat -c %s "$s/test.bin")" -eq $((3 * 3074)) ]] || { echo "FAIL: test.bin size $(stat -c %s "$s/test.bin")"; fail=1; }
cmp -s "$s/train.bin" <(head -c $((10 * 3074)) "$data/train.bin") || { echo "FAIL: train.bin is not the first 10 records"; fail=1; }
cmp -s "$s/test.bin" <(head -c $((3 * 3074)) "$data/test.bin") || { echo "FAIL: test.bin is not the first 3 records"; fail=1; }
(cd "$s" && md5sum --quiet -c MD5SUMS) || { echo "FAIL: MD5SUMS does not verify"; fail=1; }
grep -q "not the official set" "$s/SOURCE" || { echo "FAIL: SOURCE does not say it is a slice"; fail=1; }
[[ "$out" == *"MiB"* && "$out" == *"bash tools/gpu_check.sh"* ]] || { echo "FAIL: no size or command printed: $out"; fail=1; }
for bad in 0 50001 x; do
  if NN_BUNDLE_DIR="$tmp/c" NN_BUNDLE_SKIP_DEPS=1 bash "$root/tools/gpu_bundle.sh" --data "$data" \
       --train-records "$bad" >/dev/null 2>&1; then
    echo "FAIL: --train-records $bad was accepted"; fail=1
  fi
done
[[ $fail -eq 0 ]] && echo "gpu_bundle.sh: slice checks passed"
exit "$fail"
