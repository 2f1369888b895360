// Tests for src/ops/batchnorm.cpp and kernels/batchnorm.cu.
//
//   Gradcheck.batch_norm     float64 central differences: (N,C,H,W) and (N,C) training, eval mode,
//                            and no affine (training and eval)
//   CudaParity.batch_norm    CUDA vs CPU at the DCGAN's shapes (64,256,8,8) and (256,16384), both
//                            modes, with and without affine (skips without a GPU)
//   BatchNorm.*              identities and hand formulas that need no reference implementation
#include <string>

#include "test_util.h"

namespace nn::test {
namespace {

// A per-channel vector: weights near 1, biases near 0, running variances positive.
Tensor channel_param(int64_t C, uint64_t seed, double lo, double hi) { return rand_tensor({C}, seed, lo, hi); }

// Values of channel c of x viewed as (N, C, HW), in (n, hw) order.
std::vector<double> channel_values(const Tensor& x, int64_t c) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  std::vector<double> all = x.to_vector(), out;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t hw = 0; hw < HW; ++hw) out.push_back(all[(n * C + c) * HW + hw]);
  return out;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double a : v) s += a;
  return s / static_cast<double>(v.size());
}

// sum (v - mean)^2 / (size - ddof): ddof 0 is the biased variance, 1 the unbiased one.
double var_of(const std::vector<double>& v, int ddof) {
  const double m = mean_of(v);
  double s = 0;
  for (double a : v) s += (a - m) * (a - m);
  return s / static_cast<double>(static_cast<int64_t>(v.size()) - ddof);
}

// Channel c gets its own offset and spread, so a channel mix-up shows.
Tensor channel_skewed_input(const Shape& shape, uint64_t seed) {
  Tensor x = rand_tensor(shape, seed, -1.0, 1.0);
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  double* p = x.data<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t hw = 0; hw < HW; ++hw) {
        double& v = p[(n * C + c) * HW + hw];
        v = v * (1.0 + c) + 3.0 * c - 2.0;
      }
  return x;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------- gradchecks

TEST(Gradcheck, batch_norm) {
  {
    SCOPED_TRACE("(N,C,H,W) training, affine, running stats updated along the way");
    Tensor x = channel_skewed_input({3, 2, 3, 2}, 1).requires_grad_();
    Tensor w = channel_param(2, 2, 0.5, 1.5).requires_grad_();
    Tensor b = channel_param(2, 3, -0.5, 0.5).requires_grad_();
    Tensor rm = Tensor::zeros({2}, DType::F64), rv = Tensor::ones({2}, DType::F64);
    gradcheck([&](const auto& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); }, {x, w, b});
  }
  {
    SCOPED_TRACE("(N,C) training, affine, no running stats");
    Tensor x = rand_tensor({5, 4}, 4, -2.0, 2.0).requires_grad_();
    Tensor w = channel_param(4, 5, 0.5, 1.5).requires_grad_();
    Tensor b = channel_param(4, 6, -0.5, 0.5).requires_grad_();
    gradcheck([](const auto& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); }, {x, w, b});
  }
  {
    SCOPED_TRACE("(N,C,H,W) eval, affine");
    Tensor x = rand_tensor({2, 3, 2, 2}, 7, -2.0, 2.0).requires_grad_();
    Tensor w = channel_param(3, 8, 0.5, 1.5).requires_grad_();
    Tensor b = channel_param(3, 9, -0.5, 0.5).requires_grad_();
    Tensor rm = channel_param(3, 10, -0.5, 0.5), rv = channel_param(3, 11, 0.5, 2.0);
    gradcheck([&](const auto& in) { return batch_norm(in[0], in[1], in[2], rm, rv, false); }, {x, w, b});
  }
  {
    SCOPED_TRACE("(N,C,H,W) training, no affine");
    Tensor x = channel_skewed_input({2, 3, 2, 3}, 12).requires_grad_();
    gradcheck([](const auto& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }, {x});
  }
  {
    SCOPED_TRACE("(N,C) eval, no affine");
    Tensor x = rand_tensor({3, 4}, 13, -2.0, 2.0).requires_grad_();
    Tensor rm = channel_param(4, 14, -0.5, 0.5), rv = channel_param(4, 15, 0.5, 2.0);
    gradcheck([&](const auto& in) { return batch_norm(in[0], Tensor(), Tensor(), rm, rv, false); }, {x});
  }
}

// ---------------------------------------------------------------- CUDA vs CPU

