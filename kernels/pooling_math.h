// pooling_math.h — the window arithmetic and per-window formulas of max_pool2d and avg_pool2d,
// shared by the CPU loops (src/ops/pooling.cpp) and the CUDA kernels (kernels/pooling.cu).
//
// One plane of x (H,W) pooled to y (OH,OW), floor mode as PyTorch:
//   OH = (H + 2 pad_h - kernel_h) / stride_h + 1          (OW likewise)
// Output (oh, ow) looks at the padded window starting at
//   hs = oh stride_h - pad_h,  he = min(hs + kernel_h, H + pad_h)       (ws, we likewise)
// clipped to the input: [max(hs,0), min(he,H)) x [max(ws,0), min(we,W)).
//
//   max:  y = max over the clipped window (padding acts as -inf); argmax = h W + w of the FIRST
//         maximum in row-major scan order (a later equal value does not replace it); a NaN
//         wins (the last NaN's index), as PyTorch's CPU kernel. Backward: dx[argmax] += dy.
//   avg:  y = sum over the clipped window / divisor, where divisor is
//           count_include_pad:  (he - hs)(we - ws)  (the padded window, zeros counted)
//           otherwise:          the number of in-bounds elements (a corner of a 3x3 pad-1 window
//                               divides by 4)
//         Backward: dx[h,w] += dy[oh,ow] / divisor(oh,ow) for every window that covers (h,w).
//
// The op requires pad <= kernel/2 (PyTorch's rule), so every window holds at least one input
// element: max never returns -inf and the divisor is never 0.
//
// Tests: tests/test_pooling.cpp.
#pragma once
#include <cstdint>

#include "hd.h"

namespace nn {

// The geometry of one pooling: sizes of an input plane and an output plane, and the window.
struct PoolGeom {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};

// The clipped window [h0,h1) x [w0,w1) of one output, and the size of its padded window.
struct PoolWindow {
  int64_t h0, h1, w0, w1;
  int64_t padded_count;
};

NN_HD PoolWindow pool_window(const PoolGeom& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.stride_h - g.pad_h, ws = ow * g.stride_w - g.pad_w;
  const int64_t he = hs + g.kernel_h < g.H + g.pad_h ? hs + g.kernel_h : g.H + g.pad_h;
  const int64_t we = ws + g.kernel_w < g.W + g.pad_w ? ws + g.kernel_w : g.W + g.pad_w;
  PoolWindow w;
  w.padded_count = (he - hs) * (we - ws);
  w.h0 = hs > 0 ? hs : 0;
  w.w0 = ws > 0 ? ws : 0;
  w.h1 = he < g.H ? he : g.H;
  w.w1 = we < g.W ? we : g.W;
  return w;
}

NN_HD int64_t avg_pool_divisor(const PoolWindow& w, bool count_include_pad) {
  return count_include_pad ? w.padded_count : (w.h1 - w.h0) * (w.w1 - w.w0);
}

// Max over the window of one plane (row-major, width W); *argmax = h W + w of the first maximum.
template <class T>
NN_HD T max_pool_window(const T* plane, int64_t W, const PoolWindow& w, int32_t* argmax) {
  T best = plane[w.h0 * W + w.w0];
  int64_t best_i = w.h0 * W + w.w0;
  for (int64_t h = w.h0; h < w.h1; ++h)
    for (int64_t c = w.w0; c < w.w1; ++c) {
      const T v = plane[h * W + c];
      // Strictly greater keeps the first of equal values; v != v (NaN) propagates, as PyTorch.
      if (v > best || v != v) {
        best = v;
        best_i = h * W + c;
      }
    }
  *argmax = static_cast<int32_t>(best_i);
  return best;
}

template <class T>
NN_HD T avg_pool_window(const T* plane, int64_t W, const PoolWindow& w, bool count_include_pad) {
  T sum = T(0);
  for (int64_t h = w.h0; h < w.h1; ++h)
    for (int64_t c = w.w0; c < w.w1; ++c) sum += plane[h * W + c];
  return sum / static_cast<T>(avg_pool_divisor(w, count_include_pad));
}

// Along one axis: the outputs [*lo, *hi) whose (unclipped) window covers input index i, i.e.
// o stride - pad <= i < o stride - pad + kernel. The backward kernels gather with it.
NN_HD void pool_covering_outputs(int64_t i, int64_t kernel, int64_t stride, int64_t pad, int64_t out_size, int64_t* lo,
                                 int64_t* hi) {
  const int64_t ip = i + pad;  // >= 0
  *lo = ip < kernel ? 0 : (ip - kernel) / stride + 1;
  const int64_t h = ip / stride + 1;
  *hi = h < out_size ? h : out_size;
}

}  // namespace nn
