// Tests for src/ops/pooling.cpp (max_pool2d, avg_pool2d, global_avg_pool2d): gradchecks (float64,
// CPU), CUDA-vs-CPU parity at Inception-v3 shapes (small batch), values from PyTorch and by hand,
// the tie and padding rules, the accumulate rule and the argument errors.
#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "pooling_math.h"
#include "test_util.h"

namespace nn::test {
namespace {

// Distinct values (a shuffled arithmetic sequence, `step` apart): no two elements of a window
// tie, so the max's argmax cannot flip under gradcheck's +-1e-6 perturbations.
Tensor distinct_tensor(const Shape& shape, uint64_t seed, double step = 0.01, DType dtype = DType::F64) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = (static_cast<double>(i) - 0.5 * n) * step;
  std::mt19937_64 gen(seed);
  std::shuffle(v.begin(), v.end(), gen);
  return Tensor::from_vector(shape, v, dtype);
}

Pool2dArgs pool_args(int kh, int kw, int sh, int sw, int ph, int pw) { return Pool2dArgs{kh, kw, sh, sw, ph, pw}; }

// ---------------------------------------------------------------- gradchecks

TEST(Gradcheck, max_pool2d) {
  // Inception's stem pool (3x3, stride 2), here with padding 1 on odd and even sizes.
  gradcheck([](const auto& in) { return max_pool2d(in[0], Pool2dArgs::make(3, 2, 1)); },
            {distinct_tensor({2, 3, 7, 6}, 1).requires_grad_()});
  // Overlapping windows (stride 1): one element can be the max of several windows.
  gradcheck([](const auto& in) { return max_pool2d(in[0], Pool2dArgs::make(3, 1, 1)); },
            {distinct_tensor({1, 2, 5, 5}, 2).requires_grad_()});
  // A rectangular kernel with per-axis stride and padding.
  gradcheck([](const auto& in) { return max_pool2d(in[0], pool_args(2, 3, 1, 2, 1, 1)); },
            {distinct_tensor({2, 2, 5, 7}, 3).requires_grad_()});
}

TEST(Gradcheck, avg_pool2d) {
  for (bool include_pad : {false, true}) {
    // Inception's branch pool: 3x3, stride 1, padding 1.
    gradcheck([=](const auto& in) { return avg_pool2d(in[0], Pool2dArgs::make(3, 1, 1), include_pad); },
              {rand_tensor({2, 3, 5, 6}, 11).requires_grad_()});
    gradcheck([=](const auto& in) { return avg_pool2d(in[0], Pool2dArgs::make(3, 2, 1), include_pad); },
              {rand_tensor({1, 2, 7, 8}, 12).requires_grad_()});
    gradcheck([=](const auto& in) { return avg_pool2d(in[0], pool_args(3, 2, 2, 1, 1, 1), include_pad); },
              {rand_tensor({2, 2, 6, 5}, 13).requires_grad_()});
  }
}

TEST(Gradcheck, global_avg_pool2d) {
  gradcheck([](const auto& in) { return global_avg_pool2d(in[0]); }, {rand_tensor({2, 3, 4, 5}, 21).requires_grad_()});
  gradcheck([](const auto& in) { return global_avg_pool2d(in[0]); }, {rand_tensor({3, 2, 1, 1}, 22).requires_grad_()});
}

// ---------------------------------------------------------------- CUDA parity (skip without a GPU)

TEST(CudaParity, max_pool2d) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  // Inception's stem pools: 3x3 stride 2 on 147x147 (-> 73) and 71x71 (-> 35), channels reduced.
  cuda_parity([](const auto& in) { return max_pool2d(in[0], Pool2dArgs::make(3, 2)); },
              {distinct_tensor({2, 8, 147, 147}, 31, 1e-3).requires_grad_()});
  cuda_parity([](const auto& in) { return max_pool2d(in[0], Pool2dArgs::make(3, 2)); },
              {distinct_tensor({2, 16, 71, 71}, 32, 1e-3).requires_grad_()});
  // Padding and a rectangular kernel; and the inference path (no indices kept).
  cuda_parity([](const auto& in) { return max_pool2d(in[0], pool_args(2, 3, 1, 2, 1, 1)); },
              {distinct_tensor({3, 5, 17, 19}, 33).requires_grad_()});
  cuda_parity([](const auto& in) { return max_pool2d(in[0], Pool2dArgs::make(3, 2, 1)); },
              {distinct_tensor({2, 4, 35, 35}, 34)});
}

