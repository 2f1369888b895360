// Tests for src/ops/resize.cpp (resize_bilinear): gradchecks (float64, CPU), CUDA-vs-CPU parity
// (the FID resize 32x32 -> 299x299, and a downsampling), values by hand and from PyTorch, the
// identity and constant rules, the accumulate rule and the argument errors.
#include <string>
#include <utility>
#include <vector>

#include "resize_math.h"
#include "test_util.h"

namespace nn::test {
namespace {

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// ---------------------------------------------------------------- gradchecks

TEST(Gradcheck, resize_bilinear) {
  // Upsampling by non-integer ratios (3 -> 5, 4 -> 7): border clamps and interior blends.
  gradcheck([](const auto& in) { return resize_bilinear(in[0], 5, 7); },
            {rand_tensor({2, 2, 3, 4}, 1).requires_grad_()});
  // Downsampling (6 -> 4, 7 -> 3), and mixed (up in one axis, down in the other).
  gradcheck([](const auto& in) { return resize_bilinear(in[0], 4, 3); },
            {rand_tensor({1, 3, 6, 7}, 2).requires_grad_()});
  gradcheck([](const auto& in) { return resize_bilinear(in[0], 2, 9); },
            {rand_tensor({2, 1, 5, 3}, 3).requires_grad_()});
  // A 1x1 input is spread over the whole output.
  gradcheck([](const auto& in) { return resize_bilinear(in[0], 3, 4); },
            {rand_tensor({2, 2, 1, 1}, 4).requires_grad_()});
}

// ---------------------------------------------------------------- CUDA parity (skip without a GPU)

TEST(CudaParity, resize_bilinear) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  // The FID preprocessing: a generated 32x32 RGB image to Inception's 299x299.
  cuda_parity([](const auto& in) { return resize_bilinear(in[0], 299, 299); },
              {rand_tensor({2, 3, 32, 32}, 11).requires_grad_()}, {1e-5, 1e-4, 4321});
  // Downsampling and mixed ratios; an odd non-square output.
  cuda_parity([](const auto& in) { return resize_bilinear(in[0], 29, 31); },
              {rand_tensor({2, 3, 64, 48}, 12).requires_grad_()});
  cuda_parity([](const auto& in) { return resize_bilinear(in[0], 17, 5); },
              {rand_tensor({3, 2, 6, 40}, 13).requires_grad_()});
}

TEST(Gradcheck, upsample_nearest2d) {
  gradcheck([](const auto& in) { return upsample_nearest2d(in[0], 2); }, {rand_tensor({2, 3, 3, 4}, 31).requires_grad_()});
  gradcheck([](const auto& in) { return upsample_nearest2d(in[0], 3); }, {rand_tensor({1, 2, 2, 1}, 32).requires_grad_()});
  gradcheck([](const auto& in) { return upsample_nearest2d(in[0], 1); }, {rand_tensor({1, 1, 2, 2}, 33).requires_grad_()});
}

TEST(CudaParity, upsample_nearest2d) {
  NN_SKIP_WITHOUT_CUDA();
  // The SNGAN generator's three upsamplings: 4 -> 8 -> 16 -> 32 at 256 channels (a batch of 4).
  for (int64_t side : {4, 8, 16})
    cuda_parity([](const auto& in) { return upsample_nearest2d(in[0], 2); },
                {rand_tensor({4, 256, side, side}, 40 + static_cast<uint64_t>(side)).requires_grad_()});
  cuda_parity([](const auto& in) { return upsample_nearest2d(in[0], 3); },
              {rand_tensor({2, 3, 5, 7}, 44).requires_grad_()});
}

// ---------------------------------------------------------------- known values

// Each pixel becomes an s x s block; the gradient of a pixel is the sum of its block's gradients.
// (torch: F.interpolate(x, scale_factor=2, mode="nearest"), and x.grad after (y * w).sum().backward().)
TEST(Upsample, NearestRepeatsEachPixelAndSumsItsBlocksGradient) {
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}, DType::F64).requires_grad_();
  Tensor y = upsample_nearest2d(x, 2);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 1, 2, 2,  //
                                                1, 1, 2, 2,  //
                                                3, 3, 4, 4,  //
                                                3, 3, 4, 4}));
  std::vector<double> w(16);
  for (int i = 0; i < 16; ++i) w[i] = i;  // weights 0..15, row-major
  sum(mul(y, Tensor::from_vector({1, 1, 4, 4}, w, DType::F64))).backward();
  // Block of (0,0): 0+1+4+5; (0,1): 2+3+6+7; (1,0): 8+9+12+13; (1,1): 10+11+14+15.
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{10, 18, 42, 50}));
  expect_error_containing([&] { upsample_nearest2d(x, 0); }, {"upsample_nearest2d", "scale factor"});
}

