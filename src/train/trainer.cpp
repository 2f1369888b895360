// trainer.cpp — the training loop (see trainer.h).
//
// The two schedules, with L_D and L_G the preset's losses (BCE on probabilities for dcgan, BCE on
// logits or the hinge losses otherwise):
//
//   dcgan (pytorch/examples):  D.zero_grad; L_D(D(x), D(G(z).detach())).backward; D.step
//                              G.zero_grad; L_G(D(G(z))).backward (D frozen); G.step
//   keras (TF tutorial):       one G forward, one D forward on real and on fake, both losses from
//                              those outputs, both gradients taken with the same (old) weights,
//                              then both networks step.
// BatchNorm in D sees the real and the fake batch separately in both, as in the originals.
#include "train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "io/atomic_file.h"
#include "io/plot.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "metrics/evaluate.h"
#include "nn/backend.h"

namespace nn::train {

namespace fs = std::filesystem;

// ------------------------------------------------------------------ stop signals

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

// Independent streams of the run's seed (counter-based generator: distinct keys never overlap).
constexpr uint64_t kNoiseStream = 0x4E4F495345000000ull;        // "NOISE"
constexpr uint64_t kFixedNoiseStream = 0x4649584544000000ull;   // "FIXED"
constexpr uint64_t kEvalNoiseStream = 0x4556414C00000000ull;    // "EVAL": the same images at every evaluation
constexpr int kMetricColumns = 5;  // loss_d, loss_g, d_x, d_g_z1, d_g_z2
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
int stop_signal() { return g_stop_signal; }

// ------------------------------------------------------------------ set-up

static Device pick_device(const Config& c, bool quiet) {
  if (c.device == "cpu") return Device::CPU;
  if (c.device == "cuda") {
    NN_CHECK(cuda_available(), "--device cuda: no usable GPU (", cuda_device_description(), ")");
    return Device::CUDA;
  }
  if (cuda_available()) return Device::CUDA;
  if (!quiet) std::cout << "warning: no usable GPU (" << cuda_device_description() << "); training on the CPU\n";
  return Device::CPU;
}

static void check_output_folder(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  NN_CHECK(!ec, "cannot create output folder ", dir, ": ", ec.message());
  const std::string probe = dir + "/.write_test";
  {
    std::ofstream f(probe);
    NN_CHECK(f.good(), "output folder ", dir, " is not writable");
  }
  fs::remove(probe, ec);
}

// The training images of c.data_dir (or its first --train-images). `data_note` says, for the start
// block, when the file is a slice (tools/gpu_bundle.sh) rather than the official 50,000 images.
static Tensor load_training_images(const Config& c, std::string& data_note) {
  data::Cifar100 train = data::load_cifar100(c.data_dir, data::Split::Train);
  const int64_t official = data::cifar100_official_records(data::Split::Train);
  if (train.size() < official) {
    data_note = str_cat("; train.bin is a CIFAR-100 slice of ", train.size(), " of the official ", official,
                        " training images, not the official set");
  }
  Tensor images = train.images;
  if (c.train_images > 0) {
    NN_CHECK(c.train_images <= train.size(), "--train-images ", c.train_images, " is more than the ", train.size(),
             " training images");
    images = images.view_at(0, {c.train_images, 3, 32, 32});
  }
  return images;
}

Trainer::Trainer(Config config, bool quiet) : config_(std::move(config)), quiet_(quiet) {
  validate(config_);
  init(load_training_images(config_, data_note_));
}

Trainer::Trainer(Config config, const Tensor& images_u8, bool quiet) : config_(std::move(config)), quiet_(quiet) {
  validate(config_);
  init(images_u8);
}

void Trainer::init(const Tensor& images) {
  device_ = pick_device(config_, quiet_);
  dtype_ = config_.dtype == "float64" ? DType::F64 : DType::F32;
  NN_CHECK(dtype_ == DType::F32 || device_ == Device::CPU, "--dtype float64 runs on the CPU only");
  backend_settings().deterministic = config_.deterministic;
  if (config_.threads > 0) set_cpu_threads(config_.threads);

  if (images.defined()) {  // a trainer without data writes nothing unless asked (no run(), no samples)
    check_output_folder(config_.out_dir);
    NN_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == 32 && images.size(3) == 32,
             "training images must be (N,3,32,32), got ", shape_str(images.shape()));
    NN_CHECK(images.size(0) >= config_.batch_size, "--batch-size ", config_.batch_size,
             " is larger than the dataset (", images.size(0), " images)");
    sampler_ = std::make_unique<data::BatchSampler>(images, device_, config_.batch_size, config_.seed);
  }

