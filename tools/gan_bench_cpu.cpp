// gan_bench_cpu — the CPU training step, timed, next to the machine's own matrix-product peak.
//
//   gan_bench_cpu                                       both presets at batch 64 and 256
//   gan_bench_cpu --presets dcgan --batch-sizes 64 --warmup 1 --steps 3 --threads 2 --json out.json
//
// For each preset and batch it builds the real Trainer (src/train) at the preset's defaults on the
// CPU and times one training step as gan_train runs it: the next batch gathered from a uint8
// image set and scaled (the sampler gan_train uses; random images, as the PyTorch baseline's),
// then Trainer::train_step: the median wall time of --steps steps after --warmup, images/s from it, the
// step's GFLOP (bench/gan_layers.h: convolutions and linear layers, forward and both backward
// products as the schedule needs) and GFLOP/s. The peak it reports them against is measured here
// too: the median of 5 float32 2048x2048x2048 products through the engine's own matmul (OpenBLAS
// when the build has it), so "% of GEMM peak" is the step's rate over the best the same library
// does on this machine. bench/cpu_vs_pytorch.py runs it interleaved with the PyTorch baseline.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "../bench/gan_layers.h"
#include "cli.h"
#include "data/cifar100.h"
#include "nn/autograd.h"
#include "nn/backend.h"
#include "nn/ops.h"
#include "nn/tensor.h"
#include "ops/cpu_gemm.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> presets{"dcgan", "keras"};
  std::vector<int64_t> batches{64, 256};
  int64_t warmup = 1, steps = 3;
  int threads = 0;
  bool fuse = false;  // --fuse: the trainer's fused ops (Config::fuse)
  std::string json;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// GFLOP/s of a float32 n x n x n product through the engine's matmul (median of 5, after one).
double gemm_peak_gflops(int64_t n) {
  nn::Generator gen(7);
  nn::Tensor a = nn::Tensor::empty({n, n}), b = nn::Tensor::empty({n, n});
  a.uniform_(gen, -1, 1);
  b.uniform_(gen, -1, 1);
  nn::NoGradGuard no_grad;
  nn::matmul(a, b);
  std::vector<double> s;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    nn::Tensor c = nn::matmul(a, b);
    s.push_back(seconds_since(t0));
  }
  return 2.0 * double(n) * double(n) * double(n) / median(s) / 1e9;
}

struct Row {
  std::string preset;
  int64_t batch = 0;
  double ms = 0, images_per_s = 0, gflop = 0, gflops = 0;
  std::vector<double> step_ms;
};