TEST(Resize, KnownValues2x2To4x4ByHand) {
  // scale = 2/4 = 0.5; per axis, output d reads src = 0.5 (d + 0.5) - 0.5 = -0.25 (clamped to 0),
  // 0.25, 0.75, 1.25 -> (i0, l1) = (0, 0), (0, 0.25), (0, 0.75), (1, 0.25 but i1 = i0 = 1 at the
  // border). So each axis maps [a b] to [a, 0.75a + 0.25b, 0.25a + 0.75b, b]: rows [1 2] ->
  // [1 1.25 1.75 2] and [3 4] -> [3 3.25 3.75 4], then the same blend down the columns.
  // (torch 2.15 F.interpolate(size=(4,4), mode="bilinear", align_corners=False) gives the same.)
  const Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}, DType::F64);
  Tensor y = resize_bilinear(x, 4, 4);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 1.25, 1.75, 2,      //
                                                1.5, 1.75, 2.25, 2.5,  //
                                                2.5, 2.75, 3.25, 3.5,  //
                                                3, 3.25, 3.75, 4}));
  // Float32 gives the same values (all exact in binary).
  EXPECT_EQ(resize_bilinear(x.to(DType::F32), 4, 4).to_vector(), y.to_vector());
}

TEST(Resize, MatchesTorch) {
  // x = (0..8)^2 as 3x3 -> 5x2 (up in H, down in W); x = 0..24 as 5x5 -> 3x2 (down in both).
  // Values from torch 2.15 F.interpolate(x, size=..., mode="bilinear", align_corners=False), float64.
  std::vector<double> sq(9);
  for (int i = 0; i < 9; ++i) sq[i] = i * i;
  Tensor b = Tensor::from_vector({1, 1, 3, 3}, sq, DType::F64).requires_grad_();
  Tensor yb = resize_bilinear(b, 5, 2);
  expect_near_all(yb.to_vector(),
                  {0.25, 3.25, 4.45, 11.049999999999999, 10.75, 22.75, 27.849999999999994, 45.25, 39.25, 60.25});
  // Gradient of sum(y) (torch: x.grad after y.sum().backward()).
  sum(yb).backward();
  expect_near_all(b.grad().to_vector(), {1.2, 0.8, 1.2, 1.35, 0.9, 1.35, 1.2, 0.8, 1.2});
  std::vector<double> ramp(25);
  for (int i = 0; i < 25; ++i) ramp[i] = i;
  expect_near_all(resize_bilinear(Tensor::from_vector({1, 1, 5, 5}, ramp, DType::F64), 3, 2).to_vector(),
                  {2.416666666666667, 4.916666666666666, 10.75, 13.25, 19.083333333333336, 21.583333333333336});
}

TEST(Resize, SameSizeIsTheIdentity) {
  const Tensor x = rand_tensor({2, 3, 5, 7}, 21);
  EXPECT_EQ(resize_bilinear(x, 5, 7).to_vector(), x.to_vector());
  const Tensor xf = x.to(DType::F32);
  EXPECT_EQ(resize_bilinear(xf, 5, 7).to_vector(), xf.to_vector());
}

TEST(Resize, ConstantStaysConstantAndGradientsSumToOutputs) {
  // Every output's weights sum to 1: a constant image stays constant, and the gradient of sum(y)
  // adds up to the number of outputs.
  Tensor x = Tensor::full({1, 2, 4, 3}, 0.7, DType::F64).requires_grad_();
  Tensor y = resize_bilinear(x, 11, 6);
  for (double v : y.to_vector()) EXPECT_NEAR(v, 0.7, 1e-15);
  sum(y).backward();
  double total = 0;
  for (double v : x.grad().to_vector()) total += v;
  EXPECT_NEAR(total, 2 * 11 * 6, 1e-12);
}

TEST(Resize, BackwardAccumulates) {
  Tensor x = rand_tensor({1, 2, 4, 5}, 31).requires_grad_();
  Tensor g = rand_tensor({1, 2, 7, 3}, 32);
  sum(mul(resize_bilinear(x, 7, 3), g)).backward();
  const std::vector<double> once = x.grad().to_vector();
  sum(mul(resize_bilinear(x, 7, 3), g)).backward();
  const std::vector<double> twice = x.grad().to_vector();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_DOUBLE_EQ(twice[i], 2 * once[i]) << "element " << i;
}

