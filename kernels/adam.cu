// adam.cu — one fused Adam update over a whole parameter arena (formula: adam_math.h, shared with
// the CPU loop in src/optim.cpp). One launch per optimizer step, whatever the number of tensors.
// Tests: tests/test_optim.cpp (CudaParity.AdamStep).
#include "kernels.h"
#include "launch.cuh"

namespace nn {

// The scalars come by value (bench_kernels) or from device memory (Adam::step: written there by
// adam_prepare_cuda, so a replayed graph uses each step's own bias corrections).
__global__ void adam_step_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ m,
                                 float* __restrict__ v, int64_t n, AdamScalars by_value, const AdamScalars* device) {
  const AdamScalars sc = device ? *device : by_value;
  NN_GRID_STRIDE_LOOP(i, n) {
    float p = param[i], mi = m[i], vi = v[i];
    adam_update<float>(p, grad[i], mi, vi, sc);
    param[i] = p;
    m[i] = mi;
    v[i] = vi;
  }
}

void adam_step_cuda(float* param, const float* grad, float* m, float* v, int64_t n, AdamScalars sc, cudaStream_t s) {
  if (n == 0) return;
  adam_step_kernel<<<grid_for(n), kThreads, 0, s>>>(param, grad, m, v, n, sc, nullptr);
  NN_LAUNCH_CHECK(s);
}

void adam_step_cuda(float* param, const float* grad, float* m, float* v, int64_t n, const AdamScalars* sc,
                    cudaStream_t s) {
  if (n == 0) return;
  adam_step_kernel<<<grid_for(n), kThreads, 0, s>>>(param, grad, m, v, n, AdamScalars(0, 0, 0, 0, 1), sc);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
