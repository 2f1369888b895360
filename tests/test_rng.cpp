// Tests for the shared Philox generator (kernels/rng_math.h) and the random fills built on it.
#include <cmath>
#include <cstring>

#include "rng_math.h"
#include "test_util.h"

namespace nn::test {
namespace {

// Random123's published known-answer vectors for Philox4x32-10 (its tests/kat_vectors file):
// counter (c0..c3), key (k0,k1) -> four output words.
TEST(Rng, PhiloxKnownAnswers) {
  struct Kat {
    uint32_t c[4], k[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       {0xffffffffu, 0xffffffffu},
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       {0xa4093822u, 0x299f31d0u},
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) {
    uint64_t lo = k.c[0] | (static_cast<uint64_t>(k.c[1]) << 32);
    uint64_t hi = k.c[2] | (static_cast<uint64_t>(k.c[3]) << 32);
    uint64_t key = k.k[0] | (static_cast<uint64_t>(k.k[1]) << 32);
    Philox4 r = philox4x32_10(lo, hi, key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.w[i], k.out[i]) << "word " << i;
  }
}

TEST(Rng, PortableLogMatchesLibm) {
  double worst = 0;
  for (uint32_t k = 1; k <= (1u << 24); k += 97) {
    float u = static_cast<float>(k) * 5.9604644775390625e-8f;
    double ref = std::log(static_cast<double>(u));
    double err = std::fabs(portable_log(u) - ref) / std::max(1e-30, std::fabs(ref));
    if (ref != 0.0) worst = std::max(worst, err);
    else EXPECT_EQ(portable_log(u), 0.0f);
  }
  EXPECT_LT(worst, 5e-7) << "relative error of portable_log";
}

TEST(Rng, PortableSinCosMatchesLibm) {
  double worst = 0;
  for (uint32_t k = 0; k < (1u << 22); k += 31) {
    float r = static_cast<float>(k) * 2.384185791015625e-7f;
    float s, c;
    portable_sincos_quarter(r, &s, &c);
    double x = static_cast<double>(r) * M_PI / 2;
    worst = std::max({worst, std::fabs(s - std::sin(x)), std::fabs(c - std::cos(x))});
  }
  EXPECT_LT(worst, 3e-7) << "absolute error of portable sin/cos";
}

// The Box-Muller transform against the same formula in double from the same random bits.
TEST(Rng, NormalMatchesBoxMullerInDouble) {
  const uint64_t seed = 999, c0 = 12;
  for (uint64_t i = 0; i < 4000; ++i) {
    Philox4 b = philox4x32_10(c0 + i / 4, 0, seed);
    unsigned pair = static_cast<unsigned>(i % 4) / 2;
    double u1 = ((b.w[2 * pair] >> 8) + 1.0) / 16777216.0;
    double u2 = (b.w[2 * pair + 1] >> 8) / 16777216.0;
    double radius = std::sqrt(-2.0 * std::log(u1));
    double ref = radius * (i % 2 == 0 ? std::cos(2 * M_PI * u2) : std::sin(2 * M_PI * u2));
    EXPECT_NEAR(rng_normal(seed, c0, i), ref, 2e-6 * std::max(1.0, std::fabs(ref))) << "element " << i;
  }
}

TEST(Rng, FillStatistics) {
  Generator gen(42);
  const int64_t n = 1 << 20;
  Tensor u = Tensor::empty({n}, DType::F32);
  u.uniform_(gen, -1.0, 3.0);
  Tensor z = Tensor::empty({n}, DType::F64);
  z.normal_(gen, 0.5, 2.0);
  std::vector<double> uv = u.to_vector(), zv = z.to_vector();
  double umin = 1e9, umax = -1e9, usum = 0, zsum = 0, zsq = 0;
  for (double v : uv) umin = std::min(umin, v), umax = std::max(umax, v), usum += v;
  for (double v : zv) zsum += v, zsq += v * v;
  EXPECT_GE(umin, -1.0);
  EXPECT_LT(umax, 3.0);
  // Means within 5 standard errors: uniform std 4/sqrt(12), normal std 2.
  EXPECT_NEAR(usum / n, 1.0, 5 * (4 / std::sqrt(12.0)) / std::sqrt(double(n)));
  double zmean = zsum / n;
  EXPECT_NEAR(zmean, 0.5, 5 * 2 / std::sqrt(double(n)));
  EXPECT_NEAR(zsq / n - zmean * zmean, 4.0, 0.05);
}

TEST(Rng, GeneratorAdvancesAndReplays) {
  Generator a(7), b(7);
  Tensor x = Tensor::empty({10}), y = Tensor::empty({10});
  x.normal_(a);
  y.normal_(a);  // the counter moved on: different values
  EXPECT_NE(x.to_vector(), y.to_vector());
  EXPECT_EQ(a.offset, 2u * 3u);  // 10 elements take ceil(10/4) = 3 counters each
  Tensor x2 = Tensor::empty({10});
  x2.normal_(b);  // the same seed and offset replay the same values
  EXPECT_EQ(x.to_vector(), x2.to_vector());
  Generator c(8);
  Tensor x3 = Tensor::empty({10});
  x3.normal_(c);
  EXPECT_NE(x.to_vector(), x3.to_vector());
}

// DESIGN.md: noise vectors are bit-identical on CPU and GPU.
TEST(CudaParity, RandomFillsBitIdentical) {
  NN_SKIP_WITHOUT_CUDA();
  for (int kind = 0; kind < 2; ++kind) {
    Generator gc(2024, 5), gg(2024, 5);
    Tensor c = Tensor::empty({4099});
    Tensor g = Tensor::empty({4099}, DType::F32, Device::CUDA);
    if (kind == 0) {
      c.normal_(gc, 0.0, 0.02);
      g.normal_(gg, 0.0, 0.02);
    } else {
      c.uniform_(gc, -1.0, 1.0);
      g.uniform_(gg, -1.0, 1.0);
    }
    std::vector<double> cv = c.to_vector(), gv = g.to_vector();
    for (size_t i = 0; i < cv.size(); ++i) ASSERT_EQ(cv[i], gv[i]) << (kind ? "uniform" : "normal") << " element " << i;
    EXPECT_EQ(gc.offset, gg.offset);
  }
}

}  // namespace
}  // namespace nn::test
