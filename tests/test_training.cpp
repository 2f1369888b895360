// Whole-model checks on the CPU: a small conv net learns, and the layers compose into the two
// DCGAN shapes. Trains in float32, as the real trainer does.
#include "nn/nn.h"
#include "nn/optim.h"
#include "test_util.h"

namespace nn::test {
namespace {

// Synthetic task: 8x8 single-channel images with a bright 3x3 blob in the left or the right half;
// the label says which. A conv net must learn it; the loss must fall.
void make_batch(Generator& gen, int n, Tensor& images, Tensor& labels) {
  images = Tensor::empty({n, 1, 8, 8});
  images.normal_(gen, 0.0, 0.3);
  labels = Tensor::empty({n, 1});
  Tensor coin = Tensor::empty({n, 3});
  coin.uniform_(gen);
  std::vector<double> c = coin.to_vector();
  float* img = images.data<float>();
  float* lab = labels.data<float>();
  for (int i = 0; i < n; ++i) {
    bool right = c[3 * i] < 0.5;
    int row = static_cast<int>(c[3 * i + 1] * 6), col = static_cast<int>(c[3 * i + 2] * 2) + (right ? 4 : 0);
    for (int dr = 0; dr < 3; ++dr)
      for (int dc = 0; dc < 3 && col + dc < 8; ++dc) img[i * 64 + (row + dr) * 8 + col + dc] += 1.5f;
    lab[i] = right ? 1.0f : 0.0f;
  }
}

TEST(Training, SmallConvNetLearnsOnCpu) {
  ParameterArena arena;
  Generator gen(2024);
  Sequential net;
  net.add(std::make_shared<Conv2d>(arena, "0", 1, 8, 3, 1, 1, true))
      .add(std::make_shared<BatchNorm>(arena, "1", 8))
      .add(std::make_shared<Activation>(Activation::Kind::LeakyReLU, 0.2))
      .add(std::make_shared<Conv2d>(arena, "3", 8, 8, 4, 2, 1, false))
      .add(std::make_shared<Activation>(Activation::Kind::ReLU))
      .add(std::make_shared<Dropout>(0.1, gen))
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Linear>(arena, "7", 8 * 4 * 4, 1));
  arena.build(Device::CPU);
  init_dcgan(arena, gen);
  Adam adam(arena, {2e-3, 0.9, 0.999, 1e-8});

  auto average_loss = [&](int first, int last, std::vector<double>& losses) {
    double s = 0;
    for (int i = first; i < last; ++i) s += losses[i];
    return s / (last - first);
  };
  std::vector<double> losses;
  for (int step = 0; step < 60; ++step) {
    Tensor x, y;
    make_batch(gen, 32, x, y);
    adam.zero_grad();
    Tensor loss = bce_with_logits(net.forward(x), y);
    loss.backward();
    adam.step();
    losses.push_back(loss.item());
    ASSERT_TRUE(std::isfinite(losses.back())) << "step " << step;
  }
  double early = average_loss(0, 5, losses), late = average_loss(55, 60, losses);
  EXPECT_LT(late, 0.5 * early) << "loss did not fall: first steps " << early << ", last steps " << late;

  // Evaluation mode (running statistics, no dropout) classifies fresh data.
  net.train(false);
  Tensor x, y;
  make_batch(gen, 200, x, y);
  std::vector<double> logits, labels = y.to_vector();
  {
    NoGradGuard no_grad;
    logits = net.forward(x).to_vector();
  }
  int correct = 0;
  for (size_t i = 0; i < logits.size(); ++i) correct += (logits[i] > 0) == (labels[i] > 0.5);
  EXPECT_GE(correct, 180) << "accuracy " << correct / 2.0 << "% on fresh data";
}

}  // namespace
}  // namespace nn::test
