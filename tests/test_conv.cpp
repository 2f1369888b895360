// Tests for src/ops/conv.cpp (conv2d, conv_transpose2d): gradchecks (float64, CPU), CUDA-vs-CPU
// parity at the DCGAN's layer shapes, values worked out by hand, an independent naive-loop
// reference, the adjoint identity <conv(x), y> = <x, convT(y)>, the accumulate rule, the shape
// errors, rectangular kernels as Inception-v3 uses them (1x7/7x1, 1x3/3x1, per-axis padding and
// stride; ConvRect.*), and (GPU only) bit-reproducible gradients in deterministic mode.
#include <cmath>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "test_util.h"

namespace nn::test {
namespace {

double dot(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
  return s;
}

Conv2dArgs args_of(int stride_h, int stride_w, int pad_h, int pad_w, int out_pad_h = 0, int out_pad_w = 0) {
  return Conv2dArgs{stride_h, stride_w, pad_h, pad_w, out_pad_h, out_pad_w};
}

// ---------------------------------------------------------------- gradchecks

TEST(Gradcheck, conv2d) {
  // Stride 2, padding 1, a non-square 3x2 kernel, and a bias.
  gradcheck([](const auto& in) { return conv2d(in[0], in[1], in[2], 2, 1); },
            {rand_tensor({2, 3, 7, 6}, 101).requires_grad_(), rand_tensor({4, 3, 3, 2}, 102).requires_grad_(),
             rand_tensor({4}, 103).requires_grad_()});
  // Different strides and paddings per axis, no bias.
  gradcheck([](const auto& in) { return conv2d(in[0], in[1], Tensor(), args_of(1, 2, 0, 1)); },
            {rand_tensor({1, 2, 5, 6}, 104).requires_grad_(), rand_tensor({3, 2, 2, 3}, 105).requires_grad_()});
}

TEST(Gradcheck, conv_transpose2d) {
  // Stride 2, padding 1, output_padding 1, bias: (4-1)*2 - 2 + 3 + 1 = 8.
  gradcheck([](const auto& in) { return conv_transpose2d(in[0], in[1], in[2], 2, 1, 1); },
            {rand_tensor({2, 3, 4, 4}, 111).requires_grad_(), rand_tensor({3, 2, 3, 3}, 112).requires_grad_(),
             rand_tensor({2}, 113).requires_grad_()});
  // Stride 1, padding 1, a non-square 2x3 kernel: (5-1) - 2 + 2 = 4 by (4-1) - 2 + 3 = 4.
  gradcheck([](const auto& in) { return conv_transpose2d(in[0], in[1], in[2], 1, 1); },
            {rand_tensor({1, 2, 5, 4}, 114).requires_grad_(), rand_tensor({2, 3, 2, 3}, 115).requires_grad_(),
             rand_tensor({3}, 116).requires_grad_()});
}

// ---------------------------------------------------------------- CUDA parity (skip without a GPU)

// float32 sums over C*kh*kw (forward) or N*H*W (weight gradient) terms in different orders.
const ParityOptions kConvTolerance{5e-4, 1e-3, 4321};

TEST(CudaParity, conv2d) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  // First discriminator layer of the 5x5 preset: 3 -> 64, 5x5, stride 2, pad 2, 32x32 -> 16x16.
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], in[2], 2, 2); },
              {rand_tensor({4, 3, 32, 32}, 201).requires_grad_(),
               rand_tensor({64, 3, 5, 5}, 202, -0.1, 0.1).requires_grad_(), rand_tensor({64}, 203).requires_grad_()},
              kConvTolerance);
  // DCGAN discriminator layer: 64 -> 128, 4x4, stride 2, pad 1, 16x16 -> 8x8, no bias.
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], Tensor(), 2, 1); },
              {rand_tensor({4, 64, 16, 16}, 204).requires_grad_(),
               rand_tensor({128, 64, 4, 4}, 205, -0.05, 0.05).requires_grad_()},
              kConvTolerance);
  // DCGAN discriminator head: 256 -> 1, 4x4 valid convolution, 4x4 -> 1x1.
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], in[2]); },
              {rand_tensor({4, 256, 4, 4}, 206).requires_grad_(),
               rand_tensor({1, 256, 4, 4}, 207, -0.05, 0.05).requires_grad_(), rand_tensor({1}, 208).requires_grad_()},
              kConvTolerance);
}

