// adam_math.h — one Adam update of one parameter element, shared by the CPU loop and the fused
// CUDA kernel (kernels/adam.cu). PyTorch's rule (torch.optim.Adam, weight_decay 0, amsgrad off):
//
//   m <- lerp(m, g, 1 - beta1)            = beta1 m + (1 - beta1) g
//   v <- beta2 v + (1 - beta2) g^2
//   p <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// eps is added after the square root. lerp is evaluated as PyTorch evaluates it (two forms, by
// weight) so float32 results follow PyTorch's rounding. The bias corrections depend only on the
// step t and are computed once per step on the host (AdamScalars).
#pragma once
#include "hd.h"

namespace nn {

// Kept in double so a float64 arena (the tests) gets exact constants; a float32 update rounds
// each to float once, as PyTorch does with its Python-float hyper-parameters. 1 - beta1 and
// 1 - beta2 are computed here in double too: in float, 1 - 0.999f is 0.00099998713, 1.3e-5 off,
// which the golden tests (tests/test_golden.cpp) caught as a 6e-6 relative error in each update.
struct AdamScalars {
  double beta1, beta2, eps;
  double step_size;              // lr / (1 - beta1^t)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  double one_minus_beta1, one_minus_beta2;
  NN_HD AdamScalars(double beta1_, double beta2_, double eps_, double step_size_, double bias_correction2_sqrt_)
      : beta1(beta1_),
        beta2(beta2_),
        eps(eps_),
        step_size(step_size_),
        bias_correction2_sqrt(bias_correction2_sqrt_),
        one_minus_beta1(1.0 - beta1_),
        one_minus_beta2(1.0 - beta2_) {}
};

template <class T>
NN_HD T lerp_like_torch(T a, T b, T w) {
  return (w < T(0.5)) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

template <class T>
NN_HD void adam_update(T& p, T g, T& m, T& v, const AdamScalars& sc) {
  m = lerp_like_torch(m, g, T(sc.one_minus_beta1));
  v = T(sc.beta2) * v + T(sc.one_minus_beta2) * g * g;
  T denom = sqrt(v) / T(sc.bias_correction2_sqrt) + T(sc.eps);
  p = p - T(sc.step_size) * (m / denom);
}

}  // namespace nn
