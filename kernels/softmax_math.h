// softmax_math.h — the per-element formulas of softmax over the last dimension of an (N,K)
// tensor, shared by the CPU loops (src/ops/softmax.cpp) and the CUDA kernels (kernels/softmax.cu).
// Only the two row reductions (max and sum in the forward, sum(dy y) in the backward) are written
// twice, because their loops differ.
//
//   m = max_k x[k]                 (subtracted so that exp never overflows: e <= 1, sum >= 1)
//   e[k] = exp(x[k] - m),  s = sum_k e[k],  y[k] = e[k] / s
//   backward: dx[k] += y[k] (dy[k] - sum_j dy[j] y[j])
//
// Tests: tests/test_softmax.cpp.
#pragma once
#include "hd.h"

namespace nn {

template <class T>
NN_HD T softmax_exp(T x, T row_max) {
  return exp(x - row_max);
}

// dot = sum_j dy[j] y[j] over the row.
template <class T>
NN_HD T softmax_dx(T y, T dy, T dot) {
  return y * (dy - dot);
}

}  // namespace nn