TEST(CudaParity, conv_transpose2d) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  // 5x5 preset generator layer: 256 -> 128, 5x5, stride 1, pad 2, 8x8 -> 8x8.
  cuda_parity(
      [](const auto& in) { return conv_transpose2d(in[0], in[1], in[2], 1, 2); },
      {rand_tensor({4, 256, 8, 8}, 211).requires_grad_(),
       rand_tensor({256, 128, 5, 5}, 212, -0.02, 0.02).requires_grad_(), rand_tensor({128}, 213).requires_grad_()},
      kConvTolerance);
  // Upsampling 5x5 layer with "same" padding: stride 2, pad 2, output_padding 1, 8x8 -> 16x16.
  cuda_parity(
      [](const auto& in) { return conv_transpose2d(in[0], in[1], in[2], 2, 2, 1); },
      {rand_tensor({4, 128, 8, 8}, 214).requires_grad_(),
       rand_tensor({128, 64, 5, 5}, 215, -0.03, 0.03).requires_grad_(), rand_tensor({64}, 216).requires_grad_()},
      kConvTolerance);
  // DCGAN generator: latent 100x1x1 -> 256x4x4 (4x4, stride 1, pad 0), no bias ...
  cuda_parity([](const auto& in) { return conv_transpose2d(in[0], in[1]); },
              {rand_tensor({4, 100, 1, 1}, 217).requires_grad_(),
               rand_tensor({100, 256, 4, 4}, 218, -0.1, 0.1).requires_grad_()},
              kConvTolerance);
  // ... and its upsampling layers: 4x4, stride 2, pad 1, 8x8 -> 16x16 and 16x16 -> 32x32 RGB.
  cuda_parity([](const auto& in) { return conv_transpose2d(in[0], in[1], Tensor(), 2, 1); },
              {rand_tensor({4, 128, 8, 8}, 219).requires_grad_(),
               rand_tensor({128, 64, 4, 4}, 220, -0.05, 0.05).requires_grad_()},
              kConvTolerance);
  cuda_parity([](const auto& in) { return conv_transpose2d(in[0], in[1], in[2], 2, 1); },
              {rand_tensor({4, 64, 16, 16}, 221).requires_grad_(),
               rand_tensor({64, 3, 4, 4}, 222, -0.05, 0.05).requires_grad_(), rand_tensor({3}, 223).requires_grad_()},
              kConvTolerance);
}

// ---------------------------------------------------------------- values by hand

// One channel, x = [1 2 3; 4 5 6; 7 8 9], w = [1 2; 3 4].
Tensor hand_x() { return Tensor::from_vector({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, DType::F64); }
Tensor hand_w() { return Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}, DType::F64); }

TEST(Conv, KnownValuesStride1) {
  Tensor x = hand_x().requires_grad_();
  Tensor w = hand_w().requires_grad_();
  Tensor b = Tensor::from_vector({1}, {0.5}, DType::F64).requires_grad_();
  Tensor y = conv2d(x, w, b);
  // y[0,0] = 1*1 + 2*2 + 4*3 + 5*4 = 37,  y[0,1] = 2*1 + 3*2 + 5*3 + 6*4 = 47,
  // y[1,0] = 4*1 + 5*2 + 7*3 + 8*4 = 67,  y[1,1] = 5*1 + 6*2 + 8*3 + 9*4 = 77;  plus 0.5.
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{37.5, 47.5, 67.5, 77.5}));
  // L = sum(y): dw[r,s] = sum of the input pixels tap (r,s) read:
  //   dw[0,0] = 1+2+4+5 = 12, dw[0,1] = 2+3+5+6 = 16, dw[1,0] = 4+5+7+8 = 24, dw[1,1] = 5+6+8+9 = 28;
  // dx[i,j] = sum of the weights that read pixel (i,j): corners touch one tap, edges two, the centre four.
  sum(y).backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{12, 16, 24, 28}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 1 + 2, 2, 1 + 3, 1 + 2 + 3 + 4, 2 + 4, 3, 3 + 4, 4}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{4}));
}

TEST(Conv, KnownValuesStride2Pad1) {
  // Zero-padded to 5x5, stride 2: output 2x2, windows at padded rows/cols {0,1} and {2,3}.
  //   y[0,0]: only x[0,0] = 1 under w[1,1] = 4             -> 4
  //   y[0,1]: x[0,1] = 2 under w[1,0] = 3, x[0,2] = 3 under w[1,1] = 4  -> 6 + 12 = 18
  //   y[1,0]: x[1,0] = 4 under w[0,1] = 2, x[2,0] = 7 under w[1,1] = 4  -> 8 + 28 = 36
  //   y[1,1]: 5*1 + 6*2 + 8*3 + 9*4                          -> 77
  Tensor y = conv2d(hand_x(), hand_w(), Tensor(), 2, 1);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{4, 18, 36, 77}));
}

