// Tests for src/ops/concat.cpp: gradchecks (float64, CPU), CUDA-vs-CPU parity (Inception's
// 35x35 block outputs, and the unaligned scalar path), values by hand, the accumulate rule and the
// argument errors.
#include <string>
#include <vector>

#include "test_util.h"

namespace nn::test {
namespace {

// ---------------------------------------------------------------- gradchecks

TEST(Gradcheck, concat) {
  // Channels (dim 1), as Inception's blocks join their branches.
  gradcheck(
      [](const auto& in) {
        return concat({in[0], in[1], in[2]}, 1);
      },
      {rand_tensor({2, 1, 3, 2}, 1).requires_grad_(), rand_tensor({2, 3, 3, 2}, 2).requires_grad_(),
       rand_tensor({2, 2, 3, 2}, 3).requires_grad_()});
  // The batch dimension, and the last one (negative dim); an input that needs no gradient.
  gradcheck(
      [](const auto& in) {
        return concat({in[0], in[1]}, 0);
      },
      {rand_tensor({1, 4}, 4).requires_grad_(), rand_tensor({3, 4}, 5).requires_grad_()});
  gradcheck(
      [](const auto& in) {
        return concat({in[0], in[1], in[2]}, -1);
      },
      {rand_tensor({2, 3, 1}, 6).requires_grad_(), rand_tensor({2, 3, 4}, 7),
       rand_tensor({2, 3, 2}, 8).requires_grad_()});
}

// ---------------------------------------------------------------- CUDA parity (skip without a GPU)

TEST(CudaParity, concat) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  // Inception Mixed_5b: branches of 64, 64, 96 and 32 channels at 35x35 (float4 path).
  cuda_parity(
      [](const auto& in) {
        return concat({in[0], in[1], in[2], in[3]}, 1);
      },
      {rand_tensor({2, 64, 35, 35}, 11).requires_grad_(), rand_tensor({2, 64, 35, 35}, 12).requires_grad_(),
       rand_tensor({2, 96, 35, 35}, 13).requires_grad_(), rand_tensor({2, 32, 35, 35}, 14).requires_grad_()},
      {0, 0, 4321});  // a copy and a sum of one term: exact
  // Odd widths along the last dimension (scalar path, unaligned offsets), and dim 0.
  cuda_parity(
      [](const auto& in) {
        return concat({in[0], in[1], in[2]}, -1);
      },
      {rand_tensor({3, 5, 7}, 15).requires_grad_(), rand_tensor({3, 5, 1}, 16).requires_grad_(),
       rand_tensor({3, 5, 3}, 17).requires_grad_()},
      {0, 0, 4321});
  cuda_parity(
      [](const auto& in) {
        return concat({in[0], in[1]}, 0);
      },
      {rand_tensor({2, 3, 4}, 18).requires_grad_(), rand_tensor({5, 3, 4}, 19).requires_grad_()}, {0, 0, 4321});
}

// ---------------------------------------------------------------- values and rules

TEST(Concat, KnownValues) {
  const Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4}, DType::F64);
  const Tensor b = Tensor::from_vector({2, 1}, {5, 6}, DType::F64);
  const Tensor c = Tensor::from_vector({1, 2}, {7, 8}, DType::F64);
  // Along columns: [1 2 5; 3 4 6].  Along rows: [1 2; 3 4; 7 8].
  Tensor cols = concat({a, b}, 1);
  EXPECT_EQ(cols.shape(), (Shape{2, 3}));
  EXPECT_EQ(cols.to_vector(), (std::vector<double>{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(concat({a, c}, 0).to_vector(), (std::vector<double>{1, 2, 3, 4, 7, 8}));
  EXPECT_EQ(concat({a, b}, -1).to_vector(), cols.to_vector());
  // Channels of (N,C,H,W): each sample's channels follow one another.
  const Tensor x = Tensor::from_vector({2, 1, 1, 2}, {1, 2, 3, 4}, DType::F32);
  const Tensor y = Tensor::from_vector({2, 2, 1, 2}, {10, 11, 12, 13, 14, 15, 16, 17}, DType::F32);
  Tensor xy = concat({x, y}, 1);
  EXPECT_EQ(xy.shape(), (Shape{2, 3, 1, 2}));
  EXPECT_EQ(xy.to_vector(), (std::vector<double>{1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17}));
  // One tensor: a copy.
  EXPECT_EQ(concat({a}, 0).to_vector(), a.to_vector());
}

TEST(Concat, GradientIsTheSlice) {
  Tensor a = Tensor::zeros({2, 2}, DType::F64).requires_grad_();
  Tensor b = Tensor::zeros({2, 1}, DType::F64).requires_grad_();
  Tensor g = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, DType::F64);
  concat({a, b}, 1).backward(g);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{1, 2, 4, 5}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{3, 6}));
  // Backward accumulates: a second sweep doubles the gradients.
  concat({a, b}, 1).backward(g);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{2, 4, 8, 10}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{6, 12}));
}

TEST(Concat, SameTensorTwiceGetsBothSlices) {
  Tensor a = Tensor::from_vector({1, 2}, {1, 2}, DType::F64).requires_grad_();
  Tensor y = concat({a, a}, 1);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 2, 1, 2}));
  y.backward(Tensor::from_vector({1, 4}, {1, 10, 100, 1000}, DType::F64));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{101, 1010}));
}

TEST(Concat, EmptySliceContributesNothing) {
  const Tensor a = Tensor::from_vector({1, 2}, {1, 2}, DType::F64);
  const Tensor e = Tensor::zeros({1, 0}, DType::F64);
  Tensor y = concat({e, a, e}, 1);
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 2}));
}

TEST(Concat, ArgumentErrors) {
  const Tensor a = Tensor::zeros({2, 3, 4});
  expect_error_containing([&] { concat({}, 0); }, {"concat", "at least one"});
  expect_error_containing(
      [&] {
        concat({a, Tensor::zeros({2, 5, 5})}, 1);
      },
      {"concat", "tensor 1 (2,5,5)", "tensor 0 (2,3,4)", "dimension 1"});
  expect_error_containing([&] { concat({a, Tensor::zeros({2, 3})}, 0); }, {"concat", "tensor 1 (2,3)"});
  expect_error_containing([&] { concat({a, Tensor::zeros({2, 3, 4}, DType::F64)}, 0); }, {"concat", "dtype mismatch"});
  expect_error_containing([&] { concat({a, a}, 3); }, {"concat", "dimension 3", "3-D"});
  expect_error_containing([&] { concat({a, a}, -4); }, {"concat", "dimension -4"});
  expect_error_containing([&] { concat({a, Tensor()}, 0); }, {"concat", "tensor 1", "undefined"});
}

}  // namespace
}  // namespace nn::test
