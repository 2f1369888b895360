// dropout.cu — dropout forward and backward, one grid-stride loop each.
//
//   forward:  y_i  = keep_i ? x_i scale : 0
//   backward: dx_i += keep_i ? dy_i scale : 0
//   keep_i = rng_bits(seed, c0, i) >= threshold, scale = 1/(1-p)      (dropout_math.h)
//
// The backward pass regenerates the mask from (seed, c0) instead of reading a stored one: Philox
// is cheap next to the memory traffic, and it saves a mask tensor per dropout layer. The
// formulas live in dropout_math.h, shared with the CPU loop in src/ops/dropout.cpp, so the masks
// are bit-identical. Tests: tests/test_dropout.cpp (CudaParity.dropout,
// Dropout.MaskSameOnCpuAndCuda); they run wherever a GPU is.
#include "dropout_math.h"
#include "kernels.h"
#include "launch.cuh"

namespace nn {

namespace {

// c0 = (c0_device ? *c0_device : 0) + c0_host (a DeviceGenerator's counter is read on the device).
__global__ void dropout_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, uint64_t seed,
                                   const int64_t* c0_device, uint64_t c0_host, uint32_t threshold, float scale) {
  const uint64_t c0 = c0_host + (c0_device ? static_cast<uint64_t>(*c0_device) : 0);
  NN_GRID_STRIDE_LOOP(i, n) {
    y[i] = dropout_apply(x[i], dropout_keep(seed, c0, static_cast<uint64_t>(i), threshold), scale);
  }
}

__global__ void dropout_bwd_kernel(const float* __restrict__ dy, float* __restrict__ dx, int64_t n, uint64_t seed,
                                   const int64_t* c0_device, uint64_t c0_host, uint32_t threshold, float scale) {
  const uint64_t c0 = c0_host + (c0_device ? static_cast<uint64_t>(*c0_device) : 0);
  NN_GRID_STRIDE_LOOP(i, n) {
    dx[i] += dropout_apply(dy[i], dropout_keep(seed, c0, static_cast<uint64_t>(i), threshold), scale);
  }
}

}  // namespace

void dropout_fwd_cuda(const float* x, float* y, int64_t n, uint64_t seed, uint64_t c0, uint32_t threshold, float scale,
                      cudaStream_t s) {
  if (n == 0) return;
  dropout_fwd_kernel<<<grid_for(n), kThreads, 0, s>>>(x, y, n, seed, nullptr, c0, threshold, scale);
  NN_LAUNCH_CHECK(s);
}

void dropout_bwd_cuda(const float* dy, float* dx, int64_t n, uint64_t seed, uint64_t c0, uint32_t threshold,
                      float scale, cudaStream_t s) {
  if (n == 0) return;
  dropout_bwd_kernel<<<grid_for(n), kThreads, 0, s>>>(dy, dx, n, seed, nullptr, c0, threshold, scale);
  NN_LAUNCH_CHECK(s);
}

void dropout_fwd_cuda(const float* x, float* y, int64_t n, uint64_t seed, const int64_t* c0_device, uint32_t threshold,
                      float scale, cudaStream_t s) {
  if (n == 0) return;
  dropout_fwd_kernel<<<grid_for(n), kThreads, 0, s>>>(x, y, n, seed, c0_device, 0, threshold, scale);
  NN_LAUNCH_CHECK(s);
}

void dropout_bwd_cuda(const float* dy, float* dx, int64_t n, uint64_t seed, const int64_t* c0_device,
                      uint32_t threshold, float scale, cudaStream_t s) {
  if (n == 0) return;
  dropout_bwd_kernel<<<grid_for(n), kThreads, 0, s>>>(dy, dx, n, seed, c0_device, 0, threshold, scale);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
