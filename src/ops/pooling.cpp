// pooling.cpp — max_pool2d, avg_pool2d and global_avg_pool2d over (N,C,H,W), as PyTorch's
// F.max_pool2d, F.avg_pool2d (floor mode, no divisor override) and F.adaptive_avg_pool2d(x, 1).
//
// Every plane (n, c) is pooled on its own. With the window of output (oh, ow) clipped to the input
// (kernels/pooling_math.h has the exact arithmetic, shared with the CUDA kernels):
//   output size   OH = (H + 2 pad_h - kernel_h) / stride_h + 1      (floor; OW likewise)
//   max_pool2d    y = max over the window; padding acts as -inf, so only input elements compete.
//                 When a backward can follow, the forward saves argmax (int32, h W + w within the
//                 plane, the FIRST maximum in row-major order, as PyTorch; not kept in inference).
//                 backward: dx[argmax] += dy
//   avg_pool2d    y = sum over the window / divisor
//                   divisor = kernel_h kernel_w (count_include_pad: padded zeros count)
//                           = number of in-bounds elements (otherwise: a corner of a 3x3 pad-1
//                             window divides by 4, an edge by 6)
//                 backward: dx[h,w] += sum over the windows covering (h,w) of dy / divisor
//   global_avg_pool2d  (N,C,H,W) -> (N,C,1,1):  y = (1/HW) sum_hw x;   backward: dx += dy / HW
//
// Arguments as PyTorch: kernel >= 1, stride >= 1, 0 <= pad <= kernel / 2 (so no window is all
// padding). The max gradient goes to one element per window, so gradchecks use distinct values.
//
// CPU: the loops below (backward as a scatter, the plainest statement of the transpose).
// CUDA: kernels/pooling.cu, one thread per output in the forward and one thread per INPUT
// element in the backward (a gather over the windows that cover it: no atomics, deterministic).
// Tests: tests/test_pooling.cpp (Gradcheck.max_pool2d, Gradcheck.avg_pool2d,
// Gradcheck.global_avg_pool2d, CudaParity.*, Pooling.*).
#include <cstdint>

#include "op_util.h"
#include "pooling_math.h"

namespace nn {

namespace {

// ---------------------------------------------------------------- CPU reference

// x (NC, H, W) -> y (NC, OH, OW), argmax (NC, OH, OW) unless null (no backward to come).
template <class T>
void max_pool2d_fwd_cpu(const PoolGeom& g, int64_t NC, const T* x, T* y, int32_t* argmax) {
  for (int64_t p = 0; p < NC; ++p) {
    const T* plane = x + p * g.H * g.W;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t o = (p * g.OH + oh) * g.OW + ow;
        int32_t arg = 0;
        y[o] = max_pool_window(plane, g.W, pool_window(g, oh, ow), &arg);
        if (argmax != nullptr) argmax[o] = arg;
      }
  }
}

// dx[p, argmax] += dy: each output's gradient goes to the element it picked.
template <class T>
void max_pool2d_bwd_cpu(const PoolGeom& g, int64_t NC, const T* dy, const int32_t* argmax, T* dx) {
  const int64_t out_plane = g.OH * g.OW;
  for (int64_t p = 0; p < NC; ++p)
    for (int64_t o = 0; o < out_plane; ++o) dx[p * g.H * g.W + argmax[p * out_plane + o]] += dy[p * out_plane + o];
}

template <class T>
void avg_pool2d_fwd_cpu(const PoolGeom& g, int64_t NC, bool count_include_pad, const T* x, T* y) {
  for (int64_t p = 0; p < NC; ++p) {
    const T* plane = x + p * g.H * g.W;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        y[(p * g.OH + oh) * g.OW + ow] = avg_pool_window(plane, g.W, pool_window(g, oh, ow), count_include_pad);
  }
}

// Every output spreads dy / divisor over the input elements of its window.
template <class T>
void avg_pool2d_bwd_cpu(const PoolGeom& g, int64_t NC, bool count_include_pad, const T* dy, T* dx) {
  for (int64_t p = 0; p < NC; ++p) {
    T* plane = dx + p * g.H * g.W;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const PoolWindow w = pool_window(g, oh, ow);
        const T share = dy[(p * g.OH + oh) * g.OW + ow] / static_cast<T>(avg_pool_divisor(w, count_include_pad));
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t c = w.w0; c < w.w1; ++c) plane[h * g.W + c] += share;
      }
  }
}

