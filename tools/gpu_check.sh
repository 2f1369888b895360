#!/usr/bin/env bash
# tools/gpu_check.sh: the GPU machine's one command. Eight stages, in order of value, each with
# its own time limit inside one overall budget (9 minutes), each writing its log and its result
# line the moment it ends, each run whatever the previous ones gave; a summary table last.
#
# Usage: bash tools/gpu_check.sh [extra cmake -D options...]
#
#   stage          limit  what it does (the README's "Running the GPU check" has the estimates)
#   env              25 s GPU, driver, nvcc, cuDNN/cuBLAS files and versions, torch; a
#                         compute-sanitizer probe on a trivial program (decides the memcheck stage)
#   build           180 s configure + build nn_tests, gan_train, gan_sample, gan_bench only
#   cuda_tests       75 s every GPU test (*Cuda*, *Cusolver*: CudaParity.*, Golden.*Cuda,
#                         Inception/Fid Cuda, Sampler.Cuda*, TrainerCuda.* = deterministic N steps
#                         straight vs N/2 + resume + N/2), one process, on the CIFAR-100 slice
#   graph            45 s the CUDA-graph bit-identity check (#13): gan_train --deterministic, 50 steps
#                         of dcgan and of keras on 1600 images with --cuda-graph off and on;
#                         tools/compare_runs.py compares every checkpoint tensor (weights, Adam
#                         moments, batchnorm counters), the metadata and metrics.csv bit for bit
#   head_to_head    230 s gan_bench and tools/pytorch_baseline.py in the same run: dcgan at batch
#                         64 and keras at batch 256, TF32 off and on; ours plain, --fuse,
#                         --cuda-graph and both (launches and ms per step); PyTorch eager, then
#                         torch.compile(mode="reduce-overhead") for dcgan when time is left; one
#                         table and #13's targets, met or missed (tools/head_to_head.py)
#   train            40 s each preset for 2 epochs of the slice on the GPU; sample grids, loss
#                         plots and images/s
#   memcheck         40 s compute-sanitizer memcheck over the op-level CudaParity.* tests, with
#                         heuristic cuDNN algorithm choice (NN_CUDNN_ALGO=heuristic)
#   bench            30 s bench_kernels and bench_conv_gemm (Google Benchmark built from deps)
#                         at the presets' shapes, the GPU-filling sizes only when time is left
#
# Inputs: the working tree and the folder tools/gpu_bundle.sh fills (gpu-bundle/: deps/ and the
# CIFAR-100 slice), carried along; no internet, nothing installed. .deps/ works instead of
# gpu-bundle/deps. Without a GPU every stage that can run runs (the build, the tests that then
# skip themselves, a two-step CPU training run) and the GPU stages report SKIPPED: a rehearsal.
#
# Outputs. The lent machine brings back at most 8 files from $OUT, so $OUT holds:
#   summary.txt            the result line of each stage as it ends, then the summary table
#   gpu_check_logs.tgz     every stage's log, JUnit/JSON results and outputs, rewritten after
#                          every stage (so a kill loses at most the stage in flight)
#   head_to_head.md        the head-to-head table
#   dcgan_samples.png keras_samples.png dcgan_loss.png keras_loss.png   from the train stage
# The logs themselves are in $BUILD_DIR/check-logs/. Without OUT, $BUILD_DIR/check is $OUT.
#
# Environment:
#   BUILD_DIR=build-gpu            build folder
#   OUT=dir                        where the results go (default: $BUILD_DIR/check)
#   NN_GPU_BUNDLE=gpu-bundle       the bundle folder (deps/, cifar-100-slice/)
#   NN_CHECK_BUDGET=540            seconds for all stages together; a stage gets the smaller of
#                                  its limit and what is left
#   NN_CHECK_STAGES="env build ..."  run only these stages (in the fixed order)
#   NN_CHECK_TIME_SCALE=N          multiply every limit and the budget by N (default: 1 with a
#                                  GPU, 6 without: a rehearsal machine has fewer cores)
#   NN_CUDA_ARCHS=90               CMAKE_CUDA_ARCHITECTURES (90 = Hopper: H100/H200)
#   CUDNN_ROOT=dir, PYTHON=python3 cuDNN's folder; an interpreter with the nvidia wheels and torch
#                                  (default: python3, then /opt/torch/.venv/bin/python3)
#   NN_JOBS=N                      parallel build jobs (default: all cores)
# Exit status: 0 when no stage FAILED or hit its TIMEOUT (SKIPPED is fine); 1 otherwise.
set -uo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=SCRIPTDIR/gpu_env.sh
source "$(dirname "$0")/gpu_env.sh"

