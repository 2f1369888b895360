// Checkpoints move between gan_train and PyTorch, both ways (tools/make_golden.py has the PyTorch
// models, with PyTorch's state_dict names):
//
//   Interop.CheckpointLoadsIntoPyTorch       a gan_train checkpoint (after two training steps, so
//       batchnorm statistics are not the initial ones) loads into the PyTorch models with
//       load_state_dict(strict=True), and PyTorch's G(z) and D(G(z)) in eval mode equal ours.
//   Interop.PytorchStateDictLoadsIntoGanTrain  PyTorch's own weights, saved with safetensors as
//       generator.* / discriminator.* state dicts, load through gan_train --init-from and give
//       PyTorch's G(z) in eval mode.
//   InitFrom.*                               the loader's errors (no PyTorch needed).
//
// The first two need a Python with torch and safetensors: $NN_PYTHON, else python3. Without one
// they skip and say so. Tolerance: our float32 engine against PyTorch in float64 on the same
// float32 weights; |diff| <= 2e-5 on outputs of size ~1 (tanh images, D scores) is float32 rounding
// through 4 layers.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "io/safetensors.h"
#include "test_util.h"
#include "train/trainer.h"

namespace nn::test {
namespace {

using train::Config;
using train::Trainer;

const std::string kMakeGolden = std::string(NN_SOURCE_DIR) + "/tools/make_golden.py";

std::string python() {
  const char* p = std::getenv("NN_PYTHON");
  return p && *p ? p : "python3";
}

// Empty when PyTorch is usable, else why not.
std::string pytorch_missing() {
  const std::string cmd = python() + " -c 'import torch, safetensors, numpy' > /dev/null 2>&1";
  if (std::system(cmd.c_str()) == 0) return "";
  return python() + " cannot import torch, safetensors and numpy (pip install torch safetensors numpy, or set "
                    "NN_PYTHON to a Python that has them)";
}

#define NN_SKIP_WITHOUT_PYTORCH()                                  \
  do {                                                             \
    const std::string why = pytorch_missing();                     \
    if (!why.empty()) GTEST_SKIP() << why;                         \
  } while (0)

Config small(const std::string& preset, const std::string& out) {
  Config c = train::preset_defaults(preset);
  c.width = preset == "dcgan" ? 4 : 8;
  c.noise_dim = 12;
  c.batch_size = 4;
  c.device = "cpu";
  c.out_dir = out;
  return c;
}

// Random 8-bit images: a dataset that needs no files.
Tensor random_images(int64_t n, uint64_t seed) {
  Tensor u = rand_tensor({n, 3, 32, 32}, seed, 0.0, 256.0);
  Tensor out = Tensor::empty({n, 3, 32, 32}, DType::U8);
  const double* s = u.data<double>();
  for (int64_t i = 0; i < u.numel(); ++i) out.data<uint8_t>()[i] = static_cast<uint8_t>(s[i]);
  return out;
}

Tensor eval_forward(Sequential& net, const Tensor& x) {
  NoGradGuard no_grad;
  net.train(false);
  Tensor y = net.forward(x);
  net.train(true);
  return y;
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

void expect_close(const Tensor& ours, const Tensor& theirs, double atol, const std::string& what) {
  ASSERT_EQ(ours.shape(), theirs.shape()) << what;
  std::string where;
  EXPECT_TRUE(all_close(ours.to_vector(), theirs.to_vector(), atol, 0.0, &where)) << what << ": " << where;
}

// Every preset, and keras at --dropout 0 too (its names must not change: the naming contract);
// sngan with an EMA generator, whose generator_ema.* load into a third PyTorch model.
TEST(Interop, CheckpointLoadsIntoPyTorch) {
  NN_SKIP_WITHOUT_PYTORCH();
  for (const auto& [preset, dropout] : std::vector<std::pair<std::string, double>>{
           {"dcgan", 0.0}, {"keras", -1.0}, {"keras", 0.0}, {"sngan", -1.0}}) {
    SCOPED_TRACE(preset + (dropout >= 0 ? " dropout " + std::to_string(dropout) : ""));
    TempDir dir("interop_out");
    Config c = small(preset, dir.path().string());
    if (dropout >= 0) c.dropout = dropout;
    if (preset == "sngan") c.ema = 0.5;
    Trainer trainer(c, random_images(64, 1), true);
    for (int step = 0; step < 2; ++step) {
      std::vector<Tensor> reals;
      for (int64_t k = 0; k < c.d_steps; ++k) reals.push_back(rand_tensor({4, 3, 32, 32}, 10 + step * 10 + k).to(DType::F32));
      trainer.train_step(reals);
    }
    const std::string ckpt = dir / "checkpoint.safetensors", noise_file = dir / "noise.safetensors",
                      out = dir / "pytorch.safetensors";
    trainer.save_checkpoint(ckpt);
    Tensor noise = rand_tensor(trainer.gan().noise_shape(5), 3, -2.0, 2.0).to(DType::F32);
    io::save_safetensors(noise_file, {{"noise", noise}});
    const std::string cmd = python() + " " + kMakeGolden + " interop --checkpoint " + ckpt + " --noise " +
                            noise_file + " --out " + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

    io::SafetensorsFile torch_out = io::load_safetensors(out);
    Tensor images = eval_forward(trainer.gan().generator.net, noise);
    Tensor scores = eval_forward(trainer.gan().discriminator.net, images);
    expect_close(images, torch_out.get("images"), 2e-5, "G(z)");
    expect_close(scores, torch_out.get("scores"), 2e-5, "D(G(z))");
    ASSERT_EQ(torch_out.has("ema_images"), trainer.has_ema());
    if (trainer.has_ema()) {
      Tensor ema_images = eval_forward(trainer.sampling_generator().net, noise);
      expect_close(ema_images, torch_out.get("ema_images"), 2e-5, "G_ema(z)");
      EXPECT_GT(max_abs_difference(ema_images, images), 1e-6) << "the EMA generator is not G";
    }
  }
}

TEST(Interop, PytorchStateDictLoadsIntoGanTrain) {
  NN_SKIP_WITHOUT_PYTORCH();
  for (const std::string preset : {"dcgan", "keras", "sngan"}) {
    SCOPED_TRACE(preset);
    TempDir dir("interop_in");
    Config c = small(preset, dir.path().string());
    const std::string weights = dir / "torch_weights.safetensors", reference = dir / "reference.safetensors";
    const std::string cmd = python() + " " + kMakeGolden + " export --config '" + train::config_to_json(c) +
                            "' --seed 5 --out " + weights + " --reference " + reference;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

    EXPECT_FALSE(io::load_safetensors(weights).verified) << "PyTorch's writer adds no checksums";
    c.init_from = weights;  // exactly what gan_train --init-from does
    Trainer trainer(c, Tensor(), true);
    io::SafetensorsFile ref = io::load_safetensors(reference);
    Tensor noise = ref.get("noise").to(DType::F32);
    Tensor images = eval_forward(trainer.gan().generator.net, noise);
    expect_close(images, ref.get("images"), 2e-5, "G(z)");
    // The counters came along too (PyTorch's num_batches_tracked, set to 7 by the export).
    EXPECT_EQ(trainer.gan().generator.batchnorms.at(0)->num_batches_tracked, 7);
  }
}

// --init-from is strict like load_state_dict(strict=True), and says what is wrong in one line.
TEST(InitFrom, RejectsMissingUnexpectedAndMisshapenTensors) {
  TempDir dir("init_from");
  Config c = small("dcgan", dir.path().string());
  Trainer source(c, Tensor(), true);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, t] : source.checkpoint_tensors())
    if (name.rfind("optimizer_", 0) != 0) tensors.emplace_back(name, t);