// x = [1 2; 3 4] scatters copies of w = [1 2; 3 4] scaled by each pixel.
TEST(ConvTranspose, KnownValuesStride1) {
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}, DType::F64);
  Tensor y = conv_transpose2d(x, hand_w());
  // Output 3x3; each output sums x[i,j] w[a-i, b-j] over the copies that cover it:
  //   [1*1          1*2 + 2*1                    2*2        ]   [1  4  4]
  //   [1*3 + 3*1    1*4 + 2*3 + 3*2 + 4*1        2*4 + 4*2  ] = [6 20 16]
  //   [3*3          3*4 + 4*3                    4*4        ]   [9 24 16]
  EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 4, 4, 6, 20, 16, 9, 24, 16}));
}

TEST(ConvTranspose, KnownValuesStride2Pad1OutputPadding1) {
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}, DType::F64);
  Tensor b = Tensor::from_vector({1}, {-1}, DType::F64);
  // Stride 2 places the four scaled copies of w side by side in a 4x4 image, without overlap:
  //   [1 2 | 2 4]
  //   [3 4 | 6 8]
  //   [3 6 | 4 8]
  //   [9 12|12 16]
  // Padding 1 crops one row/column at the top/left; output_padding 1 keeps the last one, so
  // H_out = (2-1)*2 - 2 + 2 + 1 = 3 and the output is rows/cols 1..3 of the above, minus 1.
  Tensor y = conv_transpose2d(x, hand_w(), b, 2, 1, 1);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{3, 5, 7, 5, 3, 7, 11, 11, 15}));
  // Without output_padding the last row/column is cropped too: [4 6; 6 4].
  EXPECT_EQ(conv_transpose2d(x, hand_w(), Tensor(), 2, 1).to_vector(), (std::vector<double>{4, 6, 6, 4}));
}

// ---------------------------------------------------------------- naive reference loops

// The definitions, written independently of src/ops/conv.cpp: a gather with bounds checks for
// conv2d and a scatter for conv_transpose2d.
std::vector<double> naive_conv2d(const Tensor& x, const Tensor& w, const Conv2dArgs& a) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t P = (H + 2 * a.pad_h - kh) / a.stride_h + 1, Q = (W + 2 * a.pad_w - kw) / a.stride_w + 1;
  std::vector<double> xv = x.to_vector(), wv = w.to_vector(), y(N * O * P * Q, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < kh; ++r)
              for (int64_t s = 0; s < kw; ++s) {
                const int64_t ih = p * a.stride_h - a.pad_h + r, iw = q * a.stride_w - a.pad_w + s;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                y[((n * O + o) * P + p) * Q + q] +=
                    xv[((n * C + c) * H + ih) * W + iw] * wv[((o * C + c) * kh + r) * kw + s];
              }
  return y;
}

std::vector<double> naive_conv_transpose2d(const Tensor& x, const Tensor& w, const Conv2dArgs& a) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t Ho = (H - 1) * a.stride_h - 2 * a.pad_h + kh + a.out_pad_h;
  const int64_t Wo = (W - 1) * a.stride_w - 2 * a.pad_w + kw + a.out_pad_w;
  std::vector<double> xv = x.to_vector(), wv = w.to_vector(), y(N * O * Ho * Wo, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j)
          for (int64_t o = 0; o < O; ++o)
            for (int64_t r = 0; r < kh; ++r)
              for (int64_t s = 0; s < kw; ++s) {
                const int64_t oh = i * a.stride_h - a.pad_h + r, ow = j * a.stride_w - a.pad_w + s;
                if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
                y[((n * O + o) * Ho + oh) * Wo + ow] +=
                    xv[((n * C + c) * H + i) * W + j] * wv[((c * O + o) * kh + r) * kw + s];
              }
  return y;
}

