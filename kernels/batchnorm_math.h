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

}  // namespace nn
