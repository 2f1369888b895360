// Tests for src/ops/linear.cpp (matmul, linear): gradchecks (float64, CPU), CUDA-vs-CPU parity,
// values worked out by hand, linear == matmul with the transposed weight, the accumulate rule,
// and the shape errors.
#include <array>
#include <string>
#include <vector>

#include "ops/cpu_gemm.h"
#include "test_util.h"

namespace nn::test {
namespace {

// ---------------------------------------------------------------- gradchecks

TEST(Gradcheck, matmul) {
  gradcheck([](const auto& in) { return matmul(in[0], in[1]); },
            {rand_tensor({5, 4}, 11).requires_grad_(), rand_tensor({4, 3}, 12).requires_grad_()});
}

TEST(Gradcheck, linear) {
  // With a bias ...
  gradcheck([](const auto& in) { return linear(in[0], in[1], in[2]); },
            {rand_tensor({4, 6}, 21).requires_grad_(), rand_tensor({5, 6}, 22).requires_grad_(),
             rand_tensor({5}, 23).requires_grad_()});
  // ... and without one (an undefined bias tensor).
  gradcheck([](const auto& in) { return linear(in[0], in[1]); },
            {rand_tensor({3, 7}, 24).requires_grad_(), rand_tensor({2, 7}, 25).requires_grad_()});
}

// ---------------------------------------------------------------- CUDA parity (skip without a GPU)

// float32 sums of a few hundred terms in different orders differ by ~1e-5 absolute; the
// default atol (1e-5) is too tight for elements that happen to be near zero.
const ParityOptions kGemmTolerance{2e-4, 1e-4, 4321};

TEST(CudaParity, matmul) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  cuda_parity([](const auto& in) { return matmul(in[0], in[1]); },
              {rand_tensor({64, 256}, 31).requires_grad_(), rand_tensor({256, 128}, 32).requires_grad_()},
              kGemmTolerance);
}

TEST(CudaParity, linear) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  // The generator's projection of a 128-d latent to a 4x4x256 feature map, batch 4 ...
  cuda_parity([](const auto& in) { return linear(in[0], in[1], in[2]); },
              {rand_tensor({4, 128}, 41).requires_grad_(), rand_tensor({4096, 128}, 42, -0.1, 0.1).requires_grad_(),
               rand_tensor({4096}, 43).requires_grad_()},
              kGemmTolerance);
  // ... and a discriminator's head, 4x4x256 features to one logit, without a bias.
  cuda_parity([](const auto& in) { return linear(in[0], in[1]); },
              {rand_tensor({4, 4096}, 44).requires_grad_(), rand_tensor({1, 4096}, 45, -0.05, 0.05).requires_grad_()},
              kGemmTolerance);
}

// ---------------------------------------------------------------- values by hand

TEST(Matmul, KnownValues) {
  // [1 2 3]   [1  0]   [1+0+6  0+2-3]   [ 7 -1]
  // [4 5 6] x [0  1] = [4+0+12 0+5-6] = [16 -1]
  //           [2 -1]
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, DType::F64);
  Tensor b = Tensor::from_vector({3, 2}, {1, 0, 0, 1, 2, -1}, DType::F64);
  EXPECT_EQ(matmul(a, b).to_vector(), (std::vector<double>{7, -1, 16, -1}));
}

TEST(Linear, KnownValues) {
  // x = [1 2; 3 4], W = [1 0; 2 -1; 0.5 3] (out = 3, in = 2), b = [0.5 -1 2]:
  //   y[0] = [1 + 0 + 0.5,  2 - 2 - 1,  0.5 + 6 + 2 ] = [1.5 -1  8.5]
  //   y[1] = [3 + 0 + 0.5,  6 - 4 - 1,  1.5 + 12 + 2] = [3.5  1 15.5]
  Tensor x = Tensor::from_vector({2, 2}, {1, 2, 3, 4}, DType::F64).requires_grad_();
  Tensor w = Tensor::from_vector({3, 2}, {1, 0, 2, -1, 0.5, 3}, DType::F64).requires_grad_();
  Tensor b = Tensor::from_vector({3}, {0.5, -1, 2}, DType::F64).requires_grad_();
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1.5, -1, 8.5, 3.5, 1, 15.5}));
  // L = sum(y), so dy = 1 everywhere:
  //   dx[n,i] = sum_o W[o,i] = [1+2+0.5, 0-1+3] = [3.5 2] for both rows;
  //   dW[o,i] = sum_n x[n,i] = [1+3, 2+4] = [4 6] for every row;  db[o] = N = 2.
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3.5, 2, 3.5, 2}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{4, 6, 4, 6, 4, 6}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{2, 2, 2}));
}

