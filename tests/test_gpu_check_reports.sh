#!/usr/bin/env bash
# tests/test_gpu_check_reports.sh (ctest Shell.GpuCheckReports). tools/head_to_head.py: the GPU check's table and #13's targets from gan_bench / pytorch_baseline
# JSON files. Made-up files with known ratios must give the right "met" / "missed" verdicts, the
# fastest variant must be the one named, and a broken file must be left out, not fatal.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
row() { echo "{\"preset\": \"$1\", \"batch\": $2, \"mode\": \"synthetic\", \"ms_per_step\": $3, \"kernel_launches\": $4, \"launches_per_step\": $5, \"replayed\": $6, \"roofline_floor_ms\": $7}"; }
echo "{\"results\": [$(row dcgan 64 2.0 180 180 false 0.5)]}" >"$d/h2h_ours_dcgan_tf32off.json"
echo "{\"results\": [$(row dcgan 64 1.0 150 1 true 0.5)]}" >"$d/h2h_ours_dcgan_tf32off_graph_fused.json"
echo "{\"results\": [$(row keras 256 3.0 120 120 false 1.0)]}" >"$d/h2h_ours_keras_tf32off.json"
echo "{\"results\": [$(row keras 256 1.5 118 1 true 1.0)]}" >"$d/h2h_ours_keras_tf32on_graph.json"
echo '[{"preset": "dcgan", "batch": 64, "mode": "eager", "ms_median": 6.0}]' >"$d/h2h_torch_dcgan_tf32off.json"
echo '[{"preset": "dcgan", "batch": 64, "mode": "compiled", "ms_median": 1.5, "compile_mode": "reduce-overhead"}]' \
  >"$d/h2h_torch_dcgan_compiled_tf32off.json"
echo 'not json' >"$d/h2h_ours_broken_tf32off.json"
out="$(python3 "$here/../tools/head_to_head.py" "$d")"
fail=0
expect() {
  if ! grep -qF -- "$1" <<<"$out"; then echo "FAIL: no line with: $1"; fail=1; fi
}
expect "* dcgan batch 64, fp32: >= 5x PyTorch eager's images/s: met (ours graph+fused 1.000 ms vs eager 6.000 ms: 6.00x)"
expect "* dcgan batch 64, fp32: >= 2x torch.compile(mode=\"reduce-overhead\"): missed"
expect "* dcgan batch 64, tf32: >= 5x PyTorch eager's images/s: not measured"
expect "* keras batch 256, fp32: within 2x of the roofline floor: missed (3.000 ms over a floor of 1.000 ms: 3.00x)"
expect "* keras batch 256, tf32: within 2x of the roofline floor: met (1.500 ms over a floor of 1.000 ms: 1.50x)"
expect "* dcgan batch 64: launches per step: 180 eagerly, n/a replayed"
expect "| dcgan | 64 | fp32 | graph+fused | 1.000 |"
[[ $fail -eq 0 ]] && echo "head_to_head.py: all verdicts as expected"
if [[ $fail -ne 0 ]]; then echo "$out"; exit 1; fi

# tools/compare_runs.py (the graph stage's bit-identity check): equal runs are identical (their
# "config" metadata differs, which does not count), one changed byte in one tensor, one metrics.csv
# cell or one metadata entry is found, a missing file is exit 2.
mk() {  # mk DIR BYTE CELL [STEP]: a run folder with a two-tensor checkpoint and a metrics.csv
  mkdir -p "$1"
  python3 - "$1" "$2" "${4:-7}" <<'PY'
import json, struct, sys
d, b, step = sys.argv[1], int(sys.argv[2]), sys.argv[3]
h = {"__metadata__": {"config": d, "step": step}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}}
hb = json.dumps(h).encode()
open(d + "/checkpoint_latest.safetensors", "wb").write(struct.pack("<Q", len(hb)) + hb + bytes([1, 2, 3, b, 5, 6, 7, 8]) + bytes(8))
PY
  printf 'step,loss\n1,%s\n' "$3" >"$1/metrics.csv"
}
mk "$d/x" 4 0.5; mk "$d/y" 4 0.5; mk "$d/z" 9 0.5; mk "$d/w" 4 0.25; mk "$d/v" 4 0.5 8
python3 "$here/../tools/compare_runs.py" "$d/x" "$d/y" | grep -q "identical: 2 tensors, 1 metadata entries and 1 metrics.csv rows" ||
  { echo "FAIL: equal runs not reported identical"; python3 "$here/../tools/compare_runs.py" "$d/x" "$d/y"; exit 1; }
set +e
python3 "$here/../tools/compare_runs.py" "$d/x" "$d/z" >"$d/out" 2>&1; rc1=$?
python3 "$here/../tools/compare_runs.py" "$d/x" "$d/w" >>"$d/out" 2>&1; rc2=$?
python3 "$here/../tools/compare_runs.py" "$d/x" "$d/nothing" >>"$d/out" 2>&1; rc3=$?
python3 "$here/../tools/compare_runs.py" "$d/x" "$d/v" >>"$d/out" 2>&1; rc4=$?
set -e
grep -q "differs: __metadata__.step: bytes differ" "$d/out" || { echo "FAIL: the changed step was not found"; cat "$d/out"; exit 1; }
[[ $rc4 -eq 1 ]] || { echo "FAIL: a metadata difference exited $rc4, expected 1"; exit 1; }
grep -q "differs: a: bytes differ from byte 3 of 8" "$d/out" || { echo "FAIL: the changed byte was not found"; cat "$d/out"; exit 1; }
grep -q "differs: metrics.csv line 2" "$d/out" || { echo "FAIL: the changed metrics row was not found"; cat "$d/out"; exit 1; }
[[ $rc1 -eq 1 && $rc2 -eq 1 && $rc3 -eq 2 ]] || { echo "FAIL: exit codes $rc1 $rc2 $rc3, expected 1 1 2"; exit 1; }
echo "compare_runs.py: identical, different and missing runs reported as expected"