check_start=$SECONDS
all_stages=(env build cuda_tests graph head_to_head train memcheck bench)
declare -A stage_limit=([env]=25 [build]=180 [cuda_tests]=75 [graph]=45 [head_to_head]=230 [train]=40 [memcheck]=40
                        [bench]=30)
stages_wanted=" ${NN_CHECK_STAGES:-${all_stages[*]}} "

build_dir="${BUILD_DIR:-build-gpu}"
mkdir -p "$build_dir"
build_dir="$(cd "$build_dir" && pwd)"
out_dir="${OUT:-$build_dir/check}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
logs="$build_dir/check-logs"
rm -rf "$logs"
mkdir -p "$logs"
rm -f "$out_dir"/summary.txt "$out_dir"/gpu_check_logs.tgz "$out_dir"/head_to_head.md "$out_dir"/*_samples.png \
      "$out_dir"/*_loss.png
jobs="$(nn_jobs)"
archs="${NN_CUDA_ARCHS:-90}"

# The bundle: its deps/ when .deps has no GoogleTest sources, its slice as the data.
bundle="${NN_GPU_BUNDLE:-gpu-bundle}"
if [[ ! -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" && -f "$bundle/deps/usr/src/googletest/CMakeLists.txt" ]]; then
  NN_DEPS_DIR="$bundle/deps"
fi
if [[ -d "$NN_DEPS_DIR" ]]; then NN_DEPS_DIR="$(cd "$NN_DEPS_DIR" && pwd)"; fi
data_dir=""
for d in "$bundle/cifar-100-slice" data/cifar-100-binary; do
  if [[ -f "$d/train.bin" && -f "$d/test.bin" ]]; then data_dir="$(cd "$d" && pwd)"; break; fi
done

# ------------------------------------------------------------------ the environment (shared)
nn_gpu_detect
# The limits are the GPU machine's (16 cores). A rehearsal without a GPU usually has far fewer
# cores (CI: 2), so its limits and budget are scaled by NN_CHECK_TIME_SCALE (default 6 there).
time_scale="${NN_CHECK_TIME_SCALE:-$([[ $has_gpu -eq 1 ]] && echo 1 || echo 6)}"
budget=$(( ${NN_CHECK_BUDGET:-540} * time_scale ))
deadline=$((SECONDS + budget))
for s in "${!stage_limit[@]}"; do stage_limit[$s]=$(( stage_limit[$s] * time_scale )); done
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DNN_DEPS_DIR="$NN_DEPS_DIR" -DCMAKE_CUDA_ARCHITECTURES="$archs"
            -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_PREFIX_PATH="$NN_DEPS_DIR/usr" "$@")
nn_gpu_libs lenient 2>"$logs/libs.log"
torch_py=""
for py in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c "import torch" >/dev/null 2>&1; then torch_py="$py"; break; fi
done
# OpenMP threads: one process at a time runs here, so all cores, and a passive wait.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$jobs}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
export NN_GPU_TEST_FILTER='*Cuda*:*Cusolver*'
cmake_args_str="$(printf '%s\n' "${cmake_args[@]}")"
export build_dir out_dir logs jobs archs data_dir has_gpu gpu toolkit cuda_home torch_py cmake_args_str \
       NN_DEPS_DIR LD_LIBRARY_PATH PATH CUDNN_ROOT="${CUDNN_ROOT:-}" wheel_info

# ------------------------------------------------------------------ helpers for the stages
# result STATUS REASON: the stage's result line (PASS, FAIL or SKIPPED, and one line of why).
result() { echo "$1 ${*:2}" >"$logs/$STAGE.result"; }
# seconds_left: what is left of the stage's own limit (stages end their own runs before it).
seconds_left() { echo $((STAGE_END - $(date +%s))); }
# limit_for MARGIN: the limit for the stage's next run, MARGIN seconds before the stage's own end;
# prints nothing (and fails) when less than 2 s would be left, so no run gets `timeout 0` (which
# means no limit) or a negative one. Use: t="$(limit_for 3)" || { ...out of time...; }
limit_for() {
  local t=$(( $(seconds_left) - $1 ))
  [[ $t -ge 2 ]] || return 1
  echo "$t"
}
# gtest_counts LOG: "P passed, F failed, S skipped" from a GoogleTest run's output.
gtest_counts() {
  local p f s
  p="$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?.*/\1/p' "$1" | tail -n1)"
  f="$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\?, listed below.*/\1/p' "$1" | tail -n1)"
  s="$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\?, listed below.*/\1/p' "$1" | tail -n1)"
  [[ -z "$p" ]] && p="$(grep -c '^\[       OK \]' "$1")"
  echo "${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
}
cmake_args_array() { mapfile -t CMAKE_ARGS <<<"$cmake_args_str"; }