  gan_ = build_gan(config_, device_);
  AdamOptions opt{config_.lr, config_.beta1, config_.beta2, 1e-8};
  adam_g_ = std::make_unique<Adam>(gan_->generator.arena, opt);
  adam_d_ = std::make_unique<Adam>(gan_->discriminator.arena, opt);
  // The step's changing scalars live on the device (nn/step_state.h): the noise stream's counter,
  // G's step count (read by the lr schedule and the EMA) and the metrics row.
  noise_rng_ = DeviceGenerator(config_.seed ^ kNoiseStream, device_);
  step_device_ = make_counter(device_, 0);
  metrics_row_ = make_counter(device_, 0);
  metrics_staging_ = Tensor::zeros({kMetricColumns}, DType::F32, device_);

  // The sampler gathers float32 batches; a float64 run converts them (on the CPU).
  for (int64_t k = 0; k < config_.d_steps; ++k)
    real_batches_.push_back(Tensor::empty({config_.batch_size, 3, 32, 32}, DType::F32, device_));
  if (sampler_)
    NN_CHECK(sampler_->batches_per_epoch() >= config_.d_steps, "--d-steps ", config_.d_steps, " needs at least ",
             config_.d_steps, " batches per epoch; the data has ", sampler_->batches_per_epoch(),
             " (more --train-images or a smaller --batch-size)");
  if (config_.ema > 0) {
    // The EMA generator starts as a copy of G (its own discriminator is built but never used).
    ema_ = build_gan(config_, device_);
    copy_generator_to_ema(/*with_parameters=*/true);
    ema_->generator.train(false);
  }
  Generator fixed(config_.seed ^ kFixedNoiseStream);
  fixed_noise_ = Tensor::empty(gan_->noise_shape(64), dtype_, device_);
  fixed_noise_.normal_(fixed);
  Shape d_out = config_.preset == "dcgan" ? Shape{config_.batch_size, 1, 1, 1} : Shape{config_.batch_size, 1};
  ones_ = Tensor::ones(d_out, dtype_, device_);
  zeros_ = Tensor::zeros(d_out, dtype_, device_);
  metrics_buffer_ = Tensor::zeros({config_.log_every, kMetricColumns}, DType::F32, device_);
  if (config_.cuda_graph == "on") {
    NN_CHECK(device_ == Device::CUDA && CudaGraph::supported(),
             "--cuda-graph on replays the step as a CUDA graph: it needs a GPU (this run is on the CPU)");
    graph_ = std::make_unique<CudaGraph>();
  }
  progress_on_tty_ = isatty(fileno(stdout)) != 0;

  if (!config_.init_from.empty()) {
    load_weights(config_.init_from);
    if (ema_) copy_generator_to_ema(true);  // the EMA starts from the loaded weights, not the initialiser's
    if (!quiet_) std::cout << "initial weights from " << config_.init_from << "\n";
  }
  if (!config_.resume.empty()) {
    std::string path = config_.resume == "auto" ? latest_checkpoint_path() : config_.resume;
    if (config_.resume == "auto" && !fs::exists(path)) {
      if (!quiet_) std::cout << "resume auto: no checkpoint in " << config_.out_dir << ", starting fresh\n";
    } else {
      load_checkpoint(path);
      if (!quiet_) std::cout << "resumed from " << path << " at step " << step_ << "\n";
    }
  }
  if (!quiet_ && sampler_) print_start_block();
}

