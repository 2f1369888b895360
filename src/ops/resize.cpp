// resize.cpp — resize_bilinear(x (N,C,H,W), out_h, out_w) -> (N,C,out_h,out_w), as PyTorch's
// F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False) (no antialias).
//
// Per axis (kernels/resize_math.h, shared with the CUDA kernels), with scale = in / out:
//   src = scale (dst + 0.5) - 0.5, clamped at 0;  i0 = floor(src);  i1 = min(i0 + 1, in - 1);
//   l1 = src - i0;  l0 = 1 - l1
//   forward:  y[oh,ow] = l0h (l0w x[i0h,i0w] + l1w x[i0h,i1w]) + l1h (l0w x[i1h,i0w] + l1w x[i1h,i1w])
//   backward: the transpose, dx[i,j] += sum over outputs (oh,ow) of dy[oh,ow] wh(oh,i) ww(ow,j),
//             where wh(oh,i) is the weight output row oh gives input row i (l0h if i0h = i, plus
//             l1h if i1h = i), i.e. each output scatter-adds its four bilinear weights times dy.
// The same size in and out is the identity (src = dst exactly, l1 = 0).
//
// CPU: the loops below (backward as that scatter). CUDA: kernels/resize.cu, one thread per output
// in the forward and, in the backward, a GATHER (one thread per input element summing the outputs
// that read it, with the exact weights recomputed by linear_taps): no atomics, deterministic.
// Tests: tests/test_resize.cpp (Gradcheck.resize_bilinear, CudaParity.resize_bilinear, Resize.*).
//
// upsample_nearest2d(x (N,C,H,W), s) -> (N,C,sH,sW), as F.interpolate(x, scale_factor=s,
// mode="nearest") for an integer s >= 1 (the SNGAN generator's x2 upsampling):
//   forward:  y[oh, ow] = x[oh / s, ow / s]
//   backward: dx[i, j] += sum over a, b in [0, s) of dy[i s + a, j s + b]
// Both directions are gathers (kernels/resize_math.h, upsample_nearest_grad_at), one element per
// output (forward) or per input (backward), on the CPU and in kernels/resize.cu alike.
// Tests: tests/test_resize.cpp (Gradcheck.upsample_nearest2d, CudaParity.upsample_nearest2d, Upsample.*).
#include "op_util.h"
#include "resize_math.h"

namespace nn {

namespace {

// x (NC, H, W) -> y (NC, OH, OW).
template <class T>
void resize_bilinear_fwd_cpu(const T* x, T* y, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  const T sh = resize_scale<T>(H, OH), sw = resize_scale<T>(W, OW);
  for (int64_t p = 0; p < NC; ++p)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const LinearTaps<T> th = linear_taps(oh, H, sh);
      for (int64_t ow = 0; ow < OW; ++ow)
        y[(p * OH + oh) * OW + ow] = bilinear_sample(x + p * H * W, W, th, linear_taps(ow, W, sw));
    }
}

// dx += the transpose: each output adds dy times its four weights to the pixels it read.
template <class T>
void resize_bilinear_bwd_cpu(const T* dy, T* dx, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  const T sh = resize_scale<T>(H, OH), sw = resize_scale<T>(W, OW);
  for (int64_t p = 0; p < NC; ++p) {
    T* plane = dx + p * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const LinearTaps<T> th = linear_taps(oh, H, sh);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const LinearTaps<T> tw = linear_taps(ow, W, sw);
        const T g = dy[(p * OH + oh) * OW + ow];
        plane[th.i0 * W + tw.i0] += g * th.l0 * tw.l0;
        plane[th.i0 * W + tw.i1] += g * th.l0 * tw.l1;
        plane[th.i1 * W + tw.i0] += g * th.l1 * tw.l0;
        plane[th.i1 * W + tw.i1] += g * th.l1 * tw.l1;
      }
    }
  }
}

