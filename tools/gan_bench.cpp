// gan_bench — end-to-end training-step benchmark (bench/README.md).
//
//   gan_bench                                   both presets, batch 64 and 256, synthetic + real data
//   gan_bench --presets dcgan --batch-sizes 64 --modes synthetic --steps 200 --json out.json
//
// For each preset, batch size and data mode it builds the real Trainer (src/train) at the preset's
// defaults on the GPU and times Trainer::train_step — the exact step gan_train runs (both
// networks forward and backward, both Adam updates, the loss/metric bookkeeping on the device):
//   synthetic  one fixed random batch already on the GPU (no input cost at all);
//   real       each step first gathers the next CIFAR-100 batch on the GPU through the same
//              data::BatchSampler gan_train uses (a shuffled epoch order, one gather kernel).
// The difference between the two rows is the input pipeline's cost.
//
// Numbers (after --warmup steps, over --steps timed steps):
//   ms/step       median over steps of the GPU time between CUDA events recorded on the engine's
//                 stream before and after each step (host launch overhead included: if the host
//                 is slower than the GPU, the GPU waits between the events)
//   images/s      batch * steps / (time from the first step's start event to the last's end)
//   peak MiB      the high-water mark of the engine's memory pool (cudaMemPoolAttrUsedMemHigh on
//                 the device's default pool) plus that of the graph memory pool (where a
//                 replayed step's temporaries live), reset after warm-up; it includes the
//                 weights, Adam state, the metrics buffer and, in real mode, the 150 MB dataset
//   kernels       kernel nodes in a CUDA graph captured from one step after the warm-up (cuDNN
//                 and cuBLAS kernels included); memcpy/memset/allocation nodes are counted
//                 separately. When the step cannot be captured the column says "n/a (capture
//                 failed: reason)".
//   launches      what the host launches per step: the kernels, or 1 with --cuda-graph, where
//                 every timed step replays that captured graph (gan_train --cuda-graph on)
//   TFLOP/s       step FLOPs / median step time, with the step FLOPs counted analytically from
//                 the layer shapes (bench/gan_layers.h: conv 2 N K C R S P Q per direction,
//                 forward + backward-data + backward-filter as the schedule needs; elementwise
//                 work ignored)
//   floor ms      step FLOPs / peak FP32 TFLOP/s: the roofline floor of the step. The peak is
//                 SMs x FP32 lanes per SM x 2 x the peak clock (cudaDevAttrClockRate), or
//                 --peak-tflops. With --tf32 pass --peak-tflops (the TF32 tensor-core peak).
// Without a GPU (or in a CPU-only build) it prints "gan_bench: skipped: no GPU (...)" and exits
// 0; with --json the file then holds {"skipped": "..."}.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../bench/gan_layers.h"
#include "data/cifar100.h"
#include "nn/backend.h"
#include "nn/cuda_graph.h"
#include "nn/tensor.h"
#include "train/trainer.h"
#ifdef NN_WITH_CUDA
#include <cuda_runtime_api.h>

#include "cuda/context.h"
#endif

namespace fs = std::filesystem;

namespace {

struct Options {
  std::vector<std::string> presets{"dcgan", "keras"};
  std::vector<int64_t> batches{64, 256};
  std::vector<std::string> modes{"synthetic", "real"};
  int64_t warmup = 20, steps = 100;
  std::string data_dir = "data/cifar-100-binary";
  std::string json;
  double peak_tflops = 0;
  bool tf32 = false;
  bool fuse = false;  // --fuse (or its old name --fuse-bn-act): the trainer's fused ops (Config::fuse)
  bool cuda_graph = false;   // --cuda-graph: the step captured after the warm-up and replayed
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) out.push_back(item);
  return out;
}