Trainer::~Trainer() = default;

int64_t Trainer::steps_per_epoch() const {
  NN_CHECK(sampler_, "Trainer::steps_per_epoch: this trainer was built without training images");
  return sampler_->batches_per_epoch() / config_.d_steps;
}

std::string Trainer::latest_checkpoint_path() const { return config_.out_dir + "/checkpoint_latest.safetensors"; }

void Trainer::print_start_block() const {
  const Config& c = config_;
  std::cout << "gan_train: preset " << c.preset << " (loss " << c.loss << ", width " << c.width << ", batch "
            << c.batch_size << ", noise " << c.noise_dim << ", " << c.epochs << " epochs, Adam lr " << c.lr
            << " betas (" << c.beta1 << ", " << c.beta2 << "), seed " << c.seed << ")\n"
            << "  generator:     " << gan_->generator.arena.parameter_count() << " parameters\n"
            << "  discriminator: " << gan_->discriminator.arena.parameter_count() << " parameters\n"
            << "  device:        "
            << (device_ == Device::CUDA ? cuda_device_description() : cpu_description()) << "\n";
  if (device_ == Device::CUDA) {
    std::cout << "  libraries:     " << cuda_library_description() << "\n"
              << "  CUDA graph:    "
              << (graph_ ? str_cat("on: the step is captured after ", kGraphWarmupSteps, " eager steps and replayed")
                         : std::string("off (--cuda-graph on replays the step as one graph)"))
              << (c.fuse ? "; fused ops on (--fuse)" : "") << "\n";
  }
  std::cout
            << "  data:          " << c.data_dir << " (" << sampler_->size() << " images, "
            << sampler_->batches_per_epoch() << " batches per epoch" << data_note_ << ")\n";
  if (c.d_steps > 1 || c.lr_decay != "none" || c.spectral_norm || c.ema > 0) {
    std::cout << "  schedule:      " << c.d_steps << " D step" << (c.d_steps == 1 ? "" : "s") << " per G step ("
              << steps_per_epoch() << " steps per epoch), lr decay " << c.lr_decay
              << (c.spectral_norm ? ", spectral norm in D" : "");
    if (c.ema > 0) std::cout << ", EMA generator (decay " << c.ema << " from step " << c.ema_start << ") for samples and evaluations";
    std::cout << "\n";
  }
  std::cout << "  output:        " << c.out_dir << "\n";
  if (c.eval_every > 0)
    std::cout << "  evaluation:    FID and IS every " << c.eval_every << " epoch(s), " << c.eval_images
              << " generated images vs CIFAR-100 " << c.eval_reference << ", weights " << c.inception_weights << "\n";
  std::cout.flush();
}

// ------------------------------------------------------------------ metrics and progress

void Trainer::record_metrics(const Tensor& loss_d, const Tensor& loss_g, const Tensor& d_x, const Tensor& d_g_z1,
                             const Tensor& d_g_z2) {
  // Device-side copies into the buffer row: nothing is read on the host here.
  const Tensor* values[kMetricColumns] = {&loss_d, &loss_g, &d_x, &d_g_z1, &d_g_z2};
  if (observer_) {
    const char* names[kMetricColumns] = {"loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2"};
    for (int k = 0; k < kMetricColumns; ++k) observer_(names[k], values[k]->detach());
  }
  // run() reads the buffer back before it fills; a trainer driven by hand (train_step without
  // run(): tests, gan_bench) keeps only its last log_every rows. The host's row count mirrors the
  // device's row counter, which metrics_append_ wraps the same way.
  if (metrics_rows_ == config_.log_every) metrics_rows_ = 0;
  // The values go into a staging row (fixed offsets), then one kernel appends it at the device's
  // row counter: no launch argument changes from step to step (a replayed graph writes new rows).
  // The buffer is float32: a float64 run (CPU only) rounds its values on the way in.
  for (int k = 0; k < kMetricColumns; ++k) {
    Tensor v = values[k]->detach();
    metrics_staging_.view_at(k, {}).copy_(v.dtype() == DType::F32 ? v : v.to(DType::F32));
  }
  metrics_append_(metrics_buffer_, metrics_row_, metrics_staging_);
  ++metrics_rows_;
}