# ------------------------------------------------------------------ stage 1: env
stage_env() {
  echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host:        $(uname -srm), $(nproc) cores, $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "GPU:         $gpu"
  if [[ $has_gpu -eq 1 ]]; then nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv; fi
  echo "toolkit:     $toolkit at $cuda_home"
  if [[ "$toolkit" != none ]]; then nvcc --version; fi
  echo "nvidia wheels: ${wheel_info:-none}"
  echo "CUDNN_ROOT:  ${CUDNN_ROOT:-unset}"
  if [[ -n "${CUDNN_ROOT:-}" ]]; then
    ls -l "$CUDNN_ROOT"/lib*/libcudnn*.so* 2>/dev/null | head -n 20
    grep -hE '^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL)' "$CUDNN_ROOT/include/cudnn_version.h" 2>/dev/null
  fi
  echo "cuDNN and cuBLAS files of the toolkit:"
  compgen -G "$cuda_home/lib*/libcudnn.so*"; compgen -G "$cuda_home/lib*/libcublas*.so*"
  compgen -G "$cuda_home/targets/*/lib/libcublas*.so*"
  echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
  echo "cmake options: $(tr '\n' ' ' <<<"$cmake_args_str")"
  cat "$logs/libs.log"
  if [[ -n "$torch_py" ]]; then
    "$torch_py" -c "import sys, torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'cuDNN', torch.backends.cudnn.version(), 'python', sys.version.split()[0])"
  else
    echo "torch: no python with torch"
  fi
  echo "data:        ${data_dir:-none}"; [[ -n "$data_dir" && -f "$data_dir/SOURCE" ]] && cat "$data_dir/SOURCE"

  # compute-sanitizer: found, and willing to run a trivial program on this device? Some machines'
  # runtimes refuse it ("Device not supported"); that must be a SKIPPED memcheck, not a failure.
  local san="" c
  san="$(command -v compute-sanitizer || true)"
  for c in "$cuda_home/bin/compute-sanitizer" "$cuda_home/compute-sanitizer/compute-sanitizer"; do
    [[ -z "$san" && -x "$c" ]] && san="$c"
  done
  if [[ $has_gpu -eq 0 ]]; then
    echo "no GPU on this machine" >"$logs/sanitizer.status"
  elif [[ -z "$san" ]]; then
    echo "compute-sanitizer not found (PATH, $cuda_home/bin)" >"$logs/sanitizer.status"
  else
    cat >"$logs/probe.cu" <<'CU'
#include <cstdio>
__global__ void fill(float* p, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) p[i] = i; }
int main() {
  float* p = nullptr;
  if (cudaMalloc(&p, 1024 * sizeof(float)) != cudaSuccess) { std::printf("cudaMalloc failed\n"); return 1; }
  fill<<<4, 256>>>(p, 1024);
  cudaError_t e = cudaDeviceSynchronize();
  std::printf("probe: %s\n", cudaGetErrorString(e));
  return e == cudaSuccess ? 0 : 1;
}
CU
    if ! nvcc -arch=sm_"$archs" -o "$logs/probe" "$logs/probe.cu" >"$logs/probe_build.log" 2>&1 &&
       ! nvcc -o "$logs/probe" "$logs/probe.cu" >>"$logs/probe_build.log" 2>&1; then
      echo "the probe program did not compile (see probe_build.log)" >"$logs/sanitizer.status"
    elif t="$(limit_for 2)" && timeout -k 3 "$t" "$san" --tool memcheck --error-exitcode 1 "$logs/probe" \
           >"$logs/probe_sanitizer.log" 2>&1 && grep -q "ERROR SUMMARY: 0 errors" "$logs/probe_sanitizer.log"; then
      echo "ok $san" >"$logs/sanitizer.status"
    else
      echo "compute-sanitizer refused the device: $(grep -vE '^=+ *$' "$logs/probe_sanitizer.log" | grep -m1 -iE 'error|not supported|fail' || tail -n1 "$logs/probe_sanitizer.log")" \
        >"$logs/sanitizer.status"
    fi
  fi
  echo "compute-sanitizer: $(cat "$logs/sanitizer.status")"
  if [[ $has_gpu -eq 1 && "$toolkit" == none ]]; then result FAIL "a GPU but no nvcc (set CUDA_HOME)"; return; fi
  result PASS "GPU: $gpu; $toolkit; torch: ${torch_py:-none}; sanitizer: $(cut -c1-80 "$logs/sanitizer.status")"
}

