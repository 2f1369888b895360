// trainer.h — the GAN training loop behind gan_train.
//
// One Trainer owns a run: the device, the dataset on that device, both networks and their Adam
// optimizers, the random streams, and the output folder (samples, metrics.csv, checkpoints).
// A step follows its preset's schedule (trainer.cpp, step_dcgan / step_keras) and never waits
// for the host: losses and D outputs go into a device buffer that is read back every
// `log_every` steps, which is also when a NaN is noticed.
//
// --cuda-graph on (CUDA): run() takes kGraphWarmupSteps eager steps (cuDNN's algorithm search and
// every allocation happen there), then captures one whole step (the batch gathers, both networks,
// both Adam steps, the EMA, the metrics row) as a CUDA graph and replays it for every later step.
// That works because nothing a step launches has an argument that changes from step to step:
// the noise and dropout streams' counters, Adam's step count and learning rate, G's step count,
// the batch cursor and the metrics row all live in device tensors (nn/step_state.h). What the
// step changes on the host (the step count, batchnorm num_batches_tracked, the row and batch
// mirrors) is measured once at capture and added after each replay. Between steps, sample grids,
// evaluations, checkpoints and a new epoch's order touch none of what the graph reads or writes
// as launch arguments (the order is uploaded into the same buffer), so one capture serves the
// whole run; a resume builds a new Trainer, which captures again. A capture that fails says why
// and the run goes on eagerly.
//
// Checkpoints (safetensors, checksummed: io/safetensors.h) hold both networks (with batchnorm
// running statistics and num_batches_tracked), both Adam states, and in __metadata__ the step,
// the random streams' counters, the batches per epoch and the full configuration. The latest is
// rewritten at epoch ends, on a stop, and between steps every --checkpoint-minutes; a resume
// cross-checks the counters (check_counters) before it changes anything. Training N steps
// straight or N/2 + resume + N/2 gives bit-identical weights on the CPU, from any step
// (tests/test_trainer.cpp, tests/test_crash_safety.cpp).
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/cifar100.h"
#include "nn/cuda_graph.h"
#include "nn/optim.h"
#include "nn/step_state.h"
#include "train/config.h"
#include "train/models.h"

