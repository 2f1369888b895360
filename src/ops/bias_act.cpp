// bias_act.cpp — a layer's bias and the activation that follows it, as one op (#13's epilogues):
//
//   forward:  z = x + b[c],  y = f(z)                         x (N, C, ...) viewed as (N, C, HW)
//   backward: dz = dy f'(.),  dx += dz,  db[c] += sum_{n,i} dz[n,c,i]
//
// f and f' are elementwise_math.h's act_forward / act_derivative (f' through z for relu and leaky
// relu, z recomputed from x and b, nothing stored; through the saved y for tanh and sigmoid). The
// CPU loops take every value in the order of the composition they replace (conv2d / linear's bias
// add, then the activation; the activation's backward, then the bias gradient summed in double
// over n then i, as bias_grad_cpu does), so bias_act(conv2d(x, w), b) gives the bits of
// activation(conv2d(x, w, b)). On CUDA one kernel each way (kernels/bias.cu); the gradient's sum
// takes another order there. Backward accumulates.
// Tests: tests/test_fusion.cpp (Gradcheck.bias_act, CudaParity.bias_act, Fusion.*).
#include "cpu_parallel.h"
#include "op_util.h"

namespace nn {

namespace {

ActKind act_kind(BiasActivation a) {
  switch (a) {
    case BiasActivation::Relu: return ActKind::Relu;
    case BiasActivation::LeakyRelu: return ActKind::LeakyRelu;
    case BiasActivation::Tanh: return ActKind::Tanh;
    default: return ActKind::Sigmoid;
  }
}

// The kind is a template argument (dispatch_kind): the inner loops vectorise. Planes (n, c) are
// independent in the forward and channels in the backward, so threads split them without
// changing a bit (each channel's sum keeps its order).
template <ActKind K, class T>
void bias_act_fwd_cpu(const T* x, const T* b, T* y, int64_t N, int64_t C, int64_t HW, T slope) {
  const int64_t planes = N * C;
#pragma omp parallel for schedule(static) if (planes * HW >= kParallelElems)
  for (int64_t p = 0; p < planes; ++p) {
    const T bias = b[p % C];
    const T* xp = x + p * HW;
    T* yp = y + p * HW;
    for (int64_t i = 0; i < HW; ++i) yp[i] = act_forward<T>(K, xp[i] + bias, slope);
  }
}

// xy: x (relu, leaky relu: z = x + b is recomputed) or y (tanh, sigmoid). dx, db nullable.
template <ActKind K, class T>
void bias_act_bwd_cpu(const T* xy, const T* b, const T* dy, T* dx, T* db, int64_t N, int64_t C, int64_t HW,
                      T slope) {
  constexpr bool through_output = K == ActKind::Tanh || K == ActKind::Sigmoid;
#pragma omp parallel for schedule(static) if (N * C * HW >= kParallelElems)
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t o = (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        const T at = through_output ? xy[o + i] : xy[o + i] + b[c];
        const T dz = dy[o + i] * act_derivative<T>(K, at, slope);
        if (dx) dx[o + i] += dz;
        acc += static_cast<double>(dz);
      }
    }
    if (db) db[c] += static_cast<T>(acc);
  }
}

}  // namespace

Tensor bias_act(const Tensor& x, const Tensor& bias, BiasActivation activation, double slope) {
  OpScope scope("bias_act", {&x, &bias});
  check_defined("bias_act", x, "input");
  check_defined("bias_act", bias, "bias");
  check_op_tensors("bias_act", {&x, &bias});
  NN_CHECK(x.dim() >= 2 && bias.dim() == 1 && bias.size(0) == x.size(1), "bias_act: bias ", shape_str(bias.shape()),
           " must be (", x.dim() >= 2 ? x.size(1) : 0, ") for input ", shape_str(x.shape()), " (N, C, ...)");
  const int64_t N = x.size(0), C = x.size(1), HW = C > 0 && N > 0 ? x.numel() / (N * C) : 0;
  const ActKind kind = act_kind(activation);
  Tensor y = Tensor::empty_like(x);
  if (x.is_cuda()) {
    NN_CUDA_ONLY(bias_act_fwd_cuda(static_cast<int>(kind), x.data<float>(), bias.data<float>(), y.data<float>(),
                                   static_cast<int>(N), static_cast<int>(C), static_cast<int>(HW),
                                   static_cast<float>(slope), op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      dispatch_kind(kind, [&](auto k) {
        bias_act_fwd_cpu<decltype(k)::value, T>(x.data<T>(), bias.data<T>(), y.data<T>(), N, C, HW,
                                                static_cast<T>(slope));
      });
    });
  }
  const bool through_output = act_backward_uses_output(kind);
  // The backward holds x (to recompute z) or y; holding y inside its own closure would make a
  // cycle through its grad_fn, so it keeps y's storage as a view without history.
  const Tensor saved = through_output ? y.detach() : x;
  record_op(y, "bias_act", {x, bias}, [x, bias, saved, kind, slope, N, C, HW](const Tensor& gy) {
    const bool want_x = wants_grad(x), want_b = wants_grad(bias);
    if (!want_x && !want_b) return;
    Tensor gx = want_x ? x.ensure_grad() : Tensor(), gb = want_b ? bias.ensure_grad() : Tensor();
    if (gy.is_cuda()) {
      NN_CUDA_ONLY(bias_act_bwd_cuda(static_cast<int>(kind), saved.data<float>(), bias.data<float>(),
                                     gy.data<float>(), want_x ? gx.data<float>() : nullptr,
                                     want_b ? gb.data<float>() : nullptr, static_cast<int>(N), static_cast<int>(C),
                                     static_cast<int>(HW), static_cast<float>(slope), op_stream()));
      return;
    }
    dispatch_float(gy.dtype(), [&](auto zero) {
      using T = decltype(zero);
      dispatch_kind(kind, [&](auto k) {
        bias_act_bwd_cpu<decltype(k)::value, T>(saved.data<T>(), bias.data<T>(), gy.data<T>(),
                                                want_x ? gx.data<T>() : nullptr, want_b ? gb.data<T>() : nullptr, N, C,
                                                HW, static_cast<T>(slope));
      });
    });
  });
  return y;
}

}  // namespace nn