TEST(CudaParity, batch_norm) {
  NN_SKIP_WITHOUT_CUDA();
  const struct {
    Shape shape;
    bool training, affine;
  } cases[] = {
      {{64, 256, 8, 8}, true, true},   // DCGAN discriminator / generator feature maps
      {{256, 16384}, true, true},      // the generator's first (N, C) layer, large C
      {{64, 256, 8, 8}, false, true},  // eval
      {{256, 16384}, false, false},    // eval, no affine
      {{64, 256, 8, 8}, true, false},  // training, no affine
  };
  uint64_t seed = 100;
  for (const auto& k : cases) {
    SCOPED_TRACE(shape_str(k.shape) + (k.training ? " training" : " eval") + (k.affine ? " affine" : " no affine"));
    const int64_t C = k.shape[1];
    Tensor x = rand_tensor(k.shape, seed++, -2.0, 3.0).requires_grad_();
    Tensor w = k.affine ? channel_param(C, seed++, 0.5, 1.5).requires_grad_() : Tensor();
    Tensor b = k.affine ? channel_param(C, seed++, -0.5, 0.5).requires_grad_() : Tensor();
    Tensor rm = channel_param(C, seed++, -0.5, 0.5), rv = channel_param(C, seed++, 0.5, 2.0);
    const bool training = k.training;
    // atol 1e-4: dgamma_c and dbeta_c are float sums of M = 4096 terms of size ~1 on the GPU (the
    // CPU sums in double), whose rounding error is ~1e-5 in absolute terms, and some channels'
    // sums are close to 0, where the relative tolerance gives no room.
    cuda_parity([training](const auto& in) { return batch_norm(in[0], in[1], in[2], in[3], in[4], training); },
                {x, w, b, rm, rv}, ParityOptions{1e-4, 1e-4});
  }
}

// The running statistics written by the CUDA kernel match the CPU loop's.
TEST(BatchNorm, RunningStatsSameOnCpuAndCuda) {
  NN_SKIP_WITHOUT_CUDA();
  for (const Shape& shape : {Shape{64, 256, 8, 8}, Shape{256, 16384}}) {
    SCOPED_TRACE(shape_str(shape));
    const int64_t C = shape[1];
    Tensor x = rand_tensor(shape, 31, -2.0, 3.0, DType::F32);
    Tensor rm = rand_tensor({C}, 32, -0.5, 0.5, DType::F32), rv = rand_tensor({C}, 33, 0.5, 2.0, DType::F32);
    Tensor rm_gpu = rm.to(Device::CUDA), rv_gpu = rv.to(Device::CUDA);
    batch_norm(x, Tensor(), Tensor(), rm, rv, true);
    batch_norm(x.to(Device::CUDA), Tensor(), Tensor(), rm_gpu, rv_gpu, true);
    std::string where;
    EXPECT_TRUE(all_close(rm_gpu.to_vector(), rm.to_vector(), 1e-6, 1e-5, &where)) << "running_mean: " << where;
    EXPECT_TRUE(all_close(rv_gpu.to_vector(), rv.to_vector(), 1e-6, 1e-5, &where)) << "running_var: " << where;
  }
}

// ---------------------------------------------------------------- identities and hand formulas

// In training mode each output channel has mean 0 and (biased) variance 1, and the affine output
// is gamma xhat + beta with xhat computed here from the raw data.
TEST(BatchNorm, TrainingOutputIsStandardised) {
  for (const Shape& shape : {Shape{8, 3, 5, 5}, Shape{40, 3}}) {
    SCOPED_TRACE(shape_str(shape));
    const double eps = 1e-12;  // tiny, so var(y) = var / (var + eps) is 1 to well within 1e-6
    Tensor x = channel_skewed_input(shape, 21);
    Tensor w = Tensor::from_vector({3}, {0.5, 2.0, -1.5}, DType::F64);
    Tensor b = Tensor::from_vector({3}, {1.0, -0.25, 3.0}, DType::F64);
    Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, eps);
    Tensor ya = batch_norm(x, w, b, Tensor(), Tensor(), true, 0.1, eps);
    std::vector<double> wv = w.to_vector(), bv = b.to_vector();
    for (int64_t c = 0; c < 3; ++c) {
      std::vector<double> yc = channel_values(y, c), yac = channel_values(ya, c), xc = channel_values(x, c);
      EXPECT_NEAR(mean_of(yc), 0.0, 1e-6) << "channel " << c;
      EXPECT_NEAR(var_of(yc, 0), 1.0, 1e-6) << "channel " << c;
      const double m = mean_of(xc), invstd = 1.0 / std::sqrt(var_of(xc, 0) + eps);
      for (size_t i = 0; i < xc.size(); ++i) {
        const double xhat = (xc[i] - m) * invstd;
        EXPECT_NEAR(yc[i], xhat, 1e-12) << "channel " << c << " element " << i;
        EXPECT_NEAR(yac[i], wv[c] * xhat + bv[c], 1e-12) << "channel " << c << " element " << i;
      }
    }
  }
}

