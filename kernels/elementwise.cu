// elementwise.cu — CUDA kernels for activations, arithmetic, fills and the plain sum.
// The math is in elementwise_math.h and rng_math.h, shared with the CPU loops in
// src/ops/activation.cpp, src/ops/elementwise.cpp and src/tensor.cpp.
// Tests: tests/test_activation.cpp, tests/test_elementwise.cpp, tests/test_rng.cpp (CudaParity.*).
#include "kernels.h"
#include "launch.cuh"
#include "rng_math.h"

namespace nn {

template <ActKind K>
__global__ void activation_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, float slope) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = act_forward<float>(K, x[i], slope); }
}

template <ActKind K>
__global__ void activation_bwd_kernel(const float* __restrict__ xy, const float* __restrict__ dy,
                                      float* __restrict__ dx, int64_t n, float slope) {
  NN_GRID_STRIDE_LOOP(i, n) { dx[i] += dy[i] * act_derivative<float>(K, xy[i], slope); }
}

void activation_fwd_cuda(ActKind kind, const float* x, float* y, int64_t n, float slope, cudaStream_t s) {
  if (n == 0) return;
  switch (kind) {
    case ActKind::Relu: activation_fwd_kernel<ActKind::Relu><<<grid_for(n), kThreads, 0, s>>>(x, y, n, slope); break;
    case ActKind::LeakyRelu:
      activation_fwd_kernel<ActKind::LeakyRelu><<<grid_for(n), kThreads, 0, s>>>(x, y, n, slope);
      break;
    case ActKind::Tanh: activation_fwd_kernel<ActKind::Tanh><<<grid_for(n), kThreads, 0, s>>>(x, y, n, slope); break;
    case ActKind::Sigmoid:
      activation_fwd_kernel<ActKind::Sigmoid><<<grid_for(n), kThreads, 0, s>>>(x, y, n, slope);
      break;
  }
  NN_LAUNCH_CHECK(s);
}

void activation_bwd_cuda(ActKind kind, const float* xy, const float* dy, float* dx, int64_t n, float slope,
                         cudaStream_t s) {
  if (n == 0) return;
  switch (kind) {
    case ActKind::Relu:
      activation_bwd_kernel<ActKind::Relu><<<grid_for(n), kThreads, 0, s>>>(xy, dy, dx, n, slope);
      break;
    case ActKind::LeakyRelu:
      activation_bwd_kernel<ActKind::LeakyRelu><<<grid_for(n), kThreads, 0, s>>>(xy, dy, dx, n, slope);
      break;
    case ActKind::Tanh:
      activation_bwd_kernel<ActKind::Tanh><<<grid_for(n), kThreads, 0, s>>>(xy, dy, dx, n, slope);
      break;
    case ActKind::Sigmoid:
      activation_bwd_kernel<ActKind::Sigmoid><<<grid_for(n), kThreads, 0, s>>>(xy, dy, dx, n, slope);
      break;
  }
  NN_LAUNCH_CHECK(s);
}

__global__ void binary_fwd_kernel(BinaryKind kind, const float* __restrict__ a, const float* __restrict__ b,
                                  float* __restrict__ y, int64_t n) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = binary_forward<float>(kind, a[i], b[i]); }
}

void binary_fwd_cuda(BinaryKind kind, const float* a, const float* b, float* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  binary_fwd_kernel<<<grid_for(n), kThreads, 0, s>>>(kind, a, b, y, n);
  NN_LAUNCH_CHECK(s);
}

__global__ void affine_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, float scale,
                                  float shift) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = scale * x[i] + shift; }
}

void affine_fwd_cuda(const float* x, float* y, int64_t n, float scale, float shift, cudaStream_t s) {
  if (n == 0) return;
  affine_fwd_kernel<<<grid_for(n), kThreads, 0, s>>>(x, y, n, scale, shift);
  NN_LAUNCH_CHECK(s);
}

__global__ void axpy_kernel(float alpha, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] += alpha * x[i]; }
}

void axpy_cuda(float alpha, const float* x, float* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  axpy_kernel<<<grid_for(n), kThreads, 0, s>>>(alpha, x, y, n);
  NN_LAUNCH_CHECK(s);
}