TEST(Conv, MatchesNaiveLoops) {
  std::string where;
  for (const Conv2dArgs& a : {args_of(1, 1, 0, 0), args_of(2, 2, 1, 1), args_of(2, 3, 2, 0), args_of(3, 1, 1, 2)}) {
    Tensor x = rand_tensor({2, 3, 9, 10}, 301);
    Tensor w = rand_tensor({4, 3, 3, 4}, 302);
    EXPECT_TRUE(all_close(conv2d(x, w, Tensor(), a).to_vector(), naive_conv2d(x, w, a), 1e-13, 1e-13, &where))
        << "conv2d stride (" << a.stride_h << "," << a.stride_w << ") pad (" << a.pad_h << "," << a.pad_w
        << "): " << where;
  }
  for (const Conv2dArgs& a :
       {args_of(1, 1, 0, 0), args_of(2, 2, 1, 1, 1, 1), args_of(2, 3, 0, 1, 1, 2), args_of(3, 1, 2, 0, 2, 0)}) {
    Tensor x = rand_tensor({2, 3, 5, 4}, 303);
    Tensor w = rand_tensor({3, 2, 4, 3}, 304);
    EXPECT_TRUE(all_close(conv_transpose2d(x, w, Tensor(), a).to_vector(), naive_conv_transpose2d(x, w, a), 1e-13,
                          1e-13, &where))
        << "conv_transpose2d stride (" << a.stride_h << "," << a.stride_w << ") pad (" << a.pad_h << "," << a.pad_w
        << ") output_padding (" << a.out_pad_h << "," << a.out_pad_w << "): " << where;
  }
}

// The float32 CPU path runs on oneDNN when the build has it (src/cpu/onednn_conv.cpp): its
// forward, input gradient and weight gradient, for both ops, against the float64 im2col path
// (the reference), across strides, paddings, a rectangular kernel and output padding; and
// called twice, so a cached plan (and the += of the second backward) is exercised too.
TEST(Conv, Float32PathMatchesFloat64Reference) {
  struct Case {
    bool transposed;
    Shape x, w;
    Conv2dArgs a;
  };
  const std::vector<Case> cases{
      {false, {3, 3, 9, 10}, {4, 3, 3, 4}, args_of(1, 1, 0, 0)},   {false, {3, 3, 9, 10}, {4, 3, 3, 4}, args_of(2, 2, 1, 1)},
      {false, {2, 5, 8, 8}, {6, 5, 4, 4}, args_of(2, 2, 1, 1)},    {false, {2, 4, 4, 4}, {1, 4, 4, 4}, args_of(1, 1, 0, 0)},
      {false, {2, 3, 9, 10}, {4, 3, 3, 4}, args_of(2, 3, 2, 0)},   {false, {2, 6, 7, 7}, {3, 6, 1, 7}, args_of(1, 1, 0, 3)},
      {true, {2, 3, 5, 4}, {3, 2, 4, 3}, args_of(2, 2, 1, 1, 1, 1)}, {true, {2, 6, 1, 1}, {6, 4, 4, 4}, args_of(1, 1, 0, 0)},
      {true, {2, 4, 4, 4}, {4, 3, 4, 4}, args_of(2, 2, 1, 1)},     {true, {2, 4, 8, 8}, {4, 2, 5, 5}, args_of(2, 2, 2, 2, 1, 1)},
  };
  std::string where;
  for (const Case& c : cases) {
    auto run = [&](DType dt, std::vector<double>* y, std::vector<double>* gx, std::vector<double>* gw) {
      Tensor x = rand_tensor(c.x, 601).to(dt).requires_grad_();
      Tensor w = rand_tensor(c.w, 602).to(dt).requires_grad_();
      Tensor out = c.transposed ? conv_transpose2d(x, w, Tensor(), c.a) : conv2d(x, w, Tensor(), c.a);
      Tensor g = rand_tensor(out.shape(), 603).to(dt);
      for (int rep = 0; rep < 2; ++rep) {  // twice: the gradients accumulate to 2x
        Tensor o = c.transposed ? conv_transpose2d(x, w, Tensor(), c.a) : conv2d(x, w, Tensor(), c.a);
        sum(mul(o, g)).backward();
      }
      *y = out.to_vector();
      *gx = x.grad().to_vector();
      *gw = w.grad().to_vector();
    };
    std::vector<double> y32, gx32, gw32, y64, gx64, gw64;
    run(DType::F32, &y32, &gx32, &gw32);
    run(DType::F64, &y64, &gx64, &gw64);
    const std::string name = str_cat(c.transposed ? "conv_transpose2d" : "conv2d", " x ", shape_str(c.x), " w ",
                                     shape_str(c.w), " stride (", c.a.stride_h, ",", c.a.stride_w, ") pad (", c.a.pad_h,
                                     ",", c.a.pad_w, ")");
    EXPECT_TRUE(all_close(y32, y64, 1e-5, 1e-5, &where)) << name << " forward: " << where;
    EXPECT_TRUE(all_close(gx32, gx64, 1e-4, 1e-5, &where)) << name << " input gradient: " << where;
    EXPECT_TRUE(all_close(gw32, gw64, 1e-4, 1e-5, &where)) << name << " weight gradient: " << where;
  }
}

