// step_state.cu — the one-thread kernels that keep a training step's changing scalars on the
// device (formulas: step_state_math.h, shared with the CPU twins in src/ops/step_state.cpp), and
// the EMA update that reads G's step count from there. With them a captured step can be replayed
// as a CUDA graph: every launch argument is the same at every step.
// Tests: tests/test_step_state.cpp (CudaParity.StepState*, skipped without a GPU).
#include "kernels.h"
#include "launch.cuh"
#include "step_state_math.h"

namespace nn {

namespace {

__global__ void counter_take_kernel(int64_t* counter, int64_t amount, int64_t* start) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const int64_t c = *counter;
    if (start) *start = c;
    *counter = c + amount;
  }
}

__global__ void adam_prepare_kernel(int64_t* t, const double* lr, double beta1, double beta2, double eps,
                                    AdamScalars* out) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const int64_t step = *t + 1;
    *t = step;
    *out = adam_scalars_for_step(step, *lr, beta1, beta2, eps);
  }
}

__global__ void linear_decay_lr_kernel(const int64_t* step, double lr0, double total_steps, double* lr_a,
                                       double* lr_b) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const double lr = linear_decay_lr(*step, lr0, total_steps);
    *lr_a = lr;
    if (lr_b) *lr_b = lr;
  }
}

__global__ void metrics_append_kernel(float* buffer, int64_t* row, const float* values, int64_t columns,
                                      int64_t capacity_rows) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    int64_t r = *row;
    if (r >= capacity_rows) r = 0;
    for (int64_t k = 0; k < columns; ++k) buffer[r * columns + k] = values[k];
    *row = r + 1;
  }
}

__global__ void ema_update_kernel(float* __restrict__ e, const float* __restrict__ g, int64_t n,
                                  const int64_t* __restrict__ step, int64_t ema_start, float w) {
  const int64_t s = *step;
  NN_GRID_STRIDE_LOOP(i, n) { e[i] = ema_value<float>(e[i], g[i], s, ema_start, w); }
}

}  // namespace

void counter_take_cuda(int64_t* counter, int64_t amount, int64_t* start, cudaStream_t s) {
  counter_take_kernel<<<1, 1, 0, s>>>(counter, amount, start);
  NN_LAUNCH_CHECK(s);
}

void adam_prepare_cuda(int64_t* t, const double* lr, double beta1, double beta2, double eps, AdamScalars* out,
                       cudaStream_t s) {
  adam_prepare_kernel<<<1, 1, 0, s>>>(t, lr, beta1, beta2, eps, out);
  NN_LAUNCH_CHECK(s);
}

void linear_decay_lr_cuda(const int64_t* step, double lr0, double total_steps, double* lr_a, double* lr_b,
                          cudaStream_t s) {
  linear_decay_lr_kernel<<<1, 1, 0, s>>>(step, lr0, total_steps, lr_a, lr_b);
  NN_LAUNCH_CHECK(s);
}

void metrics_append_cuda(float* buffer, int64_t* row, const float* values, int64_t columns, int64_t capacity_rows,
                         cudaStream_t s) {
  metrics_append_kernel<<<1, 1, 0, s>>>(buffer, row, values, columns, capacity_rows);
  NN_LAUNCH_CHECK(s);
}

void ema_update_cuda(float* e, const float* g, int64_t n, const int64_t* step, int64_t ema_start, float w,
                     cudaStream_t s) {
  if (n == 0) return;
  ema_update_kernel<<<grid_for(n), kThreads, 0, s>>>(e, g, n, step, ema_start, w);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
