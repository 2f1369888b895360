// config.h — everything a training run is configured by: the two presets' defaults and the
// overrides from the command line. The whole Config goes into every checkpoint's metadata as
// JSON, so a checkpoint says exactly how it was made and a resume can check it matches.
#pragma once
#include <cstdint>
#include <string>

namespace nn::train {

struct Config {
  // "dcgan" (PyTorch DCGAN), "keras" (the TF tutorial, hinge loss) or "sngan" (the ResNet SNGAN
  // of Miyato et al. 2018, as Mimicry reproduces it)
  std::string preset = "dcgan";
  int64_t epochs = 100;
  int64_t batch_size = 64;
  int64_t noise_dim = 100;
  double lr = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  std::string loss = "bce";  // "bce" or "hinge"
  int64_t width = 128;       // channel scale: dcgan 4w,2w,w; keras w, w/2, w/4
  double leaky_slope = 0.2;
  double dropout = 0.0;      // discriminator dropout (keras preset)
  // The schedule: D steps per G step (each on a fresh real batch and fresh noise; one "step" is
  // one G step), the learning rate's decay ("none", or "linear" to 0 over the run's steps), and
  // spectral normalisation of every D convolution and linear layer (always on for sngan).
  int64_t d_steps = 1;
  std::string lr_decay = "none";
  bool spectral_norm = false;
  // sngan's x2 upsampling in G: "bilinear" (align_corners=False, what Mimicry's code does and
  // its published numbers came from) or "nearest" (the original Chainer SNGAN's).
  std::string upsample = "bilinear";
  // An exponential moving average of G (0: none): after G step s (1-based) the EMA copy is G itself
  // while s <= ema_start, then moves towards it, ema <- ema + (1 - decay)(g - ema); batchnorm
  // statistics are copied. Samples and evaluations then use it.
  double ema = 0.0;
  int64_t ema_start = 0;
  // --fuse: every batchnorm followed by a ReLU / LeakyReLU runs as one batch_norm_act, every
  // layer bias followed by an activation as one bias_act, and the dcgan discriminator's Sigmoid
  // inside its BCE loss (bce_sigmoid): the same values (bit for bit on the CPU), fewer passes and
  // kernels. Off by default until the GPU check has measured it.
  bool fuse = false;
  // "on": on CUDA, gan_train captures the whole training step (batch gather included) as one CUDA
  // graph after kGraphWarmupSteps eager steps and replays it (trainer.h). Off by default until the
  // GPU check's bit-identity stage has passed on a GPU (README, "CUDA graphs").
  std::string cuda_graph = "off";
  uint64_t seed = 999;
  std::string data_dir = "data/cifar-100-binary";
  std::string out_dir = "runs/dcgan";
  std::string device;        // "cuda", "cpu", or "" for CUDA when a GPU is present
  int64_t max_steps = 0;     // stop at this global step (0: no limit)
  int64_t train_images = 0;  // train on the first N images only (0: all 50000); for quick runs
  int64_t checkpoint_every = 10;  // keep a checkpoint every N epochs (the latest is always kept)
  // Also rewrite checkpoint_latest between steps once this many minutes have passed since the last
  // save (0: at epoch ends only), so a kill -9 loses at most that much work.
  double checkpoint_minutes = 10;
  int64_t log_every = 50;    // plain log line / metrics read-back period in steps
  std::string resume;        // "", a checkpoint path, or "auto"
  bool deterministic = false;
  int threads = 0;           // CPU threads (0: OMP_NUM_THREADS, else one per core); not a result of the run
  std::string dtype = "float32";  // "float32", or "float64" on the CPU (the reference for parity tests)
  std::string init_from;     // start from these weights (a state dict or checkpoint), not the DCGAN init
  // FID/IS during training (src/metrics/evaluate.h): every eval_every epochs (0: never) on
  // eval_images generated images against CIFAR-100's eval_reference split ("train" or "test");
  // the best-FID checkpoint is kept. Without the Inception weights it says so once and trains on.
  int64_t eval_every = 0;
  int64_t eval_images = 10000;
  std::string eval_reference = "train";
  int64_t eval_reference_limit = 0;  // > 0: the split's first N images only (quick checks; printed in the protocol)
  std::string inception_weights = "data/inception/pt_inception-2015-12-05-6726825d.safetensors";
};

// The defaults of a preset ("dcgan" or "keras"); throws nn::Error for another name.
Config preset_defaults(const std::string& preset);

// JSON of every field (checkpoint metadata) and back; from_json throws nn::Error on bad input.
std::string config_to_json(const Config& c);
Config config_from_json(const std::string& json);

// Checks ranges (positive sizes, lr > 0, betas in [0,1), a known loss ...); throws nn::Error.
void validate(const Config& c);

}  // namespace nn::train