# ------------------------------------------------------------------ stage 2: build
stage_build() {
  local generator=() t0=$SECONDS
  cmake_args_array
  if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
  if [[ ! -f "$NN_DEPS_DIR/usr/src/googletest/CMakeLists.txt" ]]; then
    result FAIL "no GoogleTest sources in $NN_DEPS_DIR: run tools/gpu_bundle.sh and carry gpu-bundle"; return
  fi
  if ! cmake -S . -B "$build_dir" "${generator[@]}" "${CMAKE_ARGS[@]}"; then result FAIL "cmake configure failed"; return; fi
  if ! cmake --build "$build_dir" --parallel "$jobs" --target nn_tests gan_train gan_sample gan_bench; then
    result FAIL "the build failed (see build.log)"; return
  fi
  local backend=OFF
  grep -q -- '-DNN_WITH_CUDA=1' "$build_dir/compile_commands.json" && backend=ON
  local cudnn_lib
  cudnn_lib="$(sed -n 's/^CUDNN_LIBRARY:FILEPATH=//p' "$build_dir/CMakeCache.txt")"
  if [[ $has_gpu -eq 1 && $backend != ON ]]; then result FAIL "a GPU but the CUDA backend was not built (see build.log)"; return; fi
  if [[ $backend == ON ]] && ! grep -q -- '-DNN_WITH_CUSOLVER=1' "$build_dir/compile_commands.json"; then
    if [[ $has_gpu -eq 1 ]]; then result FAIL "cuSOLVER not found: the FID on the GPU would be missing (see build.log)"; return; fi
  fi
  result PASS "built in $((SECONDS - t0)) s; CUDA backend $backend; cuDNN ${cudnn_lib:-none}"
}

# ------------------------------------------------------------------ stage 3: cuda_tests
stage_cuda_tests() {
  [[ -x "$build_dir/nn_tests" ]] || { result FAIL "nn_tests was not built"; return; }
  local rc t
  t="$(limit_for 3)" || { result FAIL "no time left to run the tests"; return; }
  NN_CIFAR100_DIR="$data_dir" timeout -k 3 "$t" "$build_dir/nn_tests" \
    --gtest_filter="$NN_GPU_TEST_FILTER" --gtest_output="xml:$logs/cuda_tests.xml"
  rc=$?
  local counts
  counts="$(gtest_counts "$logs/cuda_tests.log")"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then result FAIL "stopped at the stage's limit: $counts so far"; return; fi
  local failed_names
  failed_names="$(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_]*\.[A-Za-z0-9_]*\).*/\1/p' "$logs/cuda_tests.log" | sort -u | head -n 6 | paste -sd, -)"
  if [[ $has_gpu -eq 0 ]]; then
    [[ $rc -eq 0 ]] && result SKIPPED "no GPU: $counts (the GPU tests skip themselves)" || result FAIL "$counts: $failed_names"
    return
  fi
  if [[ $rc -ne 0 ]]; then result FAIL "$counts: $failed_names"; return; fi
  local skipped_names
  skipped_names="$(sed -n 's/^\[  SKIPPED \] \([A-Za-z0-9_]*\.[A-Za-z0-9_]*\).*/\1/p' "$logs/cuda_tests.log" | sort -u | head -n 6 | paste -sd, -)"
  result PASS "$counts${skipped_names:+ (skipped: $skipped_names)}"
}

