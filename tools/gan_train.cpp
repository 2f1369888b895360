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
#include <iostream>

#include "tool_options.h"

int main(int argc, char** argv) {
  GanTrainArgs args;
  if (auto exit_code = parse_gan_train(argc, argv, args)) return *exit_code;
  const nn::train::Config& config = args.config;
  const std::string& write_init = args.write_init;

  try {
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
