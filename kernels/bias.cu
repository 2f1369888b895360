// bias.cu — the per-channel bias of conv2d, conv_transpose2d and linear, on a tensor viewed as
// (N, C, HW):
//
//   forward:  y[n,c,i] += b[c]                       (bias_add_cuda)
//   backward: db[c]    += sum_{n,i} dy[n,c,i]        (bias_grad_cuda, accumulates)
//
// linear uses the same kernels with HW = 1 (y is (N, out)); its gradient then takes the coalesced
// column layout (launch.cuh), one block per channel otherwise. The CPU twins are bias_add_cpu and
// bias_grad_cpu in src/ops/conv.cpp, and the bias_add / bias_grad loops in src/ops/linear.cpp.
// Tests: CudaParity.conv2d, CudaParity.conv_transpose2d (tests/test_conv.cpp), CudaParity.linear
// (tests/test_linear.cpp), ConvCuda.DeterministicGrads.
#include "elementwise_math.h"
#include "kernels.h"
#include "launch.cuh"

namespace nn {

// One thread per element of y (grid-stride): a read-modify-write, memory bound.
__global__ void bias_add_kernel(float* __restrict__ y, const float* __restrict__ bias, int64_t n, int C, int HW) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] += bias[(i / HW) % C]; }
}

void bias_add_cuda(float* y, const float* bias, int N, int C, int HW, cudaStream_t s) {
  const int64_t n = static_cast<int64_t>(N) * C * HW;
  if (n == 0) return;
  bias_add_kernel<<<grid_for(n), kThreads, 0, s>>>(y, bias, n, C, HW);
  NN_LAUNCH_CHECK(s);
}

// One block per channel c. Each thread sums a fixed, strided subset of the N*HW elements of that
// channel, then block_sum adds the per-thread partials in a fixed tree order. No atomics, so the
// result is the same bits on every run (what the deterministic mode promises).
__global__ void bias_grad_kernel(const float* __restrict__ dy, float* __restrict__ dbias, int N, int C, int HW) {
  __shared__ float shared[kThreads];
  const int c = blockIdx.x;
  const int64_t per_channel = static_cast<int64_t>(N) * HW;
  float partial = 0.0f;
  for (int64_t j = threadIdx.x; j < per_channel; j += blockDim.x) {
    const int64_t n = j / HW;
    const int64_t i = j % HW;
    partial += dy[(n * C + c) * HW + i];  // dy: (N, C, HW)
  }
  const float total = block_sum(partial, shared);
  if (threadIdx.x == 0) dbias[c] += total;
}

// HW == 1 (linear's (N, out) gradient): the coalesced column layout of launch.cuh instead, where
// the plane kernel's threads would read addresses C floats apart.
__global__ void bias_grad_columns_kernel(const float* __restrict__ dy, float* __restrict__ dbias, int N, int C) {
  __shared__ float shared[kColRows][kColChannels + 1];
  const int c = blockIdx.x * kColChannels + threadIdx.x;
  float partial = 0.0f;
  if (c < C)
    for (int64_t n = threadIdx.y; n < N; n += kColRows) partial += dy[n * C + c];
  const float total = column_sum(partial, shared);  // every thread reaches the barriers
  if (threadIdx.y == 0 && c < C) dbias[c] += total;
}

void bias_grad_cuda(const float* dy, float* dbias, int N, int C, int HW, cudaStream_t s) {
  if (C == 0) return;
  if (HW == 1) {
    const unsigned blocks = static_cast<unsigned>((C + kColChannels - 1) / kColChannels);
    bias_grad_columns_kernel<<<blocks, dim3(kColChannels, kColRows), 0, s>>>(dy, dbias, N, C);
    NN_LAUNCH_CHECK(s);
    return;
  }
  // N*HW == 0 still launches: every block adds 0, which keeps the accumulate rule trivially true.
  bias_grad_kernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(dy, dbias, N, C, HW);
  NN_LAUNCH_CHECK(s);
}

