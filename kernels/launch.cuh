// launch.cuh — launch-shape helpers shared by the .cu files (nvcc only).
#pragma once
#include <cstdint>

#include "cuda_check.h"

namespace nn {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements: enough to fill the GPU many times over, capped
// so that huge tensors loop instead of launching millions of blocks.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535) blocks = 65535;
  return static_cast<unsigned>(blocks);
}

#define NN_GRID_STRIDE_LOOP(i, n)                                                         \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Sum of `v` over a block of blockDim.x threads (a power of two, at most kThreads), in a fixed
// order (deterministic). Every thread gets the total. `shared` holds blockDim.x floats; the
// trailing barrier makes back-to-back calls on the same buffer safe.
__device__ inline float block_sum(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  float total = shared[0];
  __syncthreads();
  return total;
}

}  // namespace nn