// linear(x, W, b) == matmul(x, W^T) + b, with W^T and the broadcast bias built by plain loops here.
TEST(Linear, EqualsMatmulWithTransposedWeight) {
  const int64_t batch = 3, in = 5, out = 4;
  Tensor x = rand_tensor({batch, in}, 51);
  Tensor w = rand_tensor({out, in}, 52);
  Tensor b = rand_tensor({out}, 53);
  Tensor wt = Tensor::empty({in, out}, DType::F64);
  Tensor bias_rows = Tensor::empty({batch, out}, DType::F64);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) wt.data<double>()[i * out + o] = w.data<double>()[o * in + i];
    for (int64_t n = 0; n < batch; ++n) bias_rows.data<double>()[n * out + o] = b.data<double>()[o];
  }
  std::vector<double> expected = add(matmul(x, wt), bias_rows).to_vector();
  std::vector<double> got = linear(x, w, b).to_vector();
  std::string where;
  EXPECT_TRUE(all_close(got, expected, 1e-14, 1e-14, &where)) << where;
  // Without a bias it is exactly the product.
  EXPECT_TRUE(all_close(linear(x, w).to_vector(), matmul(x, wt).to_vector(), 1e-14, 1e-14, &where)) << where;
}

// The engine's rule: backward accumulates, so two backwards give twice the gradient.
TEST(Linear, BackwardAccumulates) {
  Tensor x = rand_tensor({3, 4}, 61);
  Tensor w = rand_tensor({2, 4}, 62).requires_grad_();
  Tensor b = rand_tensor({2}, 63).requires_grad_();
  sum(linear(x, w, b)).backward();
  std::vector<double> once_w = w.grad().to_vector(), once_b = b.grad().to_vector();
  EXPECT_FALSE(x.grad().defined()) << "x does not require grad and must not get one";
  sum(linear(x, w, b)).backward();
  std::vector<double> twice_w = w.grad().to_vector(), twice_b = b.grad().to_vector();
  for (size_t i = 0; i < once_w.size(); ++i) EXPECT_DOUBLE_EQ(twice_w[i], 2 * once_w[i]);
  for (size_t i = 0; i < once_b.size(); ++i) EXPECT_DOUBLE_EQ(twice_b[i], 2 * once_b[i]);
}

// ---------------------------------------------------------------- errors

TEST(Linear, ShapeErrors) {
  Tensor a23 = Tensor::zeros({2, 3});
  Tensor a45 = Tensor::zeros({4, 5});
  EXPECT_THROW(matmul(a23, a45), Error);
  expect_error_containing([&] { matmul(a23, a45); }, {"matmul", "(2,3)", "(4,5)"});
  expect_error_containing([&] { matmul(Tensor::zeros({2, 3, 1}), a45); }, {"matmul", "2-D", "(2,3,1)"});

  Tensor x = Tensor::zeros({4, 3});
  Tensor w = Tensor::zeros({5, 2});
  EXPECT_THROW(linear(x, w), Error);
  expect_error_containing([&] { linear(x, w); }, {"linear", "(4,3)", "(5,2)", "3 features", "expects 2"});
  Tensor w_ok = Tensor::zeros({5, 3}), bias_4 = Tensor::zeros({4});
  expect_error_containing([&] { linear(x, w_ok, bias_4); }, {"linear", "bias", "(4)", "(5)"});
  expect_error_containing([&] { linear(Tensor::zeros({3}), w); }, {"linear", "2-D", "(3)"});
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// The CPU products (OpenBLAS when the build has it) against the plain reference loops, for the
// three layouts, sizes that are no multiple of any blocking, in float64 and float32.
template <class T>
void gemms_match_reference(double tol) {
  for (const auto& [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {7, 5, 3}, {33, 65, 17}, {128, 3, 200}}) {
    const std::vector<double> a = rand_tensor({M * K}, 11).to_vector(), b = rand_tensor({K * N}, 12).to_vector(),
                              c0 = rand_tensor({M * N}, 13).to_vector();
    const std::vector<T> A(a.begin(), a.end()), B(b.begin(), b.end()), C0(c0.begin(), c0.end());
    for (int layout = 0; layout < 3; ++layout) {
      std::vector<T> fast = C0, ref = C0;  // both accumulate into the same C
      if (layout == 0) {
        gemm_nn_cpu(M, N, K, A.data(), B.data(), fast.data());
        gemm_nn_reference(M, N, K, A.data(), B.data(), ref.data());
      } else if (layout == 1) {  // B stored (N,K)
        gemm_nt_cpu(M, N, K, A.data(), B.data(), fast.data());
        gemm_nt_reference(M, N, K, A.data(), B.data(), ref.data());
      } else {  // A stored (K,M)
        gemm_tn_cpu(M, N, K, A.data(), B.data(), fast.data());
        gemm_tn_reference(M, N, K, A.data(), B.data(), ref.data());
      }
      for (size_t i = 0; i < ref.size(); ++i)
        ASSERT_NEAR(fast[i], ref[i], tol * K) << "layout " << layout << " (" << M << "," << N << "," << K << ") element " << i;
    }
  }
}

TEST(CpuGemm, MatchesTheReferenceLoops) {
  gemms_match_reference<double>(1e-14);
  gemms_match_reference<float>(1e-6);
}

}  // namespace
}  // namespace nn::test

