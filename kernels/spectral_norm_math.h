// spectral_norm_math.h — the point-wise pieces of spectral normalisation (src/ops/spectral_norm.cpp),
// shared by the CPU loops and kernels/spectral_norm.cu.
#pragma once
#include "hd.h"

namespace nn {

// F.normalize's divisor: max(||x||, eps), from the sum of squares.
template <class T>
NN_HD T sn_norm_divisor(T sum_of_squares, T eps) {
  const T norm = sqrt(sum_of_squares);
  return norm > eps ? norm : eps;
}

// dL/dW[i,j] of W / sigma with sigma = u^T W v and u, v held constant:
//   dy[i,j] / sigma - (<dy, W> / sigma^2) u[i] v[j]
template <class T>
NN_HD T sn_weight_grad(T dy, T sigma, T dy_dot_w, T u_i, T v_j) {
  return dy / sigma - dy_dot_w / (sigma * sigma) * u_i * v_j;
}

}  // namespace nn