// running <- 0.9 running + 0.1 batch, with the unbiased batch variance; two steps compound.
TEST(BatchNorm, RunningStatsUpdate) {
  const double momentum = 0.1;
  std::vector<double> rm = {0.5, -1.0, 2.0}, rv = {1.0, 0.25, 3.0};
  Tensor rm_t = Tensor::from_vector({3}, rm, DType::F64), rv_t = Tensor::from_vector({3}, rv, DType::F64);
  for (uint64_t step = 0; step < 2; ++step) {
    Tensor x = channel_skewed_input({4, 3, 2, 3}, 40 + step);
    batch_norm(x, Tensor(), Tensor(), rm_t, rv_t, true, momentum);
    for (int64_t c = 0; c < 3; ++c) {
      std::vector<double> xc = channel_values(x, c);
      rm[c] = (1 - momentum) * rm[c] + momentum * mean_of(xc);
      rv[c] = (1 - momentum) * rv[c] + momentum * var_of(xc, 1);
    }
    std::vector<double> got_m = rm_t.to_vector(), got_v = rv_t.to_vector();
    for (int64_t c = 0; c < 3; ++c) {
      EXPECT_NEAR(got_m[c], rm[c], 1e-12) << "step " << step << " channel " << c;
      EXPECT_NEAR(got_v[c], rv[c], 1e-12) << "step " << step << " channel " << c;
    }
  }
  // Same in float32 (the dtype training uses), to float precision.
  Tensor x32 = channel_skewed_input({16, 3}, 50).to(DType::F32);
  Tensor rm32 = Tensor::zeros({3}), rv32 = Tensor::ones({3});
  batch_norm(x32, Tensor(), Tensor(), rm32, rv32, true, momentum);
  for (int64_t c = 0; c < 3; ++c) {
    std::vector<double> xc = channel_values(x32, c);
    EXPECT_NEAR(rm32.to_vector()[c], momentum * mean_of(xc), 1e-6);
    EXPECT_NEAR(rv32.to_vector()[c], (1 - momentum) + momentum * var_of(xc, 1), 1e-5);
  }
}

// Eval mode normalises with the running statistics (not the batch's) and leaves them alone; one
// sample per channel is fine there.
TEST(BatchNorm, EvalUsesRunningStats) {
  const double eps = 1e-5;
  std::vector<double> rm = {0.5, -1.0}, rv = {2.0, 0.5}, w = {1.5, -0.5}, b = {0.1, 0.2};
  Tensor rm_t = Tensor::from_vector({2}, rm, DType::F64), rv_t = Tensor::from_vector({2}, rv, DType::F64);
  Tensor w_t = Tensor::from_vector({2}, w, DType::F64), b_t = Tensor::from_vector({2}, b, DType::F64);
  for (const Shape& shape : {Shape{3, 2, 2, 2}, Shape{1, 2}}) {
    SCOPED_TRACE(shape_str(shape));
    Tensor x = rand_tensor(shape, 60, -3.0, 3.0);
    Tensor y = batch_norm(x, w_t, b_t, rm_t, rv_t, false, 0.1, eps);
    for (int64_t c = 0; c < 2; ++c) {
      std::vector<double> xc = channel_values(x, c), yc = channel_values(y, c);
      for (size_t i = 0; i < xc.size(); ++i)
        EXPECT_NEAR(yc[i], (xc[i] - rm[c]) / std::sqrt(rv[c] + eps) * w[c] + b[c], 1e-12);
    }
    EXPECT_EQ(rm_t.to_vector(), rm);
    EXPECT_EQ(rv_t.to_vector(), rv);
  }
}

TEST(BatchNorm, OneValuePerChannelInTrainingThrows) {
  for (const Shape& shape : {Shape{1, 4}, Shape{1, 4, 1, 1}}) {
    Tensor x = rand_tensor(shape, 70);
    std::string msg = error_of([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true); });
    EXPECT_NE(msg.find("Expected more than 1 value per channel when training"), std::string::npos) << msg;
  }
  // (1, C, H, W) with H*W > 1 has enough values per channel.
  EXPECT_NO_THROW(batch_norm(rand_tensor({1, 4, 2, 1}, 71), Tensor(), Tensor(), Tensor(), Tensor(), true));
}

