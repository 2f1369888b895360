// activation.cpp — relu, leaky_relu, tanh, sigmoid.
//
//   forward:  y = f(x)                     (elementwise_math.h: act_forward)
//   backward: dx += dy * f'(.)             (act_derivative; through x for relu/leaky relu, through
//                                           the saved output y for tanh/sigmoid)
//
// Tests: tests/test_activation.cpp (Gradcheck.relu ... CudaParity.sigmoid).
#include "cpu_parallel.h"
#include "op_util.h"

namespace nn {

namespace {

void activation_fwd_cpu(ActKind kind, const Tensor& x, const Tensor& y, double slope) {
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
    for (int64_t i = 0; i < n; ++i) yp[i] = act_forward<T>(kind, xp[i], static_cast<T>(slope));
  });
}

void activation_bwd_cpu(ActKind kind, const Tensor& xy, const Tensor& dy, const Tensor& dx, double slope) {
  dispatch_float(xy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* a = xy.data<T>();
    const T* g = dy.data<T>();
    T* d = dx.data<T>();
    const int64_t n = xy.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
    for (int64_t i = 0; i < n; ++i) d[i] += g[i] * act_derivative<T>(kind, a[i], static_cast<T>(slope));
  });
}

Tensor activation(const char* name, ActKind kind, const Tensor& x, double slope) {
  OpScope scope(name, {&x});
  check_defined(name, x, "input");
  check_op_tensors(name, {&x});
  Tensor y = Tensor::empty_like(x);
  if (x.is_cuda()) {
    NN_CUDA_ONLY(activation_fwd_cuda(kind, x.data<float>(), y.data<float>(), x.numel(), static_cast<float>(slope),
                                     op_stream()));
  } else {
    activation_fwd_cpu(kind, x, y, slope);
  }
  // Save x or y (detached: no reference cycle through the output's own node).
  Tensor saved = act_backward_uses_output(kind) ? y.detach() : x.detach();
  record_op(y, name, {x}, [x, saved, kind, slope](const Tensor& gy) {
    Tensor gx = x.ensure_grad();
    if (gy.is_cuda()) {
      NN_CUDA_ONLY(activation_bwd_cuda(kind, saved.data<float>(), gy.data<float>(), gx.data<float>(), gy.numel(),
                                       static_cast<float>(slope), op_stream()));
    } else {
      activation_bwd_cpu(kind, saved, gy, gx, slope);
    }
  });
  return y;
}

}  // namespace

Tensor relu(const Tensor& x) { return activation("relu", ActKind::Relu, x, 0.0); }
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return activation("leaky_relu", ActKind::LeakyRelu, x, negative_slope);
}
Tensor tanh(const Tensor& x) { return activation("tanh", ActKind::Tanh, x, 0.0); }
Tensor sigmoid(const Tensor& x) { return activation("sigmoid", ActKind::Sigmoid, x, 0.0); }

}  // namespace nn