[[noreturn]] void usage(const std::string& msg) {
  std::cerr << "gan_bench: " << msg << "\n"
            << "usage: gan_bench [--presets dcgan,keras,sngan] [--batch-sizes 64,256] [--modes synthetic,real]\n"
            << "                 [--warmup 20] [--steps 100] [--data DIR] [--json PATH] [--peak-tflops X] [--tf32] [--fuse]\n"
            << "                 [--cuda-graph]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--presets") o.presets = split(value());
      else if (a == "--batch-sizes") { o.batches.clear(); for (auto& b : split(value())) o.batches.push_back(std::stoll(b)); }
      else if (a == "--modes") o.modes = split(value());
      else if (a == "--warmup") o.warmup = std::stoll(value());
      else if (a == "--steps") o.steps = std::stoll(value());
      else if (a == "--data") o.data_dir = value();
      else if (a == "--json") o.json = value();
      else if (a == "--peak-tflops") o.peak_tflops = std::stod(value());
      else if (a == "--tf32") o.tf32 = true;
      else if (a == "--fuse" || a == "--fuse-bn-act") o.fuse = true;
      else if (a == "--cuda-graph") o.cuda_graph = true;
      else if (a == "-h" || a == "--help") usage("end-to-end training-step benchmark");
      else usage("unknown argument '" + a + "'");
    } catch (const std::invalid_argument&) {
      usage("bad number for " + a);
    }
  }
  for (auto& p : o.presets)
    if (p != "dcgan" && p != "keras" && p != "sngan") usage("unknown preset '" + p + "'");
  for (auto& m : o.modes) if (m != "synthetic" && m != "real") usage("unknown mode '" + m + "'");
  if (o.warmup < 0 || o.steps < 1) usage("--warmup must be >= 0 and --steps >= 1");
  // The capture must follow an eager step: cuDNN's algorithm search and the library handles
  // cannot happen inside one.
  if (o.cuda_graph && o.warmup < 1) usage("--cuda-graph needs --warmup 1 or more");
  return o;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += c; }
    else if (static_cast<unsigned char>(c) < 0x20) out += ' ';
    else out += c;
  }
  return out;
}

void write_skip_json(const std::string& path, const std::string& why) {
  if (path.empty()) return;
  std::ofstream f(path);
  f << "{\"skipped\": \"" << json_escape(why) << "\"}\n";
}

}  // namespace

#ifndef NN_WITH_CUDA
int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  const std::string why = "no GPU (CPU-only build: the CUDA backend was not compiled)";
  std::cout << "gan_bench: skipped: " << why << "\n";
  write_skip_json(o.json, why);
  return 0;
}
#else

