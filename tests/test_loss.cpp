// Tests for src/ops/loss.cpp, kernels/loss.cu and the functors in kernels/loss_math.h.
//
//   Gradcheck.{bce_with_logits, bce, hinge_d_loss, hinge_g_loss}   float64 central differences
//   CudaParity.{same four}                                         CUDA vs CPU (skip without a GPU)
//   Loss.*   values computed by hand, PyTorch's formulas evaluated here independently with
//            std::log / std::exp in double, numerical stability, PyTorch's clamps, errors
#include <cmath>
#include <string>

#include "test_util.h"

namespace nn::test {
namespace {

// Discriminator outputs kept at least 0.05 away from the hinge kinks at +1 and -1.
Tensor off_hinge_kinks(const Shape& shape, uint64_t seed) {
  Tensor x = rand_tensor(shape, seed, -3.0, 3.0);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i)
    for (double kink : {-1.0, 1.0})
      if (std::fabs(p[i] - kink) < 0.05) p[i] = kink + (p[i] < kink ? -0.05 : 0.05);
  return x.requires_grad_();
}

// PyTorch's binary_cross_entropy_with_logits (aten/src/ATen/native/Loss.cpp), one element:
// (1 - t) x + m + log(e^-m + e^(-x-m)), m = max(-x, 0).
double torch_bce_with_logits(double x, double t) {
  const double m = std::max(-x, 0.0);
  return (1 - t) * x + m + std::log(std::exp(-m) + std::exp(-x - m));
}

// PyTorch's binary_cross_entropy, one element: the logs are clamped at -100.
double torch_bce(double p, double t) {
  return -(t * std::max(std::log(p), -100.0) + (1 - t) * std::max(std::log(1 - p), -100.0));
}

double mean_over(const std::vector<double>& a, const std::vector<double>& b, double (*f)(double, double)) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += f(a[i], b[i]);
  return s / static_cast<double>(a.size());
}

// ---------------------------------------------------------------- gradchecks (target never requires grad)

TEST(Gradcheck, bce_with_logits) {
  Tensor x = rand_tensor({4, 5}, 1, -4.0, 4.0).requires_grad_();
  Tensor t = rand_tensor({4, 5}, 2, 0.0, 1.0);  // soft labels, as with label smoothing
  gradcheck([&](const auto& in) { return bce_with_logits(in[0], t); }, {x});
}

TEST(Gradcheck, bce) {
  Tensor p = rand_tensor({4, 5}, 3, 0.05, 0.95).requires_grad_();
  Tensor t = rand_tensor({4, 5}, 4, 0.0, 1.0);
  gradcheck([&](const auto& in) { return bce(in[0], t); }, {p});
}

TEST(Gradcheck, bce_sigmoid) {
  Tensor x = rand_tensor({4, 5}, 3, -3.0, 3.0).requires_grad_();
  Tensor t = rand_tensor({4, 5}, 4, 0.0, 1.0);
  gradcheck([&](const auto& in) { return bce_sigmoid(in[0], t); }, {x});
}

TEST(Gradcheck, hinge_d_loss) {
  // Different sizes: each mean is over its own input.
  gradcheck([](const auto& in) { return hinge_d_loss(in[0], in[1]); },
            {off_hinge_kinks({6, 1}, 5), off_hinge_kinks({4, 1}, 6)});
}

TEST(Gradcheck, hinge_g_loss) {
  gradcheck([](const auto& in) { return hinge_g_loss(in[0]); }, {rand_tensor({7, 1}, 7, -3.0, 3.0).requires_grad_()});
}

// ---------------------------------------------------------------- CUDA vs CPU
// The DCGAN discriminator's output, (N, 1) with N = 128, and a larger input that makes each of
// the single reduction block's threads loop many times.

const Shape kLossShapes[] = {{128, 1}, {64, 1, 13, 13}};

TEST(CudaParity, bce_with_logits) {
  for (const Shape& s : kLossShapes) {
    SCOPED_TRACE(shape_str(s));
    cuda_parity([](const auto& in) { return bce_with_logits(in[0], in[1]); },
                {rand_tensor(s, 10, -8.0, 8.0).requires_grad_(), rand_tensor(s, 11, 0.0, 1.0)});
  }
}

TEST(CudaParity, bce) {
  for (const Shape& s : kLossShapes) {
    SCOPED_TRACE(shape_str(s));
    cuda_parity([](const auto& in) { return bce(in[0], in[1]); },
                {rand_tensor(s, 12, 0.05, 0.95).requires_grad_(), rand_tensor(s, 13, 0.0, 1.0)});
  }
}

TEST(CudaParity, bce_sigmoid) {
  for (const Shape& s : kLossShapes) {
    SCOPED_TRACE(shape_str(s));
    cuda_parity([](const auto& in) { return bce_sigmoid(in[0], in[1]); },
                {rand_tensor(s, 12, -4.0, 4.0).requires_grad_(), rand_tensor(s, 13, 0.0, 1.0)});
  }
}

