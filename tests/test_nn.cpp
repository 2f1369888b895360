// Tests for the parameter arena, DCGAN initialisation and layers (src/nn.cpp).
#include <cmath>

#include "nn/nn.h"
#include "test_util.h"

namespace nn::test {
namespace {

TEST(ParameterArena, OneContiguousAlignedBuffer) {
  ParameterArena arena;
  Tensor a = arena.add_parameter("a", {3, 5}, ParamInit::Weight);
  Tensor b = arena.add_parameter("b", {7}, ParamInit::Bias);
  Tensor rm = arena.add_buffer("rm", {7}, 1.0);
  EXPECT_THROW(arena.add_parameter("a", {1}, ParamInit::Bias), Error);  // duplicate name
  EXPECT_THROW(a.raw(), Error);                                          // not built yet
  arena.build(Device::CPU);
  EXPECT_THROW(arena.add_parameter("c", {1}, ParamInit::Bias), Error);
  const float* base = arena.values().data<float>();
  EXPECT_EQ(a.data<float>(), base);
  EXPECT_EQ(b.data<float>(), base + 16) << "15 elements, then padding to a 16-element boundary";
  EXPECT_EQ(a.grad().data<float>(), arena.grads().data<float>());
  EXPECT_EQ(arena.parameter_count(), 22);
  for (double v : rm.to_vector()) EXPECT_EQ(v, 1.0);
  EXPECT_TRUE(a.requires_grad());
  EXPECT_FALSE(rm.requires_grad());
  // Gradients land in the gradient arena; zero_grad clears it in one fill.
  sum(a).backward();
  for (double v : a.grad().to_vector()) EXPECT_EQ(v, 1.0);
  arena.zero_grad();
  for (double v : arena.grads().to_vector()) EXPECT_EQ(v, 0.0);
}

TEST(ParameterArena, DcganInitStatistics) {
  ParameterArena arena;
  Conv2d conv(arena, "main.0", 64, 128, 4, 2, 1, /*bias=*/true);
  BatchNorm bn(arena, "main.1", 4096);
  arena.build(Device::CPU);
  Generator gen(999);
  init_dcgan(arena, gen);
  auto stats = [](const Tensor& t) {
    double s = 0, s2 = 0;
    std::vector<double> v = t.to_vector();
    for (double x : v) s += x, s2 += x * x;
    double mean = s / v.size();
    return std::make_pair(mean, std::sqrt(s2 / v.size() - mean * mean));
  };
  auto [wm, ws] = stats(conv.weight);
  EXPECT_NEAR(wm, 0.0, 5 * 0.02 / std::sqrt(131072.0));
  EXPECT_NEAR(ws, 0.02, 0.0005);
  auto [bm, bs] = stats(bn.weight);
  EXPECT_NEAR(bm, 1.0, 5 * 0.02 / std::sqrt(4096.0));
  EXPECT_NEAR(bs, 0.02, 0.002);
  for (double v : conv.bias.to_vector()) EXPECT_EQ(v, 0.0);
  for (double v : bn.bias.to_vector()) EXPECT_EQ(v, 0.0);
  for (double v : bn.running_var.to_vector()) EXPECT_EQ(v, 1.0);
  // The same seed gives the same parameters.
  ParameterArena arena2;
  Conv2d conv2(arena2, "main.0", 64, 128, 4, 2, 1, true);
  BatchNorm bn2(arena2, "main.1", 4096);
  arena2.build(Device::CPU);
  Generator gen2(999);
  init_dcgan(arena2, gen2);
  EXPECT_EQ(arena.values().to_vector(), arena2.values().to_vector());
}

TEST(Layers, DescribeLikePyTorch) {
  ParameterArena arena;
  Generator gen(1);
  Sequential net;
  net.add(std::make_shared<ConvTranspose2d>(arena, "main.0", 100, 512, 4, 1, 0, 0, false))
      .add(std::make_shared<BatchNorm>(arena, "main.1", 512))
      .add(std::make_shared<Activation>(Activation::Kind::LeakyReLU, 0.2))
      .add(std::make_shared<Dropout>(0.3, gen));
  EXPECT_EQ(net.describe(),
            "Sequential(\n"
            "  (0): ConvTranspose2d(100, 512, kernel_size=4, stride=1, padding=0, output_padding=0, bias=False)\n"
            "  (1): BatchNorm2d(512, eps=1e-05, momentum=0.1)\n"
            "  (2): LeakyReLU(negative_slope=0.2)\n"
            "  (3): Dropout(p=0.3)\n"
            ")");
  EXPECT_EQ(arena.parameters()[0].name, "main.0.weight");
  EXPECT_EQ(arena.parameters()[0].tensor.shape(), (Shape{100, 512, 4, 4}));
  EXPECT_EQ(arena.buffers()[0].name, "main.1.running_mean");
}

TEST(CudaParity, ArenaMovesBetweenDevices) {
  NN_SKIP_WITHOUT_CUDA();
  ParameterArena arena;
  Linear lin(arena, "fc", 10, 3);
  arena.build(Device::CPU);
  Generator gen(5);
  init_dcgan(arena, gen);
  std::vector<double> before = arena.values().to_vector();
  arena.build(Device::CUDA);
  EXPECT_TRUE(lin.weight.is_cuda());
  EXPECT_TRUE(lin.weight.grad().is_cuda());
  EXPECT_EQ(arena.values().to_vector(), before);
  // The same seed drawn directly on the GPU gives the same bits (shared Philox generator).
  ParameterArena arena2;
  Linear lin2(arena2, "fc", 10, 3);
  arena2.build(Device::CUDA);
  Generator gen2(5);
  init_dcgan(arena2, gen2);
  EXPECT_EQ(arena2.values().to_vector(), before);
}

}  // namespace
}  // namespace nn::test