# ------------------------------------------------------------------ stage 4: graph (#13)
# 50 steps with --cuda-graph off and on, --deterministic, must end in the same bits. The slice's
# epochs are short, so the runs cross epoch ends (new orders, sample grids, checkpoints between
# replays). Without a GPU: two identical CPU runs at a small width, through the same comparison.
stage_graph() {
  [[ -x "$build_dir/gan_train" ]] || { result FAIL "gan_train was not built"; return; }
  [[ -n "$data_dir" ]] || { result SKIPPED "no CIFAR-100 slice: run tools/gpu_bundle.sh and carry gpu-bundle"; return; }
  local preset mode summary="" failed="" t args run rc
  for preset in dcgan keras; do
    for mode in off on; do
      run="$logs/graph_${preset}_$mode"
      rm -rf "$run"
      if [[ $has_gpu -eq 1 ]]; then
        # 1600 images: dcgan's epoch is 25 steps, keras's 6, so both runs cross epoch ends.
        args=(--preset "$preset" --device cuda --deterministic --max-steps 50 --train-images 1600 --log-every 10
              --cuda-graph "$mode")
      else
        args=(--preset "$preset" --device cpu --width 16 --batch-size 16 --max-steps 2 --log-every 1)
      fi
      echo "== gan_train ${args[*]}"
      t="$(limit_for 2)" || { failed+=" $preset $mode (no time left);"; continue; }
      timeout -k 3 "$t" "$build_dir/gan_train" "${args[@]}" --data "$data_dir" --out "$run" >"$run.log" 2>&1
      rc=$?
      [[ $rc -ne 0 ]] && failed+=" $preset --cuda-graph $mode (exit $rc: $(tail -n1 "$run.log"));"
      grep -E 'CUDA graph|note:' "$run.log" || true
    done
    # The line Trainer::run_step prints after a capture that worked (the start block and a failed
    # capture's note say "captured" too).
    if [[ $has_gpu -eq 1 ]] && ! grep -qE '^CUDA graph: step [0-9]+ captured' "$logs/graph_${preset}_on.log" 2>/dev/null; then
      failed+=" $preset: the step was not captured ($(grep -m1 'note:' "$logs/graph_${preset}_on.log" 2>/dev/null));"
    fi
    if [[ -f "$logs/graph_${preset}_off/metrics.csv" && -f "$logs/graph_${preset}_on/metrics.csv" ]]; then
      if python3 tools/compare_runs.py "$logs/graph_${preset}_off" "$logs/graph_${preset}_on" >"$logs/graph_${preset}_compare.txt" 2>&1; then
        summary+=" $preset: identical;"
      else
        failed+=" $preset: $(tail -n1 "$logs/graph_${preset}_compare.txt");"
      fi
      cat "$logs/graph_${preset}_compare.txt"
    fi
  done
  if [[ -n "$failed" ]]; then result FAIL "graph vs eager:$failed"; return; fi
  if [[ $has_gpu -eq 0 ]]; then result SKIPPED "no GPU (rehearsed: two CPU runs compared;$summary)"; return; fi
  result PASS "50 replayed steps = 50 eager steps, bit for bit:$summary"
}

# ------------------------------------------------------------------ stage 5: head_to_head
# merge_head_to_head: the table and the targets from every JSON written so far (rerun after each run).
merge_head_to_head() {
  python3 tools/head_to_head.py "$logs" >"$logs/head_to_head.md" || true
  cp "$logs/head_to_head.md" "$out_dir/head_to_head.md"
}

