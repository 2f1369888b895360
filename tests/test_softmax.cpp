// Tests for src/ops/softmax.cpp: gradcheck (float64, CPU), CUDA-vs-CPU parity (Inception's
// 1008-class head, rows longer than a block, large logits), values by hand, overflow safety, the
// accumulate rule and the argument errors.
#include <cmath>
#include <string>
#include <vector>

#include "test_util.h"

namespace nn::test {
namespace {

TEST(Gradcheck, softmax) {
  gradcheck([](const auto& in) { return softmax(in[0]); }, {rand_tensor({3, 5}, 1, -3, 3).requires_grad_()});
  gradcheck([](const auto& in) { return softmax(in[0]); }, {rand_tensor({2, 1}, 2, -3, 3).requires_grad_()});
}

TEST(CudaParity, softmax) {
  NN_SKIP_WITHOUT_CUDA();
  // The FID Inception's logits: (N, 1008).
  cuda_parity([](const auto& in) { return softmax(in[0]); }, {rand_tensor({50, 1008}, 11, -10, 10).requires_grad_()});
  // Rows longer than a block (each thread strides), a single class, and logits near float's exp limit.
  cuda_parity([](const auto& in) { return softmax(in[0]); }, {rand_tensor({3, 3000}, 12, -5, 5).requires_grad_()});
  cuda_parity([](const auto& in) { return softmax(in[0]); }, {rand_tensor({4, 1}, 13).requires_grad_()});
  cuda_parity([](const auto& in) { return softmax(in[0]); }, {rand_tensor({5, 37}, 14, 60, 100).requires_grad_()});
}

TEST(Softmax, KnownValues) {
  // exp(0) : exp(ln 2) : exp(ln 3) = 1 : 2 : 3, so y = (1/6, 2/6, 3/6); a shift changes nothing.
  const Tensor x = Tensor::from_vector(
      {2, 3}, {0, std::log(2.0), std::log(3.0), 5, 5 + std::log(2.0), 5 + std::log(3.0)}, DType::F64);
  const std::vector<double> y = softmax(x).to_vector();
  const double want[] = {1.0 / 6, 2.0 / 6, 3.0 / 6};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(y[i], want[i % 3], 1e-15) << "element " << i;
  // Rows sum to 1.
  const Tensor r = rand_tensor({4, 9}, 21, -4, 4);
  const std::vector<double> yr = softmax(r).to_vector();
  for (int n = 0; n < 4; ++n) {
    double s = 0;
    for (int k = 0; k < 9; ++k) s += yr[n * 9 + k];
    EXPECT_NEAR(s, 1.0, 1e-14);
  }
}

TEST(Softmax, LargeLogitsDoNotOverflow) {
  // exp(1000) overflows float and double; the max subtraction makes it exp(0).
  for (DType t : {DType::F32, DType::F64}) {
    const std::vector<double> y = softmax(Tensor::from_vector({2, 2}, {1000, 1000, -1000, 1000}, t)).to_vector();
    EXPECT_EQ(y[0], 0.5);
    EXPECT_EQ(y[1], 0.5);
    EXPECT_EQ(y[2], 0.0);
    EXPECT_EQ(y[3], 1.0);
  }
}

TEST(Softmax, GradientByHand) {
  // y = (1/2, 1/2) for equal logits; dy = (1, 0): sum(dy y) = 1/2, dx = y (dy - 1/2) = (1/4, -1/4).
  Tensor x = Tensor::from_vector({1, 2}, {0.3, 0.3}, DType::F64).requires_grad_();
  softmax(x).backward(Tensor::from_vector({1, 2}, {1, 0}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.25, -0.25}));
  // Backward accumulates.
  softmax(x).backward(Tensor::from_vector({1, 2}, {1, 0}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.5, -0.5}));
}

TEST(Softmax, ArgumentErrors) {
  expect_error_containing([] { softmax(Tensor::zeros({2, 3, 4})); }, {"softmax", "2-D", "(2,3,4)"});
  expect_error_containing([] { softmax(Tensor::zeros({5})); }, {"softmax", "2-D", "(5)"});
  expect_error_containing([] { softmax(Tensor::zeros({5, 0})); }, {"softmax", "K = 0"});
}

}  // namespace
}  // namespace nn::test
