// gan_eval — FID and Inception Score of a gan_train checkpoint's generator, or of a folder of PNGs,
// against CIFAR-100, every number printed with its protocol.
//
//   gan_eval --checkpoint runs/dcgan/checkpoint_latest.safetensors      50,000 images (seed 0) vs train
//   gan_eval --checkpoint ... --count 10000 --seed 1 --reference test --json
//   gan_eval --images my_samples/                                       every *.png (32x32 RGB) in the folder
//
// prints, e.g.
//   FID 23.41 (50000 generated vs CIFAR-100 train 50000, bilinear 299, weights 6726825d…)
//   IS 5.12 ± 0.08 (50000 generated, 10 splits, bilinear 299, weights 6726825d…)
//   reference IS 33.10 ± 0.31 (CIFAR-100 train 50000, 10 splits, bilinear 299, weights 6726825d…)
// or with --json one JSON object (the same numbers at full precision, and the protocol fields).
//
// The protocol and the pipeline are in src/metrics/evaluate.h; the network in inception.h. The
// Inception weights come from tools/fetch_inception.sh (pytorch-fid's file, converted); without them
// gan_eval says so in one line and how to get them. The reference statistics are computed on
// first use (minutes on a GPU) and cached next to the weights (--cache-dir to put them elsewhere).
//
// Exit codes: 0 done; 1 an error (missing weights or data, a bad checkpoint or image, out of
// memory), one line on stderr "gan_eval: error: ..."; 2 a bad option.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "io/image_folder.h"
#include "nn/backend.h"
#include "metrics/evaluate.h"
#include "tool_options.h"
#include "train/models.h"

namespace {

// Progress on stderr: a line rewritten in place on a terminal, else a line per tenth.
struct Progress {
  bool quiet = false;
  bool tty = isatty(STDERR_FILENO) != 0;
  std::string last_what;
  int64_t last_tenth = -1;
  void operator()(const std::string& what, int64_t done, int64_t total) {
    if (quiet) return;
    if (tty) {
      std::fprintf(stderr, "\r%s: %lld/%lld", what.c_str(), static_cast<long long>(done),
                   static_cast<long long>(total));
      if (done == total) std::fprintf(stderr, "\n");
    } else {
      if (what != last_what) last_tenth = -1, last_what = what;
      const int64_t tenth = done * 10 / total;
      if (tenth != last_tenth) std::fprintf(stderr, "gan_eval: %s: %lld/%lld\n", what.c_str(),
                                            static_cast<long long>(done), static_cast<long long>(total));
      last_tenth = tenth;
    }
    std::fflush(stderr);
  }
};

}  // namespace

int main(int argc, char** argv) {
  GanEvalArgs args;
  if (auto exit_code = parse_gan_eval(argc, argv, args)) return *exit_code;
  const std::string &checkpoint = args.checkpoint, &images_dir = args.images_dir, &reference = args.reference,
                    &device_str = args.device;
  int64_t count = args.count;
  const int64_t reference_limit = args.reference_limit, batch_size = args.batch_size;
  const uint64_t seed = args.seed;
  const int splits = args.splits;
  const bool json = args.json, quiet = args.quiet;
  nn::metrics::EvalOptions& options = args.options;

  try {
    nn::Device device = nn::Device::CPU;
    if (device_str == "cuda" || (device_str.empty() && nn::cuda_available())) {
      NN_CHECK(nn::cuda_available(), "--device cuda: ", nn::cuda_device_description());
      device = nn::Device::CUDA;
    }

    // The inputs first (cheap, and their errors are the user's to fix before anything long starts).
    std::unique_ptr<nn::train::Gan> gan;
    nn::Tensor images;
    if (!checkpoint.empty()) {
      if (count == 0) count = 50000;
      NN_CHECK(count >= 2, "--count must be at least 2 (FID fits a covariance)");
      gan = nn::train::load_generator(checkpoint, device);
    } else {
      images = nn::io::read_png_folder(images_dir, nn::data::kCifarSide, nn::data::kCifarSide, count);
      NN_CHECK(images.size(0) >= 2, "image folder ", images_dir, " has ", images.size(0),
               " .png file; FID needs at least 2 images");
    }
    std::string missing;
    NN_CHECK(nn::metrics::inception_weights_available(options.weights_path, &missing), missing);
    // Said only now, so that an error above stays the one line on stderr.
    if (device == nn::Device::CPU && device_str.empty() && !quiet)
      std::cerr << "gan_eval: " << nn::cuda_device_description()
                << "; running the Inception on the CPU (about 1 s per image on 2 cores; a GPU does hundreds per second)\n";

    Progress progress;
    progress.quiet = quiet;
    options.reference_split = reference == "train" ? nn::data::Split::Train : nn::data::Split::Test;
    options.reference_limit = reference_limit;
    options.device = device;
    options.batch_size = batch_size;
    options.is_splits = splits;
    options.log = [quiet](const std::string& note) {
      if (!quiet) std::cerr << "gan_eval: " << note << "\n";
    };
    options.progress = std::ref(progress);
    nn::metrics::Evaluator evaluator(options);
    const nn::metrics::EvalResult r =
        gan ? evaluator.evaluate_generator(gan->generator.net, gan->noise_per_sample, device, count, seed)
            : evaluator.evaluate_images(images);
    const auto [ref_is_mean, ref_is_std] = evaluator.reference_is();
    char ref_is[64];
    std::snprintf(ref_is, sizeof ref_is, "%.2f \u00b1 %.2f", ref_is_mean, ref_is_std);
    const std::string ref_is_line = std::string("reference IS ") + ref_is + " (" + r.reference + ", " + r.resize +
                                    ", weights " + r.weights_sha256.substr(0, 8) + "\u2026)";
    if (json) {
      nlohmann::ordered_json j = nlohmann::ordered_json::parse(r.to_json());
      j["source"] = gan ? checkpoint : images_dir;
      if (gan) j["seed"] = seed;
      j["reference_is_mean"] = ref_is_mean;
      j["reference_is_std"] = ref_is_std;
      j["reference_stats"] = evaluator.reference_cache_path();
      std::cout << j.dump() << "\n";
    } else {
      std::cout << r.fid_line() << "\n" << r.is_line() << "\n" << ref_is_line << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gan_eval: error: " << e.what() << "\n";
    return 1;
  }
}