// ------------------------------------------------------------------ one step of run(), eager or replayed

Trainer::HostCounters Trainer::HostCounters::plus(const HostCounters& other, int64_t sign) const {
  HostCounters c = *this;
  c.step += sign * other.step;
  c.metrics_rows += sign * other.metrics_rows;
  c.next_batch += sign * other.next_batch;
  for (size_t i = 0; i < c.batchnorm_counts.size(); ++i) c.batchnorm_counts[i] += sign * other.batchnorm_counts[i];
  return c;
}

Trainer::HostCounters Trainer::host_counters() const {
  HostCounters c;
  c.step = step_;
  c.metrics_rows = metrics_rows_;
  c.next_batch = sampler_ ? sampler_->next_index() : 0;
  for (const Gan* g : {gan_.get(), ema_.get()}) {
    if (!g) continue;
    for (const Network* n : {&g->generator, &g->discriminator})
      for (const auto& bn : n->batchnorms) c.batchnorm_counts.push_back(bn->num_batches_tracked);
  }
  return c;
}

void Trainer::set_host_counters(const HostCounters& c) {
  step_ = c.step;
  metrics_rows_ = c.metrics_rows;
  if (sampler_) sampler_->advance_mirror(c.next_batch - sampler_->next_index());
  size_t i = 0;
  for (Gan* g : {gan_.get(), ema_.get()}) {
    if (!g) continue;
    for (Network* n : {&g->generator, &g->discriminator})
      for (auto& bn : n->batchnorms) bn->num_batches_tracked = c.batchnorm_counts[i++];
  }
}

void Trainer::run_step() {
  auto step = [this] {
    for (Tensor& batch : real_batches_) sampler_->batch_into_next(batch);
    train_step(real_batches_);
  };
  if (!graph_ || observer_) {  // an observer (tests) is host code, which a replay would not run
    step();
    return;
  }
  if (!graph_->ready()) {
    if (graph_warmup_left_ > 0) {  // algorithm searches and first allocations happen eagerly
      --graph_warmup_left_;
      step();
      return;
    }
    // The capture runs the step's host code once without running anything on the GPU: the host
    // counters it moved are put back, and their change is what each replay adds.
    const HostCounters before = host_counters();
    const std::string why = graph_->capture(step);
    const HostCounters after = host_counters();
    set_host_counters(before);
    if (!why.empty()) {
      if (!quiet_) std::cout << "note: --cuda-graph on: the step could not be captured (" << why
                             << "); training on without a CUDA graph\n";
      graph_.reset();
      step();
      return;
    }
    graph_delta_ = after.plus(before, -1);
    if (!quiet_)
      std::cout << "CUDA graph: step " << step_ + 1 << " captured (" << graph_->kernel_nodes() << " kernels, "
                << graph_->other_nodes() << " other nodes); every later step is one graph launch\n";
  }
  graph_->replay();
  set_host_counters(host_counters().plus(graph_delta_, +1));
}

static std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  int64_t s = static_cast<int64_t>(seconds + 0.5);
  std::ostringstream os;
  os << std::setfill('0');
  if (s >= 3600) os << s / 3600 << ":" << std::setw(2) << (s % 3600) / 60 << ":" << std::setw(2) << s % 60;
  else os << std::setw(2) << s / 60 << ":" << std::setw(2) << s % 60;
  return os.str();
}