stage_head_to_head() {
  [[ -x "$build_dir/gan_bench" ]] || { result FAIL "gan_bench was not built"; return; }
  local data_args=(--modes synthetic) ran=0 failures=""
  [[ -n "$data_dir" ]] && data_args=(--modes synthetic,real --data "$data_dir")
  # Ours first (cheap), then PyTorch eager, then torch.compile last: a limit reached late loses
  # the least. The table is remade after every run. Each of ours at FP32 and TF32: plain (with
  # real data too), --fuse, --cuda-graph, and both (#13), on synthetic data.
  local tf32 preset batch flags t variant vflags suffix modes
  for tf32 in off on; do
    for preset in dcgan keras; do
      batch=64; [[ $preset == keras ]] && batch=256
      flags=(); [[ $tf32 == on ]] && flags=(--tf32 --peak-tflops 494)  # H100/H200 SXM dense TF32 (datasheet)
      for variant in plain graph graph+fused fused; do
        vflags=(); suffix=""; modes=(--modes synthetic)
        [[ $variant == plain ]] && modes=("${data_args[@]}")
        [[ $variant == graph* ]] && { vflags+=(--cuda-graph); suffix+="_graph"; }
        [[ $variant == *fused ]] && { vflags+=(--fuse); suffix+="_fused"; }
        echo "== gan_bench $preset batch $batch tf32 $tf32 $variant"
        t="$(limit_for 3)" || { failures+=" out of time before gan_bench $preset tf32 $tf32 $variant;"; continue; }
        if timeout -k 3 "$t" "$build_dir/gan_bench" --presets "$preset" --batch-sizes "$batch" "${modes[@]}" \
             --warmup 10 --steps 50 "${flags[@]}" "${vflags[@]}" --json "$logs/h2h_ours_${preset}_tf32${tf32}${suffix}.json"; then
          ran=$((ran + 1))
        else
          failures+=" gan_bench $preset tf32 $tf32 $variant;"
        fi
        merge_head_to_head
      done
    done
  done
  if grep -q '"skipped"' "$logs"/h2h_ours_*.json 2>/dev/null && [[ $has_gpu -eq 0 ]]; then
    result SKIPPED "no GPU: gan_bench ran and skipped itself; PyTorch not run"; return
  fi
  if [[ -z "$torch_py" ]]; then
    result FAIL "no python with torch for the baseline (set PYTHON);$failures"; return
  fi
  for tf32 in off on; do
    for preset in dcgan keras; do
      batch=64; [[ $preset == keras ]] && batch=256
      echo "== PyTorch eager $preset batch $batch tf32 $tf32"
      t="$(limit_for 3)" || { failures+=" out of time before PyTorch eager $preset tf32 $tf32;"; continue; }
      timeout -k 3 "$t" "$torch_py" tools/pytorch_baseline.py --device cuda --presets "$preset" \
        --batch-sizes "$batch" --modes eager --steps 50 --warmup 10 --tf32 "$tf32" \
        --json "$logs/h2h_torch_${preset}_tf32${tf32}.json" || failures+=" PyTorch eager $preset tf32 $tf32;"
      merge_head_to_head
    done
  done
  # torch.compile(mode="reduce-overhead"): PyTorch's own CUDA graphs, the target's second peer.
  for tf32 in off on; do
    if [[ $(seconds_left) -gt 45 ]]; then
      echo "== PyTorch torch.compile(reduce-overhead) dcgan batch 64 tf32 $tf32"
      t="$(limit_for 3)"
      timeout -k 3 "$t" "$torch_py" tools/pytorch_baseline.py --device cuda --presets dcgan \
        --batch-sizes 64 --modes compiled --compile-mode reduce-overhead --steps 50 --warmup 10 --tf32 "$tf32" \
        --json "$logs/h2h_torch_dcgan_compiled_tf32${tf32}.json" || failures+=" torch.compile dcgan tf32 $tf32 (limit or error);"
      merge_head_to_head
    else
      failures+=" torch.compile tf32 $tf32 skipped: $(seconds_left) s left;"
    fi
  done
  # gan_bench exits 0 when a row fails (the error is in its JSON) or a capture fails (it then
  # times eager steps and says "replayed": false): both are failures here.
  local f
  for f in "$logs"/h2h_ours_*.json; do
    [[ -f "$f" ]] || continue
    grep -q '"error"' "$f" && failures+=" $(basename "$f" .json): a row failed;"
    [[ "$f" == *_graph* ]] && grep -q '"replayed": false' "$f" && failures+=" $(basename "$f" .json): the capture failed;"
  done
  if [[ -n "${failures//torch.compile*/}" ]]; then result FAIL "$ran of 16 gan_bench runs;$failures"; return; fi
  result PASS "16 gan_bench runs, PyTorch eager 4 rows${failures:+;$failures}; targets: $(grep -c ': met' "$logs/head_to_head.md") met, $(grep -c ': missed' "$logs/head_to_head.md") missed (head_to_head.md)"
}

# ------------------------------------------------------------------ stage 6: train
stage_train() {
  [[ -x "$build_dir/gan_train" ]] || { result FAIL "gan_train was not built"; return; }
  [[ -n "$data_dir" ]] || { result SKIPPED "no CIFAR-100 slice: run tools/gpu_bundle.sh and carry gpu-bundle"; return; }
  local preset summary="" failed=""
  for preset in dcgan keras; do
    local run="$logs/train_$preset" args
    rm -rf "$run"
    if [[ $has_gpu -eq 1 ]]; then
      args=(--preset "$preset" --device cuda --epochs 2 --log-every 25)
    else  # the rehearsal: the same command line on the CPU, two steps at a small width
      args=(--preset "$preset" --device cpu --width 16 --batch-size 16 --max-steps 2 --log-every 1)
    fi
    echo "== gan_train ${args[*]}"
    local t
    t="$(limit_for 2)" || { failed+=" $preset (no time left);"; continue; }
    if timeout -k 3 "$t" "$build_dir/gan_train" "${args[@]}" --data "$data_dir" --out "$run" \
         >"$run.log" 2>&1; then
      local ips
      ips="$(grep -oE '[0-9]+ img/s' "$run.log" | awk 'NR > 1 {print $1}' | sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]}')"
      summary+=" $preset: $(grep -c 'img/s' "$run.log") log lines, median ${ips:-n/a} images/s;"
      local grid
      grid="$(ls "$run"/samples_epoch_*.png 2>/dev/null | tail -n1)"
      [[ -n "$grid" ]] && cp "$grid" "$out_dir/${preset}_samples.png"
      [[ -f "$run/loss_curves.png" ]] && cp "$run/loss_curves.png" "$out_dir/${preset}_loss.png"
    else
      failed+=" $preset (exit $?: $(tail -n1 "$run.log"));"
    fi
    cat "$run.log"
  done
  if [[ -n "$failed" ]]; then result FAIL "gan_train failed:$failed"; return; fi
  if [[ $has_gpu -eq 0 ]]; then result SKIPPED "no GPU (rehearsed: 2 CPU steps of each preset);$summary"; return; fi
  result PASS "2 epochs of the slice each;$summary"
}