TEST(CudaParity, avg_pool2d) {
  NN_SKIP_WITHOUT_CUDA();
  for (bool include_pad : {false, true}) {
    // Inception's branch pools: 3x3 stride 1 pad 1 at 35x35, 17x17 and 8x8.
    cuda_parity([=](const auto& in) { return avg_pool2d(in[0], Pool2dArgs::make(3, 1, 1), include_pad); },
                {rand_tensor({2, 32, 35, 35}, 41).requires_grad_()});
    cuda_parity([=](const auto& in) { return avg_pool2d(in[0], Pool2dArgs::make(3, 1, 1), include_pad); },
                {rand_tensor({2, 64, 8, 8}, 42).requires_grad_()});
    cuda_parity([=](const auto& in) { return avg_pool2d(in[0], pool_args(3, 2, 2, 1, 1, 1), include_pad); },
                {rand_tensor({3, 5, 17, 16}, 43).requires_grad_()});
  }
}

TEST(CudaParity, global_avg_pool2d) {
  NN_SKIP_WITHOUT_CUDA();
  // Inception's head: (N, 2048, 8, 8) -> (N, 2048, 1, 1); and planes larger than a warp's stride.
  cuda_parity([](const auto& in) { return global_avg_pool2d(in[0]); },
              {rand_tensor({2, 2048, 8, 8}, 51).requires_grad_()});
  cuda_parity([](const auto& in) { return global_avg_pool2d(in[0]); },
              {rand_tensor({3, 7, 35, 35}, 52).requires_grad_()});
}

// ---------------------------------------------------------------- known values