// Reads the buffered rows back (one device-to-host copy), appends them to metrics.csv, checks
// for NaN, and prints progress. Called every log_every steps and at epoch ends.
void Trainer::flush_metrics(double images_per_second, bool end_of_epoch) {
  if (metrics_rows_ == 0) return;
  std::vector<double> v = metrics_buffer_.to_vector();
  const int64_t per_epoch = steps_per_epoch();
  const int64_t first_step = step_ - metrics_rows_ + 1;  // 1-based step of the first row
  std::ofstream csv(config_.out_dir + "/metrics.csv", std::ios::app);
  for (int64_t r = 0; r < metrics_rows_; ++r) {
    const double* row = &v[r * kMetricColumns];
    const int64_t step = first_step + r;
    // Every column, not only the losses: BCE clamps its logs, so its loss stays finite (100, 200)
    // while D(x) is already NaN and the weights with it.
    static const char* const kColumn[] = {"loss_D", "loss_G", "D(x)", "D(G(z)) before D's step",
                                          "D(G(z)) after D's step"};
    for (int k = 0; k < kMetricColumns; ++k) {
      if (!std::isfinite(row[k])) {
        throw Diverged(str_cat(kColumn[k], " became ", row[k], " at step ", step,
                               "; stopping. Last good checkpoint: ",
                               last_good_step_ >= 0 ? str_cat(latest_checkpoint_path(), " (step ", last_good_step_, ")")
                                                    : std::string("none written yet")));
      }
    }
    csv << step << "," << (step - 1) / per_epoch << "," << row[0] << "," << row[1] << "," << row[2] << "," << row[3]
        << "," << row[4] << "\n";
    history_.push_back({static_cast<double>(step), row[0], row[1], row[2], row[3], row[4]});
  }
  metrics_rows_ = 0;
  set_counter(metrics_row_, 0);  // the device row counter with it (between steps)
  if (quiet_) return;

  const std::vector<double>& last = history_.back();
  const int64_t epoch = (step_ - 1) / per_epoch, in_epoch = (step_ - 1) % per_epoch + 1;
  const int64_t total_steps = config_.epochs * per_epoch;
  const int64_t end_step = config_.max_steps > 0 ? std::min(config_.max_steps, total_steps) : total_steps;
  const double eta = images_per_second > 0 ? (end_step - step_) * config_.batch_size / images_per_second : -1;
  std::ostringstream numbers;
  numbers << std::fixed << std::setprecision(4) << "loss_D " << last[1] << "  loss_G " << last[2]
          << std::setprecision(3) << "  D(x) " << last[3] << "  D(G(z)) " << last[4] << " / " << last[5] << "  "
          << std::setprecision(0) << images_per_second << " img/s  ETA " << format_duration(eta);
  if (progress_on_tty_) {
    // One line per epoch, redrawn in place.
    const int width = 30;
    int filled = static_cast<int>(width * in_epoch / per_epoch);
    std::cout << "\r[epoch " << epoch + 1 << "/" << config_.epochs << "] " << std::string(filled, '#')
              << std::string(width - filled, '.') << " " << in_epoch << "/" << per_epoch << "  " << numbers.str()
              << "\033[K";
    if (end_of_epoch) std::cout << "\n";
  } else {
    // Plain lines for logs (nohup): no carriage returns.
    std::cout << "epoch " << epoch + 1 << "/" << config_.epochs << "  step " << step_ << "/" << end_step << "  ["
              << in_epoch << "/" << per_epoch << "]  " << numbers.str() << "\n";
  }
  std::cout.flush();
}

// ------------------------------------------------------------------ outputs

void Trainer::write_samples(int64_t epoch) const {
  std::ostringstream name;
  name << config_.out_dir << "/samples_epoch_" << std::setw(3) << std::setfill('0') << epoch << ".png";
  write_samples_to(name.str());
}

