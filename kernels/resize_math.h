// resize_math.h — bilinear resizing as PyTorch's F.interpolate(mode="bilinear",
// align_corners=False) with an explicit output size and no antialiasing, shared by the CPU loops
// (src/ops/resize.cpp) and the CUDA kernels (kernels/resize.cu).
//
// Along one axis (in -> out elements), scale = in / out (computed in T: float for float32, as
// PyTorch), and output index d reads
//   src = scale (d + 0.5) - 0.5, clamped at 0 from below      (half-pixel centres)
//   i0  = floor(src),  i1 = i0 + 1, or i0 itself when i0 is the last index (border clamp)
//   l1  = src - i0,    l0 = 1 - l1
// A 2-D output pixel blends four input pixels with the products of the two axes' weights:
//   y[oh,ow] = l0h (l0w x[i0h,i0w] + l1w x[i0h,i1w]) + l1h (l0w x[i1h,i0w] + l1w x[i1h,i1w])
// Backward is the transpose: dx[i,j] += dy[oh,ow] wh(oh,i) ww(ow,j), where wh(oh,i) is the
// weight output row oh gives input row i (l0 if i0 == i, plus l1 if i1 == i: at the border both
// taps land on the same row and their weights add up to 1).
//
// Tests: tests/test_resize.cpp.
#pragma once
#include <cstdint>

#include "hd.h"

namespace nn {

template <class T>
struct LinearTaps {
  int64_t i0, i1;
  T l0, l1;
};

template <class T>
NN_HD T resize_scale(int64_t in_size, int64_t out_size) {
  return static_cast<T>(in_size) / static_cast<T>(out_size);
}

template <class T>
NN_HD LinearTaps<T> linear_taps(int64_t dst, int64_t in_size, T scale) {
  T src = scale * (static_cast<T>(dst) + T(0.5)) - T(0.5);
  if (src < T(0)) src = T(0);
  int64_t i0 = static_cast<int64_t>(src);  // floor: src >= 0
  if (i0 > in_size - 1) i0 = in_size - 1;  // never taken (src < in - 0.5); guards rounding
  LinearTaps<T> t;
  t.i0 = i0;
  t.i1 = i0 < in_size - 1 ? i0 + 1 : i0;
  t.l1 = src - static_cast<T>(i0);
  t.l0 = T(1) - t.l1;
  return t;
}

// The weight that the output with taps `t` gives input index i (0 when it does not read i).
template <class T>
NN_HD T linear_weight(const LinearTaps<T>& t, int64_t i) {
  return (t.i0 == i ? t.l0 : T(0)) + (t.i1 == i ? t.l1 : T(0));
}

template <class T>
NN_HD T bilinear_sample(const T* plane, int64_t W, const LinearTaps<T>& th, const LinearTaps<T>& tw) {
  const T* r0 = plane + th.i0 * W;
  const T* r1 = plane + th.i1 * W;
  return th.l0 * (tw.l0 * r0[tw.i0] + tw.l1 * r0[tw.i1]) + th.l1 * (tw.l0 * r1[tw.i0] + tw.l1 * r1[tw.i1]);
}

// Along one axis: a range [*lo, *hi) of outputs that contains every output giving input index i a
// non-zero weight (those with i0 in {i-1, i}, i.e. src in [i-1, i+1)), with a margin of two on
// each side so that rounding cannot lose one; the gather then asks linear_weight() for the exact
// weight (0 for the margin). Tests: Resize.GatherRangeContainsEveryReader.
template <class T>
NN_HD void linear_covering_outputs(int64_t i, int64_t out_size, T scale, int64_t* lo, int64_t* hi) {
  const T a = (static_cast<T>(i) - T(0.5)) / scale - T(0.5);  // src(o) = i - 1
  const T b = (static_cast<T>(i) + T(1.5)) / scale - T(0.5);  // src(o) = i + 1
  const int64_t l = static_cast<int64_t>(a) - 2;              // truncation rounds towards 0: the margin covers it
  const int64_t h = static_cast<int64_t>(b) + 2;
  *lo = l > 0 ? l : 0;
  *hi = h < out_size ? h : out_size;
}

// ---- upsample_nearest2d: nearest-neighbour upsampling by an integer factor s, as PyTorch's
// F.interpolate(x, scale_factor=s, mode="nearest") (for an integer s its source index
// floor(dst * in / out) is exactly dst / s). Output (oh, ow) reads input (oh / s, ow / s).
//   forward:  y[oh, ow] = x[oh / s, ow / s]
//   backward: dx[i, j] = sum over a, b in [0, s) of dy[i s + a, j s + b]
// The backward is this gather, in this order (a outer, b inner), on the CPU and on the GPU alike.
template <class T>
NN_HD T upsample_nearest_at(const T* x_plane, int64_t W, int64_t oh, int64_t ow, int64_t s) {
  return x_plane[(oh / s) * W + ow / s];
}

template <class T>
NN_HD T upsample_nearest_grad_at(const T* dy_plane, int64_t OW, int64_t i, int64_t j, int64_t s) {
  T acc = T(0);
  for (int64_t a = 0; a < s; ++a)
    for (int64_t b = 0; b < s; ++b) acc += dy_plane[(i * s + a) * OW + j * s + b];
  return acc;
}

}  // namespace nn
