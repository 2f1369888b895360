// resize.cu — CUDA kernels of resize_bilinear (src/ops/resize.cpp). The per-axis taps and the
// blend are in resize_math.h, shared with the CPU loops.
//
//   forward:  one thread per output pixel: two linear_taps() and one bilinear_sample().
//   backward: a GATHER, one thread per input pixel (i, j):
//               dx[i,j] += sum_oh wh(oh,i) sum_ow ww(ow,j) dy[oh,ow]
//             over the output rows/columns that can read it (linear_covering_outputs, a range
//             with a safety margin), each weight recomputed exactly by linear_taps() +
//             linear_weight() (0 for the margin). Every dx element is written by one thread in a
//             fixed order: no atomics, the same bits every run. (A scatter with atomicAdd would
//             make the ~(out/in)^2 outputs of an upsampling collide on the same input pixel and
//             round differently from run to run.) The CPU twin is the scatter; same terms, other order.
// Also upsample_nearest2d's two gathers (below).
// Tests: tests/test_resize.cpp (CudaParity.resize_bilinear, CudaParity.upsample_nearest2d); validated and timed in
// bench/bench_kernels.cpp.
#include <cstdint>

#include "kernels.h"
#include "launch.cuh"
#include "resize_math.h"

namespace nn {

namespace {

__global__ void resize_bilinear_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, int64_t H,
                                           int64_t W, int64_t OH, int64_t OW, float sh, float sw) {
  NN_GRID_STRIDE_LOOP(o, n) {
    const int64_t ow = o % OW, rest = o / OW;
    const int64_t oh = rest % OH, p = rest / OH;
    y[o] = bilinear_sample(x + p * H * W, W, linear_taps(oh, H, sh), linear_taps(ow, W, sw));
  }
}

__global__ void resize_bilinear_bwd_kernel(const float* __restrict__ dy, float* __restrict__ dx, int64_t n, int64_t H,
                                           int64_t W, int64_t OH, int64_t OW, float sh, float sw) {
  NN_GRID_STRIDE_LOOP(i, n) {
    const int64_t iw = i % W, rest = i / W;
    const int64_t ih = rest % H, p = rest / H;
    int64_t oh0, oh1, ow0, ow1;
    linear_covering_outputs(ih, OH, sh, &oh0, &oh1);
    linear_covering_outputs(iw, OW, sw, &ow0, &ow1);
    const float* plane = dy + p * OH * OW;
    float acc = 0.0f;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const float wh = linear_weight(linear_taps(oh, H, sh), ih);
      if (wh == 0.0f) continue;
      float row = 0.0f;
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const float ww = linear_weight(linear_taps(ow, W, sw), iw);
        if (ww != 0.0f) row += ww * plane[oh * OW + ow];
      }
      acc += wh * row;
    }
    dx[i] += acc;
  }
}

// upsample_nearest2d: one thread per output (forward), one per input (backward, the gather of
// upsample_nearest_grad_at, in the CPU's order).
__global__ void upsample_nearest_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, int64_t H,
                                            int64_t W, int64_t s) {
  const int64_t OH = H * s, OW = W * s;
  NN_GRID_STRIDE_LOOP(o, n) {
    const int64_t ow = o % OW, rest = o / OW;
    const int64_t oh = rest % OH, p = rest / OH;
    y[o] = upsample_nearest_at(x + p * H * W, W, oh, ow, s);
  }
}

__global__ void upsample_nearest_bwd_kernel(const float* __restrict__ dy, float* __restrict__ dx, int64_t n, int64_t H,
                                            int64_t W, int64_t s) {
  const int64_t OW = W * s;
  NN_GRID_STRIDE_LOOP(i, n) {
    const int64_t j = i % W, rest = i / W;
    const int64_t r = rest % H, p = rest / H;
    dx[i] += upsample_nearest_grad_at(dy + p * H * s * OW, OW, r, j, s);
  }
}

}  // namespace

void upsample_nearest_fwd_cuda(const float* x, float* y, int64_t NC, int64_t H, int64_t W, int64_t s,
                               cudaStream_t stream) {
  const int64_t n = NC * H * s * W * s;
  if (n == 0) return;
  upsample_nearest_fwd_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, y, n, H, W, s);
  NN_LAUNCH_CHECK(stream);
}

void upsample_nearest_bwd_cuda(const float* dy, float* dx, int64_t NC, int64_t H, int64_t W, int64_t s,
                               cudaStream_t stream) {
  const int64_t n = NC * H * W;
  if (n == 0) return;
  upsample_nearest_bwd_kernel<<<grid_for(n), kThreads, 0, stream>>>(dy, dx, n, H, W, s);
  NN_LAUNCH_CHECK(stream);
}

void resize_bilinear_fwd_cuda(const float* x, float* y, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              cudaStream_t s) {
  const int64_t n = NC * OH * OW;
  if (n == 0) return;
  resize_bilinear_fwd_kernel<<<grid_for(n), kThreads, 0, s>>>(x, y, n, H, W, OH, OW, resize_scale<float>(H, OH),
                                                              resize_scale<float>(W, OW));
  NN_LAUNCH_CHECK(s);
}

void resize_bilinear_bwd_cuda(const float* dy, float* dx, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              cudaStream_t s) {
  const int64_t n = NC * H * W;
  if (n == 0) return;
  resize_bilinear_bwd_kernel<<<grid_for(n), kThreads, 0, s>>>(dy, dx, n, H, W, OH, OW, resize_scale<float>(H, OH),
                                                              resize_scale<float>(W, OW));
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