// A run that stops inside an epoch (--max-steps, a signal) still shows where it got to.
void Trainer::write_step_samples() const {
  std::ostringstream name;
  name << config_.out_dir << "/samples_step_" << std::setw(7) << std::setfill('0') << step_ << ".png";
  write_samples_to(name.str());
}

void Trainer::write_samples_to(const std::string& path) const {
  NoGradGuard no_grad;
  Network& g = ema_ ? ema_->generator : gan_->generator;  // the EMA generator when there is one
  g.train(false);  // running statistics: sampling must not change the model
  Tensor images = g.net.forward(fixed_noise_);
  if (!ema_) g.train(true);  // (the EMA copy is never trained)
  io::write_image_grid_png(path, images, 8);
}

// Keeps a CSV log (metrics.csv, eval.csv) consistent with a resumed run: the header stays, and
// the rows of steps <= last_step that `accept` takes (given the row's cells: a torn last line
// from a killed run is refused there); later rows go, since the run is about to write them again.
static void truncate_csv_after(const std::string& path, int64_t last_step,
                               const std::function<bool(const std::vector<std::string>& cells)>& accept) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> keep;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("step,", 0) == 0) {
      keep.push_back(line);
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    try {
      if (cells.empty() || std::stoll(cells[0]) > last_step || !accept(cells)) continue;
    } catch (const std::exception&) {
      continue;  // a cell that is not a number: a torn line
    }
    keep.push_back(line);
  }
  in.close();
  // Rewritten atomically: a kill in the middle of this rewrite must not leave the log truncated
  // (CrashSafety.SigkillAtRandomMoments caught a resumed metrics.csv that had lost its first rows).
  std::string text;
  for (const std::string& l : keep) text += l + "\n";
  io::write_file_atomically(path, {{text.data(), text.size()}}, "log");
}

// ------------------------------------------------------------------ FID and IS (--eval-every)

// --eval-every K: an evaluation belongs to every K-th epoch end.
bool Trainer::eval_due(int64_t step, int64_t per_epoch) const {
  return config_.eval_every > 0 && step > 0 && step % per_epoch == 0 && (step / per_epoch) % config_.eval_every == 0;
}

void Trainer::evaluate() {
  if (eval_off_) return;
  if (!evaluator_) {
    // Training goes on without FID when the evaluator cannot be built: one line says why.
    std::string why;
    if (!metrics::inception_weights_available(config_.inception_weights, &why)) {
      std::cout << "FID off: " << why << "\n";
      eval_off_ = true;
      return;
    }
    metrics::EvalOptions o;
    o.weights_path = config_.inception_weights;
    o.data_dir = config_.data_dir;
    o.reference_split = config_.eval_reference == "test" ? data::Split::Test : data::Split::Train;
    o.reference_limit = config_.eval_reference_limit;
    o.device = device_;
    if (!quiet_) o.log = [](const std::string& note) { std::cout << "  " << note << "\n"; };
    try {
      evaluator_ = std::make_unique<metrics::Evaluator>(o);
    } catch (const Error& e) {
      std::cout << "FID off: " << e.what() << "\n";
      eval_off_ = true;
      return;
    }
  }
  metrics::EvalResult r;
  try {
    r = evaluator_->evaluate_generator(sampling_generator().net, gan_->noise_per_sample, device_, config_.eval_images,
                                       config_.seed ^ kEvalNoiseStream);
  } catch (const Error& e) {
    // An evaluation that fails (out of memory, say) costs its numbers, never the run.
    std::cout << "FID failed at step " << step_ << ": " << e.what() << "\n";
    return;
  }
  if (ema_) r.protocol += str_cat(", EMA generator (decay ", config_.ema, ")");
  const int64_t epoch = sampler_ ? step_ / steps_per_epoch() : 0;
  const std::string csv = config_.out_dir + "/eval.csv";
  const bool fresh = !fs::exists(csv);
  std::ofstream out(csv, std::ios::app);
  if (fresh) out << "step,epoch,fid,is_mean,is_std,seconds,protocol\n";
  out << std::setprecision(10) << step_ << "," << epoch << "," << r.fid << "," << r.is_mean << "," << r.is_std << ","
      << r.seconds << ",\"" << r.protocol << "\"\n";
  out.close();
  const bool best = !has_best_fid_ || r.fid < best_fid_;  // (an FID of two near-equal sets can be -1e-4)
  if (best) {
    has_best_fid_ = true;
    best_fid_ = r.fid;
    best_fid_step_ = step_;
    save_checkpoint(config_.out_dir + "/checkpoint_best_fid.safetensors");
  }
  if (!quiet_) {
    std::cout << "epoch " << epoch << ": " << r.fid_line() << (best ? "  [best so far: checkpoint_best_fid.safetensors]" : "")
              << "\n"
              << "epoch " << epoch << ": " << r.is_line() << "\n";
    std::cout.flush();
  }
}

