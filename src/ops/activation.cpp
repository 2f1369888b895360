// activation.cpp — relu, leaky_relu, tanh, sigmoid.
//
//   forward:  y = f(x)                     (elementwise_math.h: act_forward)
//   backward: dx += dy * f'(.)             (act_derivative; through x for relu/leaky relu, through
//                                           the saved output y for tanh/sigmoid)
//
// Tests: tests/test_activation.cpp (Gradcheck.relu ... CudaParity.sigmoid).
#include <type_traits>

#include "cpu_parallel.h"
#include "op_util.h"

namespace nn {

namespace {

// The loops take the kind as a template argument: act_forward's switch then folds away and the
// loop vectorises (a run-time kind inside the loop kept it scalar).
template <ActKind K, class T>
void act_fwd_loop(const T* x, T* y, int64_t n, T slope) {
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
  for (int64_t i = 0; i < n; ++i) y[i] = act_forward<T>(K, x[i], slope);
}

template <ActKind K, class T>
void act_bwd_loop(const T* xy, const T* dy, T* dx, int64_t n, T slope) {
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * act_derivative<T>(K, xy[i], slope);
}

void activation_fwd_cpu(ActKind kind, const Tensor& x, const Tensor& y, double slope) {
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    dispatch_kind(kind, [&](auto k) {
      act_fwd_loop<decltype(k)::value, T>(x.data<T>(), y.data<T>(), x.numel(), static_cast<T>(slope));
    });
  });
}

void activation_bwd_cpu(ActKind kind, const Tensor& xy, const Tensor& dy, const Tensor& dx, double slope) {
  dispatch_float(xy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    dispatch_kind(kind, [&](auto k) {
      act_bwd_loop<decltype(k)::value, T>(xy.data<T>(), dy.data<T>(), dx.data<T>(), xy.numel(), static_cast<T>(slope));
    });
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
