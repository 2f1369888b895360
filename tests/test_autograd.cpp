// Tests for the autograd rules (include/nn/autograd.h): accumulation, zero_grad, detach,
// no-grad scope, graph release, fan-out, errors.
#include <memory>

#include "test_util.h"

namespace nn::test {
namespace {

TEST(Autograd, ChainRuleByHand) {
  // L = sum(tanh(a * b) + a): dL/da = (1 - tanh^2(ab)) b + 1, dL/db = (1 - tanh^2(ab)) a.
  Tensor a = Tensor::from_vector({2}, {0.3, -1.2}, DType::F64).requires_grad_();
  Tensor b = Tensor::from_vector({2}, {2.0, 0.5}, DType::F64).requires_grad_();
  sum(add(nn::tanh(mul(a, b)), a)).backward();
  std::vector<double> ga = a.grad().to_vector(), gb = b.grad().to_vector();
  const double av[2] = {0.3, -1.2}, bv[2] = {2.0, 0.5};
  for (int i = 0; i < 2; ++i) {
    double t = std::tanh(av[i] * bv[i]);
    EXPECT_NEAR(ga[i], (1 - t * t) * bv[i] + 1, 1e-14);
    EXPECT_NEAR(gb[i], (1 - t * t) * av[i], 1e-14);
  }
}

// DESIGN.md: backward accumulates; calling it twice gives twice the gradient; zero_grad clears.
TEST(Autograd, BackwardAccumulates) {
  Tensor x = rand_tensor({4, 3}, 11).requires_grad_();
  auto loss = [&] { return mean(mul(sigmoid(x), x)); };
  loss().backward();
  std::vector<double> once = x.grad().to_vector();
  loss().backward();
  std::vector<double> twice = x.grad().to_vector();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-15);
  x.zero_grad();
  for (double v : x.grad().to_vector()) EXPECT_EQ(v, 0.0);
}

TEST(Autograd, FanOutSumsBothPaths) {
  Tensor x = Tensor::from_vector({1}, {3.0}, DType::F64).requires_grad_();
  Tensor y = mul(x, x);          // dy/dx = 2x = 6
  sum(add(y, x)).backward();     // + 1
  EXPECT_DOUBLE_EQ(x.grad().item(), 7.0);
}

TEST(Autograd, RequiresGradPropagatesAndNoGradStopsIt) {
  Tensor a = Tensor::ones({2}).requires_grad_();
  Tensor c = Tensor::ones({2});
  EXPECT_TRUE(add(a, c).requires_grad());
  EXPECT_FALSE(add(c, c).requires_grad());
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_enabled());
    Tensor y = add(a, c);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(grad_enabled());
}

TEST(Autograd, DetachCutsTheGraphButSharesStorage) {
  Tensor a = Tensor::from_vector({2}, {1, 2}, DType::F64).requires_grad_();
  Tensor y = mul_scalar(a, 3.0);
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw(), y.raw());
  sum(add(mul(d, a), y)).backward();  // d is a constant: dL/da = d + 3
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{6, 9}));
}

TEST(Autograd, GraphIsReleasedAfterBackward) {
  Tensor x = rand_tensor({8}, 5).requires_grad_();
  Tensor h = nn::tanh(x);  // saves its output for backward
  std::weak_ptr<Node> node = h.grad_fn();
  Tensor loss = sum(h);
  loss.backward();
  EXPECT_TRUE(node.expired()) << "the node (and its saved tensors) must be freed after backward";
  EXPECT_FALSE(h.grad().defined()) << "intermediate gradients are not kept";
  try {
    loss.backward();
    FAIL() << "a second backward through a released graph must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already released"), std::string::npos) << e.what();
  }
}

TEST(Autograd, RetainGraphAllowsASecondSweep) {
  Tensor x = Tensor::from_vector({2}, {0.5, -1.0}, DType::F64).requires_grad_();
  Tensor y = sum(mul(x, x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();  // the graph is still there; gradients accumulate: 2 * 2x
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2.0, -4.0}));
  EXPECT_THROW(y.backward(), Error);  // released by the second sweep
}

TEST(Autograd, BackwardWithExplicitGradient) {
  // y = 3x (non-scalar); y.backward(g) gives dx = 3 g, as PyTorch's y.backward(g).
  Tensor x = Tensor::from_vector({3}, {1, 2, 3}, DType::F64).requires_grad_();
  Tensor y = mul_scalar(x, 3.0);
  y.backward(Tensor::from_vector({3}, {1, 0, -2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 0, -6}));
  EXPECT_THROW(mul_scalar(x, 2.0).backward(Tensor::zeros({2}, DType::F64)), Error);
}

TEST(Autograd, FreezingBetweenForwardAndBackwardSkipsAParameter) {
  Tensor w = Tensor::from_vector({1}, {2.0}, DType::F64).requires_grad_();
  Tensor x = Tensor::from_vector({1}, {5.0}, DType::F64).requires_grad_();
  Tensor y = sum(mul(w, x));
  w.impl().requires_grad = false;  // what ParameterArena::set_requires_grad(false) does
  y.backward();
  EXPECT_FALSE(w.grad().defined());
  EXPECT_EQ(x.grad().item(), 2.0);
}

TEST(Autograd, Errors) {
  Tensor x = Tensor::ones({3}).requires_grad_();
  EXPECT_THROW(relu(x).backward(), Error);       // not a scalar
  EXPECT_THROW(sum(Tensor::ones({3})).backward(), Error);  // nothing requires grad
  Tensor y = relu(x);
  EXPECT_THROW(y.requires_grad_(), Error);      // not a leaf
  EXPECT_THROW(add(x, Tensor::ones({4})), Error);
  EXPECT_THROW(add(x, Tensor::ones({3}, DType::F64)), Error);
}

TEST(Autograd, LeafGradIsAdoptedBuffer) {
  // Parameters in an arena adopt a view of the gradient arena as their .grad.
  Tensor x = Tensor::from_vector({2}, {1, 2}).requires_grad_();
  Tensor buffer = Tensor::zeros({2});
  x.set_grad(buffer);
  sum(mul_scalar(x, 5.0)).backward();
  EXPECT_EQ(buffer.to_vector(), (std::vector<double>{5, 5}));
  EXPECT_THROW(x.set_grad(Tensor::zeros({3})), Error);
}

}  // namespace
}  // namespace nn::test