// ------------------------------------------------------------------ the loop

int Trainer::run() {
  NN_CHECK(sampler_, "Trainer::run: this trainer was built without training images");
  const int64_t per_epoch = steps_per_epoch();
  const int64_t total_steps = config_.epochs * per_epoch;
  const int64_t end_step = config_.max_steps > 0 ? std::min(config_.max_steps, total_steps) : total_steps;
  const std::string csv = config_.out_dir + "/metrics.csv";
  if (step_ == 0) {
    std::ofstream(csv, std::ios::trunc) << "step,epoch,loss_d,loss_g,d_x,d_g_z1,d_g_z2\n";
    // A fresh run in a used folder: the last run's evaluations and best model are not this run's.
    std::error_code ec;
    fs::remove(config_.out_dir + "/eval.csv", ec);
    fs::remove(config_.out_dir + "/checkpoint_best_fid.safetensors", ec);
    io::write_image_grid_png(config_.out_dir + "/real_samples.png", sampler_->batch(0).view_at(
                                                                         0, {std::min<int64_t>(64, config_.batch_size), 3, 32, 32}), 8);
  } else {
    // metrics.csv rows (step, epoch, 5 values) also go back into the loss history for the plot.
    truncate_csv_after(csv, step_, [this](const std::vector<std::string>& cells) {
      if (cells.size() != 7) return false;
      std::vector<double> row;
      for (size_t k : {0, 2, 3, 4, 5, 6}) row.push_back(std::stod(cells[k]));
      history_.push_back(row);
      return true;
    });
    // eval.csv: step, epoch, fid, is_mean, is_std, seconds, "protocol" (which has commas of its own).
    bool evaluated_here = false;
    truncate_csv_after(config_.out_dir + "/eval.csv", step_, [&](const std::vector<std::string>& cells) {
      evaluated_here |= std::stoll(cells[0]) == step_;
      return cells.size() >= 7;
    });
    // A stop signal at an epoch end skips that epoch's evaluation (it never holds up a stop); a
    // resume there does it first, so eval.csv is the same as a straight run's.
    if (eval_due(step_, per_epoch) && !evaluated_here) {
      evaluate();
      save_checkpoint(latest_checkpoint_path());  // with the best FID this may have changed
    }
  }
  if (step_ >= end_step) {
    if (!quiet_) std::cout << "nothing to do: step " << step_ << " already reached the end (" << end_step << ")\n";
    return kExitOk;
  }

  using Clock = std::chrono::steady_clock;
  last_save_ = Clock::now();  // a resumed run's checkpoint is as new as the run
  constexpr int64_t kEtaSteps = 3;
  const int64_t first_step = step_;
  double eta_seconds = 0;
  auto window_start = Clock::now();
  int64_t window_steps = 0;
  double images_per_second = 0;
  while (step_ < end_step) {
    const int64_t epoch = step_ / per_epoch, index = step_ % per_epoch;
    if (sampler_->epoch() != epoch) sampler_->set_epoch(epoch);  // once per epoch (the sampler starts at 0)
    // The step's d_steps batches come from the sampler's device cursor; it is moved only at a new
    // epoch (set_epoch) or at the first step of a run resumed mid-epoch.
    if (sampler_->next_index() != index * config_.d_steps) sampler_->seek(index * config_.d_steps);
    const auto step_start = Clock::now();
    run_step();
    ++window_steps;
    // On the CPU an epoch can take an hour: after the first few steps say how long one will take,
    // from those steps' own time (the first one, which picks the convolution kernels, left out;
    // sample grids, checkpoints and evaluations between them not counted).
    if (step_ > first_step + 1) eta_seconds += std::chrono::duration<double>(Clock::now() - step_start).count();
    if (device_ == Device::CPU && !quiet_ && step_ == first_step + kEtaSteps + 1) {
      const double s_per_step = eta_seconds / kEtaSteps;
      std::cout << "time per epoch: about " << format_duration(s_per_step * static_cast<double>(per_epoch)) << " ("
                << std::fixed << std::setprecision(2) << s_per_step << " s/step x " << per_epoch
                << " steps, from the first steps on " << cpu_threads() << " CPU thread" << (cpu_threads() == 1 ? "" : "s") << ")\n"
                << std::defaultfloat << std::setprecision(6);
      std::cout.flush();
    }

    const bool epoch_end = step_ % per_epoch == 0;
    const bool stopping = step_ == end_step || stop_signal() != 0;
    // --checkpoint-minutes: between steps, once that long has passed since the last save. The
    // metrics are flushed first, so metrics.csv holds every step the checkpoint has.
    const bool timed_save = !epoch_end && !stopping && config_.checkpoint_minutes > 0 &&
                            std::chrono::duration<double>(Clock::now() - last_save_).count() >=
                                config_.checkpoint_minutes * 60;
    if (metrics_rows_ == config_.log_every || epoch_end || stopping || (timed_save && metrics_rows_ > 0)) {
      cuda_synchronize();  // the window's time is then the GPU's real work, not just queued launches
      const double seconds = std::chrono::duration<double>(Clock::now() - window_start).count();
      images_per_second = seconds > 0 ? window_steps * config_.batch_size / seconds : 0;
      flush_metrics(images_per_second, epoch_end || step_ == end_step);
      window_start = Clock::now();
      window_steps = 0;
    }
    if (timed_save) write_checkpoints(false);
    if (epoch_end) {
      write_samples(step_ / per_epoch - 1);
      // Before the checkpoints, so that the latest one carries this evaluation's best FID.
      if (eval_due(step_, per_epoch) && stop_signal() == 0) evaluate();
      write_checkpoints(true);
    }
    if (window_steps == 0) window_start = Clock::now();  // images/s counts training, not file writes
    if (stop_signal() != 0) {
      if (!epoch_end) {
        write_checkpoints(false);
        write_step_samples();
      }
      const int sig = stop_signal();
      if (!quiet_)
        std::cout << "\nstopped by " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << " at step " << step_
                  << "; checkpoint written to " << latest_checkpoint_path() << "\n";
      return sig == SIGINT ? kExitSigint : kExitSigterm;
    }
  }
  if (step_ % per_epoch != 0) {  // --max-steps stopped mid-epoch
    write_checkpoints(false);
    write_step_samples();
  }

  std::vector<double> ld, lg;
  for (const auto& row : history_) {
    ld.push_back(row[1]);
    lg.push_back(row[2]);
  }
  io::write_loss_plot_png(config_.out_dir + "/loss_curves.png", {{"loss_D", ld}, {"loss_G", lg}},
                          str_cat("gan_train ", config_.preset, ": losses per step"));
  if (!quiet_) std::cout << "done: " << step_ << " steps; outputs in " << config_.out_dir << "\n";
  return kExitOk;
}

}  // namespace nn::train
