// Tests for src/ops/dropout.cpp and kernels/dropout.cu.
//
//   Gradcheck.dropout               float64 central differences with a fixed mask (the generator is
//                                   built inside f, so every evaluation draws the same mask)
//   CudaParity.dropout              CUDA vs CPU at (256,64,16,16) (skips without a GPU)
//   Dropout.MaskSameOnCpuAndCuda    the masks are bit-identical (skips without a GPU)
//   Dropout.*                       expectation, drop fraction, identities, counters, errors
#include <cmath>
#include <string>

#include "dropout_math.h"
#include "rng_math.h"
#include "test_util.h"

namespace nn::test {
namespace {

int64_t count_zeros(const std::vector<double>& v) {
  int64_t z = 0;
  for (double a : v) z += a == 0.0;
  return z;
}

TEST(Gradcheck, dropout) {
  for (double p : {0.3, 0.7}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    Tensor x = rand_tensor({4, 3, 5}, 1, -2.0, 2.0).requires_grad_();
    gradcheck(
        [p](const auto& in) {
          Generator gen(7, 3);  // a fresh generator per call: the same mask every time
          return dropout(in[0], p, true, gen);
        },
        {x});
  }
}

TEST(CudaParity, dropout) {
  Tensor x = rand_tensor({256, 64, 16, 16}, 2, -2.0, 2.0).requires_grad_();
  // The masks are identical and y = x * float(scale) is one rounding on both sides, so the
  // forward output and the gradient agree exactly.
  cuda_parity(
      [](const auto& in) {
        Generator gen(11);
        return dropout(in[0], 0.4, true, gen);
      },
      {x}, ParityOptions{0.0, 0.0});
}

TEST(Dropout, MaskSameOnCpuAndCuda) {
  NN_SKIP_WITHOUT_CUDA();
  const Shape shape{64, 3, 17, 13};  // an odd size: the last Philox block is partly used
  Generator cpu_gen(1234, 5), gpu_gen(1234, 5);
  for (int call = 0; call < 2; ++call) {
    std::vector<double> a = dropout(Tensor::ones(shape), 0.5, true, cpu_gen).to_vector();
    std::vector<double> b = dropout(Tensor::ones(shape, DType::F32, Device::CUDA), 0.5, true, gpu_gen).to_vector();
    ASSERT_EQ(a.size(), b.size());
    int64_t differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
    EXPECT_EQ(differ, 0) << "call " << call << ": " << differ << " elements differ";
  }
  EXPECT_EQ(cpu_gen.offset, gpu_gen.offset);
}

// E[y] = x: the mean of dropout(ones) over n elements is K / (n (1-p)) with K ~ Binomial(n, 1-p),
// whose standard deviation is sqrt(p / ((1-p) n)); the fraction of zeros has std sqrt(p(1-p)/n).
// 5 sigma (the generator is seeded, so the test is deterministic anyway).
TEST(Dropout, KeepsExpectationAndDropsAFractionP) {
  const int64_t n = 1 << 17;
  for (double p : {0.1, 0.5, 0.8}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    Generator gen(2024);
    std::vector<double> y = dropout(Tensor::ones({n}), p, true, gen).to_vector();
    double sum = 0;
    const double scale = static_cast<float>(1.0 / (1.0 - p));
    for (double v : y) {
      sum += v;
      ASSERT_TRUE(v == 0.0 || v == scale) << "kept elements are scaled by exactly float(1/(1-p)), got " << v;
    }
    const double nd = static_cast<double>(n);
    EXPECT_NEAR(sum / nd, 1.0, 5 * std::sqrt(p / ((1 - p) * nd)));
    EXPECT_NEAR(static_cast<double>(count_zeros(y)) / nd, p, 5 * std::sqrt(p * (1 - p) / nd));
  }
}

TEST(Dropout, IdentityInEvalAndForPZero) {
  Tensor x = rand_tensor({3, 4}, 3).requires_grad_();
  Generator gen(1);
  Tensor y_eval = dropout(x, 0.5, false, gen);
  Tensor y_p0 = dropout(x, 0.0, true, gen);
  EXPECT_TRUE(y_eval.same(x));
  EXPECT_TRUE(y_p0.same(x));
  EXPECT_EQ(gen.offset, 0u) << "the identity must not consume random numbers";
  // Still differentiable: the gradient goes straight through.
  sum(mul_scalar(y_eval, 2.0)).backward();
  for (double g : x.grad().to_vector()) EXPECT_EQ(g, 2.0);
}

TEST(Dropout, PEqualOneGivesZeros) {
  Tensor x = rand_tensor({5, 6}, 4).requires_grad_();
  Generator gen(1);
  Tensor y = dropout(x, 1.0, true, gen);
  EXPECT_EQ(count_zeros(y.to_vector()), 30);
  sum(y).backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(count_zeros(x.grad().to_vector()), 30);
}

TEST(Dropout, ConsecutiveCallsDifferAndSameOffsetRepeats) {
  const Shape shape{1000};
  Generator gen(99);
  std::vector<double> first = dropout(Tensor::ones(shape), 0.5, true, gen).to_vector();
  EXPECT_EQ(gen.offset, 250u) << "a call reserves ceil(n/4) Philox counters";
  std::vector<double> second = dropout(Tensor::ones(shape), 0.5, true, gen).to_vector();
  EXPECT_NE(first, second);
  Generator replay(99, 0), replay2(99, 250);
  EXPECT_EQ(dropout(Tensor::ones(shape), 0.5, true, replay).to_vector(), first);
  EXPECT_EQ(dropout(Tensor::ones(shape), 0.5, true, replay2).to_vector(), second);
}

// The backward pass regenerates the forward's mask: dx is dy where y kept x, zero where it dropped.
TEST(Dropout, BackwardUsesTheForwardMaskAndAccumulates) {
  Tensor x = Tensor::ones({2000}, DType::F64).requires_grad_();
  Generator gen(5);
  Tensor y = dropout(x, 0.25, true, gen);
  std::vector<double> yv = y.to_vector();
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), yv);  // dy = 1 and x = 1: both are keep / (1-p)
  Generator again(5);
  sum(dropout(x, 0.25, true, again)).backward();
  std::vector<double> g2 = x.grad().to_vector();
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(g2[i], 2 * yv[i]);
}

