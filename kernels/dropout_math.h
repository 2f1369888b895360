// dropout_math.h — the dropout mask and scaling, shared by the CPU loop (src/ops/dropout.cpp) and
// the CUDA kernels (kernels/dropout.cu).
//
//   keep_i = rng_bits(seed, c0, i) >= threshold,   threshold = round(p 2^32), at most 2^32 - 1
//   y_i    = keep_i ? x_i scale : 0,               scale = 1 / (1 - p)
//   dx_i  += keep_i ? dy_i scale : 0               (the mask is regenerated, never stored)
//
// The keep decision is an integer comparison of the same Philox bits on both sides, so the CPU
// and CUDA masks are identical bit for bit; P(keep) = (2^32 - threshold) / 2^32 = 1 - p to within
// 2^-33. Tests: tests/test_dropout.cpp.
#pragma once
#include <cmath>

#include "rng_math.h"

namespace nn {

// Host only: computed once per call in double, then passed to the kernels as an integer.
// p must be in [0, 1) (p == 1 is handled by the op without a mask).
inline uint32_t dropout_threshold(double p) {
  const double t = std::round(p * 4294967296.0);  // p 2^32
  if (t >= 4294967295.0) return 0xFFFFFFFFu;      // p within 2^-33 of 1: keep (almost) nothing
  return static_cast<uint32_t>(t);
}

NN_HD bool dropout_keep(uint64_t seed, uint64_t c0, uint64_t i, uint32_t threshold) {
  return rng_bits(seed, c0, i) >= threshold;
}

// v is x in the forward pass and dy in the backward pass: the op is linear in x with the same mask.
template <class T>
NN_HD T dropout_apply(T v, bool keep, T scale) {
  return keep ? v * scale : T(0);
}

}  // namespace nn
