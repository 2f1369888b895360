// softmax.cu — CUDA kernels of softmax over the rows of an (N, K) tensor (src/ops/softmax.cpp).
// The per-element formulas are in softmax_math.h, shared with the CPU loops.
//
// One block per row (blocks stride over the rows): the threads stride over the row's K elements,
// and two fixed-order tree reductions (max, then the sum of exponentials) finish it, so the result
// is the same bits every run. x is read three times (max, sum, write); a row of the FID head
// (1008 floats) stays in L1/L2 between the passes.
//   forward:  m = max x,  s = sum exp(x - m),  y = exp(x - m) / s
//   backward: dot = sum dy y,  dx += y (dy - dot)
// Tests: tests/test_softmax.cpp (CudaParity.softmax); validated and timed in bench/bench_kernels.cpp.
#include <cstdint>

#include "kernels.h"
#include "launch.cuh"
#include "softmax_math.h"

namespace nn {

namespace {

// Max of `v` over the block (blockDim.x a power of two, at most kThreads), as block_sum does it.
__device__ float block_max(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + stride]);
    __syncthreads();
  }
  const float total = shared[0];
  __syncthreads();
  return total;
}

__global__ void softmax_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t N, int64_t K) {
  __shared__ float shared[kThreads];
  for (int64_t row = blockIdx.x; row < N; row += gridDim.x) {  // the same row for the whole block
    const float* xr = x + row * K;
    float* yr = y + row * K;
    float m = -INFINITY;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) m = fmaxf(m, xr[k]);
    m = block_max(m, shared);
    float s = 0.0f;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) s += softmax_exp(xr[k], m);
    s = block_sum(s, shared);
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) yr[k] = softmax_exp(xr[k], m) / s;
  }
}

__global__ void softmax_bwd_kernel(const float* __restrict__ y, const float* __restrict__ dy, float* __restrict__ dx,
                                   int64_t N, int64_t K) {
  __shared__ float shared[kThreads];
  for (int64_t row = blockIdx.x; row < N; row += gridDim.x) {
    const float* yr = y + row * K;
    const float* gr = dy + row * K;
    float* dr = dx + row * K;
    float dot = 0.0f;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) dot += gr[k] * yr[k];
    dot = block_sum(dot, shared);
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) dr[k] += softmax_dx(yr[k], gr[k], dot);
  }
}

unsigned rows_grid(int64_t N) { return static_cast<unsigned>(N < 65535 ? N : 65535); }

}  // namespace

void softmax_fwd_cuda(const float* x, float* y, int64_t N, int64_t K, cudaStream_t s) {
  if (N == 0 || K == 0) return;
  softmax_fwd_kernel<<<rows_grid(N), kThreads, 0, s>>>(x, y, N, K);
  NN_LAUNCH_CHECK(s);
}

void softmax_bwd_cuda(const float* y, const float* dy, float* dx, int64_t N, int64_t K, cudaStream_t s) {
  if (N == 0 || K == 0) return;
  softmax_bwd_kernel<<<rows_grid(N), kThreads, 0, s>>>(y, dy, dx, N, K);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
