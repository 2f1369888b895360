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

// Reductions over the rows of a row-major (rows, C) matrix: the layout of an (N, C) activation
// (a linear layer's output, batchnorm1d's input), where one block per channel would read
// addresses C floats apart. A block of (kColChannels, kColRows) threads owns kColChannels
// consecutive channels: thread (tx, ty) walks rows ty, ty + kColRows, ... of channel
// blockIdx.x * kColChannels + tx, so a warp reads 32 consecutive floats of one row (coalesced).
constexpr int kColChannels = 32, kColRows = 8;

// The sum over the kColRows threads of column threadIdx.x, in a fixed order (deterministic);
// every thread of the column gets it. `shared` is kColRows x (kColChannels + 1) floats (the +1
// keeps the column reads free of bank conflicts); the trailing barrier allows back-to-back calls.
__device__ inline float column_sum(float v, float (*shared)[kColChannels + 1]) {
  shared[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  float total = 0.0f;
  for (int r = 0; r < kColRows; ++r) total += shared[r][threadIdx.x];
  __syncthreads();
  return total;
}

}  // namespace nn