TEST(Dropout, ProbabilityOutOfRangeThrows) {
  Tensor x = Tensor::ones({4});
  Generator gen(1);
  for (double p : {-0.1, 1.5, std::nan("")}) {
    std::string msg = error_message([&] { dropout(x, p, true, gen); });
    EXPECT_NE(msg.find("dropout: probability p must be in [0, 1]"), std::string::npos) << "p = " << p << ": " << msg;
  }
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// The CPU loop computes 16 Philox blocks at a time (vectorised lanes, several threads); every
// element must still get exactly the mask bit rng_bits gives it, for a size that is no multiple
// of the 64-element group and large enough to run on several threads.
TEST(Dropout, MaskMatchesRngBits) {
  const int64_t n = 100003;
  Tensor x = Tensor::ones({n});
  Generator gen(1234, 77);
  const uint64_t seed = gen.seed, c0 = gen.offset;
  const double p = 0.3;
  Tensor y = dropout(x, p, /*training=*/true, gen);
  const std::vector<double> got = y.to_vector();
  const uint32_t threshold = dropout_threshold(p);
  const double scale = static_cast<double>(static_cast<float>(1.0 / (1.0 - p)));
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = rng_bits(seed, c0, static_cast<uint64_t>(i)) >= threshold;
    ASSERT_EQ(got[static_cast<size_t>(i)], keep ? scale : 0.0) << "element " << i;
    kept += keep;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - p, 0.01);
}

}  // namespace
}  // namespace nn::test