// ---------------------------------------------------------------- rectangular kernels (Inception-v3)

// Inception factorises 7x7 and 3x3 convolutions into 1x7 / 7x1 (padding (0,3) / (3,0)) and
// 1x3 / 3x1 (padding (0,1) / (1,0)) pairs: kh != kw and pad_h != pad_w in one layer.
TEST(Gradcheck, conv2d_rectangular) {
  gradcheck([](const auto& in) { return conv2d(in[0], in[1], in[2], args_of(1, 1, 0, 3)); },
            {rand_tensor({2, 3, 5, 8}, 121).requires_grad_(), rand_tensor({4, 3, 1, 7}, 122).requires_grad_(),
             rand_tensor({4}, 123).requires_grad_()});
  gradcheck([](const auto& in) { return conv2d(in[0], in[1], Tensor(), args_of(1, 1, 3, 0)); },
            {rand_tensor({1, 2, 8, 5}, 124).requires_grad_(), rand_tensor({3, 2, 7, 1}, 125).requires_grad_()});
  // 1x3 / 3x1, each with stride_h != stride_w.
  gradcheck([](const auto& in) { return conv2d(in[0], in[1], Tensor(), args_of(2, 1, 0, 1)); },
            {rand_tensor({1, 2, 7, 6}, 126).requires_grad_(), rand_tensor({2, 2, 1, 3}, 127).requires_grad_()});
  gradcheck([](const auto& in) { return conv2d(in[0], in[1], in[2], args_of(1, 2, 1, 0)); },
            {rand_tensor({2, 2, 5, 7}, 128).requires_grad_(), rand_tensor({3, 2, 3, 1}, 129).requires_grad_(),
             rand_tensor({3}, 130).requires_grad_()});
}

TEST(CudaParity, conv2d_rectangular) {
  NN_SKIP_WITHOUT_CUDA();  // before building the large inputs
  // Inception Mixed_6b's 7x7 factorisation at 17x17 (channels reduced from 768/128/192).
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], in[2], args_of(1, 1, 0, 3)); },
              {rand_tensor({2, 96, 17, 17}, 231).requires_grad_(),
               rand_tensor({64, 96, 1, 7}, 232, -0.05, 0.05).requires_grad_(), rand_tensor({64}, 233).requires_grad_()},
              kConvTolerance);
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], Tensor(), args_of(1, 1, 3, 0)); },
              {rand_tensor({2, 64, 17, 17}, 234).requires_grad_(),
               rand_tensor({96, 64, 7, 1}, 235, -0.05, 0.05).requires_grad_()},
              kConvTolerance);
  // Mixed_7b/c's 1x3 and 3x1 branches at 8x8.
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], Tensor(), args_of(1, 1, 0, 1)); },
              {rand_tensor({2, 128, 8, 8}, 236).requires_grad_(),
               rand_tensor({96, 128, 1, 3}, 237, -0.05, 0.05).requires_grad_()},
              kConvTolerance);
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], Tensor(), args_of(1, 1, 1, 0)); },
              {rand_tensor({2, 128, 8, 8}, 238).requires_grad_(),
               rand_tensor({96, 128, 3, 1}, 239, -0.05, 0.05).requires_grad_()},
              kConvTolerance);
  // Different strides per axis with a rectangular kernel.
  cuda_parity([](const auto& in) { return conv2d(in[0], in[1], Tensor(), args_of(2, 1, 0, 3)); },
              {rand_tensor({2, 16, 15, 14}, 240).requires_grad_(),
               rand_tensor({8, 16, 1, 7}, 241, -0.1, 0.1).requires_grad_()},
              kConvTolerance);
}