// The CUDA backward (kernels/resize.cu) gathers: input i sums over the outputs in
// linear_covering_outputs(i). These two tests hold that algorithm to the CPU scatter here, where
// no GPU is needed: the range must contain every output that reads i with a non-zero weight (with
// float scales, as the kernel computes them), and the gather replayed on the host must equal the
// scatter.
TEST(Resize, GatherRangeContainsEveryReader) {
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (int64_t in = 1; in <= 40; ++in)
    for (int64_t out = 1; out <= 40; ++out) sizes.emplace_back(in, out);
  for (auto io : {std::pair<int64_t, int64_t>{32, 299}, {299, 32}, {1000, 7}, {7, 1000}, {64, 299}, {3, 2048}})
    sizes.push_back(io);
  for (auto [in, out] : sizes) {
    const float scale = resize_scale<float>(in, out);
    std::vector<int64_t> lo(in), hi(in);
    for (int64_t i = 0; i < in; ++i) linear_covering_outputs(i, out, scale, &lo[i], &hi[i]);
    for (int64_t o = 0; o < out; ++o) {
      const LinearTaps<float> t = linear_taps(o, in, scale);
      ASSERT_TRUE(t.i0 >= 0 && t.i1 < in && t.i1 - t.i0 <= 1) << in << " -> " << out << " output " << o;
      // A tap of weight 0 (l1 = 0 where src was clamped to 0) adds nothing and may fall outside.
      for (int64_t i : {t.i0, t.i1})
        if (linear_weight(t, i) != 0.0f)
          ASSERT_TRUE(lo[i] <= o && o < hi[i]) << in << " -> " << out << ": output " << o << " reads input " << i
                                               << " but the gather range is [" << lo[i] << "," << hi[i] << ")";
    }
  }
}

TEST(Resize, GatherReplayEqualsScatter) {
  struct Case {
    int64_t H, W, OH, OW;
  };
  for (const Case& c : {Case{4, 5, 13, 9}, Case{9, 7, 4, 3}, Case{1, 3, 5, 2}, Case{8, 8, 37, 29}}) {
    const int64_t NC = 2;
    Tensor x = rand_tensor({1, NC, c.H, c.W}, 41, -1, 1, DType::F32).requires_grad_();
    Tensor dy = rand_tensor({1, NC, c.OH, c.OW}, 42, -1, 1, DType::F32);
    resize_bilinear(x, c.OH, c.OW).backward(dy);  // the CPU scatter
    const std::vector<double> g = dy.to_vector();
    const float sh = resize_scale<float>(c.H, c.OH), sw = resize_scale<float>(c.W, c.OW);
    std::vector<double> gathered;
    for (int64_t p = 0; p < NC; ++p)
      for (int64_t ih = 0; ih < c.H; ++ih)
        for (int64_t iw = 0; iw < c.W; ++iw) {  // the body of resize_bilinear_bwd_kernel
          int64_t oh0, oh1, ow0, ow1;
          linear_covering_outputs(ih, c.OH, sh, &oh0, &oh1);
          linear_covering_outputs(iw, c.OW, sw, &ow0, &ow1);
          float acc = 0;
          for (int64_t oh = oh0; oh < oh1; ++oh) {
            const float wh = linear_weight(linear_taps(oh, c.H, sh), ih);
            if (wh == 0.0f) continue;
            float row = 0;
            for (int64_t ow = ow0; ow < ow1; ++ow) {
              const float ww = linear_weight(linear_taps(ow, c.W, sw), iw);
              if (ww != 0.0f) row += ww * static_cast<float>(g[(p * c.OH + oh) * c.OW + ow]);
            }
            acc += wh * row;
          }
          gathered.push_back(acc);
        }
    std::string where;
    EXPECT_TRUE(all_close(gathered, x.grad().to_vector(), 1e-6, 1e-5, &where))
        << c.H << "x" << c.W << " -> " << c.OH << "x" << c.OW << ": " << where;
  }
}

TEST(Resize, ArgumentErrors) {
  expect_error_containing(
      [] {
        resize_bilinear(Tensor::zeros({3, 4, 4}), 8, 8);
      },
      {"resize_bilinear", "4-D", "(3,4,4)"});
  expect_error_containing(
      [] {
        resize_bilinear(Tensor::zeros({1, 3, 4, 4}), 0, 8);
      },
      {"resize_bilinear", "output size (0,8)", "(1,3,4,4)"});
  expect_error_containing(
      [] {
        resize_bilinear(Tensor::zeros({1, 3, 0, 4}), 2, 2);
      },
      {"resize_bilinear", "empty dimension"});
}

}  // namespace
}  // namespace nn::test