namespace {

#define GB_CUDA(call)                                                                                \
  do {                                                                                               \
    cudaError_t e_ = (call);                                                                         \
    if (e_ != cudaSuccess) nn::throw_error(nn::str_cat("CUDA error ", cudaGetErrorString(e_), " in ", #call)); \
  } while (0)

struct Result {
  std::string preset, mode;
  int64_t batch = 0;
  double ms_median = 0, images_per_s = 0, peak_mib = 0, step_gflop = 0, tflops = 0, floor_ms = 0;
  int64_t kernels = -1, other_nodes = -1;
  int64_t launches_per_step = -1;  // kernels eagerly, 1 for a replayed graph
  bool replayed = false;           // --cuda-graph and the capture worked
  std::string launches_note;  // "n/a (capture failed: ...)" when kernels < 0
  std::string error;          // the whole row failed
};

// FP32 peak: SMs x FP32 lanes per SM x 2 FLOPs x peak clock.
double fp32_peak_tflops(std::string* how) {
  int dev = 0, sms = 0, khz = 0, major = 0, minor = 0;
  GB_CUDA(cudaGetDevice(&dev));
  GB_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  GB_CUDA(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev));
  GB_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  GB_CUDA(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  // 64 FP32 lanes per SM on Volta/Turing and A100 (8.0); 128 on 8.6/8.9, Hopper, Blackwell.
  const int lanes = (major < 8 || (major == 8 && minor == 0)) ? 64 : 128;
  std::ostringstream os;
  os << sms << " SMs x " << lanes << " FP32 lanes x 2 x " << khz / 1000 << " MHz";
  *how = os.str();
  return double(sms) * lanes * 2.0 * khz * 1e3 / 1e12;
}

bool have_real_data(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(nn::data::cifar100_file(dir, nn::data::Split::Train), ec);
}

Result bench_one(const Options& o, const std::string& preset, int64_t batch, const std::string& mode,
                 const std::string& out_dir, double peak_tflops) {
  Result r;
  r.preset = preset;
  r.batch = batch;
  r.mode = mode;
  const bool real = mode == "real";
  if (real && !have_real_data(o.data_dir)) {
    r.error = "no CIFAR-100 at " + o.data_dir + " (run tools/fetch_cifar100.sh)";
    return r;
  }

  nn::train::Config c = nn::train::preset_defaults(preset);
  c.batch_size = batch;
  c.device = "cuda";
  c.fuse = o.fuse;
  c.out_dir = out_dir;
  r.step_gflop = gan_layers::step_flops(preset, int(batch), int(c.width), int(c.noise_dim)) / 1e9;

  // A trainer without a dataset of its own: the batches come from below. Driven by hand, it reads
  // nothing back (its metrics buffer keeps the last log_every rows on the device).
  auto trainer = std::make_unique<nn::train::Trainer>(c, nn::Tensor(), /*quiet=*/true);
  cudaStream_t s = nn::cuda::stream();

  // Input: a fixed random batch on the device, or the sampler's next batch each step.
  nn::Tensor fixed_batch = nn::Tensor::empty({batch, 3, 32, 32}, nn::DType::F32, nn::Device::CUDA);
  nn::Generator gen(1234);
  fixed_batch.uniform_(gen, -1.0, 1.0);
  std::unique_ptr<nn::data::BatchSampler> sampler;
  if (real) {
    static nn::data::Cifar100 cifar = nn::data::load_cifar100(o.data_dir, nn::data::Split::Train);
    sampler = std::make_unique<nn::data::BatchSampler>(cifar.images, nn::Device::CUDA, batch, c.seed);
  }
  // A step takes d_steps batches (sngan: 5, one per D step); real mode gathers each in turn at the
  // sampler's device cursor (what gan_train does), a new epoch when the current one has too few.
  std::vector<nn::Tensor> batches;
  for (int64_t k = 0; k < c.d_steps; ++k)
    batches.push_back(real ? nn::Tensor::empty({batch, 3, 32, 32}, nn::DType::F32, nn::Device::CUDA) : fixed_batch);
  auto work = [&] {  // what one step queues: the gathers and the trainer's step
    if (real)
      for (nn::Tensor& b : batches) sampler->batch_into_next(b);
    trainer->train_step(batches);
  };
  nn::CudaGraph graph;
  auto next_epoch_if_needed = [&] {
    if (real && sampler->next_index() + c.d_steps > sampler->batches_per_epoch()) sampler->set_epoch(sampler->epoch() + 1);
  };
  auto step = [&] {
    next_epoch_if_needed();
    if (!graph.ready()) {
      work();
      return;
    }
    graph.replay();
    if (real) sampler->advance_mirror(c.d_steps);  // the graph moved the device cursor
  };

  for (int64_t i = 0; i < o.warmup; ++i) step();
  GB_CUDA(cudaStreamSynchronize(s));
  // Kernel launches per step: one step captured (its host code runs, nothing runs on the GPU),
  // its kernel nodes counted. With --cuda-graph the capture is kept and every timed step replays it.
  next_epoch_if_needed();  // before the capture: the captured gathers must stay inside the epoch
  const int64_t cursor_before = real ? sampler->next_index() : 0;
  std::string why = graph.capture(work);
  if (real) sampler->advance_mirror(cursor_before - sampler->next_index());  // the capture ran no gather
  if (why.empty()) {
    r.kernels = graph.kernel_nodes();
    r.other_nodes = graph.other_nodes();
  } else {
    if (why.size() > 120) why = why.substr(0, 117) + "...";
    r.launches_note = "n/a (capture failed: " + why + ")";
  }
  r.replayed = o.cuda_graph && graph.ready();
  r.launches_per_step = r.replayed ? 1 : r.kernels;
  if (!o.cuda_graph) graph.reset();
  if (r.replayed) step();  // one replay before the timing: the graph's first launch uploads it
  GB_CUDA(cudaStreamSynchronize(s));

  int dev = 0;
  GB_CUDA(cudaGetDevice(&dev));
  cudaMemPool_t pool;
  GB_CUDA(cudaDeviceGetDefaultMemPool(&pool, dev));
  uint64_t zero = 0;
  GB_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero));  // reset to current use
  // A replayed graph's temporaries live in the device's graph memory pool, not the default one.
  GB_CUDA(cudaDeviceSetGraphMemAttribute(dev, cudaGraphMemAttrUsedMemHigh, &zero));

  std::vector<cudaEvent_t> ev(static_cast<size_t>(o.steps) + 1);
  for (auto& e : ev) GB_CUDA(cudaEventCreate(&e));
  GB_CUDA(cudaEventRecord(ev[0], s));
  for (int64_t i = 0; i < o.steps; ++i) {
    step();
    GB_CUDA(cudaEventRecord(ev[static_cast<size_t>(i) + 1], s));
  }
  GB_CUDA(cudaStreamSynchronize(s));
  std::vector<double> ms;
  for (int64_t i = 0; i < o.steps; ++i) {
    float t = 0;
    GB_CUDA(cudaEventElapsedTime(&t, ev[static_cast<size_t>(i)], ev[static_cast<size_t>(i) + 1]));
    ms.push_back(t);
  }
  float total = 0;
  GB_CUDA(cudaEventElapsedTime(&total, ev.front(), ev.back()));
  for (auto& e : ev) cudaEventDestroy(e);
  std::sort(ms.begin(), ms.end());
  r.ms_median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  r.images_per_s = double(batch) * double(o.steps) / (total * 1e-3);
  uint64_t high = 0;
  GB_CUDA(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high));
  uint64_t graph_high = 0;
  GB_CUDA(cudaDeviceGetGraphMemAttribute(dev, cudaGraphMemAttrUsedMemHigh, &graph_high));
  r.peak_mib = double(high + graph_high) / (1024.0 * 1024.0);
  r.tflops = r.step_gflop * 1e9 / (r.ms_median * 1e-3) / 1e12;
  r.floor_ms = peak_tflops > 0 ? r.step_gflop * 1e9 / (peak_tflops * 1e12) * 1e3 : 0;

