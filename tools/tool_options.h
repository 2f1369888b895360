// tool_options.h — the command lines of gan_train, gan_sample and gan_eval: every option, its
// default and its checks, parsed into a struct. Each tool's main() calls its parse_* function;
// the command-line fuzz harness (fuzz/fuzz_cli.cpp) calls all three on random argument lists.
//
// A parse_* function returns the exit code when the tool must stop now (0 after --help, 2 after
// a bad command line, with one line "<tool>: error: ..." on `err`), or nullopt to go on.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>

#include "cli.h"
#include "metrics/evaluate.h"
#include "train/config.h"
#include "train/trainer.h"

// ------------------------------------------------------------------ gan_train

struct GanTrainArgs {
  nn::train::Config config;
  std::string write_init;  // --write-init FILE: write the step-0 checkpoint and exit
};

// Adds every option with the preset's value as its default, so --help shows the defaults.
inline void add_gan_train_options(CLI::App& app, nn::train::Config& c) {
  app.add_option("--preset", c.preset, "dcgan (PyTorch DCGAN, BCE), keras (TF tutorial, hinge) or sngan (ResNet SNGAN)")
      ->capture_default_str();
  app.add_option("--epochs", c.epochs, "epochs to train")->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "images per step")->capture_default_str();
  app.add_option("--noise-dim", c.noise_dim, "length of the noise vector z")->capture_default_str();
  app.add_option("--lr", c.lr, "Adam learning rate (both networks)")->capture_default_str();
  app.add_option("--beta1", c.beta1, "Adam beta1")->capture_default_str();
  app.add_option("--beta2", c.beta2, "Adam beta2")->capture_default_str();
  app.add_option("--loss", c.loss, "bce or hinge")->capture_default_str();
  app.add_option("--width", c.width, "channel width (dcgan: 4w,2w,w channels; keras: w,w/2,w/4)")
      ->capture_default_str();
  app.add_option("--leaky-slope", c.leaky_slope, "LeakyReLU negative slope")->capture_default_str();
  app.add_option("--dropout", c.dropout, "discriminator dropout probability")->capture_default_str();
  app.add_option("--d-steps", c.d_steps, "discriminator steps per generator step, each on a fresh real batch")
      ->capture_default_str();
  app.add_option("--lr-decay", c.lr_decay, "none, or linear: the learning rate falls linearly to 0 over the run")
      ->capture_default_str();
  app.add_flag("--spectral-norm", c.spectral_norm,
               "spectral normalisation of every discriminator convolution and linear layer (always on for sngan)");
  app.add_option("--upsample", c.upsample,
                 "sngan's x2 upsampling: bilinear (Mimicry's, the default) or nearest (the Chainer original's)")
      ->capture_default_str();
  app.add_option("--ema", c.ema, "keep an EMA generator with this decay, e.g. 0.9999 (0: none)")->capture_default_str();
  app.add_option("--ema-start", c.ema_start, "the EMA copies G until this step, then averages")->capture_default_str();
  app.add_flag("--fuse", c.fuse,
               "fused ops: batchnorm + activation, bias + activation, dcgan's Sigmoid inside its BCE loss "
               "(the same values, fewer passes and kernels)");
  app.add_flag("--fuse-bn-act", c.fuse, "the old name of --fuse");
  app.add_option("--cuda-graph", c.cuda_graph,
                 "on: capture the training step as one CUDA graph after 3 eager steps and replay it (CUDA only; "
                 "off by default until proven on a GPU)")
      ->capture_default_str();
  app.add_option("--seed", c.seed, "seed of every random stream (init, noise, data order, dropout)")
      ->capture_default_str();
  app.add_option("--data", c.data_dir, "folder holding CIFAR-100's train.bin")->capture_default_str();
  app.add_option("--out", c.out_dir, "output folder (samples, metrics.csv, checkpoints)")->capture_default_str();
  app.add_option("--device", c.device, "cuda or cpu (default: cuda when a GPU is present, else cpu)");
  app.add_option("--max-steps", c.max_steps, "stop at this global step, also after a resume (0: no limit)")
      ->capture_default_str();
  app.add_option("--train-images", c.train_images, "train on the first N images only (0: all); for quick runs")
      ->capture_default_str();
  app.add_option("--checkpoint-every", c.checkpoint_every, "keep a checkpoint every N epochs (the latest is always kept)")
      ->capture_default_str();
  app.add_option("--checkpoint-minutes", c.checkpoint_minutes,
                 "also rewrite the latest checkpoint between steps once this many minutes have passed since the "
                 "last save, so a kill loses at most that much (fractions allowed; 0: at epoch ends only)")
      ->capture_default_str();
  app.add_option("--log-every", c.log_every, "print a line / read metrics back every N steps")->capture_default_str();
  app.add_option("--resume", c.resume, "a checkpoint to continue from, or 'auto' for the latest in --out");
  app.add_option("--threads", c.threads, "CPU threads (default: $OMP_NUM_THREADS, else one per core)");
  app.add_flag("--deterministic", c.deterministic, "deterministic cuDNN algorithms (bit-reproducible GPU runs)");
  app.add_option("--dtype", c.dtype, "float32, or float64 (CPU only: the reference precision)")->capture_default_str();
  app.add_option("--init-from", c.init_from,
                 "start from these weights: a safetensors file of generator.* and discriminator.* tensors "
                 "(a checkpoint, or PyTorch state_dicts)");
  app.add_option("--eval-every", c.eval_every,
                 "compute FID and IS every K epochs and keep checkpoint_best_fid.safetensors (0: never)")
      ->capture_default_str();
  app.add_option("--eval-images", c.eval_images, "generated images per evaluation")->capture_default_str();
  app.add_option("--eval-reference", c.eval_reference, "CIFAR-100 split of the FID reference: train or test")
      ->capture_default_str();
  app.add_option("--eval-reference-limit", c.eval_reference_limit,
                 "only the first N images of the reference split (quick checks; the protocol says so; 0: all)")
      ->capture_default_str();
  app.add_option("--inception-weights", c.inception_weights, "the FID Inception weights (tools/fetch_inception.sh)")
      ->capture_default_str();
}

