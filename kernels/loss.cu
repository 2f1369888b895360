// loss.cu — the mean-reduced losses: bce_with_logits, bce, and the hinge terms.
//
//   forward:  *out  = scale sum_i loss(x_i, t_i)     (or += when accumulating; scale = 1/n)
//   backward: dx_i += (*gout) scale dloss/dx(x_i, t_i)
//
// loss(.) and dloss/dx are the functors in loss_math.h, shared with the CPU reference in
// src/ops/loss.cpp; the formulas are listed there. Tests: tests/test_loss.cpp (CudaParity.bce,
// CudaParity.bce_with_logits, CudaParity.hinge_d_loss, CudaParity.hinge_g_loss).
//
// The forward reduction runs in ONE block, walking the input in a fixed order and finishing with
// the fixed-tree block_sum, so the loss is the same bits on every run (no atomics). Losses see
// the discriminator's outputs, a few hundred values per batch, for which one block is plenty;
// a multi-block tree would only pay off on inputs thousands of times larger.
//
// Neither launcher reads anything back to the host: the loss stays in *out, and the upstream
// gradient is read from the device pointer gout inside the kernel.
#include "kernels.h"
#include "launch.cuh"

namespace nn {

namespace {

// grid (1), block (kThreads). target may be null (the hinge terms have none).
__global__ void loss_fwd_kernel(LossKind kind, const float* __restrict__ x, const float* __restrict__ target, int64_t n,
                                float scale, bool accumulate, float* __restrict__ out) {
  __shared__ float scratch[kThreads];
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    acc += loss_value<float>(kind, x[i], target != nullptr ? target[i] : 0.0f);
  const float total = block_sum(acc, scratch);
  if (threadIdx.x == 0) out[0] = accumulate ? out[0] + scale * total : scale * total;
}

__global__ void loss_bwd_kernel(LossKind kind, const float* __restrict__ x, const float* __restrict__ target,
                                const float* __restrict__ gout, float* __restrict__ dx, int64_t n, float scale) {
  const float g = gout[0] * scale;  // same order as the CPU loop: (gout scale) dloss
  NN_GRID_STRIDE_LOOP(i, n) { dx[i] += loss_grad<float>(kind, g, x[i], target != nullptr ? target[i] : 0.0f); }
}

}  // namespace

void loss_fwd_cuda(LossKind kind, const float* x, const float* target, int64_t n, float scale, bool accumulate,
                   float* out, cudaStream_t s) {
  // Launched even for n == 0 so that *out is always written (0, or left as is when accumulating).
  loss_fwd_kernel<<<1, kThreads, 0, s>>>(kind, x, target, n, scale, accumulate, out);
  NN_LAUNCH_CHECK(s);
}

void loss_bwd_cuda(LossKind kind, const float* x, const float* target, const float* gout, float* dx, int64_t n,
                   float scale, cudaStream_t s) {
  if (n == 0) return;
  loss_bwd_kernel<<<grid_for(n), kThreads, 0, s>>>(kind, x, target, gout, dx, n, scale);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
