// --fuse-bn-act: with every batchnorm + ReLU/LeakyReLU fused into batch_norm_act, three training
// steps of each preset end with the very same weights, statistics and Adam moments (bit for bit
// on the CPU) as the unfused layers, and the fusion leaves the layers and tensor names in place.
#include "test_util.h"
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
  c.fuse_bn_act = fused;
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
  std::map<std::string, std::vector<double>> state;
  for (auto& [name, tensor] : t.checkpoint_tensors()) state[name] = tensor.to_vector();
  return state;
}

TEST(Fusion, FusedBatchnormActivationsTrainToTheSameBits) {
  for (const std::string preset : {"dcgan", "keras", "sngan"}) {
    SCOPED_TRACE(preset);
    const auto fused = three_steps(preset, true), plain = three_steps(preset, false);
    ASSERT_EQ(fused.size(), plain.size());
    for (const auto& [name, values] : plain) EXPECT_EQ(fused.at(name), values) << name;
  }
}

TEST(Fusion, TheFusedLayersAreTheOnesFollowedByAReluOrLeakyRelu) {
  TempDir dir("fusion_layers");
  Config c = train::preset_defaults("dcgan");
  c.width = 8;
  c.device = "cpu";
  c.out_dir = dir.path().string();
  c.fuse_bn_act = true;
  Trainer t(c, Tensor(), true);
  int fused = 0;
  for (auto* net : {&t.gan().generator.net, &t.gan().discriminator.net})
    for (const auto& layer : net->layers())
      if (auto act = std::dynamic_pointer_cast<Activation>(layer)) fused += act->fused_into_batchnorm();
  EXPECT_EQ(fused, 5) << "dcgan: G's three BN + ReLU and D's two BN + LeakyReLU";
}

}  // namespace
}  // namespace nn::test
