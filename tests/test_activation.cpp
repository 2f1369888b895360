// Tests for src/ops/activation.cpp: gradchecks (float64, CPU) and CUDA-vs-CPU parity.
#include "test_util.h"

namespace nn::test {
namespace {

// Inputs kept away from the kinks of relu/leaky relu (|x| >= 0.05) so central differences are exact.
Tensor off_kink_input(uint64_t seed) {
  Tensor x = rand_tensor({3, 4, 5}, seed, -2.0, 2.0);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::fabs(p[i]) < 0.05) p[i] = p[i] < 0 ? -0.05 - p[i] : 0.05 + p[i];
  return x.requires_grad_();
}

TEST(Gradcheck, relu) { gradcheck([](const auto& in) { return relu(in[0]); }, {off_kink_input(1)}); }
TEST(Gradcheck, leaky_relu) {
  gradcheck([](const auto& in) { return leaky_relu(in[0], 0.2); }, {off_kink_input(2)});
}
TEST(Gradcheck, tanh) { gradcheck([](const auto& in) { return nn::tanh(in[0]); }, {rand_tensor({7, 3}, 3, -3, 3).requires_grad_()}); }
TEST(Gradcheck, sigmoid) {
  gradcheck([](const auto& in) { return sigmoid(in[0]); }, {rand_tensor({7, 3}, 4, -6, 6).requires_grad_()});
}

TEST(CudaParity, relu) { cuda_parity([](const auto& in) { return relu(in[0]); }, {off_kink_input(5)}); }
TEST(CudaParity, leaky_relu) {
  cuda_parity([](const auto& in) { return leaky_relu(in[0], 0.3); }, {off_kink_input(6)});
}
TEST(CudaParity, tanh) {
  cuda_parity([](const auto& in) { return nn::tanh(in[0]); }, {rand_tensor({64, 100}, 7, -4, 4).requires_grad_()});
}
TEST(CudaParity, sigmoid) {
  cuda_parity([](const auto& in) { return sigmoid(in[0]); }, {rand_tensor({64, 100}, 8, -20, 20).requires_grad_()});
}

TEST(Activation, KnownValues) {
  Tensor x = Tensor::from_vector({4}, {-2.0, -0.5, 0.0, 3.0}, DType::F64);
  EXPECT_EQ(relu(x).to_vector(), (std::vector<double>{0, 0, 0, 3}));
  EXPECT_EQ(leaky_relu(x, 0.2).to_vector(), (std::vector<double>{-0.4, -0.1, 0, 3}));
  std::vector<double> s = sigmoid(x).to_vector();
  EXPECT_NEAR(s[2], 0.5, 1e-15);
  EXPECT_NEAR(s[3], 1.0 / (1.0 + std::exp(-3.0)), 1e-15);
  // Large negative inputs must not overflow to NaN.
  Tensor big = Tensor::from_vector({2}, {-1000.0, 1000.0}, DType::F32);
  std::vector<double> sb = sigmoid(big).to_vector();
  EXPECT_EQ(sb[0], 0.0);
  EXPECT_EQ(sb[1], 1.0);
  EXPECT_NEAR(nn::tanh(x).to_vector()[0], std::tanh(-2.0), 1e-15);
}

// relu'(0) = 0 and leaky_relu'(0) = slope, as PyTorch defines them at the kink.
TEST(Activation, DerivativeAtKink) {
  Tensor x = Tensor::from_vector({1}, {0.0}, DType::F64).requires_grad_();
  sum(relu(x)).backward();
  EXPECT_EQ(x.grad().item(), 0.0);
  x.zero_grad();
  sum(leaky_relu(x, 0.2)).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 0.2);
}

}  // namespace
}  // namespace nn::test
