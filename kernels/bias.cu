// bias.cu — the per-channel bias of conv2d, conv_transpose2d and linear, on a tensor viewed as
// (N, C, HW):
//
//   forward:  y[n,c,i] += b[c]                       (bias_add_cuda)
//   backward: db[c]    += sum_{n,i} dy[n,c,i]        (bias_grad_cuda, accumulates)
//
// linear uses the same kernels with HW = 1 (y is (N, out)). The CPU twins are bias_add_cpu and
// bias_grad_cpu in src/ops/conv.cpp, and the bias_add / bias_grad loops in src/ops/linear.cpp.
// Tests: CudaParity.conv2d, CudaParity.conv_transpose2d (tests/test_conv.cpp), CudaParity.linear
// (tests/test_linear.cpp), ConvCuda.DeterministicGrads.
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

void bias_grad_cuda(const float* dy, float* dbias, int N, int C, int HW, cudaStream_t s) {
  if (C == 0) return;
  // N*HW == 0 still launches: every block adds 0, which keeps the accumulate rule trivially true.
  bias_grad_kernel<<<static_cast<unsigned>(C), kThreads, 0, s>>>(dy, dbias, N, C, HW);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