TEST(BatchNorm, ArgumentErrors) {
  Tensor x = rand_tensor({4, 3, 2, 2}, 80);
  Tensor c3 = Tensor::ones({3}, DType::F64), c2 = Tensor::ones({2}, DType::F64);
  EXPECT_NE(error_of([&] { batch_norm(x, c2, c3, Tensor(), Tensor(), true); }).find("weight must have shape (3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              batch_norm(rand_tensor({4, 3, 2}, 81), c3, c3, Tensor(), Tensor(), true);
            }).find("(N,C) or (N,C,H,W)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { batch_norm(x, c3, c3, Tensor(), Tensor(), false); }).find("eval mode needs"),
            std::string::npos);
  EXPECT_NE(error_of([&] { batch_norm(x, c3, c3, c3, Tensor(), true); }).find("both"), std::string::npos);
  EXPECT_NE(error_of([&] { batch_norm(x, Tensor::ones({3}), c3, Tensor(), Tensor(), true); }).find("dtype"),
            std::string::npos);
}

// Backward accumulates: a second forward/backward without zero_grad doubles every gradient.
TEST(BatchNorm, BackwardAccumulates) {
  Tensor x = channel_skewed_input({3, 2, 2, 2}, 90).requires_grad_();
  Tensor w = channel_param(2, 91, 0.5, 1.5).requires_grad_();
  Tensor b = channel_param(2, 92, -0.5, 0.5).requires_grad_();
  Tensor g = rand_tensor({3, 2, 2, 2}, 93);
  auto step = [&] { sum(mul(batch_norm(x, w, b, Tensor(), Tensor(), true), g)).backward(); };
  step();
  std::vector<double> gx = x.grad().to_vector(), gw = w.grad().to_vector(), gb = b.grad().to_vector();
  step();
  for (size_t i = 0; i < gx.size(); ++i) EXPECT_NEAR(x.grad().to_vector()[i], 2 * gx[i], 1e-12);
  for (size_t i = 0; i < gw.size(); ++i) EXPECT_NEAR(w.grad().to_vector()[i], 2 * gw[i], 1e-12);
  for (size_t i = 0; i < gb.size(); ++i) EXPECT_NEAR(b.grad().to_vector()[i], 2 * gb[i], 1e-12);
}

// (N, C) and (N, C, 1, 1) are the same computation: catches an indexing slip between the layouts.
TEST(BatchNorm, NcMatchesNc11) {
  Tensor x2 = channel_skewed_input({6, 5}, 100).requires_grad_();
  Tensor x4 = x2.detach().clone().reshape_view({6, 5, 1, 1}).requires_grad_();
  Tensor g = rand_tensor({6, 5}, 101);
  Tensor y2 = batch_norm(x2, Tensor(), Tensor(), Tensor(), Tensor(), true);
  Tensor y4 = batch_norm(x4, Tensor(), Tensor(), Tensor(), Tensor(), true);
  EXPECT_EQ(y2.to_vector(), y4.to_vector());
  sum(mul(y2, g)).backward();
  sum(mul(reshape(y4, {6, 5}), g)).backward();
  EXPECT_EQ(x2.grad().to_vector(), x4.grad().to_vector());
}

// ---------------------------------------------------------------- batch_norm_act (fused)

TEST(Gradcheck, batch_norm_act) {
  {
    SCOPED_TRACE("(N,C,H,W) training, relu");
    Tensor x = channel_skewed_input({3, 2, 3, 2}, 11).requires_grad_();
    Tensor w = channel_param(2, 12, 0.5, 1.5).requires_grad_();
    Tensor b = channel_param(2, 13, -0.5, 0.5).requires_grad_();
    Tensor rm = Tensor::zeros({2}, DType::F64), rv = Tensor::ones({2}, DType::F64);
    gradcheck([&](const auto& in) {
      return batch_norm_act(in[0], in[1], in[2], rm, rv, true, 0.1, 1e-5, FusedActivation::Relu);
    }, {x, w, b});
  }
  {
    SCOPED_TRACE("(N,C) training, leaky relu 0.2, no running stats");
    Tensor x = rand_tensor({5, 4}, 14, -2.0, 2.0).requires_grad_();
    Tensor w = channel_param(4, 15, 0.5, 1.5).requires_grad_();
    Tensor b = channel_param(4, 16, -0.5, 0.5).requires_grad_();
    gradcheck([](const auto& in) {
      return batch_norm_act(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1, 1e-5, FusedActivation::LeakyRelu, 0.2);
    }, {x, w, b});
  }
  {
    SCOPED_TRACE("(N,C,H,W) eval, leaky relu 0.3");
    Tensor x = rand_tensor({2, 3, 2, 2}, 17, -2.0, 2.0).requires_grad_();
    Tensor w = channel_param(3, 18, 0.5, 1.5).requires_grad_();
    Tensor b = channel_param(3, 19, -0.5, 0.5).requires_grad_();
    Tensor rm = channel_param(3, 20, -0.5, 0.5), rv = channel_param(3, 21, 0.5, 1.5);
    gradcheck([&](const auto& in) {
      return batch_norm_act(in[0], in[1], in[2], rm, rv, false, 0.1, 1e-5, FusedActivation::LeakyRelu, 0.3);
    }, {x, w, b});
  }
}