__global__ void mul_accumulate_kernel(float alpha, const float* __restrict__ a, const float* __restrict__ b,
                                      float* __restrict__ y, int64_t n) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] += alpha * a[i] * b[i]; }
}

void mul_accumulate_cuda(float alpha, const float* a, const float* b, float* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  mul_accumulate_kernel<<<grid_for(n), kThreads, 0, s>>>(alpha, a, b, y, n);
  NN_LAUNCH_CHECK(s);
}

// y += alpha * (*scalar): the upstream gradient of sum()/mean() stays on the device.
__global__ void scalar_accumulate_kernel(float alpha, const float* __restrict__ scalar, float* __restrict__ y,
                                         int64_t n) {
  const float v = alpha * scalar[0];
  NN_GRID_STRIDE_LOOP(i, n) { y[i] += v; }
}

void scalar_accumulate_cuda(float alpha, const float* scalar, float* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  scalar_accumulate_kernel<<<grid_for(n), kThreads, 0, s>>>(alpha, scalar, y, n);
  NN_LAUNCH_CHECK(s);
}

// One block walks the whole tensor in a fixed order, so the sum is the same bits every run.
// Fine for the loss-sized inputs this is used on; a multi-block tree is a bench/ matter.
__global__ void sum_kernel(const float* __restrict__ x, int64_t n, float scale, float* __restrict__ out) {
  __shared__ float shared[kThreads];
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += x[i];
  float total = block_sum(acc, shared);
  if (threadIdx.x == 0) out[0] = scale * total;
}

void sum_cuda(const float* x, int64_t n, float scale, float* out, cudaStream_t s) {
  sum_kernel<<<1, kThreads, 0, s>>>(x, n, scale, out);
  NN_LAUNCH_CHECK(s);
}

__global__ void fill_kernel(float* __restrict__ y, int64_t n, float value) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = value; }
}

void fill_cuda(float* y, int64_t n, float value, cudaStream_t s) {
  if (n == 0) return;
  fill_kernel<<<grid_for(n), kThreads, 0, s>>>(y, n, value);
  NN_LAUNCH_CHECK(s);
}

__global__ void uniform_fill_kernel(float* __restrict__ y, int64_t n, uint64_t seed, uint64_t c0, float lo,
                                    float span) {
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = fma_rn(rng_uniform(seed, c0, static_cast<uint64_t>(i)), span, lo); }
}

void uniform_fill_cuda(float* y, int64_t n, uint64_t seed, uint64_t c0, float lo, float span, cudaStream_t s) {
  if (n == 0) return;
  uniform_fill_kernel<<<grid_for(n), kThreads, 0, s>>>(y, n, seed, c0, lo, span);
  NN_LAUNCH_CHECK(s);
}

// c0 = (c0_device ? *c0_device : 0) + c0_host: the counter is a kernel argument for fills from a
// host Generator, and read from device memory for a DeviceGenerator (nothing baked into a graph).
__global__ void normal_fill_kernel(float* __restrict__ y, int64_t n, uint64_t seed, const int64_t* c0_device,
                                   uint64_t c0_host, float mean, float std) {
  const uint64_t c0 = c0_host + (c0_device ? static_cast<uint64_t>(*c0_device) : 0);
  NN_GRID_STRIDE_LOOP(i, n) { y[i] = fma_rn(rng_normal(seed, c0, static_cast<uint64_t>(i)), std, mean); }
}

void normal_fill_cuda(float* y, int64_t n, uint64_t seed, uint64_t c0, float mean, float std, cudaStream_t s) {
  if (n == 0) return;
  normal_fill_kernel<<<grid_for(n), kThreads, 0, s>>>(y, n, seed, nullptr, c0, mean, std);
  NN_LAUNCH_CHECK(s);
}

void normal_fill_cuda(float* y, int64_t n, uint64_t seed, const int64_t* c0_device, float mean, float std,
                      cudaStream_t s) {
  if (n == 0) return;
  normal_fill_kernel<<<grid_for(n), kThreads, 0, s>>>(y, n, seed, c0_device, 0, mean, std);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