TEST(ConvRect, KnownValuesByHand) {
  // x = 1..15 as 3 rows of 5.
  std::vector<double> v(15);
  for (int i = 0; i < 15; ++i) v[i] = i + 1;
  const Tensor x = Tensor::from_vector({1, 1, 3, 5}, v, DType::F64);
  // A 1x3 kernel [1 0 -1] with padding (0,1): y[i,j] = x[i,j-1] - x[i,j+1], zeros outside, so the
  // interior is -2 and the ends are -x[i,1] and x[i,3]: row [1..5] -> [-2 -2 -2 -2 4].
  const Tensor w13 = Tensor::from_vector({1, 1, 1, 3}, {1, 0, -1}, DType::F64);
  Tensor y13 = conv2d(x, w13, Tensor(), args_of(1, 1, 0, 1));
  EXPECT_EQ(y13.shape(), (Shape{1, 1, 3, 5}));
  EXPECT_EQ(y13.to_vector(), (std::vector<double>{-2, -2, -2, -2, 4, -7, -2, -2, -2, 9, -12, -2, -2, -2, 14}));
  // A 3x1 kernel [1 2 3]^T with padding (1,0): y[i,j] = x[i-1,j] + 2 x[i,j] + 3 x[i+1,j]:
  //   row 0: 2 (1+j) + 3 (6+j) = 20 + 5j;  row 1: (1+j) + 2 (6+j) + 3 (11+j) = 46 + 6j;
  //   row 2: (6+j) + 2 (11+j) = 28 + 3j.
  const Tensor w31 = Tensor::from_vector({1, 1, 3, 1}, {1, 2, 3}, DType::F64);
  Tensor y31 = conv2d(x, w31, Tensor(), args_of(1, 1, 1, 0));
  EXPECT_EQ(y31.shape(), (Shape{1, 1, 3, 5}));
  EXPECT_EQ(y31.to_vector(), (std::vector<double>{20, 25, 30, 35, 40, 46, 52, 58, 64, 70, 28, 31, 34, 37, 40}));
}

TEST(ConvRect, MatchesDirectLoops) {
  // naive_conv2d above is the definition written as direct loops with bounds checks.
  struct Case {
    Shape w;
    Conv2dArgs args;
  };
  const std::vector<Case> cases = {
      {{4, 3, 1, 7}, args_of(1, 1, 0, 3)}, {{4, 3, 7, 1}, args_of(1, 1, 3, 0)}, {{4, 3, 1, 3}, args_of(1, 1, 0, 1)},
      {{4, 3, 3, 1}, args_of(1, 1, 1, 0)}, {{4, 3, 1, 7}, args_of(2, 1, 0, 3)}, {{4, 3, 7, 1}, args_of(1, 3, 3, 2)},
  };
  std::string where;
  for (const Case& c : cases) {
    Tensor x = rand_tensor({2, 3, 9, 10}, 311);
    Tensor w = rand_tensor(c.w, 312);
    Tensor y = conv2d(x, w, Tensor(), c.args);
    EXPECT_TRUE(all_close(y.to_vector(), naive_conv2d(x, w, c.args), 1e-13, 1e-13, &where))
        << "w " << shape_str(c.w) << " stride (" << c.args.stride_h << "," << c.args.stride_w << ") pad ("
        << c.args.pad_h << "," << c.args.pad_w << "): " << where;
    // "Same" padding keeps the spatial size at stride 1, as Inception relies on.
    if (c.args.stride_h == 1 && c.args.stride_w == 1) EXPECT_EQ(y.shape(), (Shape{2, 4, 9, 10}));
  }
}

TEST(ConvRect, Conv2dLayerWithRectangularKernel) {
  ParameterArena arena;
  Conv2d c17(arena, "branch7x7.conv1", 4, 6, 1, 7, args_of(1, 1, 0, 3), /*bias=*/false);
  Conv2d c71(arena, "branch7x7.conv2", 6, 5, 7, 1, args_of(1, 1, 3, 0), /*bias=*/true);
  arena.build(Device::CPU, DType::F64);
  Generator gen(7);
  init_dcgan(arena, gen);
  EXPECT_EQ(c17.weight.shape(), (Shape{6, 4, 1, 7}));
  EXPECT_FALSE(c17.bias.defined());
  EXPECT_EQ(c71.weight.shape(), (Shape{5, 6, 7, 1}));
  EXPECT_EQ(c71.describe(), "Conv2d(6, 5, kernel_size=(7, 1), stride=(1, 1), padding=(3, 0), bias=True)");
  const Tensor x = rand_tensor({2, 4, 17, 17}, 321);
  Tensor y = c71.forward(c17.forward(x));
  EXPECT_EQ(y.shape(), (Shape{2, 5, 17, 17}));
  // The layer is the op with its parameters.
  std::string where;
  EXPECT_TRUE(all_close(y.to_vector(),
                        conv2d(conv2d(x, c17.weight, Tensor(), args_of(1, 1, 0, 3)), c71.weight, c71.bias,
                               args_of(1, 1, 3, 0))
                            .to_vector(),
                        0, 0, &where))
      << where;
  // The square constructor still prints the short form.
  ParameterArena other;
  Conv2d sq(other, "sq", 3, 8, 4, 2, 1, false);
  EXPECT_EQ(sq.describe(), "Conv2d(3, 8, kernel_size=4, stride=2, padding=1, bias=False)");
}