// ---- bias_act (src/ops/bias_act.cpp): y = f(x + b[c]); dz = dy f'(.), dx += dz, db[c] += sum dz.

__global__ void bias_act_fwd_kernel(ActKind kind, const float* __restrict__ x, const float* __restrict__ bias,
                                    float* __restrict__ y, int64_t n, int C, int HW, float slope) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = act_forward<float>(kind, x[i] + bias[(i / HW) % C], slope); }
}

// dz at flat index j of channel c: xy is x (z = x + b recomputed) or y (tanh, sigmoid).
__device__ __forceinline__ float bias_act_dz(ActKind kind, const float* xy, const float* bias, const float* dy,
                                             int64_t j, int c, float slope) {
  const float at = act_backward_uses_output(kind) ? xy[j] : xy[j] + bias[c];
  return dy[j] * act_derivative<float>(kind, at, slope);
}

// HW > 1: one block per channel (as bias_grad_kernel), each thread a strided subset of its N*HW.
__global__ void bias_act_bwd_planes_kernel(ActKind kind, const float* __restrict__ xy, const float* __restrict__ bias,
                                           const float* __restrict__ dy, float* __restrict__ dx,
                                           float* __restrict__ dbias, int N, int C, int HW, float slope) {
  __shared__ float shared[kThreads];
  const int c = blockIdx.x;
  const int64_t per_channel = static_cast<int64_t>(N) * HW;
  float partial = 0.0f;
  for (int64_t k = threadIdx.x; k < per_channel; k += blockDim.x) {
    const int64_t n = k / HW, i = k % HW;
    const int64_t j = (n * C + c) * HW + i;
    const float dz = bias_act_dz(kind, xy, bias, dy, j, c, slope);
    if (dx) dx[j] += dz;
    partial += dz;
  }
  const float total = block_sum(partial, shared);
  if (threadIdx.x == 0 && dbias) dbias[c] += total;
}

// HW == 1, (N, C) row-major: the column layout of launch.cuh (coalesced across channels).
__global__ void bias_act_bwd_columns_kernel(ActKind kind, const float* __restrict__ xy, const float* __restrict__ bias,
                                            const float* __restrict__ dy, float* __restrict__ dx,
                                            float* __restrict__ dbias, int N, int C, float slope) {
  __shared__ float shared[kColRows][kColChannels + 1];
  const int c = blockIdx.x * kColChannels + threadIdx.x;
  float partial = 0.0f;
  if (c < C) {
    for (int64_t n = threadIdx.y; n < N; n += kColRows) {
      const int64_t j = n * C + c;
      const float dz = bias_act_dz(kind, xy, bias, dy, j, c, slope);
      if (dx) dx[j] += dz;
      partial += dz;
    }
  }
  const float total = column_sum(partial, shared);  // every thread reaches the barriers
  if (threadIdx.y == 0 && c < C && dbias) dbias[c] += total;
}

void bias_act_fwd_cuda(int act, const float* x, const float* bias, float* y, int N, int C, int HW, float slope,
                       cudaStream_t s) {
  const int64_t n = static_cast<int64_t>(N) * C * HW;
  if (n == 0) return;
  bias_act_fwd_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<ActKind>(act), x, bias, y, n, C, HW, slope);
  NN_LAUNCH_CHECK(s);
}

void bias_act_bwd_cuda(int act, const float* xy, const float* bias, const float* dy, float* dx, float* dbias, int N,
                       int C, int HW, float slope, cudaStream_t s) {
  if (C == 0 || (dx == nullptr && dbias == nullptr)) return;
  const ActKind kind = static_cast<ActKind>(act);
  if (HW == 1) {
    const dim3 block(kColChannels, kColRows);
    const unsigned blocks = static_cast<unsigned>((C + kColChannels - 1) / kColChannels);
    bias_act_bwd_columns_kernel<<<blocks, block, 0, s>>>(kind, xy, bias, dy, dx, dbias, N, C, slope);
  } else {
    bias_act_bwd_planes_kernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(kind, xy, bias, dy, dx, dbias, N, C, HW,
                                                                           slope);
  }
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
