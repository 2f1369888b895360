// The sngan preset as a user runs it (the golden parity with PyTorch is in test_golden.cpp, the
// PyTorch loading in test_interop.cpp): it trains on the real CIFAR-100 files with its grids and
// checkpoints, its tensor names are the README's, a resume is bit-exact (EMA included), the EMA
// generator is what the samples come from, and the schedule's options check their values.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "io/safetensors.h"
#include "test_util.h"
#include "trainer_state.h"
#include "train/trainer.h"

namespace nn::test {
namespace {

namespace fs = std::filesystem;
using train::Config;
using train::Trainer;

Config small_sngan(const std::string& out) {
  Config c = train::preset_defaults("sngan");
  c.width = 16;  // G 16 channels, D 8
  c.batch_size = 8;
  c.device = "cpu";
  c.data_dir = cifar100_dir();
  c.out_dir = out;
  c.train_images = 400;  // 50 batches: 10 steps of 5 D batches per epoch
  c.log_every = 2;
  return c;
}

TEST(Sngan, PresetIsThePublishedRecipe) {
  const Config c = train::preset_defaults("sngan");
  EXPECT_EQ(c.batch_size, 64);
  EXPECT_EQ(c.noise_dim, 128);
  EXPECT_EQ(c.d_steps, 5);
  EXPECT_EQ(c.lr, 2e-4);
  EXPECT_EQ(c.beta1, 0.0);
  EXPECT_EQ(c.beta2, 0.9);
  EXPECT_EQ(c.loss, "hinge");
  EXPECT_EQ(c.lr_decay, "linear");
  EXPECT_TRUE(c.spectral_norm);
  EXPECT_EQ(c.ema, 0.0) << "EMA is an option, off in every preset";
  // 781 batches of 64 per epoch, 156 steps of 5: 641 epochs are 99,996 of the 100k G steps.
  EXPECT_EQ(c.epochs * (50000 / 64 / 5), 99996);
}

// The names of the README's table, written out: a function of the preset alone.
TEST(Sngan, TensorNamesAreTheReadmes) {
  TempDir dir("sngan_names");
  Config c = small_sngan(dir.path().string());
  c.ema = 0.9;
  Trainer t(c, Tensor(), true);
  std::set<std::string> ours;
  for (auto& [name, tensor] : t.checkpoint_tensors())
    if (name.rfind("optimizer_", 0) != 0) ours.insert(name);
  std::set<std::string> want;
  const std::vector<std::string> bn = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
  for (const std::string prefix : {"generator.", "generator_ema."}) {
    for (const char* p : {"l1.weight", "l1.bias", "c5.weight", "c5.bias"}) want.insert(prefix + p);
    for (const char* b : {"block2", "block3", "block4"}) {
      for (const char* conv : {"c1", "c2", "c_sc"})
        for (const char* p : {"weight", "bias"}) want.insert(prefix + b + "." + conv + "." + p);
      for (const char* norm : {"b1", "b2"})
        for (const std::string& p : bn) want.insert(prefix + b + "." + norm + "." + p);
    }
    for (const std::string& p : bn) want.insert(prefix + "b5." + p);
  }
  auto sn = [&](const std::string& layer) {
    for (const char* p : {"weight_orig", "weight_u", "weight_v", "bias"}) want.insert("discriminator." + layer + "." + p);
  };
  for (const char* conv : {"c1", "c2", "c_sc"}) sn(std::string("block1.") + conv);
  for (const char* conv : {"c1", "c2", "c_sc"}) sn(std::string("block2.") + conv);
  for (const char* conv : {"c1", "c2"}) sn(std::string("block3.") + conv), sn(std::string("block4.") + conv);
  sn("l5");
  EXPECT_EQ(ours, want);
}

// gan_train --preset sngan on the real files (small widths: the preset's own at batch 64 is
// about 10 s per step on 2 cores): losses finite and moving, grids and checkpoints written.
TEST(Sngan, TrainsOnRealDataAndWritesOutputs) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("sngan_train");
  Config c = small_sngan(dir.path().string());
  c.max_steps = 12;  // past an epoch end (10 steps)
  c.ema = 0.9;
  Trainer t(c, true);
  ASSERT_EQ(t.run(), train::kExitOk);
  EXPECT_EQ(t.step(), 12);
  for (const char* f : {"samples_epoch_000.png", "samples_step_0000012.png", "checkpoint_latest.safetensors",
                        "metrics.csv", "loss_curves.png"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::vector<double> loss_d;
  for (const auto& row : read_metrics(dir / "metrics.csv")) {
    ASSERT_EQ(row.size(), 7u);
    for (double v : row) EXPECT_TRUE(std::isfinite(v));
    loss_d.push_back(row[2]);
  }
  ASSERT_EQ(loss_d.size(), 12u);
  EXPECT_NE(loss_d.front(), loss_d.back());
  // Adam counts: one G step and 5 D steps per step; the lr fell linearly.
  const io::SafetensorsFile f = io::load_safetensors(dir / "checkpoint_latest.safetensors");
  EXPECT_EQ(f.metadata.at("adam_g_step"), "12");
  EXPECT_EQ(f.metadata.at("adam_d_step"), "60");
  EXPECT_NEAR(t.learning_rate_now(), 2e-4 * (1 - 12.0 / (641 * 10)), 1e-18);
}

TEST(Sngan, ResumeInsideAnEpochIsBitExactWithTheEma) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir straight_dir("sngan_straight"), split_dir("sngan_split");
  Config c = small_sngan(straight_dir.path().string());
  c.ema = 0.8;
  c.ema_start = 2;
  c.max_steps = 6;
  Trainer a(c, true);
  ASSERT_EQ(a.run(), train::kExitOk);
  Config first = c;
  first.out_dir = split_dir.path().string();
  first.max_steps = 3;
  Trainer(first, true).run();
  Config second = first;
  second.max_steps = 6;
  second.resume = "auto";
  Trainer b(second, true);
  EXPECT_EQ(b.step(), 3);
  ASSERT_EQ(b.run(), train::kExitOk);
  auto sa = state_of(a), sb = state_of(b);
  EXPECT_TRUE(sa.count("generator_ema.l1.weight"));
  for (auto& [name, values] : sa) EXPECT_EQ(values, sb[name]) << name << " differs after resume";
  EXPECT_NE(sa["generator_ema.l1.weight"], sa["generator.l1.weight"]) << "the EMA moved away from a copy";
}

TEST(Sngan, SamplesComeFromTheEmaGenerator) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("sngan_sample");
  Config c = small_sngan(dir.path().string());
  c.ema = 0.9;
  c.max_steps = 2;
  Trainer(c, true).run();
  const RunResult r = run_command(std::string(NN_BINARY_DIR) + "/gan_sample --checkpoint " +
                                  (dir / "checkpoint_latest.safetensors") + " --count 4 --nrow 2 --out " +
                                  (dir / "grid.png") + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("using the EMA generator"), std::string::npos) << r.output;
  EXPECT_GT(fs::file_size(dir / "grid.png"), 100u);
}

TEST(Sngan, ScheduleOptionsCheckTheirValues) {
  Config c = train::preset_defaults("sngan");
  c.d_steps = 0;
  expect_error_containing([&] { train::validate(c); }, {"--d-steps must be between 1 and 100"});
  c = train::preset_defaults("dcgan");
  c.lr_decay = "cosine";
  expect_error_containing([&] { train::validate(c); }, {"--lr-decay must be none or linear"});
  c.lr_decay = "none";
  c.ema = 1.0;
  expect_error_containing([&] { train::validate(c); }, {"--ema must be in [0, 1)"});
  c = train::preset_defaults("sngan");
  c.spectral_norm = false;
  expect_error_containing([&] { train::validate(c); }, {"spectrally normalised"});
  c = train::preset_defaults("sngan");
  c.width = 7;
  expect_error_containing([&] { train::validate(c); }, {"even number"});
  c = train::preset_defaults("sngan");
  c.upsample = "bicubic";
  expect_error_containing([&] { train::validate(c); }, {"--upsample must be bilinear or nearest"});
  EXPECT_EQ(train::preset_defaults("sngan").upsample, "bilinear") << "Mimicry's code upsamples bilinearly";
}

// --init-from with --ema: the EMA generator starts from the loaded weights (it used to keep the
// initialiser's, and averaged towards G from there).
TEST(Sngan, TheEmaStartsFromInitFromWeights) {
  TempDir dir("ema_init");
  Config c = small_sngan(dir.path().string());
  c.seed = 5;
  const std::string weights = dir / "w.safetensors";
  Trainer(c, Tensor(), true).save_checkpoint(weights);  // seed 5's initial weights
  Config d = small_sngan(dir.path().string());           // seed 999: other initial weights
  d.ema = 0.99;
  d.init_from = weights;
  Trainer t(d, Tensor(), true);
  EXPECT_EQ(t.sampling_generator().arena.values().to_vector(), t.gan().generator.arena.values().to_vector());
  const std::vector<double> loaded = io::load_safetensors(weights).get("generator.l1.weight").to_vector();
  int checked = 0;
  for (const Parameter& p : t.sampling_generator().arena.parameters())
    if (p.name == "l1.weight") {
      EXPECT_EQ(p.tensor.to_vector(), loaded);
      ++checked;
    }
  EXPECT_EQ(checked, 1);
}

// --upsample nearest (the Chainer original's) gives another generator than bilinear (Mimicry's).
TEST(Sngan, NearestAndBilinearUpsamplingDiffer) {
  TempDir dir("upsample");
  Config c = small_sngan(dir.path().string());
  Trainer bilinear(c, Tensor(), true);
  c.upsample = "nearest";
  Trainer nearest(c, Tensor(), true);
  Tensor z = Tensor::ones({2, c.noise_dim});
  NoGradGuard no_grad;
  bilinear.gan().generator.train(false);
  nearest.gan().generator.train(false);
  EXPECT_NE(bilinear.gan().generator.net.forward(z).to_vector(), nearest.gan().generator.net.forward(z).to_vector());
}

// --d-steps and --spectral-norm on another preset: the D-only steps take their batches in order,
// the counters follow (a crafted Adam count is refused), and D's names become weight_orig/_u/_v.
TEST(Sngan, DStepsAndSpectralNormWorkForTheOtherPresets) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("dsteps");
  Config c = train::preset_defaults("dcgan");
  c.width = 8;
  c.batch_size = 16;
  c.device = "cpu";
  c.data_dir = cifar100_dir();
  c.out_dir = dir.path().string();
  c.train_images = 160;  // 10 batches: 5 steps of 2 per epoch
  c.d_steps = 2;
  c.spectral_norm = true;
  c.max_steps = 3;
  Trainer t(c, true);
  ASSERT_EQ(t.run(), train::kExitOk);
  const io::SafetensorsFile f = io::load_safetensors(dir / "checkpoint_latest.safetensors");
  EXPECT_EQ(f.metadata.at("adam_d_step"), "6");
  EXPECT_TRUE(f.has("discriminator.main.0.weight_orig") && f.has("discriminator.main.0.weight_u"));
  EXPECT_FALSE(f.has("discriminator.main.0.weight"));
  // D's second batchnorm counted 2 D-only forwards + 3 of the dcgan step, per step.
  EXPECT_EQ(f.get("discriminator.main.3.num_batches_tracked").data<int64_t>()[0], 3 * 5);
  auto meta = f.metadata;
  meta["adam_d_step"] = "5";
  std::vector<std::pair<std::string, Tensor>> tensors(f.tensors.begin(), f.tensors.end());
  const std::string crafted = dir / "crafted.safetensors";
  io::save_safetensors(crafted, tensors, meta);
  Config r = c;
  r.resume = crafted;
  expect_error_containing([&] { Trainer x(r, true); }, {"inconsistent", "Adam steps 3 (G) and 5 (D)"});
}

}  // namespace
}  // namespace nn::test