TEST(CudaParity, batch_norm_act) {
  NN_SKIP_WITHOUT_CUDA();
  // The dcgan generator's BN + ReLU, the keras generator's BN1d + LeakyReLU(0.3), an eval case.
  const Shape dcgan{64, 256, 8, 8}, keras{256, 16384};
  cuda_parity([](const auto& in) {
    return batch_norm_act(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1, 1e-5, FusedActivation::Relu);
  }, {rand_tensor(dcgan, 31, -2.0, 3.0).requires_grad_(), channel_param(256, 32, 0.5, 1.5).requires_grad_(),
      channel_param(256, 33, -0.5, 0.5).requires_grad_()});
  cuda_parity([](const auto& in) {
    return batch_norm_act(in[0], in[1], in[2], Tensor(), Tensor(), true, 0.1, 1e-5, FusedActivation::LeakyRelu, 0.3);
  }, {rand_tensor(keras, 34, -2.0, 3.0).requires_grad_(), channel_param(16384, 35, 0.5, 1.5).requires_grad_(),
      channel_param(16384, 36, -0.5, 0.5).requires_grad_()});
  cuda_parity([](const auto& in) {
    return batch_norm_act(in[0], in[1], in[2], in[3], in[4], false, 0.1, 1e-5, FusedActivation::LeakyRelu, 0.2);
  }, {rand_tensor(dcgan, 37, -2.0, 3.0).requires_grad_(), channel_param(256, 38, 0.5, 1.5).requires_grad_(),
      channel_param(256, 39, -0.5, 0.5).requires_grad_(), channel_param(256, 40, -0.5, 0.5),
      channel_param(256, 41, 0.5, 1.5)});
}

// The fused op gives the very values of batch_norm followed by relu / leaky_relu: outputs, every
// gradient and the running statistics, bit for bit on the CPU, in float32 and float64.
TEST(BatchNormAct, SameBitsAsTheComposition) {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (bool training : {true, false}) {
      for (FusedActivation act : {FusedActivation::Relu, FusedActivation::LeakyRelu}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + (training ? " training" : " eval") +
                     (act == FusedActivation::Relu ? " relu" : " leaky"));
        auto run = [&](bool fused) {
          Tensor x = rand_tensor({8, 6, 5, 5}, 51, -2.0, 3.0).to(dtype).requires_grad_();
          Tensor w = channel_param(6, 52, 0.5, 1.5).to(dtype).requires_grad_();
          Tensor b = channel_param(6, 53, -0.5, 0.5).to(dtype).requires_grad_();
          Tensor rm = channel_param(6, 54, -0.5, 0.5).to(dtype), rv = channel_param(6, 55, 0.5, 1.5).to(dtype);
          const double slope = 0.2;
          Tensor y = fused ? batch_norm_act(x, w, b, rm, rv, training, 0.1, 1e-5, act, slope) : [&] {
            Tensor z = batch_norm(x, w, b, rm, rv, training, 0.1, 1e-5);
            return act == FusedActivation::Relu ? relu(z) : leaky_relu(z, slope);
          }();
          Tensor g = rand_tensor(y.shape(), 56).to(dtype);
          sum(mul(y, g)).backward();
          return std::vector<std::vector<double>>{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(),
                                                  b.grad().to_vector(), rm.to_vector(), rv.to_vector()};
        };
        const auto fused = run(true), composed = run(false);
        const char* names[] = {"y", "dx", "dweight", "dbias", "running_mean", "running_var"};
        for (size_t k = 0; k < fused.size(); ++k) EXPECT_EQ(fused[k], composed[k]) << names[k];
      }
    }
  }
}

}  // namespace
}  // namespace nn::test
