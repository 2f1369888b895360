// trainer.h — the GAN training loop behind gan_train.
//
// One Trainer owns a run: the device, the dataset on that device, both networks and their Adam
// optimizers, the random streams, and the output folder (samples, metrics.csv, checkpoints).
// A step follows its preset's schedule (trainer.cpp, step_dcgan / step_keras) and never waits
// for the host: losses and D outputs go into a device buffer that is read back every
// `log_every` steps, which is also when a NaN is noticed.
//
// Checkpoints (safetensors) hold both networks (with batchnorm running statistics and
// num_batches_tracked), both Adam states, and in __metadata__ the step, the random streams'
// counters and the full configuration; training N steps straight or N/2 + resume + N/2 gives
// bit-identical weights on the CPU (tests/test_trainer.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/cifar100.h"
#include "nn/optim.h"
#include "train/config.h"
#include "train/models.h"

namespace nn::train {

// Thrown when a loss becomes NaN or infinite; the message names the step and the last good
// checkpoint. gan_train exits with kExitDiverged.
struct Diverged : Error {
  using Error::Error;
};

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2, kExitDiverged = 3, kExitSigint = 130,
              kExitSigterm = 143;

// Installs SIGINT/SIGTERM handlers that ask the loop to stop after the current step.
void install_stop_handlers();
// 0 when no stop was asked, else the signal number.
int stop_signal();

class Trainer {
 public:
  // Picks the device, loads the data, builds the models and, when config.resume says so, loads
  // the checkpoint. Prints the start-up block to stdout.
  explicit Trainer(Config config, bool quiet = false);
  ~Trainer();

  // Trains until the last epoch, --max-steps, or a stop signal; returns the exit code.
  int run();

  // Pieces, public for tests.
  void train_step(const Tensor& real);  // one adversarial step on a (B,3,32,32) batch
  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  std::vector<std::pair<std::string, Tensor>> checkpoint_tensors() const;  // named views
  int64_t step() const { return step_; }
  const Config& config() const { return config_; }
  Gan& gan() { return *gan_; }
  Device device() const { return device_; }
  std::string latest_checkpoint_path() const;

 private:
  void print_start_block() const;
  void record_metrics(const Tensor& loss_d, const Tensor& loss_g, const Tensor& d_x, const Tensor& d_g_z1,
                      const Tensor& d_g_z2);
  void flush_metrics(double images_per_second, bool end_of_epoch);
  void write_samples(int64_t epoch) const;
  void write_checkpoints(bool epoch_end);
  Tensor d_loss(const Tensor& out_real, const Tensor& out_fake) const;
  Tensor g_loss(const Tensor& out_fake) const;
  Tensor d_score(const Tensor& out) const;  // mean D output as a probability where BCE applies
  void step_dcgan(const Tensor& real, const Tensor& noise);
  void step_keras(const Tensor& real, const Tensor& noise);

  Config config_;
  bool quiet_;
  Device device_;
  std::unique_ptr<Gan> gan_;
  std::unique_ptr<Adam> adam_g_, adam_d_;
  std::unique_ptr<data::BatchSampler> sampler_;
  Tensor real_batch_;
  Tensor fixed_noise_;
  Tensor ones_, zeros_;   // BCE targets shaped like D's output
  Generator noise_rng_;
  int64_t step_ = 0;
  int64_t last_good_step_ = -1;  // step of the last checkpoint written
  // Per-step numbers, on the device: rows of (loss_d, loss_g, d_x, d_g_z1, d_g_z2).
  Tensor metrics_buffer_;
  int64_t metrics_rows_ = 0;
  std::vector<std::vector<double>> history_;  // all read-back rows (step, epoch, 5 values)
  bool progress_on_tty_ = false;
};

}  // namespace nn::train