// x = 1..16 as a 4x4 plane.
Tensor one_to_sixteen() {
  std::vector<double> v(16);
  std::iota(v.begin(), v.end(), 1.0);
  return Tensor::from_vector({1, 1, 4, 4}, v, DType::F64);
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(Pooling, AvgKnownValuesByHand) {
  // 3x3 stride 1 pad 1 over 1..16. Corner (0,0) covers {1,2,5,6}: count_include_pad=false divides
  // the sum 14 by the 4 in-bounds elements (3.5); true divides by 9 (14/9). Edge (0,1) covers
  // {1,2,3,5,6,7} = 24: by 6 (4) or by 9 (24/9). Centre (1,1) covers 1,2,3,5,6,7,9,10,11 = 54: 6 both ways.
  const Tensor x = one_to_sixteen();
  const std::vector<double> ex = avg_pool2d(x, Pool2dArgs::make(3, 1, 1), false).to_vector();
  const std::vector<double> in = avg_pool2d(x, Pool2dArgs::make(3, 1, 1), true).to_vector();
  EXPECT_DOUBLE_EQ(ex[0], 14.0 / 4);
  EXPECT_DOUBLE_EQ(in[0], 14.0 / 9);
  EXPECT_DOUBLE_EQ(ex[1], 24.0 / 6);
  EXPECT_DOUBLE_EQ(in[1], 24.0 / 9);
  EXPECT_DOUBLE_EQ(ex[5], 6.0);
  EXPECT_DOUBLE_EQ(in[5], 6.0);
  // Without padding every window is whole: 2x2 stride 2 gives the block means.
  EXPECT_EQ(avg_pool2d(x, Pool2dArgs::make(2, 2), false).to_vector(), (std::vector<double>{3.5, 5.5, 11.5, 13.5}));
}

TEST(Pooling, AvgMatchesTorch) {
  // Values from torch 2.15 F.avg_pool2d(x, 3, stride, 1, count_include_pad=...) on x = 1..16 (4x4).
  const Tensor x = one_to_sixteen();
  expect_near_all(avg_pool2d(x, Pool2dArgs::make(3, 1, 1), false).to_vector(),
                  {3.5, 4.0, 5.0, 5.5, 5.5, 6.0, 7.0, 7.5, 9.5, 10.0, 11.0, 11.5, 11.5, 12.0, 13.0, 13.5});
  expect_near_all(
      avg_pool2d(x, Pool2dArgs::make(3, 1, 1), true).to_vector(),
      {1.5555555555555556, 2.6666666666666665, 3.3333333333333335, 2.4444444444444446, 3.6666666666666665, 6.0, 7.0,
       5.0, 6.333333333333333, 10.0, 11.0, 7.666666666666667, 5.111111111111111, 8.0, 8.666666666666666, 6.0});
  expect_near_all(avg_pool2d(x, Pool2dArgs::make(3, 2, 1), false).to_vector(), {3.5, 5.0, 9.5, 11.0});
  expect_near_all(avg_pool2d(x, Pool2dArgs::make(3, 2, 1), true).to_vector(),
                  {1.5555555555555556, 3.3333333333333335, 6.333333333333333, 11.0});
}

TEST(Pooling, MaxPaddingActsAsMinusInfinity) {
  // All values negative: a zero padding would win every border window; -inf padding never does.
  // Values and indices from torch 2.15 F.max_pool2d(x, 3, 2, 1, return_indices=True): y = [-2 -1; -1 -1].
  const Tensor x =
      Tensor::from_vector({1, 1, 4, 4}, {-5, -3, -8, -1, -2, -9, -4, -7, -6, -1, -3, -2, -4, -8, -5, -6}, DType::F64)
          .requires_grad_();
  Tensor y = max_pool2d(x, Pool2dArgs::make(3, 2, 1));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{-2, -1, -1, -1}));
  // Gradients land on torch's indices 4, 3, 9, 9 (flat within the plane).
  sum(y).backward();
  std::vector<double> want(16, 0.0);
  want[4] = 1;
  want[3] = 1;
  want[9] = 2;
  EXPECT_EQ(x.grad().to_vector(), want);
}

TEST(Pooling, MaxTieGoesToTheFirstInScanOrder) {
  // 2x2 windows, stride 1, over [1 3 3; 2 3 0; 3 1 2]: every window's max is 3. Row-major scan
  // picks (0,1) for the two top windows and (1,1) for the two bottom ones (torch 2.15 agrees:
  // its gradient is 2 at both and 0 elsewhere, although (0,2), (1,1) and (2,0) also hold a 3).
  const Tensor x = Tensor::from_vector({1, 1, 3, 3}, {1, 3, 3, 2, 3, 0, 3, 1, 2}, DType::F64).requires_grad_();
  Tensor y = max_pool2d(x, Pool2dArgs::make(2, 1));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{3, 3, 3, 3}));
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 2, 0, 0, 2, 0, 0, 0, 0}));
}

TEST(Pooling, GlobalAverageIsThePlaneMean) {
  const Tensor x = rand_tensor({2, 3, 5, 4}, 61);
  const std::vector<double> xv = x.to_vector(), y = global_avg_pool2d(x).to_vector();
  ASSERT_EQ(y.size(), 6u);
  for (size_t p = 0; p < 6; ++p) {
    double s = 0;
    for (size_t i = 0; i < 20; ++i) s += xv[p * 20 + i];
    EXPECT_NEAR(y[p], s / 20, 1e-15);
  }
  EXPECT_EQ(global_avg_pool2d(x).shape(), (Shape{2, 3, 1, 1}));
  // The same as an average pool whose one window is the whole plane.
  std::string where;
  EXPECT_TRUE(all_close(global_avg_pool2d(x).to_vector(), avg_pool2d(x, pool_args(5, 4, 1, 1, 0, 0), true).to_vector(),
                        1e-15, 0, &where))
      << where;
}

