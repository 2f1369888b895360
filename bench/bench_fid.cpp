// bench_fid.cpp — how long FID and IS take on the GPU for N generated images (default 10,000),
// stage by stage, with the real network shapes and random weights (the time does not depend on
// the weights' values, so the real pytorch-fid file is not needed, and neither is CIFAR-100):
//
//   features   32x32 images in [0,1] -> bilinear 299 -> Inception-v3 -> pool3 (2048) and logits
//              (1008), batch after batch (--batch, default 200), each batch's pool3 added to the
//              float64 statistics on the device (FeatureStatistics: one DSYRK)
//   fid        the Fréchet distance between two 2048-d Gaussians (cuSOLVER eigendecompositions)
//   is         the Inception Score of the N x 1008 logits (10 splits)
//
//   bench_fid                        10,000 images, batch 200, after one warm-up batch
//   bench_fid --images 50000 --batch 500
//   bench_fid --device cpu --images 20 --batch 10     a smoke run of the same code on the CPU
//
// Times are wall clock around device-synchronised stages. It also prints images/s of the feature
// pass and its TFLOP/s from the network's convolution FLOPs (conv_flops_per_image(), from
// inception_conv_specs(): 11.42 GFLOP, i.e. 5.71 G multiply-adds, torchvision's published figure
// for Inception-v3). Without a GPU it says "skipped: no GPU (...)" and exits 0.
// Results go in bench/README.md with the GPU and the date.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "metrics/fid.h"
#include "metrics/inception.h"
#include "metrics/inception_score.h"
#include "nn/backend.h"
#include "nn/rng.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// FLOPs of one image's convolutions and fc (2 per multiply-add) at 299x299. Each conv's output
// side is (in + 2 pad - kernel) / stride + 1 from the side its input has: the stem's convs run at
// 299, 149, 147, 73 (after the first max pool) and 73; inside a Mixed block every stride-1 conv
// keeps the block's input side (its padding is "same") and a stride-2 conv ends a chain, so the
// block's input side is every conv's input side: 35 for Mixed_5b..6a, 17 for 6b..7a, 8 for 7b, 7c.
double conv_flops_per_image() {
  auto input_side = [](const std::string& n) -> int64_t {
    if (n == "Conv2d_1a_3x3") return 299;
    if (n == "Conv2d_2a_3x3") return 149;
    if (n == "Conv2d_2b_3x3") return 147;
    if (n == "Conv2d_3b_1x1" || n == "Conv2d_4a_3x3") return 73;
    if (n.rfind("Mixed_5", 0) == 0 || n.rfind("Mixed_6a", 0) == 0) return 35;
    if (n.rfind("Mixed_6", 0) == 0 || n.rfind("Mixed_7a", 0) == 0) return 17;
    return 8;  // Mixed_7b, Mixed_7c
  };
  double flops = 0;
  for (const auto& c : nn::metrics::inception_conv_specs()) {
    const int64_t in = input_side(c.name);
    const int64_t oh = (in + 2 * c.pad_h - c.kernel_h) / c.stride + 1, ow = (in + 2 * c.pad_w - c.kernel_w) / c.stride + 1;
    flops += 2.0 * double(c.in) * double(c.out) * c.kernel_h * c.kernel_w * double(oh * ow);
  }
  return flops + 2.0 * 2048 * 1008;  // the fc logits
}