  auto write_and_load = [&](const std::vector<std::pair<std::string, Tensor>>& ts) {
    const std::string path = dir / "weights.safetensors";
    io::save_safetensors(path, ts);
    Config d = c;
    d.init_from = path;
    Trainer t(d, Tensor(), true);
  };
  // All present: loads, and the weights are the source's.
  write_and_load(tensors);

  auto missing = tensors;
  missing.erase(missing.begin());
  expect_error_containing([&] { write_and_load(missing); }, {"--init-from", "missing tensor", tensors[0].first});

  auto unexpected = tensors;
  unexpected.emplace_back("generator.main.99.weight", Tensor::zeros({2}));
  expect_error_containing([&] { write_and_load(unexpected); }, {"unexpected tensor generator.main.99.weight"});

  auto misshapen = tensors;
  misshapen[0].second = Tensor::zeros({3});
  expect_error_containing([&] { write_and_load(misshapen); }, {misshapen[0].first, "expected"});

  expect_error_containing([&] { write_and_load({{"weight", Tensor::zeros({2})}}); },
                          {"no tensor named generator.* or discriminator.*"});
}

TEST(InitFrom, StartsTrainingFromTheGivenWeights) {
  TempDir dir("init_from_start");
  Config a = small("keras", dir.path().string());
  a.seed = 1;
  Trainer source(a, Tensor(), true);
  const std::string path = dir / "source.safetensors";
  source.save_checkpoint(path);  // a full checkpoint works too: optimizer state is ignored

  Config b = a;
  b.seed = 2;  // another seed would draw other weights
  b.init_from = path;
  Trainer t(b, Tensor(), true);
  EXPECT_EQ(t.step(), 0);
  auto theirs = source.checkpoint_tensors();
  auto ours = t.checkpoint_tensors();
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i)
    if (ours[i].first.rfind("optimizer_", 0) != 0)
      EXPECT_EQ(ours[i].second.to_vector(), theirs[i].second.to_vector()) << ours[i].first;
}