  trainer.reset();
  (void)cudaStreamSynchronize(s);
  (void)cudaGetLastError();
  return r;
}

std::string fmt(double v, int prec) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (!nn::cuda_available()) {
    std::string why = nn::cuda_device_description();
    if (why.rfind("no GPU", 0) != 0) why = "no GPU (" + why + ")";
    std::cout << "gan_bench: skipped: " << why << "\n";
    write_skip_json(o.json, why);
    return 0;
  }
  try {
    nn::backend_settings().allow_tf32 = o.tf32;
    std::string how = "--peak-tflops";
    double peak = o.peak_tflops;
    if (peak <= 0) peak = fp32_peak_tflops(&how);
    const std::string device = nn::cuda_device_description();
    std::cout << "gan_bench: " << device << "\n"
              << "gan_bench: peak " << fmt(peak, 1) << " TFLOP/s (" << how << ")" << (o.tf32 ? ", TF32 on" : "")
              << "; " << o.warmup << " warm-up + " << o.steps << " timed steps per row\n";
    const std::string out_dir = (fs::temp_directory_path() / ("gan_bench_out_" + std::to_string(::getpid()))).string();

    std::vector<Result> results;
    for (const auto& preset : o.presets)
      for (int64_t b : o.batches)
        for (const auto& mode : o.modes) {
          Result r;
          try {
            r = bench_one(o, preset, b, mode, out_dir, peak);
          } catch (const std::exception& e) {
            r.preset = preset; r.batch = b; r.mode = mode;
            r.error = e.what();
            (void)cudaGetLastError();
          }
          std::cerr << "gan_bench: " << preset << " batch " << b << " " << mode << ": "
                    << (r.error.empty() ? fmt(r.ms_median, 3) + " ms/step" : "error: " + r.error) << "\n";
          results.push_back(r);
        }
    std::error_code ec;
    fs::remove_all(out_dir, ec);

    std::cout << "\n| preset | batch | data | ms/step | images/s | peak MiB | kernels/step | launches/step | GFLOP/step | "
                 "TFLOP/s | floor ms |\n"
              << "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : results) {
      std::cout << "| " << r.preset << " | " << r.batch << " | " << r.mode << " | ";
      if (!r.error.empty()) {
        std::cout << "error: " << r.error << " | | | | | | | |\n";
        continue;
      }
      std::cout << fmt(r.ms_median, 3) << " | " << fmt(r.images_per_s, 0) << " | " << fmt(r.peak_mib, 1) << " | "
                << (r.kernels >= 0 ? std::to_string(r.kernels) + " (+" + std::to_string(r.other_nodes) + " copies)"
                                   : r.launches_note)
                << " | " << (r.launches_per_step >= 0 ? std::to_string(r.launches_per_step) : std::string("n/a"))
                << (r.replayed ? " (graph)" : "") << " | " << fmt(r.step_gflop, 2) << " | " << fmt(r.tflops, 2) << " | " << fmt(r.floor_ms, 3) << " |\n";
    }
    if (!o.json.empty()) {
      std::ofstream f(o.json);
      f << "{\"device\": \"" << json_escape(device) << "\", \"peak_tflops\": " << peak << ", \"peak_source\": \""
        << json_escape(how) << "\", \"tf32\": " << (o.tf32 ? "true" : "false") << ", \"fuse\": " << (o.fuse ? "true" : "false")
        << ", \"cuda_graph\": " << (o.cuda_graph ? "true" : "false") << ", \"warmup\": " << o.warmup
        << ", \"steps\": " << o.steps << ", \"results\": [";
      for (size_t i = 0; i < results.size(); ++i) {
        const Result& r = results[i];
        f << (i ? ",\n  " : "\n  ") << "{\"preset\": \"" << r.preset << "\", \"batch\": " << r.batch
          << ", \"mode\": \"" << r.mode << "\"";
        if (!r.error.empty()) {
          f << ", \"error\": \"" << json_escape(r.error) << "\"}";
          continue;
        }
        f << ", \"ms_per_step\": " << r.ms_median << ", \"images_per_s\": " << r.images_per_s
          << ", \"peak_mib\": " << r.peak_mib << ", \"kernel_launches\": "
          << (r.kernels >= 0 ? std::to_string(r.kernels) : "null") << ", \"copy_nodes\": "
          << (r.other_nodes >= 0 ? std::to_string(r.other_nodes) : "null") << ", \"launches_note\": \""
          << json_escape(r.launches_note) << "\", \"launches_per_step\": "
          << (r.launches_per_step >= 0 ? std::to_string(r.launches_per_step) : "null") << ", \"replayed\": "
          << (r.replayed ? "true" : "false") << ", \"step_gflop\": " << r.step_gflop << ", \"tflops\": " << r.tflops
          << ", \"roofline_floor_ms\": " << r.floor_ms << "}";
      }
      f << "\n]}\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "gan_bench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
#endif