int64_t arg_value(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  bool on_cpu = false;  // --device cpu: a smoke run of the same code on the CPU (not a benchmark)
  for (int i = 1; i + 1 < argc; ++i) on_cpu |= std::strcmp(argv[i], "--device") == 0 && std::strcmp(argv[i + 1], "cpu") == 0;
  if (!on_cpu && !nn::cuda_available()) {
    std::printf("skipped: no GPU (%s)\n", nn::cuda_device_description().c_str());
    return 0;
  }
  const nn::Device device = on_cpu ? nn::Device::CPU : nn::Device::CUDA;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--benchmark_list_tests", 22) == 0) {  // ctest's Bench.SkipsWithoutGpu
      std::printf("bench_fid: features, fid, is\n");
      return 0;
    }
  const int64_t n_images = arg_value(argc, argv, "--images", 10000);
  const int64_t batch = arg_value(argc, argv, "--batch", 200);
  if (n_images < 20 || batch < 1) {
    std::fprintf(stderr, "usage: bench_fid [--images N>=20] [--batch B] [--device cpu]\n");
    return 2;
  }
  try {
    // Random weights of the right shapes: normal(0, sqrt(2/fan_in)) convs, unit batchnorm.
    nn::Generator gen(1234);
    nn::metrics::InceptionV3 net(
        [&](const std::string& name, const nn::Shape& shape) {
          nn::Tensor t = nn::Tensor::empty(shape, nn::DType::F32);
          const bool var_or_gamma = name.find("running_var") != std::string::npos ||
                                    (name.find("bn.weight") != std::string::npos);
          if (var_or_gamma) return nn::Tensor::ones(shape);
          if (name.find("bn.") != std::string::npos || name == "fc.bias") return nn::Tensor::zeros(shape);
          int64_t fan_in = 1;
          for (size_t k = 1; k < shape.size(); ++k) fan_in *= shape[k];
          t.normal_(gen, 0.0, std::sqrt(2.0 / double(fan_in)));
          return t;
        },
        device);

    nn::Tensor images = nn::Tensor::empty({batch, 3, 32, 32}, nn::DType::F32, device);
    images.uniform_(gen, 0.0, 1.0);
    nn::metrics::FeatureStatistics stats(2048);
    nn::Tensor logits = nn::Tensor::empty({n_images, 1008}, nn::DType::F32, device);

    net.forward(images);  // warm-up: cuDNN algorithm choice, pool growth
    nn::cuda_synchronize();

    auto t0 = Clock::now();
    for (int64_t done = 0; done < n_images; done += batch) {
      const int64_t b = std::min(batch, n_images - done);
      nn::metrics::InceptionV3::Output out = net.forward(b == batch ? images : images.view_at(0, {b, 3, 32, 32}));
      stats.add(out.pool3);
      logits.view_at(done * 1008, {b, 1008}).copy_(out.logits);
    }
    nn::cuda_synchronize();
    const double t_features = seconds_since(t0);

    nn::metrics::GaussianStats a = stats.finish();
    nn::metrics::GaussianStats b = a;
    for (double& m : b.mean) m += 0.01;  // a second, different Gaussian
    t0 = Clock::now();
    const double fid = nn::metrics::frechet_distance(a, b, device);
    nn::cuda_synchronize();
    const double t_fid = seconds_since(t0);

    t0 = Clock::now();
    const nn::metrics::InceptionScore is = nn::metrics::inception_score(logits, 10, 0);
    const double t_is = seconds_since(t0);

    const double tflops = conv_flops_per_image() * double(n_images) / t_features / 1e12;
    std::printf("bench_fid on %s: %lld images, batch %lld, %.2f GFLOP per image\n",
                on_cpu ? "the CPU (smoke run)" : nn::cuda_device_description().c_str(), static_cast<long long>(n_images), static_cast<long long>(batch),
                conv_flops_per_image() / 1e9);
    std::printf("| stage | seconds | rate |\n|---|---|---|\n");
    std::printf("| features (resize + Inception + statistics) | %.3f | %.1f images/s, %.2f TFLOP/s |\n", t_features,
                double(n_images) / t_features, tflops);
    std::printf("| FID (2048-d, %s) | %.3f | value %.4f |\n", nn::metrics::eigensolver_name(device).c_str(),
                t_fid, fid);
    std::printf("| IS (10 splits) | %.3f | value %.3f |\n", t_is, is.mean);
    std::printf("| total | %.3f | |\n", t_features + t_fid + t_is);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_fid: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
