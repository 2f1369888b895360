// batchnorm_math.h — the per-element formulas of batch normalization, shared by the CPU loops
// (src/ops/batchnorm.cpp) and the CUDA kernels (kernels/batchnorm.cu). Only the reductions (the
// per-channel sums) are written twice, because their loops differ; everything an element does
// with the reduced values is here.
//
// x is viewed as (N, C, HW); every channel c has M = N*HW values.
//
//   mean_c   = (1/M) sum x                       var_c = (1/M) sum (x - mean_c)^2   (biased)
//   invstd_c = 1 / sqrt(var_c + eps)
//   xhat     = (x - mean_c) invstd_c
//   y        = gamma_c xhat + beta_c             (gamma = 1, beta = 0 without affine)
//   running  <- (1 - momentum) running + momentum batch      (batch var made unbiased: M/(M-1))
//
// Backward, with g = gamma_c invstd_c (both per channel):
//   training (mean and var depend on x):
//     dx = g (dy - mean(dy) - xhat mean(dy xhat))
//        = gamma invstd / M (M dy - sum dy - xhat sum(dy xhat))
//   eval (running statistics are constants):
//     dx = g dy
//   dgamma_c = sum dy xhat        dbeta_c = sum dy
//
// Tests: tests/test_batchnorm.cpp (Gradcheck.batch_norm, CudaParity.batch_norm, BatchNorm.*).
#pragma once
#include "hd.h"

namespace nn {

template <class T>
NN_HD T bn_invstd(T var, T eps) {
  return T(1) / sqrt(var + eps);
}

template <class T>
NN_HD T bn_xhat(T x, T mean, T invstd) {
  return (x - mean) * invstd;
}

template <class T>
NN_HD T bn_normalize(T x, T mean, T invstd, T gamma, T beta) {
  return bn_xhat(x, mean, invstd) * gamma + beta;
}

// The running variance tracks the unbiased estimate (as PyTorch does), while the batch itself is
// normalised with the biased one. Needs M > 1 (checked by the op).
template <class T>
NN_HD T bn_unbiased_var(T biased_var, T M) {
  return biased_var * M / (M - T(1));
}

template <class T>
NN_HD T bn_running_update(T running, T batch_stat, T momentum) {
  return (T(1) - momentum) * running + momentum * batch_stat;
}

// dx for one element in training mode. gamma_invstd = gamma_c invstd_c; mean_dy = sum(dy)/M and
// mean_dy_xhat = sum(dy xhat)/M over the element's channel.
template <class T>
NN_HD T bn_dx_train(T dy, T xhat, T gamma_invstd, T mean_dy, T mean_dy_xhat) {
  return gamma_invstd * (dy - mean_dy - xhat * mean_dy_xhat);
}

// dx for one element in eval mode: the statistics are constants, so the op is affine in x.
template <class T>
NN_HD T bn_dx_eval(T dy, T gamma_invstd) {
  return gamma_invstd * dy;
}

// ---- batch_norm_act: an activation fused after the normalisation (src/ops/batchnorm.cpp).
//   forward:   z = gamma xhat + beta,  y = act(z)
//   backward:  dz = dy act'(z), z recomputed from x and the saved statistics (nothing stored
//              between the two), then the batchnorm backward above with dz in place of dy.
// act'(z) as elementwise_math.h takes it (relu' = [z > 0], leaky relu' = 1 if z > 0 else slope),
// and the products are the same ones the separate activation computes, so the fused op gives
// the same values as batch_norm followed by relu / leaky_relu.
enum class BnAct : int { None = 0, Relu = 1, LeakyRelu = 2 };

template <class T>
NN_HD T bn_act(BnAct act, T z, T slope) {
  if (act == BnAct::None || z > T(0)) return z;
  return act == BnAct::Relu ? T(0) : slope * z;
}

template <class T>
NN_HD T bn_act_grad(BnAct act, T z, T dy, T slope) {
  if (act == BnAct::None) return dy;
  if (act == BnAct::Relu) return dy * (z > T(0) ? T(1) : T(0));
  return dy * (z > T(0) ? T(1) : slope);
}

}  // namespace nn
