// spectral_norm.cu — CUDA kernels of spectral normalisation (src/ops/spectral_norm.cpp). The
// matrix-vector products and the reductions (sigma, <dy, W>, the sums of squares) are the engine's
// own matmul, mul and sum ops; these kernels only apply their device-side results, so nothing is
// read back to the host. The arithmetic is spectral_norm_math.h's, shared with the CPU loops.
// Tests: tests/test_spectral_norm.cpp (CudaParity.spectral_normalize, CudaParity.SpectralNorm*).
#include <cstdint>

#include "kernels.h"
#include "launch.cuh"
#include "spectral_norm_math.h"

namespace nn {

namespace {

__global__ void sn_divide_kernel(const float* __restrict__ x, const float* __restrict__ divisor_sum_or_sigma,
                                 float* __restrict__ y, int64_t n, bool from_sum_of_squares, float eps) {
  const float d = from_sum_of_squares ? sn_norm_divisor(divisor_sum_or_sigma[0], eps) : divisor_sum_or_sigma[0];
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = x[i] / d; }
}

__global__ void sn_weight_grad_kernel(const float* __restrict__ dy, const float* __restrict__ sigma,
                                      const float* __restrict__ dy_dot_w, const float* __restrict__ u,
                                      const float* __restrict__ v, float* __restrict__ dw, int64_t rows, int64_t cols) {
  const float s = sigma[0], d = dy_dot_w[0];
  NN_GRID_STRIDE_LOOP(k, rows * cols) { dw[k] += sn_weight_grad(dy[k], s, d, u[k / cols], v[k % cols]); }
}

}  // namespace

void sn_divide_by_sigma_cuda(const float* x, const float* sigma, float* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  sn_divide_kernel<<<grid_for(n), kThreads, 0, s>>>(x, sigma, y, n, false, 0.0f);
  NN_LAUNCH_CHECK(s);
}

void sn_normalize_cuda(const float* x, const float* sum_of_squares, float* y, int64_t n, float eps, cudaStream_t s) {
  if (n == 0) return;
  sn_divide_kernel<<<grid_for(n), kThreads, 0, s>>>(x, sum_of_squares, y, n, true, eps);
  NN_LAUNCH_CHECK(s);
}

void sn_weight_grad_cuda(const float* dy, const float* sigma, const float* dy_dot_w, const float* u, const float* v,
                         float* dw, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows * cols == 0) return;
  sn_weight_grad_kernel<<<grid_for(rows * cols), kThreads, 0, s>>>(dy, sigma, dy_dot_w, u, v, dw, rows, cols);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
