// spectral_norm.cpp — spectral normalisation (Miyato et al. 2018), as torch.nn.utils.spectral_norm
// computes it with one power iteration per training forward (dim 0, eps 1e-12).
//
// W is the weight seen as the matrix W_mat of shape (rows, cols) = (weight.size(0), the rest):
// (out, in) for a linear layer, (out, in*kh*kw) for a convolution. u (rows) and v (cols) are the
// layer's persistent estimates of W_mat's first singular vectors.
//
//   spectral_norm_power_iteration_(W, u, v):   (in place, no gradient)
//       v = normalize(W_mat^T u),  u = normalize(W_mat v),   normalize(x) = x / max(||x||_2, eps)
//   spectral_normalize(W, u, v) = W / sigma,   sigma = u^T W_mat v
//       backward, u and v held constant (PyTorch clones them in the forward, so does this op):
//       dL/dW = dy / sigma - (<dy, W> / sigma^2) u v^T
//
// The matrix-vector products and reductions are the engine's matmul, mul and sum ops (OpenBLAS or
// cuBLAS); what remains is point-wise (kernels/spectral_norm_math.h), in the CPU loops below and in
// kernels/spectral_norm.cu, reading sigma and the other scalars from device memory (no read-back).
// Tests: tests/test_spectral_norm.cpp (Gradcheck.spectral_normalize, CudaParity.spectral_normalize,
// SpectralNorm.*: the power iteration against hand-computed values, sigma against the largest
// singular value).
#include "op_util.h"
#include "spectral_norm_math.h"

namespace nn {

namespace {

struct MatrixShape {
  int64_t rows, cols;
};

MatrixShape matrix_shape(const char* op, const Tensor& weight, const Tensor& u, const Tensor& v) {
  check_defined(op, weight, "weight");
  check_defined(op, u, "u");
  check_defined(op, v, "v");
  check_op_tensors(op, {&weight, &u, &v});
  NN_CHECK(weight.dim() >= 2, op, ": weight must have at least 2 dimensions, got ", shape_str(weight.shape()));
  const int64_t rows = weight.size(0), cols = weight.numel() / std::max<int64_t>(rows, 1);
  NN_CHECK(rows > 0 && cols > 0, op, ": weight ", shape_str(weight.shape()), " is empty");
  NN_CHECK(u.shape() == Shape({rows}) && v.shape() == Shape({cols}), op, ": weight ", shape_str(weight.shape()),
           " needs u (", rows, ") and v (", cols, "), got ", shape_str(u.shape()), " and ", shape_str(v.shape()));
  return {rows, cols};
}

// x / max(||x||, eps), a new tensor of x's shape on x's device.
Tensor normalized(const Tensor& x, double eps) {
  const Tensor sum_of_squares = sum(mul(x, x));  // 0-dim, on the device
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.is_cuda()) {
    NN_CUDA_ONLY(sn_normalize_cuda(x.data<float>(), sum_of_squares.data<float>(), y.data<float>(), x.numel(),
                                   static_cast<float>(eps), op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T d = sn_norm_divisor(sum_of_squares.data<T>()[0], static_cast<T>(eps));
      const T* in = x.data<T>();
      T* out = y.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] / d;
    });
  }
  return y;
}

}  // namespace

void spectral_norm_power_iteration_(const Tensor& weight, const Tensor& u, const Tensor& v, double eps) {
  const char* op = "spectral_norm_power_iteration_";
  OpScope scope(op, {&weight, &u, &v});
  const MatrixShape m = matrix_shape(op, weight, u, v);
  NoGradGuard no_grad;
  const Tensor w = weight.reshape_view({m.rows, m.cols});
  v.copy_(normalized(matmul(u.reshape_view({1, m.rows}), w), eps).reshape_view({m.cols}));  // W^T u, as a row
  u.copy_(normalized(matmul(w, v.reshape_view({m.cols, 1})), eps).reshape_view({m.rows}));  // W v
}

Tensor spectral_norm_sigma(const Tensor& weight, const Tensor& u, const Tensor& v) {
  const MatrixShape m = matrix_shape("spectral_norm_sigma", weight, u, v);
  NoGradGuard no_grad;
  const Tensor wv = matmul(weight.reshape_view({m.rows, m.cols}), v.reshape_view({m.cols, 1}));
  return sum(mul(u.reshape_view({m.rows, 1}), wv));
}

Tensor spectral_normalize(const Tensor& weight, const Tensor& u_now, const Tensor& v_now) {
  const char* op = "spectral_normalize";
  OpScope scope(op, {&weight, &u_now, &v_now});
  const MatrixShape m = matrix_shape(op, weight, u_now, v_now);
  // The backward needs this forward's u and v, not what a later power iteration makes of them.
  const Tensor u = u_now.clone(), v = v_now.clone();
  const Tensor sigma = spectral_norm_sigma(weight, u, v);
  Tensor y = Tensor::empty(weight.shape(), weight.dtype(), weight.device());
  if (weight.is_cuda()) {
    NN_CUDA_ONLY(sn_divide_by_sigma_cuda(weight.data<float>(), sigma.data<float>(), y.data<float>(), weight.numel(),
                                         op_stream()));
  } else {
    dispatch_float(weight.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T s = sigma.data<T>()[0];
      const T* w = weight.data<T>();
      T* out = y.data<T>();
      for (int64_t i = 0; i < weight.numel(); ++i) out[i] = w[i] / s;
    });
  }
  record_op(y, op, {weight}, [weight, u, v, sigma, m](const Tensor& dy) {
    if (!wants_grad(weight)) return;  // a frozen network (the G step through D) keeps its gradients
    Tensor dw = weight.ensure_grad();
    Tensor dy_dot_w;
    {
      NoGradGuard no_grad;
      dy_dot_w = sum(mul(dy, weight));
    }
    if (dy.is_cuda()) {
      NN_CUDA_ONLY(sn_weight_grad_cuda(dy.data<float>(), sigma.data<float>(), dy_dot_w.data<float>(), u.data<float>(),
                                       v.data<float>(), dw.data<float>(), m.rows, m.cols, op_stream()));
    } else {
      dispatch_float(dy.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T s = sigma.data<T>()[0], d = dy_dot_w.data<T>()[0];
        const T *g = dy.data<T>(), *uu = u.data<T>(), *vv = v.data<T>();
        T* out = dw.data<T>();
        for (int64_t i = 0; i < m.rows; ++i)
          for (int64_t j = 0; j < m.cols; ++j)
            out[i * m.cols + j] += sn_weight_grad(g[i * m.cols + j], s, d, uu[i], vv[j]);
      });
    }
  });
  return y;
}

}  // namespace nn
