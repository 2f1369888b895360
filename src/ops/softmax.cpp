// softmax.cpp — softmax(x) over the last dimension of a 2-D (N,K) tensor, as
// torch.softmax(x, dim=1), computed max-subtracted so that no exponential overflows:
//
//   forward:  m_n = max_k x[n,k],  e = exp(x - m_n),  y[n,k] = e[n,k] / sum_j e[n,j]
//   backward: dx[n,k] += y[n,k] (dy[n,k] - sum_j dy[n,j] y[n,j])
//             (the Jacobian dy_k/dx_j = y_k (delta_kj - y_j), applied to dy)
//
// The backward reads the saved output y, not x. Per-element formulas in kernels/softmax_math.h,
// shared with kernels/softmax.cu (one block per row, fixed-order reductions).
// Tests: tests/test_softmax.cpp (Gradcheck.softmax, CudaParity.softmax, Softmax.*).
#include "op_util.h"
#include "softmax_math.h"

namespace nn {

namespace {

template <class T>
void softmax_fwd_cpu(const T* x, T* y, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * K;
    T* yr = y + n * K;
    T m = xr[0];
    for (int64_t k = 1; k < K; ++k) m = xr[k] > m ? xr[k] : m;
    T s = T(0);
    for (int64_t k = 0; k < K; ++k) {
      yr[k] = softmax_exp(xr[k], m);
      s += yr[k];
    }
    for (int64_t k = 0; k < K; ++k) yr[k] = yr[k] / s;
  }
}

template <class T>
void softmax_bwd_cpu(const T* y, const T* dy, T* dx, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    const T* yr = y + n * K;
    const T* gr = dy + n * K;
    T dot = T(0);
    for (int64_t k = 0; k < K; ++k) dot += gr[k] * yr[k];
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] += softmax_dx(yr[k], gr[k], dot);
  }
}

}  // namespace

Tensor softmax(const Tensor& x) {
  const char* op = "softmax";
  OpScope scope(op, {&x});
  check_defined(op, x, "input");
  check_op_tensors(op, {&x});
  NN_CHECK(x.dim() == 2, op, ": input must be 2-D (N,K), got ", shape_str(x.shape()));
  NN_CHECK(x.size(1) > 0, op, ": input ", shape_str(x.shape()), " has no classes (K = 0)");
  const int64_t N = x.size(0), K = x.size(1);
  Tensor y = Tensor::empty_like(x);
  if (x.is_cuda()) {
    NN_CUDA_ONLY(softmax_fwd_cuda(x.data<float>(), y.data<float>(), N, K, op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      softmax_fwd_cpu<T>(x.data<T>(), y.data<T>(), N, K);
    });
  }
  const Tensor saved = y.detach();  // detached: no reference cycle through y's own node
  record_op(y, op, {x}, [x, saved, N, K](const Tensor& dy) {
    Tensor dx = x.ensure_grad();
    if (dy.is_cuda()) {
      NN_CUDA_ONLY(softmax_bwd_cuda(saved.data<float>(), dy.data<float>(), dx.data<float>(), N, K, op_stream()));
    } else {
      dispatch_float(dy.dtype(), [&](auto zero) {
        using T = decltype(zero);
        softmax_bwd_cpu<T>(saved.data<T>(), dy.data<T>(), dx.data<T>(), N, K);
      });
    }
  });
  return y;
}

}  // namespace nn
