// Tests for src/ops/elementwise.cpp and src/ops/shape.cpp.
#include "test_util.h"

namespace nn::test {
namespace {

Tensor in(const Shape& s, uint64_t seed) { return rand_tensor(s, seed, -2, 2).requires_grad_(); }

TEST(Gradcheck, add) { gradcheck([](const auto& v) { return add(v[0], v[1]); }, {in({3, 4}, 1), in({3, 4}, 2)}); }
TEST(Gradcheck, sub) { gradcheck([](const auto& v) { return sub(v[0], v[1]); }, {in({3, 4}, 3), in({3, 4}, 4)}); }
TEST(Gradcheck, mul) { gradcheck([](const auto& v) { return mul(v[0], v[1]); }, {in({3, 4}, 5), in({3, 4}, 6)}); }
TEST(Gradcheck, add_scalar) { gradcheck([](const auto& v) { return add_scalar(v[0], 0.7); }, {in({5}, 7)}); }
TEST(Gradcheck, mul_scalar) { gradcheck([](const auto& v) { return mul_scalar(v[0], -1.3); }, {in({5}, 8)}); }
TEST(Gradcheck, sum) { gradcheck([](const auto& v) { return sum(v[0]); }, {in({2, 3, 2}, 9)}); }
TEST(Gradcheck, mean) { gradcheck([](const auto& v) { return mean(v[0]); }, {in({2, 3, 2}, 10)}); }
TEST(Gradcheck, reshape) {
  gradcheck([](const auto& v) { return mul(reshape(v[0], {6, 2}), v[1]); }, {in({3, 4}, 11), in({6, 2}, 12)});
}

TEST(CudaParity, add) { cuda_parity([](const auto& v) { return add(v[0], v[1]); }, {in({64, 33}, 1), in({64, 33}, 2)}); }
TEST(CudaParity, sub) { cuda_parity([](const auto& v) { return sub(v[0], v[1]); }, {in({64, 33}, 3), in({64, 33}, 4)}); }
TEST(CudaParity, mul) { cuda_parity([](const auto& v) { return mul(v[0], v[1]); }, {in({64, 33}, 5), in({64, 33}, 6)}); }
TEST(CudaParity, add_scalar) { cuda_parity([](const auto& v) { return add_scalar(v[0], 0.7); }, {in({1000}, 7)}); }
TEST(CudaParity, mul_scalar) { cuda_parity([](const auto& v) { return mul_scalar(v[0], -1.3); }, {in({1000}, 8)}); }
TEST(CudaParity, sum) { cuda_parity([](const auto& v) { return sum(v[0]); }, {in({256, 300}, 9)}, {1e-3, 1e-4}); }
TEST(CudaParity, mean) { cuda_parity([](const auto& v) { return mean(v[0]); }, {in({256, 300}, 10)}); }
TEST(CudaParity, reshape) {
  cuda_parity([](const auto& v) { return mul(reshape(v[0], {6, -1}), v[1]); }, {in({3, 4}, 11), in({6, 2}, 12)});
}

TEST(Elementwise, KnownValues) {
  Tensor a = Tensor::from_vector({3}, {1, 2, 3}, DType::F64), b = Tensor::from_vector({3}, {4, 5, 6}, DType::F64);
  EXPECT_EQ((a + b).to_vector(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ((a - b).to_vector(), (std::vector<double>{-3, -3, -3}));
  EXPECT_EQ((a * b).to_vector(), (std::vector<double>{4, 10, 18}));
  EXPECT_EQ((a + 1.0).to_vector(), (std::vector<double>{2, 3, 4}));
  EXPECT_EQ((2.0 * a).to_vector(), (std::vector<double>{2, 4, 6}));
  EXPECT_EQ(sum(a).item(), 6.0);
  EXPECT_EQ(mean(b).item(), 5.0);
  EXPECT_EQ(sum(a).dim(), 0);
}

TEST(Elementwise, ShapeMismatchNamesOpAndShapes) {
  try {
    mul(Tensor::ones({2, 3}), Tensor::ones({3, 2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "mul: shape mismatch: (2,3) and (3,2)");
  }
}

}  // namespace
}  // namespace nn::test