TEST(Pooling, OutputSizesAsPyTorch) {
  // Floor mode: Inception's stem 147 -> 73 and 71 -> 35 (3x3, stride 2), and 35 -> 35 (3x3/1/1).
  EXPECT_EQ(max_pool2d(Tensor::zeros({1, 1, 147, 147}), Pool2dArgs::make(3, 2)).shape(), (Shape{1, 1, 73, 73}));
  EXPECT_EQ(max_pool2d(Tensor::zeros({1, 1, 71, 71}), Pool2dArgs::make(3, 2)).shape(), (Shape{1, 1, 35, 35}));
  EXPECT_EQ(avg_pool2d(Tensor::zeros({1, 1, 35, 35}), Pool2dArgs::make(3, 1, 1), false).shape(), (Shape{1, 1, 35, 35}));
  EXPECT_EQ(avg_pool2d(Tensor::zeros({2, 3, 8, 7}), pool_args(3, 2, 2, 3, 1, 0), true).shape(), (Shape{2, 3, 4, 2}));
}

TEST(Pooling, Float32MatchesFloat64) {
  const Tensor x = distinct_tensor({2, 3, 9, 8}, 71);
  const Tensor xf = x.to(DType::F32);
  std::string where;
  EXPECT_TRUE(all_close(max_pool2d(xf, Pool2dArgs::make(3, 2, 1)).to_vector(),
                        max_pool2d(x, Pool2dArgs::make(3, 2, 1)).to_vector(), 1e-6, 1e-6, &where))
      << where;
  EXPECT_TRUE(all_close(avg_pool2d(xf, Pool2dArgs::make(3, 1, 1), false).to_vector(),
                        avg_pool2d(x, Pool2dArgs::make(3, 1, 1), false).to_vector(), 1e-6, 1e-6, &where))
      << where;
}

// The engine's rule: backward accumulates, so two backwards give twice the gradient.
TEST(Pooling, BackwardAccumulates) {
  const std::vector<std::function<Tensor(const Tensor&)>> ops = {
      [](const Tensor& t) { return max_pool2d(t, Pool2dArgs::make(3, 2, 1)); },
      [](const Tensor& t) { return avg_pool2d(t, Pool2dArgs::make(3, 1, 1), false); },
      [](const Tensor& t) { return global_avg_pool2d(t); },
  };
  for (size_t k = 0; k < ops.size(); ++k) {
    Tensor x = distinct_tensor({2, 2, 6, 5}, 81).requires_grad_();
    Tensor g = rand_tensor(ops[k](x.detach()).shape(), 82);
    sum(mul(ops[k](x), g)).backward();
    const std::vector<double> once = x.grad().to_vector();
    sum(mul(ops[k](x), g)).backward();
    const std::vector<double> twice = x.grad().to_vector();
    for (size_t i = 0; i < once.size(); ++i) EXPECT_DOUBLE_EQ(twice[i], 2 * once[i]) << "op " << k << " element " << i;
  }
}

// The CUDA backwards (kernels/pooling.cu) gather: input i sums over the outputs in
// pool_covering_outputs(i). Checked here without a GPU: that range is exactly the set of windows
// holding i, for many geometries; and the gather replayed on the host equals the CPU scatter.
TEST(Pooling, CoveringOutputsAreExactlyTheWindowsHoldingAnInput) {
  for (int64_t in = 1; in <= 12; ++in)
    for (int64_t k = 1; k <= 5; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t p = 0; p <= k / 2; ++p) {
          if (in + 2 * p < k) continue;
          const int64_t out = (in + 2 * p - k) / s + 1;
          PoolGeom g;
          g.H = in;
          g.W = 1;
          g.OH = out;
          g.OW = 1;
          g.kernel_h = k;
          g.stride_h = s;
          g.pad_h = p;
          for (int64_t i = 0; i < in; ++i) {
            int64_t lo, hi;
            pool_covering_outputs(i, k, s, p, out, &lo, &hi);
            for (int64_t o = 0; o < out; ++o) {
              const PoolWindow w = pool_window(g, o, 0);
              const bool holds = w.h0 <= i && i < w.h1;
              ASSERT_EQ(holds, lo <= o && o < hi)
                  << "in " << in << " k " << k << " s " << s << " p " << p << ": input " << i << " output " << o;
            }
          }
        }
}