TEST(InitFrom, WriteInitCommandWritesTheInitialCheckpoint) {
  TempDir dir("write_init");
  const std::string path = dir / "init.safetensors";
  const std::string cmd = std::string(NN_BINARY_DIR) + "/gan_train --preset dcgan --width 4 --noise-dim 12 --batch-size 4 "
                          "--device cpu --write-init " + path + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  Config c = small("dcgan", dir.path().string());
  Trainer fresh(c, Tensor(), true);  // the same config draws the same initial weights
  Trainer loaded(c, Tensor(), true);
  loaded.load_checkpoint(path);
  EXPECT_EQ(loaded.step(), 0);
  auto a = fresh.checkpoint_tensors(), b = loaded.checkpoint_tensors();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].second.to_vector(), b[i].second.to_vector()) << a[i].first;
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// Weights of the other preset are named as such, from a checkpoint's configuration or, for a
// PyTorch state dict, from its layer names, instead of failing on the first shape that differs.
TEST(InitFrom, TheOtherPresetsWeightsAreNamedAsSuch) {
  TempDir dir("init_other");
  Config keras = small("keras", dir.path().string());
  Trainer k(keras, Tensor(), true);
  std::vector<std::pair<std::string, Tensor>> state;  // a state dict: no metadata
  for (auto& [name, t] : k.checkpoint_tensors())
    if (name.rfind("optimizer_", 0) != 0) state.emplace_back(name, t);
  const std::string state_path = dir / "keras_state.safetensors", ckpt_path = dir / "dcgan_ckpt.safetensors";
  io::save_safetensors(state_path, state);
  Config dcgan = small("dcgan", dir.path().string());
  dcgan.init_from = state_path;
  expect_error_containing([&] { Trainer t(dcgan, Tensor(), true); },
                          {state_path, "holds the keras preset's weights, not dcgan's", "--preset keras"});
  Config plain = small("dcgan", dir.path().string());
  Trainer d(plain, Tensor(), true);
  d.save_checkpoint(ckpt_path);
  keras.init_from = ckpt_path;
  expect_error_containing([&] { Trainer t(keras, Tensor(), true); }, {"holds the dcgan preset's weights, not keras's"});
}

}  // namespace
}  // namespace nn::test