inline std::optional<int> parse_gan_train(int argc, char** argv, GanTrainArgs& args, std::ostream& out = std::cout,
                                          std::ostream& err = std::cerr) {
  // First pass: only --preset (its last value, as for every option), to load that preset's
  // defaults before the real parse.
  std::string preset = "dcgan";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--preset" && i + 1 < argc) preset = argv[i + 1];
    if (a.rfind("--preset=", 0) == 0) preset = a.substr(9);
  }
  try {
    args.config = nn::train::preset_defaults(preset);
  } catch (const nn::Error& e) {
    err << "gan_train: error: " << e.what() << "\n";
    return nn::train::kExitUsage;
  }
  CLI::App app{"gan_train: train a DCGAN on CIFAR-100 with the gan_train engine"};
  add_gan_train_options(app, args.config);
  app.add_option("--write-init", args.write_init,
                 "write the step-0 checkpoint (the initial weights of this preset and seed) to this file and exit; "
                 "needs no data");
  if (auto exit_code = parse_command_line(app, argc, argv, "gan_train", out, err)) return exit_code;
  try {
    nn::train::validate(args.config);
  } catch (const nn::Error& e) {
    err << "gan_train: error: " << e.what() << "\n";
    return nn::train::kExitUsage;
  }
  // --write-init writes this preset's and seed's initial weights; with --init-from it would write
  // the loaded ones instead, which is not what it says.
  if (!args.write_init.empty() && !args.config.init_from.empty()) {
    err << "gan_train: error: --write-init writes the preset's initial weights and cannot be combined with "
           "--init-from (copy the --init-from file instead)\n";
    return nn::train::kExitUsage;
  }
  return std::nullopt;
}

// ------------------------------------------------------------------ gan_sample

struct GanSampleArgs {
  std::string checkpoint, out = "samples.png", device = "cpu";
  int64_t count = 64, nrow = 8, steps = 10;
  uint64_t seed = 0;
  bool interpolate = false;
};