Row bench_one(const Options& o, const std::string& preset, int64_t batch, const std::string& out_dir) {
  nn::train::Config c = nn::train::preset_defaults(preset);
  c.batch_size = batch;
  c.device = "cpu";
  c.fuse = o.fuse;
  c.out_dir = out_dir;
  Row r;
  r.preset = preset;
  r.batch = batch;
  r.gflop = gan_layers::step_flops(preset, int(batch), int(c.width), int(c.noise_dim)) / 1e9;
  nn::train::Trainer trainer(c, nn::Tensor(), /*quiet=*/true);
  // Random uint8 images, gathered and scaled through the sampler gan_train uses, every step: the
  // same input work as the PyTorch baseline's step (a random permutation, x / 127.5 - 1).
  const int64_t images = std::max<int64_t>(batch, 50000);  // as many as the baseline's set
  nn::Tensor u8 = nn::Tensor::empty({images, 3, 32, 32}, nn::DType::U8);
  uint8_t* bytes = u8.data<uint8_t>();
  uint32_t state = 12345;
  for (int64_t i = 0, n = u8.numel(); i < n; ++i) bytes[i] = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
  nn::data::BatchSampler sampler(u8, nn::Device::CPU, batch, 7);
  std::vector<nn::Tensor> reals;  // a step's d_steps batches (sngan: 5)
  for (int64_t k = 0; k < c.d_steps; ++k) reals.push_back(nn::Tensor::empty({batch, 3, 32, 32}));
  int64_t next = 0;
  auto step = [&] {
    for (nn::Tensor& real : reals) {
      if (next == sampler.batches_per_epoch()) {
        sampler.set_epoch(sampler.epoch() + 1);
        next = 0;
      }
      sampler.batch_into(next++, real);
    }
    trainer.train_step(reals);
  };
  for (int64_t i = 0; i < o.warmup; ++i) step();
  for (int64_t i = 0; i < o.steps; ++i) {
    const auto t0 = Clock::now();
    step();
    r.step_ms.push_back(seconds_since(t0) * 1e3);
  }
  r.ms = median(r.step_ms);
  r.images_per_s = double(batch) / (r.ms * 1e-3);
  r.gflops = r.gflop / (r.ms * 1e-3);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"gan_bench_cpu: the CPU training step, timed, next to the machine's GEMM peak"};
  app.add_option("--presets", o.presets, "comma-separated presets")
      ->delimiter(',')
      ->check(CLI::IsMember({"dcgan", "keras"}))
      ->capture_default_str();
  app.add_option("--batch-sizes", o.batches, "comma-separated batch sizes")
      ->delimiter(',')
      ->check(CLI::Range(2, 4096))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed steps first")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--steps", o.steps, "timed steps per row")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (default: OMP_NUM_THREADS, else one per core)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--json", o.json, "also write the numbers as JSON");
  app.add_flag("--fuse", o.fuse, "the trainer's fused ops (gan_train --fuse)");
  if (auto exit_code = parse_command_line(app, argc, argv, "gan_bench_cpu")) return *exit_code;
  try {
    if (o.threads > 0) nn::set_cpu_threads(o.threads);
    const int threads = nn::cpu_threads();
    std::cout << "gan_bench_cpu: " << nn::cpu_description() << "; " << o.warmup << " warm-up + " << o.steps
              << " timed steps per row\n";
    const std::string out_dir = (fs::temp_directory_path() / ("gan_bench_cpu_" + std::to_string(::getpid()))).string();
    std::vector<Row> rows;
    for (const auto& p : o.presets)
      for (int64_t b : o.batches) rows.push_back(bench_one(o, p, b, out_dir));
    std::error_code ec;
    fs::remove_all(out_dir, ec);
    // After the rows, so the steps are not timed right behind a burst of large products.
    const double peak = gemm_peak_gflops(2048);
    std::cout << "gan_bench_cpu: float32 GEMM peak " << std::fixed << std::setprecision(1) << peak
              << " GFLOP/s (2048^3 through the engine's matmul)\n";

    std::cout << "\n| preset | batch | ms/step | images/s | GFLOP/step | GFLOP/s | % of GEMM peak |\n"
              << "|---|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : rows)
      std::cout << "| " << r.preset << " | " << r.batch << " | " << std::setprecision(1) << r.ms << " | "
                << std::setprecision(1) << r.images_per_s << " | " << std::setprecision(2) << r.gflop << " | "
                << std::setprecision(1) << r.gflops << " | " << 100.0 * r.gflops / peak << " |\n";
    if (!o.json.empty()) {
      std::ofstream f(o.json);
      f << std::setprecision(6) << "{\"threads\": " << threads << ", \"blas\": " << (nn::cpu_gemm_uses_blas() ? "true" : "false")
        << ", \"gemm_peak_gflops\": " << peak << ", \"results\": [";
      for (size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        f << (i ? ",\n  " : "\n  ") << "{\"preset\": \"" << r.preset << "\", \"batch\": " << r.batch
          << ", \"ms_median\": " << r.ms << ", \"images_per_s\": " << r.images_per_s << ", \"step_gflop\": " << r.gflop
          << ", \"gflops\": " << r.gflops << ", \"step_ms\": [";
        for (size_t j = 0; j < r.step_ms.size(); ++j) f << (j ? ", " : "") << r.step_ms[j];
        f << "]}";
      }
      f << "\n]}\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "gan_bench_cpu: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
