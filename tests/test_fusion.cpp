// --fuse: with every batchnorm + ReLU/LeakyReLU fused into batch_norm_act, every layer bias +
// activation into bias_act and dcgan's Sigmoid into its BCE loss (bce_sigmoid), three training
// steps of each preset end with the very same weights, statistics and Adam moments (bit for bit
// on the CPU) as the unfused layers, and the fusion leaves the layers and tensor names in place.
// The fused ops themselves: gradchecks, CUDA parity, and the composition's bits on the CPU.
#include <map>

#include "test_util.h"
#include "trainer_state.h"
#include "train/trainer.h"

namespace nn::test {
namespace {

using train::Config;
using train::Trainer;

std::map<std::string, std::vector<double>> three_steps(const std::string& preset, bool fused) {
  TempDir dir("fusion");
  Config c = train::preset_defaults(preset);
  c.width = preset == "dcgan" ? 8 : 16;
  c.batch_size = 8;
  c.device = "cpu";
  c.out_dir = dir.path().string();
  c.fuse = fused;
  Trainer t(c, Tensor(), true);
  for (int step = 0; step < 3; ++step) {
    std::vector<Tensor> reals;
    for (int64_t k = 0; k < c.d_steps; ++k) {
      Tensor r = Tensor::empty({8, 3, 32, 32});
      Generator g(100 + static_cast<uint64_t>(step * 10 + k));
      r.uniform_(g, -1, 1);
      reals.push_back(r);
    }
    t.train_step(reals);
  }
  return state_of(t);
}

TEST(Fusion, FusedOpsTrainToTheSameBits) {
  for (const std::string preset : {"dcgan", "keras", "sngan"}) {
    SCOPED_TRACE(preset);
    const auto fused = three_steps(preset, true), plain = three_steps(preset, false);
    ASSERT_EQ(fused.size(), plain.size());
    for (const auto& [name, values] : plain) EXPECT_EQ(fused.at(name), values) << name;
  }
}

// Which activations each preset fuses (Activation layers in the top-level Sequentials; the sngan
// blocks fuse inside themselves): counted by hand from models.h and sngan.h.
TEST(Fusion, TheFusedLayersAreTheOnesBeforeAnActivation) {
  const std::map<std::string, int> expected = {
      {"dcgan", 6},  // G: 3 BN + ReLU; D: 2 BN + LeakyReLU, and the Sigmoid inside the loss
      {"keras", 5},  // G: 3 BN + LeakyReLU (Tanh follows a ConvT without bias); D: 2 conv bias + LeakyReLU
      {"sngan", 2},  // G: b5 + ReLU, c5's bias + Tanh (D's top-level ReLU follows a block)
  };
  for (const auto& [preset, want] : expected) {
    SCOPED_TRACE(preset);
    TempDir dir("fusion_layers");
    Config c = train::preset_defaults(preset);
    c.width = preset == "dcgan" ? 8 : 16;
    c.device = "cpu";
    c.out_dir = dir.path().string();
    c.fuse = true;
    Trainer t(c, Tensor(), true);
    int fused = 0;
    for (auto* net : {&t.gan().generator.net, &t.gan().discriminator.net})
      for (const auto& layer : net->layers())
        if (auto act = std::dynamic_pointer_cast<Activation>(layer)) fused += act->fused();
    EXPECT_EQ(fused, want);
    EXPECT_EQ(t.gan().d_sigmoid_in_loss, preset == "dcgan");
  }
}

const BiasActivation kAllActivations[] = {BiasActivation::Relu, BiasActivation::LeakyRelu, BiasActivation::Tanh,
                                          BiasActivation::Sigmoid};

Tensor unfused_activation(const Tensor& z, BiasActivation a, double slope) {
  switch (a) {
    case BiasActivation::Relu: return relu(z);
    case BiasActivation::LeakyRelu: return leaky_relu(z, slope);
    case BiasActivation::Tanh: return nn::tanh(z);
    default: return sigmoid(z);
  }
}

// bias_act after a bias-free conv2d / linear gives the bits of the layer with its bias followed by
// the activation: output, and the gradients of input, weight and bias, in float32 and float64.
TEST(Fusion, BiasActSameBitsAsTheComposition) {
  for (DType dtype : {DType::F32, DType::F64}) {
    for (BiasActivation a : kAllActivations) {
      for (bool conv : {true, false}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + (conv ? " conv2d" : " linear") + " activation " +
                     std::to_string(static_cast<int>(a)));
        const double slope = 0.2;
        Tensor x = rand_tensor(conv ? Shape{3, 4, 6, 6} : Shape{5, 7}, 1, -2, 2, dtype);
        Tensor w = rand_tensor(conv ? Shape{5, 4, 3, 3} : Shape{6, 7}, 2, -0.5, 0.5, dtype);
        Tensor b = rand_tensor({conv ? 5 : 6}, 3, -0.5, 0.5, dtype);
        auto run = [&](bool fused) {
          Tensor xi = x.clone().requires_grad_(), wi = w.clone().requires_grad_(), bi = b.clone().requires_grad_();
          auto layer = [&](const Tensor& bias) { return conv ? conv2d(xi, wi, bias, 1, 1) : linear(xi, wi, bias); };
          Tensor y = fused ? bias_act(layer(Tensor()), bi, a, slope) : unfused_activation(layer(bi), a, slope);
          Tensor g = rand_tensor(y.shape(), 4, -1, 1, dtype);
          y.backward(g);
          return std::vector<std::vector<double>>{y.to_vector(), xi.grad().to_vector(), wi.grad().to_vector(),
                                                  bi.grad().to_vector()};
        };
        const auto fused = run(true), plain = run(false);
        const char* what[] = {"output", "dx", "dw", "db"};
        for (int k = 0; k < 4; ++k) EXPECT_EQ(fused[k], plain[k]) << what[k];
      }
    }
  }
}

TEST(Fusion, BceSigmoidSameBitsAsTheComposition) {
  for (DType dtype : {DType::F32, DType::F64}) {
    SCOPED_TRACE(dtype_name(dtype));
    Tensor x = rand_tensor({64, 1, 1, 1}, 5, -6, 6, dtype), t = rand_tensor({64, 1, 1, 1}, 6, 0, 1, dtype);
    Tensor xa = x.clone().requires_grad_(), xb = x.clone().requires_grad_();
    Tensor la = bce_sigmoid(xa, t), lb = bce(sigmoid(xb), t);
    EXPECT_EQ(la.to_vector(), lb.to_vector());
    la.backward();
    lb.backward();
    EXPECT_EQ(xa.grad().to_vector(), xb.grad().to_vector());
  }
}

TEST(Gradcheck, bias_act) {
  for (BiasActivation a : kAllActivations) {
    SCOPED_TRACE(static_cast<int>(a));
    // Away from relu's kink at z = 0: x + b in [0.05, 1] or [-1, -0.05] by the sign of x.
    Tensor x = rand_tensor({3, 2, 2, 3}, 7, 0.1, 1.0);
    std::vector<double> v = x.to_vector();
    for (size_t i = 0; i < v.size(); ++i) v[i] = i % 2 ? v[i] : -v[i];
    x = Tensor::from_vector(x.shape(), v, DType::F64).requires_grad_();
    Tensor b = Tensor::from_vector({2}, {0.03, -0.04}, DType::F64).requires_grad_();
    gradcheck([a](const auto& in) { return bias_act(in[0], in[1], a, 0.2); }, {x, b});
    Tensor x2 = Tensor::from_vector({4, 3}, {0.5, -0.7, 0.9, -0.3, 0.2, -0.6, 0.8, -0.4, 0.35, -0.55, 0.65, -0.25},
                                    DType::F64)
                    .requires_grad_();
    Tensor b2 = Tensor::from_vector({3}, {0.01, 0.02, -0.03}, DType::F64).requires_grad_();
    gradcheck([a](const auto& in) { return bias_act(in[0], in[1], a, 0.2); }, {x2, b2});
  }
}

TEST(CudaParity, bias_act) {
  NN_SKIP_WITHOUT_CUDA();
  // The keras discriminator's conv bias + LeakyReLU, sngan's c5 bias + Tanh, and (N, C) inputs
  // (the column layout of the backward) with each activation.
  cuda_parity([](const auto& in) { return bias_act(in[0], in[1], BiasActivation::LeakyRelu, 0.3); },
              {rand_tensor({256, 64, 16, 16}, 41, -2, 2).requires_grad_(), rand_tensor({64}, 42).requires_grad_()});
  cuda_parity([](const auto& in) { return bias_act(in[0], in[1], BiasActivation::Tanh); },
              {rand_tensor({64, 3, 32, 32}, 43, -2, 2).requires_grad_(), rand_tensor({3}, 44).requires_grad_()});
  for (BiasActivation a : kAllActivations) {
    SCOPED_TRACE(static_cast<int>(a));
    cuda_parity([a](const auto& in) { return bias_act(in[0], in[1], a, 0.2); },
                {rand_tensor({256, 1000}, 45, -2, 2).requires_grad_(), rand_tensor({1000}, 46).requires_grad_()});
  }
}

}  // namespace
}  // namespace nn::test