inline std::optional<int> parse_gan_sample(int argc, char** argv, GanSampleArgs& a, std::ostream& out = std::cout,
                                           std::ostream& err = std::cerr) {
  CLI::App app{"gan_sample: images from a gan_train checkpoint's generator"};
  app.add_option("--checkpoint", a.checkpoint, "a gan_train checkpoint (.safetensors)")->required();
  app.add_option("--out", a.out, "PNG file to write")->capture_default_str();
  app.add_option("--count", a.count, "number of samples in the grid")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--nrow", a.nrow, "images per row")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--seed", a.seed, "seed of the noise vectors")->capture_default_str();
  app.add_flag("--interpolate", a.interpolate, "a strip from one noise vector to another instead of a grid");
  app.add_option("--steps", a.steps, "images in the interpolation strip")->capture_default_str()->check(CLI::Range(2, 10000));
  app.add_option("--device", a.device, "cpu or cuda")->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  return parse_command_line(app, argc, argv, "gan_sample", out, err);
}

// ------------------------------------------------------------------ gan_eval

struct GanEvalArgs {
  std::string checkpoint, images_dir, reference = "train", device;
  int64_t count = 0, reference_limit = 0, batch_size = 0;
  uint64_t seed = 0;
  int splits = 10;
  bool json = false, quiet = false;
  nn::metrics::EvalOptions options;
};

inline std::optional<int> parse_gan_eval(int argc, char** argv, GanEvalArgs& a, std::ostream& out = std::cout,
                                         std::ostream& err = std::cerr) {
  CLI::App app{"gan_eval: FID and IS of a gan_train checkpoint or of a folder of PNGs, against CIFAR-100"};
  auto* ck = app.add_option("--checkpoint", a.checkpoint, "a gan_train checkpoint (.safetensors): evaluate its generator");
  auto* im = app.add_option("--images", a.images_dir, "a folder of 32x32 RGB .png files: evaluate them");
  ck->excludes(im);
  app.add_option("--count", a.count, "images to generate (default 50000), or to read from --images (default all)");
  app.add_option("--seed", a.seed, "seed of the generator's noise stream (as gan_sample --seed)")->capture_default_str();
  app.add_option("--reference", a.reference, "CIFAR-100 split for the FID statistics: train (50000) or test (10000)")
      ->capture_default_str();
  app.add_option("--reference-limit", a.reference_limit,
                 "use only the split's first N images (quick checks; the protocol says so; 0: all)")
      ->capture_default_str();
  app.add_option("--weights", a.options.weights_path, "FID Inception weights from tools/convert_inception.py")
      ->capture_default_str();
  app.add_option("--cache-dir", a.options.cache_dir, "folder for the reference statistics (default: the weights' folder)");
  app.add_option("--data", a.options.data_dir, "CIFAR-100 binary folder")->capture_default_str();
  app.add_option("--device", a.device, "cuda or cpu (default: cuda when a GPU is present)");
  app.add_option("--batch-size", a.batch_size, "images per Inception forward (default 200 on CUDA, 8 on the CPU)");
  app.add_option("--splits", a.splits, "IS splits")->capture_default_str();
  app.add_flag("--json", a.json, "print one JSON object instead of the lines");
  app.add_flag("--quiet", a.quiet, "no progress on stderr");
  if (auto exit_code = parse_command_line(app, argc, argv, "gan_eval", out, err)) return exit_code;
  auto usage = [&](const std::string& msg) {
    err << "gan_eval: error: " << msg << " (see gan_eval --help)\n";
    return 2;
  };
  if (a.checkpoint.empty() == a.images_dir.empty()) return usage("give either --checkpoint or --images");
  if (a.reference != "train" && a.reference != "test") return usage("--reference must be train or test");
  if (a.count < 0 || a.reference_limit < 0 || a.batch_size < 0)
    return usage("--count, --reference-limit and --batch-size must be >= 0");
  if (a.count > 10'000'000) return usage("--count must be at most 10000000");
  if (a.batch_size > 100'000) return usage("--batch-size must be at most 100000");
  if (a.splits < 1 || a.splits > 1000) return usage("--splits must be in [1, 1000]");
  if (!a.device.empty() && a.device != "cpu" && a.device != "cuda") return usage("--device must be cpu or cuda");
  return std::nullopt;
}