// x (NC, HW) -> y (NC): plane means.
template <class T>
void global_avg_pool2d_fwd_cpu(int64_t NC, int64_t HW, const T* x, T* y) {
  for (int64_t p = 0; p < NC; ++p) {
    T sum = T(0);
    for (int64_t i = 0; i < HW; ++i) sum += x[p * HW + i];
    y[p] = sum / static_cast<T>(HW);
  }
}

template <class T>
void global_avg_pool2d_bwd_cpu(int64_t NC, int64_t HW, const T* dy, T* dx) {
  for (int64_t p = 0; p < NC; ++p) {
    const T share = dy[p] / static_cast<T>(HW);
    for (int64_t i = 0; i < HW; ++i) dx[p * HW + i] += share;
  }
}

// ---------------------------------------------------------------- checks

void check_image(const char* op, const Tensor& x) {
  check_defined(op, x, "input");
  check_op_tensors(op, {&x});
  NN_CHECK(x.dim() == 4, op, ": input must be 4-D (N,C,H,W), got ", shape_str(x.shape()));
  for (int64_t d : x.shape()) NN_CHECK(d > 0, op, ": input ", shape_str(x.shape()), " has an empty dimension");
}

// The geometry of a windowed pooling of x, checked as PyTorch checks it.
PoolGeom pool_geometry(const char* op, const Tensor& x, const Pool2dArgs& a) {
  check_image(op, x);
  NN_CHECK(a.kernel_h >= 1 && a.kernel_w >= 1, op, ": kernel must be >= 1, got (", a.kernel_h, ",", a.kernel_w, ")");
  NN_CHECK(a.stride_h >= 1 && a.stride_w >= 1, op, ": stride must be >= 1, got (", a.stride_h, ",", a.stride_w, ")");
  NN_CHECK(a.pad_h >= 0 && a.pad_w >= 0 && a.pad_h <= a.kernel_h / 2 && a.pad_w <= a.kernel_w / 2, op, ": padding (",
           a.pad_h, ",", a.pad_w, ") must be >= 0 and at most half the kernel (", a.kernel_h, ",", a.kernel_w, ")");
  PoolGeom g;
  g.H = x.size(2);
  g.W = x.size(3);
  g.kernel_h = a.kernel_h;
  g.kernel_w = a.kernel_w;
  g.stride_h = a.stride_h;
  g.stride_w = a.stride_w;
  g.pad_h = a.pad_h;
  g.pad_w = a.pad_w;
  const int64_t span_h = g.H + 2 * g.pad_h - g.kernel_h, span_w = g.W + 2 * g.pad_w - g.kernel_w;
  NN_CHECK(span_h >= 0 && span_w >= 0, op, ": input ", shape_str(x.shape()), " padded by (", g.pad_h, ",", g.pad_w,
           ") is smaller than the kernel (", g.kernel_h, ",", g.kernel_w, ")");
  g.OH = span_h / g.stride_h + 1;
  g.OW = span_w / g.stride_w + 1;
  return g;
}

}  // namespace

// ---------------------------------------------------------------- max_pool2d

