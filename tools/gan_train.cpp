// gan_train — trains a DCGAN on CIFAR-100 (see README.md, "gan_train").
//
//   gan_train                         the dcgan preset, 100 epochs, into runs/dcgan
//   gan_train --preset keras          the keras preset (hinge loss, batch 256, 50 epochs)
//   gan_train --resume auto           continue from the latest checkpoint in --out
//   gan_train --device cpu --max-steps 20 --width 16     a smoke run
//   gan_train --write-init init.safetensors              the initial weights only (no data, no training)
//   gan_train --init-from weights.safetensors            start from given weights (e.g. from PyTorch)
//   gan_train --eval-every 5                             FID and IS every 5 epochs, keep the best-FID checkpoint
//
// Exit codes: 0 done, 1 error, 2 bad command line, 3 a loss became NaN/inf, 130 SIGINT, 143
// SIGTERM (after finishing the step and writing a checkpoint). Every error is one line on stderr.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli.h"
#include "io/safetensors.h"
#include "train/trainer.h"

using nn::train::Config;

namespace {

// Adds every option with the preset's value as its default, so --help shows the defaults.
void add_options(CLI::App& app, Config& c) {
  app.add_option("--preset", c.preset, "dcgan (PyTorch DCGAN, BCE) or keras (TF tutorial, hinge)")
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

}  // namespace

int main(int argc, char** argv) {
  // First pass: only --preset, to load that preset's defaults before the real parse.
  std::string preset = "dcgan";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--preset") preset = argv[i + 1];
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--preset=", 0) == 0) preset = a.substr(9);
  }
  Config config;
  try {
    config = nn::train::preset_defaults(preset);
  } catch (const nn::Error& e) {
    std::cerr << "gan_train: error: " << e.what() << "\n";
    return nn::train::kExitUsage;
  }

  CLI::App app{"gan_train: train a DCGAN on CIFAR-100 with the gan_train engine"};
  add_options(app, config);
  std::string write_init;
  app.add_option("--write-init", write_init,
                 "write the step-0 checkpoint (the initial weights of this preset and seed) to this file and exit; "
                 "needs no data");
  if (auto exit_code = parse_command_line(app, argc, argv, "gan_train")) return *exit_code;

  try {
    nn::train::validate(config);
  } catch (const nn::Error& e) {
    std::cerr << "gan_train: error: " << e.what() << "\n";
    return nn::train::kExitUsage;
  }

  try {
    // --write-init writes this preset's and seed's initial weights; with --init-from it would write
    // the loaded ones instead, which is not what it says.
    if (!write_init.empty() && !config.init_from.empty()) {
      std::cerr << "gan_train: error: --write-init writes the preset's initial weights and cannot be combined with "
                   "--init-from (copy the --init-from file instead)\n";
      return nn::train::kExitUsage;
    }
    if (!write_init.empty()) {
      nn::train::Trainer trainer(config, nn::Tensor(), /*quiet=*/true);
      trainer.save_checkpoint(write_init);
      std::cout << "initial checkpoint (step 0, preset " << config.preset << ", seed " << config.seed
                << ") written to " << write_init << "\n";
      return nn::train::kExitOk;
    }
    nn::train::install_stop_handlers();
    nn::train::Trainer trainer(config);
    return trainer.run();
  } catch (const nn::train::Diverged& e) {
    std::cerr << "gan_train: error: " << e.what() << "\n";
    return nn::train::kExitDiverged;
  } catch (const std::exception& e) {
    std::cerr << "gan_train: error: " << e.what() << "\n";
    return nn::train::kExitError;
  }
}