// ---------------------------------------------------------------- identities and rules

// <conv2d(x, W), y> == <x, conv_transpose2d(y, W)> in float64: the transposed convolution is the
// adjoint of the convolution with the same weight, stride and padding. output_padding restores
// the input size when the stride does not divide it evenly.
TEST(ConvIdentity, AdjointConvTranspose) {
  struct Case {
    Shape x, w;
    Conv2dArgs args;  // out_pad_* is for the transposed convolution only
  };
  const std::vector<Case> cases = {
      {{2, 3, 8, 8}, {5, 3, 4, 4}, args_of(2, 2, 1, 1)},        // DCGAN 4x4 stride 2 pad 1
      {{2, 3, 9, 8}, {4, 3, 3, 3}, args_of(2, 2, 1, 1, 0, 1)},  // odd/even sizes: pad the width back
      {{1, 2, 8, 8}, {3, 2, 3, 3}, args_of(2, 2, 1, 1, 1, 1)},  // output_padding on both axes
      {{2, 2, 7, 6}, {3, 2, 2, 3}, args_of(1, 1, 0, 1)},        // stride 1, non-square kernel
  };
  for (const Case& c : cases) {
    Tensor x = rand_tensor(c.x, 401);
    Tensor w = rand_tensor(c.w, 402);
    Conv2dArgs conv_args = c.args;
    conv_args.out_pad_h = conv_args.out_pad_w = 0;
    Tensor conv_x = conv2d(x, w, Tensor(), conv_args);
    Tensor y = rand_tensor(conv_x.shape(), 403);
    Tensor convt_y = conv_transpose2d(y, w, Tensor(), c.args);
    ASSERT_EQ(convt_y.shape(), x.shape()) << "conv_transpose2d must map back to the input's shape";
    const double lhs = dot(conv_x, y), rhs = dot(x, convt_y);
    EXPECT_NEAR(lhs, rhs, 1e-12 * std::fabs(lhs) + 1e-12) << "x " << shape_str(c.x) << " w " << shape_str(c.w);
  }
}

// The engine's rule: backward accumulates, so two backwards give twice the weight gradient.
TEST(Conv, BackwardAccumulates) {
  Tensor x = rand_tensor({2, 3, 6, 6}, 501);
  Tensor w = rand_tensor({4, 3, 3, 3}, 502).requires_grad_();
  Tensor g = rand_tensor({2, 4, 3, 3}, 503);
  sum(mul(conv2d(x, w, Tensor(), 2, 1), g)).backward();
  std::vector<double> once = w.grad().to_vector();
  sum(mul(conv2d(x, w, Tensor(), 2, 1), g)).backward();
  std::vector<double> twice = w.grad().to_vector();
  ASSERT_EQ(once.size(), twice.size());
  for (size_t i = 0; i < once.size(); ++i) EXPECT_DOUBLE_EQ(twice[i], 2 * once[i]) << "element " << i;
  // The same rule for the transposed convolution, whose weight gradient is another cuDNN call.
  Tensor wt = rand_tensor({3, 4, 3, 3}, 504).requires_grad_();
  Tensor gt = rand_tensor({2, 4, 11, 11}, 505);
  sum(mul(conv_transpose2d(x, wt, Tensor(), 2, 1), gt)).backward();
  std::vector<double> once_t = wt.grad().to_vector();
  sum(mul(conv_transpose2d(x, wt, Tensor(), 2, 1), gt)).backward();
  std::vector<double> twice_t = wt.grad().to_vector();
  for (size_t i = 0; i < once_t.size(); ++i) EXPECT_DOUBLE_EQ(twice_t[i], 2 * once_t[i]) << "element " << i;
}