# ------------------------------------------------------------------ stage 7: memcheck
stage_memcheck() {
  local status san rc t
  status="$(cat "$logs/sanitizer.status" 2>/dev/null || echo "the env stage did not probe compute-sanitizer")"
  if [[ "$status" != ok\ * ]]; then result SKIPPED "$status"; return; fi
  san="${status#ok }"
  # Heuristic algorithm choice: cudnnFind would run every algorithm instrumented, 10-100x slower.
  t="$(limit_for 3)" || { result SKIPPED "no time left"; return; }
  NN_CUDNN_ALGO=heuristic timeout -k 3 "$t" "$san" --tool memcheck --error-exitcode 1 \
    "$build_dir/nn_tests" --gtest_filter='CudaParity.*'
  rc=$?
  local errors ok
  errors="$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) error.*/\1/p' "$logs/memcheck.log" | tail -n1)"
  ok="$(grep -c '^\[       OK \]' "$logs/memcheck.log")"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    local bad
    bad="$(grep -c '^========= Invalid' "$logs/memcheck.log")"
    [[ "$bad" -gt 0 ]] && { result FAIL "$bad invalid accesses before the limit ($ok tests done)"; return; }
    result PASS "incomplete: $ok CudaParity tests clean under memcheck before the stage's limit"; return
  fi
  if [[ $rc -ne 0 ]]; then result FAIL "${errors:-?} errors, $(gtest_counts "$logs/memcheck.log")"; return; fi
  result PASS "${errors:-0} errors over $ok CudaParity tests"
}

# ------------------------------------------------------------------ stage 8: bench
stage_bench() {
  cmake_args_array
  local t0=$SECONDS
  cmake_args=("${CMAKE_ARGS[@]}")
  nn_gpu_benchmark "$build_dir" "$logs" "$jobs"
  if ! cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null ||
     ! cmake --build "$build_dir" --parallel "$jobs" --target bench_kernels bench_conv_gemm; then
    result FAIL "the benchmarks did not build (Google Benchmark: see benchmark-build.log)"; return
  fi
  echo "built in $((SECONDS - t0)) s"
  local b filter ran="" bad=0 t rc n
  for b in bench_kernels bench_conv_gemm; do
    filter=()
    [[ $(seconds_left) -lt 30 ]] && filter=(--benchmark_filter=-/big/)  # the presets' shapes only
    echo "== $b ${filter[*]}"
    t="$(limit_for 2)" || { ran+=" $b: no time left;"; continue; }
    timeout -k 3 "$t" "$build_dir/bench/$b" "${filter[@]}" \
      --benchmark_out="$logs/$b.json" --benchmark_out_format=json 2>&1 | tee "$logs/$b.txt"
    rc=${PIPESTATUS[0]}
    n="$(grep -c 'ERROR OCCURRED' "$logs/$b.txt")"
    if grep -q "^$b: skipped:" "$logs/$b.txt"; then ran+=" $b skipped;"
    elif [[ $rc -eq 124 || $rc -eq 137 ]]; then ran+=" $b stopped at the limit ($n errors so far);"; [[ $n -gt 0 ]] && bad=1
    elif [[ $rc -ne 0 ]]; then ran+=" $b failed (exit $rc);"; bad=1
    else ran+=" $b: $n errors;"; [[ $n -gt 0 ]] && bad=1; fi
  done
  if [[ $has_gpu -eq 0 ]]; then result SKIPPED "no GPU (built;$ran)"; return; fi
  [[ $bad -eq 1 ]] && { result FAIL "$ran"; return; }
  result PASS "$ran"
}

# Every function and the shared values go to the stages' subshells (timeout runs `bash -c`).
export -f result seconds_left limit_for gtest_counts cmake_args_array merge_head_to_head nn_log nn_die nn_gpu_benchmark \
          stage_env stage_build stage_cuda_tests stage_graph stage_head_to_head stage_train stage_memcheck stage_bench