namespace nn::metrics {
class Evaluator;
}
namespace nn::io {
struct SafetensorsFile;
}

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
  // The same on images held in memory: uint8 (N,3,32,32) on the CPU, or an undefined Tensor for
  // a trainer without data, which builds the models and can save and load checkpoints and run
  // train_step on given batches, but not run() (gan_train --write-init, tests, gan_bench).
  Trainer(Config config, const Tensor& images_u8, bool quiet);
  ~Trainer();

  // Trains until the last epoch, --max-steps, or a stop signal; returns the exit code.
  int run();

  // Pieces, public for tests.
  // One step: d_steps D steps and one G step (for --d-steps 1 and dcgan/keras, the preset's own
  // step), on d_steps (B,3,32,32) real batches, one per D step.
  void train_step(const std::vector<Tensor>& reals);
  void train_step(const Tensor& real);  // the same with --d-steps 1
  // The same step with the noise given ((B,nz,1,1) for dcgan, (B,nz) otherwise) instead of drawn,
  // one per D step and (sngan) one for G: how the golden tests feed PyTorch's inputs. All on the
  // trainer's device and dtype.
  void train_step(const std::vector<Tensor>& reals, const std::vector<Tensor>& noises);
  void train_step(const Tensor& real, const Tensor& noise);
  int64_t noises_per_step() const;  // d_steps, plus one for sngan's G step
  // Steps per epoch: the epoch's batches, d_steps of them per step (the remainder dropped).
  int64_t steps_per_epoch() const;
  double learning_rate_now() const;  // the learning rate of the next step (--lr-decay)
  double lr_decay_total_steps() const;  // T of the linear decay: epochs x steps per epoch
  // The generator samples and evaluations use: the EMA generator when there is one (--ema).
  Network& sampling_generator() { return ema_ ? ema_->generator : gan_->generator; }
  bool has_ema() const { return ema_ != nullptr; }
  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  // Loads both networks' weights, batchnorm statistics and counters from a safetensors state
  // dict with "generator." and "discriminator." prefixes (a gan_train checkpoint, or PyTorch
  // state_dicts saved with safetensors), as load_state_dict(strict=True): every tensor must be
  // there with its shape; float32/float64 convert to the run's dtype. Optimizer state and the
  // step are left alone (--init-from).
  void load_weights(const std::string& path);
  // Sees each step's losses and D outputs ("loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2") as
  // 0-dim tensors of the run's dtype, before they are rounded into the float32 metrics buffer.
  using Observer = std::function<void(const std::string& name, const Tensor& value)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }
  DType dtype() const { return dtype_; }
  std::vector<std::pair<std::string, Tensor>> checkpoint_tensors() const;  // named views
  int64_t step() const { return step_; }
  const Config& config() const { return config_; }
  Gan& gan() { return *gan_; }
  Device device() const { return device_; }
  std::string latest_checkpoint_path() const;
  static constexpr int64_t kGraphWarmupSteps = 3;  // eager steps before the capture (--cuda-graph on)
  bool step_graph_ready() const { return graph_ && graph_->ready(); }
  int64_t step_graph_kernels() const { return graph_ ? graph_->kernel_nodes() : 0; }

 private:
  void init(const Tensor& images_u8);
  void run_step();  // one step inside run(): the batches at the sampler's cursor, then train_step (or its graph)
  // What a step changes on the host (the graph replays only the device's part).
  struct HostCounters {
    int64_t step = 0, metrics_rows = 0, next_batch = 0;
    std::vector<int64_t> batchnorm_counts;  // G's, D's and the EMA G's num_batches_tracked
    // Every field plus sign times the other's (the same layout): a change, or a change applied.
    HostCounters plus(const HostCounters& other, int64_t sign) const;
  };
  HostCounters host_counters() const;
  void set_host_counters(const HostCounters& c);
  void print_start_block() const;
  void record_metrics(const Tensor& loss_d, const Tensor& loss_g, const Tensor& d_x, const Tensor& d_g_z1,
                      const Tensor& d_g_z2);
  void flush_metrics(double images_per_second, bool end_of_epoch);
  void write_samples(int64_t epoch) const;
  void write_checkpoints(bool epoch_end);
  void check_counters(const io::SafetensorsFile& f) const;  // a checkpoint's counters agree (load_checkpoint)
  void evaluate();  // --eval-every: FID and IS now, eval.csv, the best-FID checkpoint
  bool eval_due(int64_t step, int64_t per_epoch) const;
  Tensor d_loss(const Tensor& out_real, const Tensor& out_fake) const;
  Tensor g_loss(const Tensor& out_fake) const;
  Tensor d_score(const Tensor& out) const;  // mean D output as a probability where BCE applies
  void step_dcgan(const Tensor& real, const Tensor& noise);
  void write_samples_to(const std::string& path) const;  // the fixed-noise grid, G in eval mode
  void write_step_samples() const;                        // samples_step_NNNNNNN.png, mid-epoch stops
  void step_keras(const Tensor& real, const Tensor& noise);
  struct DStepResult {
    Tensor loss, out_real, out_fake;
  };
  DStepResult d_step(const Tensor& real, const Tensor& noise);
  void step_sngan(const std::vector<Tensor>& reals, const std::vector<Tensor>& noises);
  void update_ema();
  void copy_generator_to_ema(bool with_parameters);
  std::vector<Tensor> draw_noises(int64_t count);

  Config config_;
  bool quiet_;
  std::string data_note_;  // for the start block: "; train.bin is a CIFAR-100 slice ..." or ""
  Device device_;
  DType dtype_ = DType::F32;
  std::unique_ptr<Gan> gan_;
  std::unique_ptr<Gan> ema_;  // --ema: its generator is the EMA copy (its discriminator unused)
  std::unique_ptr<Adam> adam_g_, adam_d_;
  std::unique_ptr<data::BatchSampler> sampler_;
  std::vector<Tensor> real_batches_;  // a step's d_steps batches
  Tensor fixed_noise_;
  Tensor ones_, zeros_;   // BCE targets shaped like D's output
  DeviceGenerator noise_rng_;  // the training noise; its counter on the device
  int64_t step_ = 0;           // G steps taken; step_device_ holds the same on the device
  Tensor step_device_;         // int64 (1): read by the lr schedule and the EMA inside the step
  int64_t last_good_step_ = -1;  // step of the last checkpoint written
  std::chrono::steady_clock::time_point last_save_;  // when checkpoint_latest was last written (--checkpoint-minutes)
  // Per-step numbers, on the device: rows of (loss_d, loss_g, d_x, d_g_z1, d_g_z2).
  Tensor metrics_buffer_;
  Tensor metrics_row_;      // int64 (1) on the device: the next row metrics_append_ writes
  Tensor metrics_staging_;  // float32 (5): the step's values before they are appended
  int64_t metrics_rows_ = 0;  // the host's mirror of metrics_row_
  std::vector<std::vector<double>> history_;  // all read-back rows (step, epoch, 5 values)
  bool progress_on_tty_ = false;
  // --cuda-graph on: the captured step, the eager steps still to take before capturing, and the
  // host counters' change per step, measured at capture.
  std::unique_ptr<CudaGraph> graph_;
  int64_t graph_warmup_left_ = kGraphWarmupSteps;
  HostCounters graph_delta_;
  Observer observer_;
  // --eval-every: built at the first evaluation; eval_off_ once the weights turned out missing.
  std::unique_ptr<metrics::Evaluator> evaluator_;
  bool eval_off_ = false;
  bool has_best_fid_ = false;  // saved in checkpoints, so a resume keeps the best
  double best_fid_ = 0;
  int64_t best_fid_step_ = -1;
};

}  // namespace nn::train
