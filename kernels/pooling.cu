// pooling.cu — CUDA kernels of max_pool2d, avg_pool2d and global_avg_pool2d. The window
// arithmetic and per-window formulas are in pooling_math.h, shared with the CPU loops in
// src/ops/pooling.cpp.
//
//   forward:   one thread per OUTPUT element, scanning its window (pool_window, max_pool_window,
//              avg_pool_window).
//   backward:  one thread per INPUT element, gathering over the windows that cover it
//              (pool_covering_outputs): max sums the dy of the windows whose argmax is this element,
//              avg sums dy / divisor. Each dx element is written by one thread in a fixed order: no
//              atomics, the same bits every run (the CPU twin is a scatter; same terms, other order).
//   global average: one warp per plane, lanes sum strided elements, a shuffle tree in fixed order.
//
// Flat indices are split with 32-bit arithmetic when the tensor allows it (64-bit division is
// several times slower on the GPU), else 64-bit.
// Tests: tests/test_pooling.cpp (CudaParity.max_pool2d, CudaParity.avg_pool2d,
// CudaParity.global_avg_pool2d); validated and timed in bench/bench_kernels.cpp.
#include <cstdint>

#include "kernels.h"
#include "launch.cuh"

namespace nn {

namespace {

// Splits flat index i of a (planes, rows, cols) tensor.
template <class I>
struct Split3 {
  int64_t p, r, c;
  __device__ Split3(int64_t flat, int64_t rows, int64_t cols) {
    const I i = static_cast<I>(flat), R = static_cast<I>(rows), C = static_cast<I>(cols);
    const I rc = i / C;
    c = static_cast<int64_t>(i - rc * C);
    r = static_cast<int64_t>(rc % R);
    p = static_cast<int64_t>(rc / R);
  }
};

template <class I>
__global__ void max_pool2d_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int32_t* __restrict__ argmax,
                                      int64_t n, PoolGeom g) {
  NN_GRID_STRIDE_LOOP(o, n) {
    const Split3<I> at(o, g.OH, g.OW);
    int32_t arg = 0;
    y[o] = max_pool_window(x + at.p * g.H * g.W, g.W, pool_window(g, at.r, at.c), &arg);
    if (argmax != nullptr) argmax[o] = arg;
  }
}

template <class I>
__global__ void max_pool2d_bwd_kernel(const float* __restrict__ dy, const int32_t* __restrict__ argmax,
                                      float* __restrict__ dx, int64_t n, PoolGeom g) {
  NN_GRID_STRIDE_LOOP(i, n) {
    const Split3<I> at(i, g.H, g.W);
    int64_t oh0, oh1, ow0, ow1;
    pool_covering_outputs(at.r, g.kernel_h, g.stride_h, g.pad_h, g.OH, &oh0, &oh1);
    pool_covering_outputs(at.c, g.kernel_w, g.stride_w, g.pad_w, g.OW, &ow0, &ow1);
    const int32_t self = static_cast<int32_t>(at.r * g.W + at.c);
    const int64_t base = at.p * g.OH * g.OW;
    float acc = 0.0f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t o = base + oh * g.OW + ow;
        if (argmax[o] == self) acc += dy[o];
      }
    dx[i] += acc;
  }
}

template <class I>
__global__ void avg_pool2d_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, PoolGeom g,
                                      bool count_include_pad) {
  NN_GRID_STRIDE_LOOP(o, n) {
    const Split3<I> at(o, g.OH, g.OW);
    y[o] = avg_pool_window(x + at.p * g.H * g.W, g.W, pool_window(g, at.r, at.c), count_include_pad);
  }
}

template <class I>
__global__ void avg_pool2d_bwd_kernel(const float* __restrict__ dy, float* __restrict__ dx, int64_t n, PoolGeom g,
                                      bool count_include_pad) {
  NN_GRID_STRIDE_LOOP(i, n) {
    const Split3<I> at(i, g.H, g.W);
    int64_t oh0, oh1, ow0, ow1;
    pool_covering_outputs(at.r, g.kernel_h, g.stride_h, g.pad_h, g.OH, &oh0, &oh1);
    pool_covering_outputs(at.c, g.kernel_w, g.stride_w, g.pad_w, g.OW, &ow0, &ow1);
    const int64_t base = at.p * g.OH * g.OW;
    float acc = 0.0f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const float divisor = static_cast<float>(avg_pool_divisor(pool_window(g, oh, ow), count_include_pad));
        acc += dy[base + oh * g.OW + ow] / divisor;
      }
    dx[i] += acc;
  }
}

