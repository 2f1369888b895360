// Spectral normalisation (src/ops/spectral_norm.cpp): the gradient of W / sigma with u, v held
// constant (float64 gradcheck), CPU against CUDA, the power iteration against values worked out
// by hand, and sigma against the largest singular value in closed form.
#include <cmath>

#include "nn/autograd.h"
#include "nn/ops.h"
#include "test_util.h"

namespace nn::test {
namespace {

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-14) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// A unit vector of length n (F.normalize of uniform values), as the layers start u and v.
Tensor unit_vector(int64_t n, uint64_t seed) {
  Tensor x = rand_tensor({n}, seed);
  double s = 0;
  for (double v : x.to_vector()) s += v * v;
  return mul_scalar(x, 1.0 / std::sqrt(s));
}

TEST(Gradcheck, spectral_normalize) {
  // A convolution weight (out 3, in 2, 2x2): W_mat is 3 x 8.
  const Tensor u = unit_vector(3, 1), v = unit_vector(8, 2);
  gradcheck([u, v](const auto& in) { return spectral_normalize(in[0], u, v); },
            {rand_tensor({3, 2, 2, 2}, 3).requires_grad_()});
  // A linear weight (out 1, in 5), the SNGAN discriminator's last layer.
  const Tensor u1 = unit_vector(1, 4), v1 = unit_vector(5, 5);
  gradcheck([u1, v1](const auto& in) { return spectral_normalize(in[0], u1, v1); },
            {rand_tensor({1, 5}, 6).requires_grad_()});
}

TEST(CudaParity, spectral_normalize) {
  NN_SKIP_WITHOUT_CUDA();
  // The SNGAN discriminator's 3x3 convolution at width 128: W_mat 128 x 1152.
  cuda_parity([](const auto& in) { return spectral_normalize(in[0], in[1], in[2]); },
              {rand_tensor({128, 128, 3, 3}, 7).requires_grad_(), unit_vector(128, 8), unit_vector(1152, 9)});
  cuda_parity([](const auto& in) { return spectral_normalize(in[0], in[1], in[2]); },
              {rand_tensor({1, 128}, 10).requires_grad_(), unit_vector(1, 11), unit_vector(128, 12)});
}

// W = diag(3, 1), u = (1, 1)/sqrt(2):
//   v = normalize(W^T u) = (3, 1)/sqrt(10),  u = normalize(W v) = (9, 1)/sqrt(82),
//   sigma = u^T W v = (9*3*3 + 1*1*1) / sqrt(820) = 82 / sqrt(820) = sqrt(8.2).
TEST(SpectralNorm, OnePowerIterationByHand) {
  const Tensor w = Tensor::from_vector({2, 2}, {3, 0, 0, 1}, DType::F64);
  Tensor u = Tensor::from_vector({2}, {1 / std::sqrt(2.0), 1 / std::sqrt(2.0)}, DType::F64);
  Tensor v = Tensor::from_vector({2}, {0.5, 0.5}, DType::F64);  // overwritten first
  spectral_norm_power_iteration_(w, u, v);
  expect_near_all(v.to_vector(), {3 / std::sqrt(10.0), 1 / std::sqrt(10.0)});
  expect_near_all(u.to_vector(), {9 / std::sqrt(82.0), 1 / std::sqrt(82.0)});
  EXPECT_NEAR(spectral_norm_sigma(w, u, v).item(), std::sqrt(8.2), 1e-14);
  const Tensor y = spectral_normalize(w, u, v);
  expect_near_all(y.to_vector(), {3 / std::sqrt(8.2), 0, 0, 1 / std::sqrt(8.2)});
  // u and v are not touched by the normalisation itself.
  expect_near_all(u.to_vector(), {9 / std::sqrt(82.0), 1 / std::sqrt(82.0)});
}

// For a 3 x 2 matrix the largest singular value is sqrt of the larger eigenvalue of the 2 x 2
// W^T W = [[a, b], [b, d]]: (a + d)/2 + sqrt(((a - d)/2)^2 + b^2). Many iterations converge to it.
TEST(SpectralNorm, SigmaConvergesToTheLargestSingularValue) {
  const std::vector<double> m = {0.3, -1.2, 2.0, 0.7, -0.4, 0.9};  // rows (0.3,-1.2), (2,0.7), (-0.4,0.9)
  const Tensor w = Tensor::from_vector({3, 2}, m, DType::F64);
  double a = 0, b = 0, d = 0;
  for (int r = 0; r < 3; ++r) {
    a += m[2 * r] * m[2 * r];
    b += m[2 * r] * m[2 * r + 1];
    d += m[2 * r + 1] * m[2 * r + 1];
  }
  const double largest = std::sqrt((a + d) / 2 + std::sqrt((a - d) * (a - d) / 4 + b * b));
  Tensor u = unit_vector(3, 21), v = unit_vector(2, 22);
  for (int i = 0; i < 100; ++i) spectral_norm_power_iteration_(w, u, v);
  EXPECT_NEAR(spectral_norm_sigma(w, u, v).item(), largest, 1e-12);
  // The normalised weight then has spectral norm 1.
  const Tensor y = spectral_normalize(w, u, v);
  EXPECT_NEAR(spectral_norm_sigma(y, u, v).item(), 1.0, 1e-12);
}

TEST(SpectralNorm, ShapesAreChecked) {
  const Tensor w = rand_tensor({4, 3}, 1);
  expect_error_containing([&] { spectral_normalize(w, unit_vector(3, 2), unit_vector(3, 3)); },
                          {"spectral_normalize", "needs u (4) and v (3)"});
  expect_error_containing([&] { spectral_normalize(rand_tensor({4}, 1), unit_vector(4, 2), unit_vector(1, 3)); },
                          {"at least 2 dimensions"});
}

TEST(SpectralNormCuda, PowerIterationMatchesTheCpu) {
  NN_SKIP_WITHOUT_CUDA();
  const Tensor w = rand_tensor({128, 1152}, 31).to(DType::F32);
  Tensor u = unit_vector(128, 32).to(DType::F32), v = unit_vector(1152, 33).to(DType::F32);
  Tensor wg = w.to(Device::CUDA), ug = u.to(Device::CUDA), vg = v.to(Device::CUDA);
  for (int i = 0; i < 3; ++i) {
    spectral_norm_power_iteration_(w, u, v);
    spectral_norm_power_iteration_(wg, ug, vg);
  }
  std::string where;
  EXPECT_TRUE(all_close(ug.to(Device::CPU).to_vector(), u.to_vector(), 1e-5, 1e-4, &where)) << "u: " << where;
  EXPECT_TRUE(all_close(vg.to(Device::CPU).to_vector(), v.to_vector(), 1e-5, 1e-4, &where)) << "v: " << where;
  EXPECT_NEAR(spectral_norm_sigma(wg, ug, vg).item(), spectral_norm_sigma(w, u, v).item(), 1e-3);
}

}  // namespace
}  // namespace nn::test