# ------------------------------------------------------------------ running the stages
rows=()    # "stage|status|seconds|limit|reason" for the table
failed=0
append_summary() { echo "$1" >>"$out_dir/summary.txt"; }
pack_logs() {  # the archive the lent machine brings back, rewritten whole after every stage
  # Checkpoints stay out: at full width one is about 75 MB, over the 16 MiB a returned file may be.
  # Should it still be over 15 MiB, the text results alone go.
  local tmp="$out_dir/.gpu_check_logs.tgz.tmp"
  tar -czf "$tmp" --exclude='*.safetensors' -C "$build_dir" check-logs 2>/dev/null || return 0
  if [[ "$(stat -c %s "$tmp")" -gt $((15 * 1024 * 1024)) ]]; then
    (cd "$build_dir" && find check-logs -type f \( -name '*.log' -o -name '*.result' -o -name '*.json' -o -name '*.md' \
       -o -name '*.xml' -o -name '*.txt' -o -name '*.status' -o -name '*.csv' \) -print0 |
       tar -czf "$tmp" --null -T -) || return 0
  fi
  mv "$tmp" "$out_dir/gpu_check_logs.tgz"
}
# kill_leftovers: a run stopped by a stage's timeout can leave its children behind (an inner
# timeout puts its command in a process group of its own, out of the outer timeout's reach);
# nothing of one stage may keep the GPU busy during the next.
kill_leftovers() {
  pkill -KILL -f "$build_dir/(nn_tests|gan_train|gan_bench|gan_sample|bench/bench_)" 2>/dev/null || true
  pkill -KILL -f "tools/pytorch_baseline.py" 2>/dev/null || true
  pkill -KILL -f "compute-sanitizer" 2>/dev/null || true
}
append_summary "gpu_check $(date -u '+%Y-%m-%d %H:%M UTC'): GPU $gpu; $toolkit; budget $budget s (time scale $time_scale)"
for stage in "${all_stages[@]}"; do
  limit="${stage_limit[$stage]}"
  if [[ "$stages_wanted" != *" $stage "* ]]; then
    rows+=("$stage|SKIPPED|0|$limit|not asked for (NN_CHECK_STAGES)"); continue
  fi
  left=$((deadline - SECONDS))
  lim=$(( limit < left ? limit : left ))
  if [[ $lim -lt 5 ]]; then
    rows+=("$stage|SKIPPED|0|$limit|out of time: the ${budget} s budget is spent")
    append_summary "$stage: SKIPPED (out of time)"; continue
  fi
  nn_log "stage $stage (limit $lim s; log: $logs/$stage.log)"
  t0=$SECONDS
  STAGE="$stage" STAGE_END=$(( $(date +%s) + lim )) timeout -k 5 "$lim" bash -c "stage_$stage" >"$logs/$stage.log" 2>&1
  rc=$?
  took=$((SECONDS - t0))
  if [[ -f "$logs/$stage.result" ]]; then
    status="$(cut -d' ' -f1 "$logs/$stage.result")"; reason="$(cut -d' ' -f2- "$logs/$stage.result")"
  elif [[ $rc -eq 124 || $rc -eq 137 ]]; then
    status=TIMEOUT; reason="stopped at its ${lim} s limit (see $stage.log)"
  else
    status=FAIL; reason="exit $rc without a result line (see $stage.log: $(tail -n1 "$logs/$stage.log" | cut -c1-120))"
  fi
  [[ "$status" == FAIL || "$status" == TIMEOUT ]] && failed=1
  rows+=("$stage|$status|$took|$limit|$reason")
  append_summary "$stage: $status in $took s: $reason"
  nn_log "stage $stage: $status in $took s: $reason"
  if [[ "$status" == FAIL && "$stage" == build ]]; then tail -n 30 "$logs/build.log" >&2; fi
  kill_leftovers
  pack_logs
done

{
  echo
  echo "==================== gpu_check summary ===================="
  echo "GPU:      $gpu"
  echo "toolkit:  $toolkit, archs $archs; data: ${data_dir:-none}"
  loaded="$(cat "$logs"/train_*.log 2>/dev/null | grep -m1 '^  libraries:' | sed 's/.*libraries: *//')"
  [[ -n "$loaded" ]] && echo "loaded:   $loaded"
  echo
  echo "| stage | result | seconds | limit | why |"
  echo "|---|---|---|---|---|"
  for r in "${rows[@]}"; do IFS='|' read -r s st t l why <<<"$r"; echo "| $s | $st | $t | $l | $why |"; done
  echo
  [[ -f "$logs/head_to_head.md" ]] && cat "$logs/head_to_head.md" && echo
  echo "logs:     $logs (archive: $out_dir/gpu_check_logs.tgz)"
  echo "result:   $([[ $failed -eq 0 ]] && echo PASS || echo FAIL) in $((SECONDS - check_start)) s"
} | tee -a "$out_dir/summary.txt"
pack_logs
exit "$failed"