template <class T>
void upsample_nearest_fwd_cpu(const T* x, T* y, int64_t NC, int64_t H, int64_t W, int64_t s) {
  const int64_t OH = H * s, OW = W * s;
  for (int64_t p = 0; p < NC; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) y[(p * OH + oh) * OW + ow] = upsample_nearest_at(x + p * H * W, W, oh, ow, s);
}

template <class T>
void upsample_nearest_bwd_cpu(const T* dy, T* dx, int64_t NC, int64_t H, int64_t W, int64_t s) {
  const int64_t OW = W * s;
  for (int64_t p = 0; p < NC; ++p)
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j)
        dx[(p * H + i) * W + j] += upsample_nearest_grad_at(dy + p * H * s * OW, OW, i, j, s);
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  const char* op = "upsample_nearest2d";
  OpScope scope(op, {&x});
  check_defined(op, x, "input");
  check_op_tensors(op, {&x});
  NN_CHECK(x.dim() == 4, op, ": input must be 4-D (N,C,H,W), got ", shape_str(x.shape()));
  NN_CHECK(scale >= 1 && scale <= 64, op, ": scale factor must be a whole number in [1, 64], got ", scale);
  const int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1), H * scale, W * scale}, x.dtype(), x.device());
  if (x.is_cuda()) {
    NN_CUDA_ONLY(upsample_nearest_fwd_cuda(x.data<float>(), y.data<float>(), NC, H, W, scale, op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      upsample_nearest_fwd_cpu<T>(x.data<T>(), y.data<T>(), NC, H, W, scale);
    });
  }
  record_op(y, op, {x}, [x, NC, H, W, scale](const Tensor& dy) {
    if (!wants_grad(x)) return;
    Tensor dx = x.ensure_grad();
    if (dy.is_cuda()) {
      NN_CUDA_ONLY(upsample_nearest_bwd_cuda(dy.data<float>(), dx.data<float>(), NC, H, W, scale, op_stream()));
    } else {
      dispatch_float(dy.dtype(), [&](auto zero) {
        using T = decltype(zero);
        upsample_nearest_bwd_cpu<T>(dy.data<T>(), dx.data<T>(), NC, H, W, scale);
      });
    }
  });
  return y;
}

Tensor resize_bilinear(const Tensor& x, int64_t out_h, int64_t out_w) {
  const char* op = "resize_bilinear";
  OpScope scope(op, {&x});
  check_defined(op, x, "input");
  check_op_tensors(op, {&x});
  NN_CHECK(x.dim() == 4, op, ": input must be 4-D (N,C,H,W), got ", shape_str(x.shape()));
  for (int64_t d : x.shape()) NN_CHECK(d > 0, op, ": input ", shape_str(x.shape()), " has an empty dimension");
  NN_CHECK(out_h >= 1 && out_w >= 1, op, ": output size (", out_h, ",", out_w, ") must be positive, input ",
           shape_str(x.shape()));
  const int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  if (x.is_cuda()) {
    NN_CUDA_ONLY(resize_bilinear_fwd_cuda(x.data<float>(), y.data<float>(), NC, H, W, out_h, out_w, op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      resize_bilinear_fwd_cpu<T>(x.data<T>(), y.data<T>(), NC, H, W, out_h, out_w);
    });
  }
  record_op(y, op, {x}, [x, NC, H, W, out_h, out_w](const Tensor& dy) {
    Tensor dx = x.ensure_grad();
    if (dy.is_cuda()) {
      NN_CUDA_ONLY(resize_bilinear_bwd_cuda(dy.data<float>(), dx.data<float>(), NC, H, W, out_h, out_w, op_stream()));
    } else {
      dispatch_float(dy.dtype(), [&](auto zero) {
        using T = decltype(zero);
        resize_bilinear_bwd_cpu<T>(dy.data<T>(), dx.data<T>(), NC, H, W, out_h, out_w);
      });
    }
  });
  return y;
}

}  // namespace nn