bool fits_32(int64_t n) { return n <= INT32_MAX; }

// One warp per plane (warps stride over the planes); the shuffle tree adds in a fixed order.
__global__ void global_avg_pool2d_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t NC,
                                             int64_t HW) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t p = warp; p < NC; p += warps) {  // p is the same for the whole warp
    const float* plane = x + p * HW;
    float acc = 0.0f;
    for (int64_t i = lane; i < HW; i += 32) acc += plane[i];
    for (int offset = 16; offset > 0; offset /= 2) acc += __shfl_down_sync(0xffffffffu, acc, offset);
    if (lane == 0) y[p] = acc / static_cast<float>(HW);
  }
}

__global__ void global_avg_pool2d_bwd_kernel(const float* __restrict__ dy, float* __restrict__ dx, int64_t n,
                                             int64_t HW) {
  NN_GRID_STRIDE_LOOP(i, n) { dx[i] += dy[i / HW] / static_cast<float>(HW); }
}

}  // namespace

void max_pool2d_fwd_cuda(const float* x, float* y, int32_t* argmax, int64_t NC, const PoolGeom& g, cudaStream_t s) {
  const int64_t n = NC * g.OH * g.OW;
  if (n == 0) return;
  if (fits_32(NC * g.H * g.W) && fits_32(n)) {
    max_pool2d_fwd_kernel<uint32_t><<<grid_for(n), kThreads, 0, s>>>(x, y, argmax, n, g);
  } else {
    max_pool2d_fwd_kernel<int64_t><<<grid_for(n), kThreads, 0, s>>>(x, y, argmax, n, g);
  }
  NN_LAUNCH_CHECK(s);
}

void max_pool2d_bwd_cuda(const float* dy, const int32_t* argmax, float* dx, int64_t NC, const PoolGeom& g,
                         cudaStream_t s) {
  const int64_t n = NC * g.H * g.W;
  if (n == 0) return;
  if (fits_32(n) && fits_32(NC * g.OH * g.OW)) {
    max_pool2d_bwd_kernel<uint32_t><<<grid_for(n), kThreads, 0, s>>>(dy, argmax, dx, n, g);
  } else {
    max_pool2d_bwd_kernel<int64_t><<<grid_for(n), kThreads, 0, s>>>(dy, argmax, dx, n, g);
  }
  NN_LAUNCH_CHECK(s);
}

void avg_pool2d_fwd_cuda(const float* x, float* y, int64_t NC, const PoolGeom& g, bool count_include_pad,
                         cudaStream_t s) {
  const int64_t n = NC * g.OH * g.OW;
  if (n == 0) return;
  if (fits_32(NC * g.H * g.W) && fits_32(n)) {
    avg_pool2d_fwd_kernel<uint32_t><<<grid_for(n), kThreads, 0, s>>>(x, y, n, g, count_include_pad);
  } else {
    avg_pool2d_fwd_kernel<int64_t><<<grid_for(n), kThreads, 0, s>>>(x, y, n, g, count_include_pad);
  }
  NN_LAUNCH_CHECK(s);
}

void avg_pool2d_bwd_cuda(const float* dy, float* dx, int64_t NC, const PoolGeom& g, bool count_include_pad,
                         cudaStream_t s) {
  const int64_t n = NC * g.H * g.W;
  if (n == 0) return;
  if (fits_32(n) && fits_32(NC * g.OH * g.OW)) {
    avg_pool2d_bwd_kernel<uint32_t><<<grid_for(n), kThreads, 0, s>>>(dy, dx, n, g, count_include_pad);
  } else {
    avg_pool2d_bwd_kernel<int64_t><<<grid_for(n), kThreads, 0, s>>>(dy, dx, n, g, count_include_pad);
  }
  NN_LAUNCH_CHECK(s);
}

void global_avg_pool2d_fwd_cuda(const float* x, float* y, int64_t NC, int64_t HW, cudaStream_t s) {
  if (NC == 0) return;
  constexpr int kWarpsPerBlock = kThreads / 32;
  global_avg_pool2d_fwd_kernel<<<grid_for(NC, kWarpsPerBlock), kThreads, 0, s>>>(x, y, NC, HW);
  NN_LAUNCH_CHECK(s);
}

void global_avg_pool2d_bwd_cuda(const float* dy, float* dx, int64_t NC, int64_t HW, cudaStream_t s) {
  const int64_t n = NC * HW;
  if (n == 0) return;
  global_avg_pool2d_bwd_kernel<<<grid_for(n), kThreads, 0, s>>>(dy, dx, n, HW);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