TEST(Pooling, GatherReplayEqualsScatter) {
  const Pool2dArgs a = pool_args(3, 2, 2, 1, 1, 1);
  Tensor x = distinct_tensor({2, 3, 9, 8}, 91, 0.01, DType::F32).requires_grad_();
  for (bool is_max : {true, false}) {
    x.zero_grad();
    Tensor y = is_max ? max_pool2d(x, a) : avg_pool2d(x, a, false);
    Tensor dy = rand_tensor(y.shape(), 92, -1, 1, DType::F32);
    y.backward(dy);  // the CPU scatter
    PoolGeom g;
    g.H = 9;
    g.W = 8;
    g.OH = y.size(2);
    g.OW = y.size(3);
    g.kernel_h = 3;
    g.kernel_w = 2;
    g.stride_h = 2;
    g.stride_w = 1;
    g.pad_h = g.pad_w = 1;
    const std::vector<double> xv = x.to_vector(), gv = dy.to_vector();
    std::vector<float> xf(xv.begin(), xv.end());
    std::vector<double> gathered;
    for (int64_t p = 0; p < 6; ++p)
      for (int64_t ih = 0; ih < g.H; ++ih)
        for (int64_t iw = 0; iw < g.W; ++iw) {  // the bodies of the *_bwd_kernel gathers
          int64_t oh0, oh1, ow0, ow1;
          pool_covering_outputs(ih, g.kernel_h, g.stride_h, g.pad_h, g.OH, &oh0, &oh1);
          pool_covering_outputs(iw, g.kernel_w, g.stride_w, g.pad_w, g.OW, &ow0, &ow1);
          float acc = 0;
          for (int64_t oh = oh0; oh < oh1; ++oh)
            for (int64_t ow = ow0; ow < ow1; ++ow) {
              const float d = static_cast<float>(gv[(p * g.OH + oh) * g.OW + ow]);
              const PoolWindow w = pool_window(g, oh, ow);
              if (is_max) {
                int32_t arg = 0;
                max_pool_window(xf.data() + p * g.H * g.W, g.W, w, &arg);
                if (arg == ih * g.W + iw) acc += d;
              } else {
                acc += d / static_cast<float>(avg_pool_divisor(w, false));
              }
            }
          gathered.push_back(acc);
        }
    std::string where;
    EXPECT_TRUE(all_close(gathered, x.grad().to_vector(), 1e-6, 1e-5, &where)) << (is_max ? "max: " : "avg: ") << where;
  }
}

TEST(Pooling, ArgumentErrors) {
  const Tensor x = Tensor::zeros({1, 2, 5, 5});
  expect_error_containing(
      [&] {
        max_pool2d(Tensor::zeros({2, 5, 5}), Pool2dArgs::make(2, 2));
      },
      {"max_pool2d", "4-D", "(2,5,5)"});
  expect_error_containing([&] { avg_pool2d(x, Pool2dArgs::make(3, 1, 2), true); },
                          {"avg_pool2d", "padding (2,2)", "half the kernel (3,3)"});
  expect_error_containing([&] { max_pool2d(x, Pool2dArgs::make(3, 0)); }, {"max_pool2d", "stride"});
  expect_error_containing([&] { max_pool2d(x, Pool2dArgs::make(0, 1)); }, {"max_pool2d", "kernel"});
  expect_error_containing([&] { max_pool2d(x, Pool2dArgs::make(7, 1, 0)); },
                          {"max_pool2d", "(1,2,5,5)", "smaller than the kernel (7,7)"});
  expect_error_containing([&] { global_avg_pool2d(Tensor::zeros({4, 3})); }, {"global_avg_pool2d", "4-D", "(4,3)"});
  expect_error_containing(
      [&] {
        global_avg_pool2d(Tensor::zeros({1, 0, 2, 2}));
      },
      {"global_avg_pool2d", "empty dimension"});
}

}  // namespace
}  // namespace nn::test