Tensor max_pool2d(const Tensor& x, const Pool2dArgs& a) {
  const char* op = "max_pool2d";
  OpScope scope(op, {&x});
  const PoolGeom g = pool_geometry(op, x, a);
  // argmax is an index within a plane, stored as int32 like the CUDA kernels read it.
  NN_CHECK(g.H * g.W <= INT32_MAX, op, ": input ", shape_str(x.shape()), " has planes too large for int32 indices");
  const int64_t NC = x.size(0) * x.size(1);
  Tensor y = Tensor::empty({x.size(0), x.size(1), g.OH, g.OW}, x.dtype(), x.device());
  // The indices are only kept when a backward can come (not in inference, e.g. FID features).
  Tensor argmax;
  if (any_requires_grad({x})) argmax = Tensor::empty(y.shape(), DType::I32, x.device());
  int32_t* arg = argmax.defined() ? argmax.data<int32_t>() : nullptr;
  if (x.is_cuda()) {
    NN_CUDA_ONLY(max_pool2d_fwd_cuda(x.data<float>(), y.data<float>(), arg, NC, g, op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      max_pool2d_fwd_cpu<T>(g, NC, x.data<T>(), y.data<T>(), arg);
    });
  }
  record_op(y, op, {x}, [x, argmax, g, NC](const Tensor& dy) {
    Tensor dx = x.ensure_grad();
    if (dy.is_cuda()) {
      NN_CUDA_ONLY(max_pool2d_bwd_cuda(dy.data<float>(), argmax.data<int32_t>(), dx.data<float>(), NC, g, op_stream()));
    } else {
      dispatch_float(dy.dtype(), [&](auto zero) {
        using T = decltype(zero);
        max_pool2d_bwd_cpu<T>(g, NC, dy.data<T>(), argmax.data<int32_t>(), dx.data<T>());
      });
    }
  });
  return y;
}

// ---------------------------------------------------------------- avg_pool2d

Tensor avg_pool2d(const Tensor& x, const Pool2dArgs& a, bool count_include_pad) {
  const char* op = "avg_pool2d";
  OpScope scope(op, {&x});
  const PoolGeom g = pool_geometry(op, x, a);
  const int64_t NC = x.size(0) * x.size(1);
  Tensor y = Tensor::empty({x.size(0), x.size(1), g.OH, g.OW}, x.dtype(), x.device());
  if (x.is_cuda()) {
    NN_CUDA_ONLY(avg_pool2d_fwd_cuda(x.data<float>(), y.data<float>(), NC, g, count_include_pad, op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      avg_pool2d_fwd_cpu<T>(g, NC, count_include_pad, x.data<T>(), y.data<T>());
    });
  }
  record_op(y, op, {x}, [x, g, NC, count_include_pad](const Tensor& dy) {
    Tensor dx = x.ensure_grad();
    if (dy.is_cuda()) {
      NN_CUDA_ONLY(avg_pool2d_bwd_cuda(dy.data<float>(), dx.data<float>(), NC, g, count_include_pad, op_stream()));
    } else {
      dispatch_float(dy.dtype(), [&](auto zero) {
        using T = decltype(zero);
        avg_pool2d_bwd_cpu<T>(g, NC, count_include_pad, dy.data<T>(), dx.data<T>());
      });
    }
  });
  return y;
}

// ---------------------------------------------------------------- global_avg_pool2d

Tensor global_avg_pool2d(const Tensor& x) {
  const char* op = "global_avg_pool2d";
  OpScope scope(op, {&x});
  check_image(op, x);
  const int64_t NC = x.size(0) * x.size(1), HW = x.size(2) * x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1), 1, 1}, x.dtype(), x.device());
  if (x.is_cuda()) {
    NN_CUDA_ONLY(global_avg_pool2d_fwd_cuda(x.data<float>(), y.data<float>(), NC, HW, op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      global_avg_pool2d_fwd_cpu<T>(NC, HW, x.data<T>(), y.data<T>());
    });
  }
  record_op(y, op, {x}, [x, NC, HW](const Tensor& dy) {
    Tensor dx = x.ensure_grad();
    if (dy.is_cuda()) {
      NN_CUDA_ONLY(global_avg_pool2d_bwd_cuda(dy.data<float>(), dx.data<float>(), NC, HW, op_stream()));
    } else {
      dispatch_float(dy.dtype(), [&](auto zero) {
        using T = decltype(zero);
        global_avg_pool2d_bwd_cpu<T>(NC, HW, dy.data<T>(), dx.data<T>());
      });
    }
  });
  return y;
}

}  // namespace nn