TEST(Conv, ShapeErrors) {
  const Tensor x2388 = Tensor::zeros({2, 3, 8, 8});
  const Tensor w4233 = Tensor::zeros({4, 2, 3, 3}), w4333 = Tensor::zeros({4, 3, 3, 3});
  EXPECT_THROW(conv2d(x2388, w4233), Error);
  expect_error_containing([&] { conv2d(x2388, w4233); },
                          {"conv2d: input (2,3,8,8) has 3 channels but weight (4,2,3,3) expects 2"});
  expect_error_containing([&] { conv2d(Tensor::zeros({3, 8, 8}), w4333); }, {"conv2d", "4-D", "(3,8,8)"});
  expect_error_containing([&] { conv2d(x2388, w4333, Tensor::zeros({3})); },
                          {"conv2d", "bias (3)", "(4)", "(4,3,3,3)"});
  const Tensor x1122 = Tensor::zeros({1, 1, 2, 2}), w1155 = Tensor::zeros({1, 1, 5, 5});
  expect_error_containing([&] { conv2d(x1122, w1155); }, {"conv2d", "output size", "(1,1,2,2)", "(1,1,5,5)"});
  const Tensor x1144 = Tensor::zeros({1, 1, 4, 4}), w1133 = Tensor::zeros({1, 1, 3, 3});
  expect_error_containing([&] { conv2d(x1144, w1133, Tensor(), 0, 0); }, {"conv2d", "stride"});
  expect_error_containing([&] { conv2d(x1144, w1133, Tensor(), Conv2dArgs::make(2, 1, 1)); },
                          {"conv2d", "output_padding"});

  const Tensor x1244 = Tensor::zeros({1, 2, 4, 4}), w2333 = Tensor::zeros({2, 3, 3, 3});
  EXPECT_THROW(conv_transpose2d(x1244, w2333, Tensor(), 2, 1, 2), Error);
  expect_error_containing([&] { conv_transpose2d(x1244, w2333, Tensor(), 2, 1, 2); },
                          {"conv_transpose2d", "output_padding (2,2) must be smaller than stride (2,2)"});
  const Tensor x1344 = Tensor::zeros({1, 3, 4, 4}), w2533 = Tensor::zeros({2, 5, 3, 3});
  expect_error_containing([&] { conv_transpose2d(x1344, w2533); },
                          {"conv_transpose2d: input (1,3,4,4) has 3 channels but weight (2,5,3,3) expects 2"});
  expect_error_containing([&] { conv_transpose2d(x1244, w2533, Tensor::zeros({2})); },
                          {"conv_transpose2d", "bias (2)", "(5)"});
  const Tensor x1111 = Tensor::zeros({1, 1, 1, 1});
  expect_error_containing([&] { conv_transpose2d(x1111, x1111, Tensor(), 1, 1); },
                          {"conv_transpose2d", "output size", "(1,1,1,1)"});
}

// ---------------------------------------------------------------- CUDA only

// Sets backend_settings().deterministic for a scope and restores it, even when a check throws.
class DeterministicScope {
 public:
  DeterministicScope() : saved_(backend_settings().deterministic) { backend_settings().deterministic = true; }
  ~DeterministicScope() { backend_settings().deterministic = saved_; }

 private:
  bool saved_;
};

// In deterministic mode two identical forward+backward runs give bitwise-equal gradients (cuDNN
// pinned to deterministic algorithms, bias gradients reduced in a fixed order).
TEST(ConvCuda, DeterministicGrads) {
  NN_SKIP_WITHOUT_CUDA();
  DeterministicScope deterministic;
  Tensor x0 = rand_tensor({8, 64, 16, 16}, 601, -1, 1, DType::F32).to(Device::CUDA);
  Tensor w0 = rand_tensor({128, 64, 4, 4}, 602, -0.05, 0.05, DType::F32).to(Device::CUDA);
  Tensor wt0 = rand_tensor({64, 32, 4, 4}, 603, -0.05, 0.05, DType::F32).to(Device::CUDA);
  Tensor b0 = rand_tensor({128}, 604, -1, 1, DType::F32).to(Device::CUDA);
  Tensor g = rand_tensor({8, 128, 8, 8}, 605, -1, 1, DType::F32).to(Device::CUDA);
  Tensor gt = rand_tensor({8, 32, 32, 32}, 606, -1, 1, DType::F32).to(Device::CUDA);
  auto run = [&] {
    Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    Tensor wt = wt0.clone().requires_grad_();
    sum(mul(conv2d(x, w, b, 2, 1), g)).backward();
    sum(mul(conv_transpose2d(x, wt, Tensor(), 2, 1), gt)).backward();
    return std::vector<std::vector<double>>{x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector(),
                                            wt.grad().to_vector()};
  };
  const auto first = run();
  const auto second = run();
  ASSERT_EQ(first.size(), second.size());
  for (size_t k = 0; k < first.size(); ++k) EXPECT_TRUE(first[k] == second[k]) << "gradient " << k << " differs";
}

}  // namespace
}  // namespace nn::test
