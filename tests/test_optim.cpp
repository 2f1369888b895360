// Tests for Adam (src/optim.cpp, kernels/adam_math.h, kernels/adam.cu).
#include <cmath>

#include "nn/optim.h"
#include "test_util.h"

namespace nn::test {
namespace {

// Adam's first step moves each parameter by lr * sign(g) (m_hat / sqrt(v_hat) = g / |g|), up to
// eps — a property that needs no reference implementation.
TEST(Adam, FirstStepIsLrTimesSign) {
  ParameterArena arena;
  Tensor w = arena.add_parameter("w", {4}, ParamInit::Weight);
  arena.build(Device::CPU, DType::F64);
  w.copy_(Tensor::from_vector({4}, {1.0, -2.0, 0.5, 3.0}, DType::F64));
  w.grad().copy_(Tensor::from_vector({4}, {0.5, -1e-3, 20.0, -7.0}, DType::F64));
  Adam adam(arena, {0.01, 0.9, 0.999, 1e-8});
  adam.step();
  std::vector<double> got = w.to_vector();
  const double expect[4] = {1.0 - 0.01, -2.0 + 0.01, 0.5 - 0.01, 3.0 + 0.01};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], expect[i], 1e-7) << "element " << i;
  EXPECT_EQ(adam.step_count(), 1);
}

// Three steps with changing gradients against the update written out by hand (PyTorch's
// torch.optim.Adam documentation, amsgrad off, no weight decay).
TEST(Adam, ThreeStepsMatchHandComputedUpdates) {
  const double lr = 2e-4, b1 = 0.5, b2 = 0.999, eps = 1e-8;
  ParameterArena arena;
  Tensor w = arena.add_parameter("w", {2}, ParamInit::Weight);
  Tensor b = arena.add_parameter("b", {1}, ParamInit::Bias);
  arena.build(Device::CPU, DType::F64);
  w.copy_(Tensor::from_vector({2}, {0.3, -0.7}, DType::F64));
  b.copy_(Tensor::from_vector({1}, {0.1}, DType::F64));
  Adam adam(arena, {lr, b1, b2, eps});

  const double grads[3][3] = {{0.2, -0.4, 1.5}, {-0.1, -0.3, 0.5}, {0.05, 0.6, -2.0}};
  double p[3] = {0.3, -0.7, 0.1}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  for (int t = 1; t <= 3; ++t) {
    arena.zero_grad();
    w.grad().copy_(Tensor::from_vector({2}, {grads[t - 1][0], grads[t - 1][1]}, DType::F64));
    b.grad().copy_(Tensor::from_vector({1}, {grads[t - 1][2]}, DType::F64));
    adam.step();
    for (int i = 0; i < 3; ++i) {
      double g = grads[t - 1][i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      double m_hat = m[i] / (1 - std::pow(b1, t));
      double v_hat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
    std::vector<double> got = {w.to_vector()[0], w.to_vector()[1], b.item()};
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], p[i], 1e-15) << "step " << t << " element " << i;
    std::vector<double> mv = adam.exp_avg().to_vector();
    EXPECT_NEAR(mv[0], m[0], 1e-16);
  }
}

TEST(Adam, RejectsBadOptions) {
  ParameterArena arena;
  arena.add_parameter("w", {1}, ParamInit::Weight);
  EXPECT_THROW(Adam(arena, {}), Error);  // not built
  arena.build(Device::CPU);
  EXPECT_THROW(Adam(arena, {1e-3, 1.0, 0.999, 1e-8}), Error);
  EXPECT_THROW(Adam(arena, {-1.0, 0.9, 0.999, 1e-8}), Error);
}

TEST(CudaParity, AdamStep) {
  NN_SKIP_WITHOUT_CUDA();
  auto run = [](Device device) {
    ParameterArena arena;
    arena.add_parameter("a", {300, 7}, ParamInit::Weight);
    arena.add_parameter("b", {5}, ParamInit::BatchNormWeight);
    arena.build(device);
    Generator gen(3);
    init_dcgan(arena, gen);
    Adam adam(arena, {2e-4, 0.5, 0.999, 1e-8});
    for (int t = 0; t < 3; ++t) {
      arena.grads().normal_(gen, 0.0, 1.0);
      adam.step();
    }
    return arena.values().to_vector();
  };
  std::string where;
  EXPECT_TRUE(all_close(run(Device::CUDA), run(Device::CPU), 1e-6, 1e-5, &where)) << where;
}

}  // namespace
}  // namespace nn::test
