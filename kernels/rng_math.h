// rng_math.h — the one random number generator of the engine: Philox-4x32-10
// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), a counter-based
// generator: philox(counter, key) is a pure function, so any element of any random tensor can
// be computed independently, on the host or on the device, with identical bits.
//
//   element i of a fill that starts at counter c0 with seed s uses
//     block  = philox4x32_10(counter = c0 + i/4, key = s)      (four 32-bit words)
//     uniform_i = (block[i%4] >> 8) * 2^-24                     in [0, 1)
//     normal_i  = Box-Muller on the word pair (2p, 2p+1), p = (i%4)/2:
//                 sqrt(-2 ln u1) * (i even ? cos : sin)(2 pi u2), u1 in (0,1], u2 in [0,1)
//
// The logarithm, sine and cosine below are written with explicit, non-fusable float operations
// (hd.h) instead of the C library's and CUDA's own, which differ by an ulp here and there: this
// is what makes noise vectors bit-identical on CPU and GPU. Tested in tests/test_rng.cpp.
#pragma once
#include <cstring>

#include "hd.h"

namespace nn {

struct Philox4 {
  uint32_t w[4];
};

NN_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// Philox-4x32 with 10 rounds; constants from Random123.
NN_HD Philox4 philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;  // Weyl sequence key schedule
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// 24 random bits -> [0, 1); exact in float.
NN_HD float uniform_from_bits(uint32_t bits) { return static_cast<float>(bits >> 8) * 5.9604644775390625e-8f; }
// 24 random bits -> (0, 1]; never 0, so its logarithm is finite.
NN_HD float uniform_open0_from_bits(uint32_t bits) {
  return static_cast<float>((bits >> 8) + 1u) * 5.9604644775390625e-8f;
}

NN_HD uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
#endif
}
NN_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, 4);
  return x;
#endif
}

// ln(x) for a positive normal float: x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m-1)/(m+1), |s| <= 0.172.
NN_HD float portable_log(float x) {
  uint32_t b = float_bits(x);
  int e = static_cast<int>(b >> 23) - 127;
  float m = bits_float((b & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
  if (m > 1.41421356f) {
    m = mul_rn(m, 0.5f);  // exact
    e += 1;
  }
  float s = div_rn(add_rn(m, -1.0f), add_rn(m, 1.0f));
  float s2 = mul_rn(s, s);
  float p = fma_rn(s2, 2.0f / 13.0f, 2.0f / 11.0f);
  p = fma_rn(s2, p, 2.0f / 9.0f);
  p = fma_rn(s2, p, 2.0f / 7.0f);
  p = fma_rn(s2, p, 2.0f / 5.0f);
  p = fma_rn(s2, p, 2.0f / 3.0f);
  p = fma_rn(s2, p, 2.0f);
  return fma_rn(static_cast<float>(e), 0.693147180559945309f, mul_rn(s, p));
}

// sin and cos of (pi/2) r for r in [0, 1), Taylor series to x^15 / x^14 (error < 1e-9).
NN_HD void portable_sincos_quarter(float r, float* s, float* c) {
  float x = mul_rn(r, 1.57079632679489662f);
  float x2 = mul_rn(x, x);
  float ps = fma_rn(x2, -1.0f / 1307674368000.0f, 1.0f / 6227020800.0f);
  ps = fma_rn(x2, ps, -1.0f / 39916800.0f);
  ps = fma_rn(x2, ps, 1.0f / 362880.0f);
  ps = fma_rn(x2, ps, -1.0f / 5040.0f);
  ps = fma_rn(x2, ps, 1.0f / 120.0f);
  ps = fma_rn(x2, ps, -1.0f / 6.0f);
  ps = fma_rn(x2, ps, 1.0f);
  *s = mul_rn(x, ps);
  float pc = fma_rn(x2, -1.0f / 87178291200.0f, 1.0f / 479001600.0f);
  pc = fma_rn(x2, pc, -1.0f / 3628800.0f);
  pc = fma_rn(x2, pc, 1.0f / 40320.0f);
  pc = fma_rn(x2, pc, -1.0f / 720.0f);
  pc = fma_rn(x2, pc, 1.0f / 24.0f);
  pc = fma_rn(x2, pc, -0.5f);
  *c = fma_rn(x2, pc, 1.0f);
}

// Element i of a uniform [0,1) fill starting at counter c0.
NN_HD float rng_uniform(uint64_t seed, uint64_t c0, uint64_t i) {
  Philox4 b = philox4x32_10(c0 + i / 4, 0, seed);
  return uniform_from_bits(b.w[i % 4]);
}

// The raw 32 bits behind element i (dropout compares these against an integer threshold,
// which is exact on both sides).
NN_HD uint32_t rng_bits(uint64_t seed, uint64_t c0, uint64_t i) {
  Philox4 b = philox4x32_10(c0 + i / 4, 0, seed);
  return b.w[i % 4];
}

// Element i of a standard normal fill starting at counter c0 (Box-Muller).
NN_HD float rng_normal(uint64_t seed, uint64_t c0, uint64_t i) {
  Philox4 b = philox4x32_10(c0 + i / 4, 0, seed);
  unsigned pair = static_cast<unsigned>(i % 4) / 2;
  float u1 = uniform_open0_from_bits(b.w[2 * pair]);
  uint32_t k = b.w[2 * pair + 1] >> 8;  // 24 bits: angle = 2 pi k / 2^24
  unsigned quadrant = k >> 22;          // top two bits pick the quarter turn
  float r = static_cast<float>(k & 0x3FFFFFu) * 2.384185791015625e-7f;  // 2^-22, exact
  float s, c;
  portable_sincos_quarter(r, &s, &c);
  float sin_t, cos_t;
  switch (quadrant) {
    case 0: sin_t = s; cos_t = c; break;
    case 1: sin_t = c; cos_t = -s; break;
    case 2: sin_t = -s; cos_t = -c; break;
    default: sin_t = -c; cos_t = s; break;
  }
  float radius = sqrt_rn(mul_rn(-2.0f, portable_log(u1)));
  return mul_rn(radius, (i % 2 == 0) ? cos_t : sin_t);
}

// Philox blocks used by a fill of n elements (the generator's counter advances by this).
NN_HD uint64_t rng_blocks_for(uint64_t n) { return (n + 3) / 4; }

}  // namespace nn
