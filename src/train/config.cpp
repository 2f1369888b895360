// config.cpp — preset defaults, validation, JSON round trip (see config.h).
#include "train/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "nn/check.h"

namespace nn::train {

Config preset_defaults(const std::string& preset) {
  Config c;
  if (preset == "dcgan") {
    // pytorch/examples dcgan: batch 64, Adam 2e-4 (0.5, 0.999), BCE, seed 999; 100 epochs.
    c.preset = "dcgan";
    c.epochs = 100;
    c.batch_size = 64;
    c.lr = 2e-4;
    c.beta1 = 0.5;
    c.loss = "bce";
    c.width = 128;
    c.leaky_slope = 0.2;
    c.dropout = 0.0;
    c.out_dir = "runs/dcgan";
  } else if (preset == "keras") {
    // TensorFlow DCGAN tutorial adapted to 32x32x3 with a hinge loss: batch 256, 50 epochs,
    // Adam 1e-4, LeakyReLU 0.3, dropout 0.3.
    c.preset = "keras";
    c.epochs = 50;
    c.batch_size = 256;
    c.lr = 1e-4;
    c.beta1 = 0.9;
    c.loss = "hinge";
    c.width = 256;
    c.leaky_slope = 0.3;
    c.dropout = 0.3;
    c.out_dir = "runs/keras";
  } else if (preset == "sngan") {
    // The ResNet SNGAN (Miyato et al. 2018) as Mimicry trains it on CIFAR: hinge loss, 5 D steps
    // per G step, Adam 2e-4 (0.0, 0.9), batch 64, z in R^128, linear lr decay to 0, 100k G steps
    // (50,000 images at batch 64 give 781 batches, 156 G steps of 5 D batches per epoch: 641
    // epochs are 99,996 G steps). G has width channels (256), D width / 2 (128).
    c.preset = "sngan";
    c.epochs = 641;
    c.batch_size = 64;
    c.noise_dim = 128;
    c.lr = 2e-4;
    c.beta1 = 0.0;
    c.beta2 = 0.9;
    c.loss = "hinge";
    c.width = 256;
    c.d_steps = 5;
    c.lr_decay = "linear";
    c.spectral_norm = true;
    c.out_dir = "runs/sngan";
  } else {
    throw_error(str_cat("unknown preset '", preset, "' (choose dcgan, keras or sngan)"));
  }
  return c;
}

void validate(const Config& c) {
  NN_CHECK(c.preset == "dcgan" || c.preset == "keras" || c.preset == "sngan",
           "--preset must be dcgan, keras or sngan, got '", c.preset, "'");
  NN_CHECK(c.loss == "bce" || c.loss == "hinge", "--loss must be bce or hinge, got '", c.loss, "'");
  // Every number has an upper bound too, checked before anything is allocated: sizes computed
  // from these (epochs x batches, the noise and metrics buffers, layer shapes) then stay far from
  // int64 overflow, and an absurd value is a clear error rather than a crash or a NaN run.
  NN_CHECK(c.epochs > 0 && c.epochs <= 1000000, "--epochs must be between 1 and 1000000, got ", c.epochs);
  NN_CHECK(c.threads >= 0 && c.threads <= 1024, "--threads must be between 1 and 1024 (0: the default), got ", c.threads);
  NN_CHECK(c.batch_size > 1 && c.batch_size <= 65536,
           "--batch-size must be between 2 (batchnorm needs 2 samples) and 65536, got ", c.batch_size);
  NN_CHECK(c.noise_dim > 0 && c.noise_dim <= 65536, "--noise-dim must be between 1 and 65536, got ", c.noise_dim);
  NN_CHECK(std::isfinite(c.lr) && c.lr > 0 && c.lr <= 1, "--lr must be in (0, 1], got ", c.lr);
  NN_CHECK(c.beta1 >= 0 && c.beta1 < 1, "--beta1 must be in [0, 1), got ", c.beta1);
  NN_CHECK(c.beta2 >= 0 && c.beta2 < 1, "--beta2 must be in [0, 1), got ", c.beta2);
  if (c.preset == "dcgan") {
    NN_CHECK(c.width >= 1 && c.width <= 4096, "--width must be between 1 and 4096 for dcgan, got ", c.width);
  } else if (c.preset == "keras") {
    NN_CHECK(c.width >= 4 && c.width <= 8192 && c.width % 4 == 0,
             "--width must be a multiple of 4 between 4 and 8192 for keras, got ", c.width);
  } else {
    NN_CHECK(c.width >= 2 && c.width <= 4096 && c.width % 2 == 0,
             "--width must be an even number between 2 and 4096 for sngan (G width, D width / 2), got ", c.width);
    NN_CHECK(c.spectral_norm, "the sngan preset's discriminator is spectrally normalised (--spectral-norm is on)");
    NN_CHECK(c.dropout == 0, "--dropout ", c.dropout, ": the sngan preset has no dropout layer");
  }
  NN_CHECK(c.upsample == "bilinear" || c.upsample == "nearest", "--upsample must be bilinear or nearest, got '",
           c.upsample, "'");
  NN_CHECK(c.d_steps >= 1 && c.d_steps <= 100, "--d-steps must be between 1 and 100, got ", c.d_steps);
  NN_CHECK(c.lr_decay == "none" || c.lr_decay == "linear", "--lr-decay must be none or linear, got '", c.lr_decay, "'");
  NN_CHECK(c.cuda_graph == "on" || c.cuda_graph == "off", "--cuda-graph must be on or off, got '", c.cuda_graph, "'");
  NN_CHECK(c.cuda_graph == "off" || c.device != "cpu",
           "--cuda-graph on replays the step as a CUDA graph: it needs --device cuda, not cpu");
  NN_CHECK(std::isfinite(c.ema) && c.ema >= 0 && c.ema < 1, "--ema must be in [0, 1) (0: no EMA generator), got ",
           c.ema);
  NN_CHECK(c.ema_start >= 0 && c.ema_start <= (int64_t{1} << 40), "--ema-start must be between 0 and 2^40, got ",
           c.ema_start);
  NN_CHECK(c.dropout >= 0 && c.dropout < 1, "--dropout must be in [0, 1), got ", c.dropout);
  // A dropout layer would shift every later tensor name (main.<i>) and break loading into the
  // PyTorch DCGAN: the dcgan preset has none, so the option is refused rather than inserting one.
  NN_CHECK(c.preset != "dcgan" || c.dropout == 0, "--dropout ", c.dropout,
           ": the dcgan preset has no dropout layer (the PyTorch DCGAN's discriminator has none); "
           "only --preset keras has one");
  NN_CHECK(std::isfinite(c.leaky_slope) && c.leaky_slope >= 0 && c.leaky_slope <= 1,
           "--leaky-slope must be in [0, 1], got ", c.leaky_slope);
  NN_CHECK(c.device.empty() || c.device == "cuda" || c.device == "cpu", "--device must be cuda or cpu, got '",
           c.device, "'");
  NN_CHECK(c.max_steps >= 0 && c.max_steps <= (int64_t{1} << 40), "--max-steps must be between 0 and 2^40, got ",
           c.max_steps);
  NN_CHECK(c.train_images >= 0 && c.train_images <= 50000, "--train-images must be between 0 and 50000, got ",
           c.train_images);
  NN_CHECK(c.checkpoint_every > 0 && c.checkpoint_every <= 1000000,
           "--checkpoint-every must be between 1 and 1000000, got ", c.checkpoint_every);
  NN_CHECK(std::isfinite(c.checkpoint_minutes) && c.checkpoint_minutes >= 0 && c.checkpoint_minutes <= 1e6,
           "--checkpoint-minutes must be between 0 (epoch ends only) and 1000000, got ", c.checkpoint_minutes);
  NN_CHECK(c.log_every > 0 && c.log_every <= 100000, "--log-every must be between 1 and 100000, got ", c.log_every);
  NN_CHECK(c.dtype == "float32" || c.dtype == "float64", "--dtype must be float32 or float64, got '", c.dtype, "'");
  NN_CHECK(c.dtype == "float32" || c.device == "cpu", "--dtype float64 runs on the CPU only: add --device cpu");
  NN_CHECK(c.eval_every >= 0, "--eval-every must be >= 0 (0: no evaluation), got ", c.eval_every);
  NN_CHECK(c.eval_every == 0 || c.dtype == "float32", "--eval-every needs --dtype float32 (the Inception network runs in float32)");
  NN_CHECK(c.eval_reference_limit >= 0, "--eval-reference-limit must be >= 0 (0: the whole split), got ",
           c.eval_reference_limit);
  NN_CHECK(c.eval_images >= 2, "--eval-images must be at least 2, got ", c.eval_images);
  NN_CHECK(c.eval_reference == "train" || c.eval_reference == "test", "--eval-reference must be train or test, got '",
           c.eval_reference, "'");
  NN_CHECK(c.init_from.empty() || c.resume.empty(), "--init-from and --resume exclude each other: a resume takes ",
           "its weights from the checkpoint");
}

std::string config_to_json(const Config& c) {
  nlohmann::json j = {{"preset", c.preset},
                      {"epochs", c.epochs},
                      {"batch_size", c.batch_size},
                      {"noise_dim", c.noise_dim},
                      {"lr", c.lr},
                      {"beta1", c.beta1},
                      {"beta2", c.beta2},
                      {"loss", c.loss},
                      {"width", c.width},
                      {"leaky_slope", c.leaky_slope},
                      {"dropout", c.dropout},
                      {"d_steps", c.d_steps},
                      {"lr_decay", c.lr_decay},
                      {"spectral_norm", c.spectral_norm},
                      {"upsample", c.upsample},
                      {"ema", c.ema},
                      {"ema_start", c.ema_start},
                      {"fuse", c.fuse},
                      {"cuda_graph", c.cuda_graph},
                      {"seed", c.seed},
                      {"data_dir", c.data_dir},
                      {"out_dir", c.out_dir},
                      {"device", c.device},
                      {"max_steps", c.max_steps},
                      {"train_images", c.train_images},
                      {"checkpoint_every", c.checkpoint_every},
                      {"checkpoint_minutes", c.checkpoint_minutes},
                      {"log_every", c.log_every},
                      {"deterministic", c.deterministic},
                      {"dtype", c.dtype},
                      {"init_from", c.init_from},
                      {"eval_every", c.eval_every},
                      {"eval_images", c.eval_images},
                      {"eval_reference", c.eval_reference},
                      {"eval_reference_limit", c.eval_reference_limit},
                      {"inception_weights", c.inception_weights}};
  return j.dump();
}

Config config_from_json(const std::string& text) {
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    Config c;
    c.preset = j.at("preset").get<std::string>();
    c.epochs = j.at("epochs").get<int64_t>();
    c.batch_size = j.at("batch_size").get<int64_t>();
    c.noise_dim = j.at("noise_dim").get<int64_t>();
    c.lr = j.at("lr").get<double>();
    c.beta1 = j.at("beta1").get<double>();
    c.beta2 = j.at("beta2").get<double>();
    c.loss = j.at("loss").get<std::string>();
    c.width = j.at("width").get<int64_t>();
    c.leaky_slope = j.at("leaky_slope").get<double>();
    c.dropout = j.at("dropout").get<double>();
    c.d_steps = j.value("d_steps", int64_t{1});
    c.lr_decay = j.value("lr_decay", std::string("none"));
    c.spectral_norm = j.value("spectral_norm", false);
    c.upsample = j.value("upsample", std::string("bilinear"));
    c.ema = j.value("ema", 0.0);
    c.ema_start = j.value("ema_start", int64_t{0});
    c.fuse = j.value("fuse", j.value("fuse_bn_act", false));  // fuse_bn_act: before #13's other fusions
    c.cuda_graph = j.value("cuda_graph", std::string("off"));
    c.seed = j.at("seed").get<uint64_t>();
    c.data_dir = j.at("data_dir").get<std::string>();
    c.out_dir = j.at("out_dir").get<std::string>();
    c.device = j.at("device").get<std::string>();
    c.max_steps = j.at("max_steps").get<int64_t>();
    c.train_images = j.value("train_images", int64_t{0});
    c.checkpoint_every = j.at("checkpoint_every").get<int64_t>();
    c.checkpoint_minutes = j.value("checkpoint_minutes", c.checkpoint_minutes);
    c.log_every = j.at("log_every").get<int64_t>();
    c.deterministic = j.at("deterministic").get<bool>();
    c.dtype = j.value("dtype", std::string("float32"));
    c.init_from = j.value("init_from", std::string());
    c.eval_every = j.value("eval_every", int64_t{0});
    c.eval_images = j.value("eval_images", int64_t{10000});
    c.eval_reference = j.value("eval_reference", std::string("train"));
    c.eval_reference_limit = j.value("eval_reference_limit", int64_t{0});
    c.inception_weights = j.value("inception_weights", c.inception_weights);
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw_error(str_cat("configuration JSON is invalid: ", e.what()));
  }
}

}  // namespace nn::train