TEST(CudaParity, hinge_d_loss) {
  cuda_parity([](const auto& in) { return hinge_d_loss(in[0], in[1]); },
              {off_hinge_kinks({128, 1}, 14), off_hinge_kinks({64, 1, 13, 13}, 15)});
}

TEST(CudaParity, hinge_g_loss) {
  for (const Shape& s : kLossShapes) {
    SCOPED_TRACE(shape_str(s));
    cuda_parity([](const auto& in) { return hinge_g_loss(in[0]); }, {rand_tensor(s, 16, -3.0, 3.0).requires_grad_()});
  }
}

// ---------------------------------------------------------------- known values

TEST(Loss, ReturnsAZeroDimTensor) {
  Tensor y = bce_with_logits(Tensor::zeros({3, 1}), Tensor::ones({3, 1}));
  EXPECT_EQ(y.dim(), 0);
  EXPECT_EQ(y.numel(), 1);
}

TEST(Loss, BceWithLogitsKnownValuesAndStability) {
  for (DType dt : {DType::F64, DType::F32}) {
    SCOPED_TRACE(dtype_name(dt));
    const double tol = dt == DType::F64 ? 1e-15 : 1e-6;
    // At x = 0 the loss is ln 2 whatever the target.
    for (double t : {0.0, 0.3, 1.0})
      EXPECT_NEAR(bce_with_logits(Tensor::zeros({4}, dt), Tensor::full({4}, t, dt)).item(), std::log(2.0), tol);
    // Saturated logits: finite, ~0 when right, ~|x| when wrong, and finite gradients.
    const std::vector<double> xs = {100.0, 100.0, -100.0, -100.0}, ts = {1.0, 0.0, 1.0, 0.0};
    const std::vector<double> expect = {0.0, 100.0, 100.0, 0.0};
    for (size_t i = 0; i < xs.size(); ++i) {
      Tensor x = Tensor::from_vector({1}, {xs[i]}, dt).requires_grad_();
      Tensor y = bce_with_logits(x, Tensor::from_vector({1}, {ts[i]}, dt));
      EXPECT_TRUE(std::isfinite(y.item())) << "x " << xs[i] << " t " << ts[i];
      EXPECT_NEAR(y.item(), expect[i], 1e-12) << "x " << xs[i] << " t " << ts[i];
      y.backward();
      // d/dx = sigmoid(x) - t: 0 or +-1 here.
      EXPECT_NEAR(x.grad().item(), (xs[i] > 0 ? 1.0 : 0.0) - ts[i], 1e-12);
    }
  }
}

TEST(Loss, BceWithLogitsMatchesPyTorchFormula) {
  Tensor x = rand_tensor({50}, 20, -30.0, 30.0).requires_grad_();
  Tensor t = rand_tensor({50}, 21, 0.0, 1.0);
  std::vector<double> xv = x.to_vector(), tv = t.to_vector();
  Tensor y = bce_with_logits(x, t);
  EXPECT_NEAR(y.item(), mean_over(xv, tv, torch_bce_with_logits), 1e-12);
  y.backward();
  std::vector<double> g = x.grad().to_vector();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_NEAR(g[i], (1 / (1 + std::exp(-xv[i])) - tv[i]) / 50.0, 1e-15);
}

TEST(Loss, BceMatchesPyTorchFormulaAndLogits) {
  Tensor p = rand_tensor({50}, 22, 0.01, 0.99).requires_grad_();
  Tensor t = rand_tensor({50}, 23, 0.0, 1.0);
  std::vector<double> pv = p.to_vector(), tv = t.to_vector();
  Tensor y = bce(p, t);
  EXPECT_NEAR(y.item(), mean_over(pv, tv, torch_bce), 1e-12);
  y.backward();
  std::vector<double> g = p.grad().to_vector();
  for (size_t i = 0; i < pv.size(); ++i) EXPECT_NEAR(g[i], (pv[i] - tv[i]) / (pv[i] * (1 - pv[i])) / 50.0, 1e-12);
  // bce(sigmoid(x), t) = bce_with_logits(x, t) where sigmoid is not saturated.
  Tensor x = rand_tensor({50}, 24, -5.0, 5.0);
  EXPECT_NEAR(bce(sigmoid(x), t).item(), bce_with_logits(x, t).item(), 1e-12);
}

// PyTorch's BCELoss clamps log at -100, so a confident wrong answer costs 100 (not inf), and the
// gradient's denominator p (1 - p) at 1e-12.
TEST(Loss, BceClampsLikePyTorch) {
  for (DType dt : {DType::F64, DType::F32}) {
    SCOPED_TRACE(dtype_name(dt));
    EXPECT_EQ(bce(Tensor::zeros({1}, dt), Tensor::ones({1}, dt)).item(), 100.0);
    EXPECT_EQ(bce(Tensor::ones({1}, dt), Tensor::zeros({1}, dt)).item(), 100.0);
    EXPECT_EQ(bce(Tensor::zeros({1}, dt), Tensor::zeros({1}, dt)).item(), 0.0);
    EXPECT_EQ(bce(Tensor::ones({1}, dt), Tensor::ones({1}, dt)).item(), 0.0);
  }
  Tensor p = Tensor::zeros({1}, DType::F64).requires_grad_();
  bce(p, Tensor::ones({1}, DType::F64)).backward();
  // (0 - 1) / max(0, eps), with PyTorch's eps: the float constant 1e-12f, in double too
  // (9.999999960041972e-13, not 1e-12: a 4e-9 relative difference in saturated samples).
  EXPECT_EQ(p.grad().item(), -1.0 / 9.999999960041972e-13);
  EXPECT_TRUE(std::isfinite(p.grad().item()));
}

TEST(Loss, HingeDKnownValues) {
  // relu(1 - r): 0.5, 0, 2 -> mean 5/6;  relu(1 + f): 0, 1, 1.5, 4 -> mean 13/8.
  Tensor r = Tensor::from_vector({3}, {0.5, 2.0, -1.0}, DType::F64).requires_grad_();
  Tensor f = Tensor::from_vector({2, 2}, {-2.0, 0.0, 0.5, 3.0}, DType::F64).requires_grad_();
  Tensor y = hinge_d_loss(r, f);
  EXPECT_NEAR(y.item(), 5.0 / 6.0 + 13.0 / 8.0, 1e-15);
  y.backward();
  EXPECT_EQ(r.grad().to_vector(), (std::vector<double>{-1.0 / 3, 0.0, -1.0 / 3}));
  EXPECT_EQ(f.grad().to_vector(), (std::vector<double>{0.0, 0.25, 0.25, 0.25}));
  // At the kinks (r = 1, f = -1) the loss is 0 and the derivative is taken as 0, like relu'(0).
  Tensor rk = Tensor::from_vector({1}, {1.0}, DType::F64).requires_grad_();
  Tensor fk = Tensor::from_vector({1}, {-1.0}, DType::F64).requires_grad_();
  Tensor yk = hinge_d_loss(rk, fk);
  EXPECT_EQ(yk.item(), 0.0);
  yk.backward();
  EXPECT_EQ(rk.grad().item(), 0.0);
  EXPECT_EQ(fk.grad().item(), 0.0);
}

TEST(Loss, HingeGKnownValues) {
  Tensor f = Tensor::from_vector({3, 1}, {1.0, 2.0, 3.0}).requires_grad_();  // float32
  Tensor y = hinge_g_loss(f);
  EXPECT_EQ(y.item(), -2.0);
  y.backward();
  for (double g : f.grad().to_vector()) EXPECT_FLOAT_EQ(g, -1.0 / 3.0);
}

// Backward accumulates: two backward passes give twice the gradient, and the upstream gradient
// scales it (a loss weighted by 0.5 gives half).
TEST(Loss, BackwardAccumulatesAndUsesUpstreamGradient) {
  Tensor x = rand_tensor({8}, 30, -2.0, 2.0).requires_grad_();
  Tensor t = rand_tensor({8}, 31, 0.0, 1.0);
  bce_with_logits(x, t).backward();
  std::vector<double> g1 = x.grad().to_vector();
  mul_scalar(bce_with_logits(x, t), 0.5).backward();
  std::vector<double> g2 = x.grad().to_vector();
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g2[i], 1.5 * g1[i], 1e-15);
}

TEST(Loss, ArgumentErrors) {
  Tensor x = Tensor::zeros({4, 1}, DType::F64);
  EXPECT_NE(error_message([&] { bce_with_logits(x, Tensor::zeros({4}, DType::F64)); }).find("shape mismatch"),
            std::string::npos);
  EXPECT_NE(error_message([&] { bce(Tensor::zeros({0}, DType::F64), Tensor::zeros({0}, DType::F64)); }).find("empty"),
            std::string::npos);
  EXPECT_NE(error_message([&] { hinge_g_loss(Tensor::zeros({0})); }).find("empty"), std::string::npos);
  EXPECT_NE(error_message([&] { hinge_d_loss(x, Tensor::zeros({4, 1})); }).find("dtype"), std::string::npos);
  // No gradient flows to a target: one that asks for it is refused (outside no-grad mode).
  Tensor t = Tensor::zeros({4, 1}, DType::F64).requires_grad_();
  EXPECT_NE(error_message([&] { bce_with_logits(x, t); }).find("no gradient flows to the target"), std::string::npos);
  EXPECT_NE(error_message([&] { bce(x, t); }).find("no gradient flows to the target"), std::string::npos);
  NoGradGuard no_grad;
  EXPECT_NO_THROW(bce_with_logits(x, t));
}

}  // namespace
}  // namespace nn::test
