// evaluate.h — FID and IS of a generator or of a set of images, against CIFAR-100, with the
// protocol written next to every number (gan_eval, and gan_train's periodic evaluation).
//
// The protocol (pytorch-fid's, itself the TF code's):
//   1. images as 8-bit RGB. A generator's tanh output x in [-1,1] is quantised exactly as saving
//      a PNG does (io::image_value_to_byte: trunc(clamp((x+1)/2 * 255 + 0.5, 0, 255)), i.e.
//      (x+1) 127.5 rounded half up), so evaluating a generator directly and evaluating its saved
//      PNGs give the same numbers;
//   2. u8 / 255 in float32, bilinear resize to 299x299 (align_corners=False), 2x - 1;
//   3. the FID Inception-v3 (inception.h): pool3 (2048) for FID, logits (1008, no bias) for IS;
//   4. FID = Fréchet distance between N(mu, Sigma) of the generated pool3 features and of the
//      reference split's (fid.h; Sigma unbiased, as np.cov); IS = exp(E KL(p(y|x) || p(y))) over
//      10 splits (inception_score.h; fewer when there are fewer than 10 images).
//
// Reference statistics: the CIFAR-100 train (50,000) or test (10,000) split, read with
// data/cifar100.h and run through steps 2-3 once, then cached as a safetensors file (fid.h's
// save_gaussian_stats) in `cache_dir` (default: the weights' folder), named
//   fid_stats_cifar100_<split>_<images>_bilinear<size>_<first 16 hex of the weights' SHA-256>.safetensors
// with the whole protocol in its metadata, which is checked when the file is read back (a file
// made another way is recomputed, never silently used). The reference's own IS is kept there too.
//
// Noise stream of evaluate_generator(seed): image i gets elements [i nz, (i+1) nz) of ONE normal
// stream drawn from Generator(seed) (the engine's Philox, rng.h), whatever the batch size: the
// same noise as `gan_sample --seed s --count N`, so the first 64 evaluated images are that grid.
// (Element e of a fill sits at Philox counter offset + e/4, so a batch starting at image `first`
// starts at counter floor(first nz / 4) and drops the (first nz) mod 4 elements before its own.)
// The generator runs in eval mode (batchnorm running statistics); its mode is restored after.
//
// Every printed number carries its protocol, e.g.
//   FID 23.41 (10000 generated vs CIFAR-100 train 50000, bilinear 299, weights 6726825d…)
//   IS 5.12 ± 0.08 (10000 generated, 10 splits, bilinear 299, weights 6726825d…)
// Weights whose SHA-256 does not begin with 6726825d (not pytorch-fid's file) are used, but a
// note says the numbers are not comparable with published ones, and the hash names them anyway.
//
// Tests: tests/test_inception.cpp (Evaluator.*, GanEval.*).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "data/cifar100.h"
#include "metrics/fid.h"
#include "metrics/inception.h"
#include "metrics/inception_score.h"
#include "nn/nn.h"

namespace nn::metrics {

struct EvalOptions {
  std::string weights_path = kDefaultInceptionWeights;  // written by tools/convert_inception.py
  std::string cache_dir;                                // reference statistics; "" = the weights' folder
  std::string data_dir = "data/cifar-100-binary";
  data::Split reference_split = data::Split::Train;
  int64_t reference_limit = 0;  // > 0: only the split's first N images (quick checks; the protocol says so)
  Device device = Device::CPU;
  int64_t batch_size = 0;       // images per Inception forward; 0: 200 on CUDA, 8 on the CPU
  int is_splits = 10;
  uint64_t is_seed = 0;         // the IS shuffle's seed (inception_score.h)
  int64_t input_size = kInceptionInputSize;  // 299 is the protocol; smaller only for tests
  // Notes for the user (cache written or read, non-standard weights); null: silent.
  std::function<void(const std::string& note)> log;
  // Called after every batch: what ("reference images (CIFAR-100 train 50000)", "images evaluated",
  // "images generated and evaluated"), images done, total.
  std::function<void(const std::string& what, int64_t done, int64_t total)> progress;
};

struct EvalResult {
  double fid = 0;
  double is_mean = 0, is_std = 0;
  int is_splits = 0;
  int64_t generated = 0;       // images evaluated
  std::string reference;       // "CIFAR-100 train 50000"
  std::string resize;          // "bilinear 299"
  std::string weights_sha256;  // the full SHA-256 of pytorch-fid's .pth the weights came from
  bool standard_weights = false;  // the hash begins with 6726825d
  std::string protocol;        // "10000 generated vs CIFAR-100 train 50000, bilinear 299, weights 6726825d…"
  double seconds = 0;          // wall time of this evaluation (without the reference statistics)

  std::string fid_line() const;  // "FID 23.41 (<protocol>)"
  std::string is_line() const;   // "IS 5.12 ± 0.08 (10000 generated, 10 splits, bilinear 299, weights 6726825d…)"
  std::string to_json() const;   // one JSON object with every field
};

class Evaluator {
 public:
  // Loads the Inception weights (one-line nn::Error saying how to get them when they are missing)
  // and the reference statistics: from the cache when a matching file is there, else computed
  // from CIFAR-100 (on options.device; minutes on a GPU, about a second per image on a 2-core CPU)
  // and cached (a cache that cannot be written is noted and skipped, never fatal).
  explicit Evaluator(EvalOptions options);
  ~Evaluator();

  // images_u8: uint8 (N, 3, H, W) on the CPU, N >= 2 (any H, W; CIFAR's are 32x32).
  EvalResult evaluate_images(const Tensor& images_u8);
  // n_images from a generator network (in eval mode, restored after), noise (B, noise_per_sample...)
  // float32 on `device` from Generator(seed) as above. (A Sequential, not the trainer's Gan: the
  // metrics sit below the trainer, which calls this with gan.generator.net.)
  EvalResult evaluate_generator(Sequential& generator, const Shape& noise_per_sample, Device device,
                                int64_t n_images, uint64_t seed);

  const GaussianStats& reference_stats() const { return reference_; }
  const std::string& reference_cache_path() const { return cache_path_; }
  bool reference_from_cache() const { return reference_from_cache_; }
  std::pair<double, double> reference_is() const { return reference_is_; }  // (mean, std) of the real images
  std::string reference_name() const;  // "CIFAR-100 train 50000"
  const InceptionV3& network() const { return *net_; }
  const EvalOptions& options() const { return options_; }

 private:
  struct Accumulator;  // features statistics + logits of one image set
  void run_batch(const Tensor& u8_batch, Accumulator& acc) const;
  EvalResult finish(Accumulator& acc, double seconds) const;
  void load_or_compute_reference();
  void note(const std::string& s) const {
    if (options_.log) options_.log(s);
  }

  EvalOptions options_;
  std::unique_ptr<InceptionV3> net_;
  GaussianStats reference_;
  int64_t reference_count_ = 0;
  std::pair<double, double> reference_is_{0, 0};
  std::string cache_path_;
  bool reference_from_cache_ = false;
};

// The quantisation of step 1: images (N,3,H,W) float in [-1,1] on any device -> uint8 on the CPU.
Tensor quantize_images(const Tensor& images);

// Images [first, first + count) of `generator`'s sample stream for `seed` (the noise above, the
// generator in eval mode, its mode restored after), quantised: uint8 (count,3,H,W) on the CPU.
// noise_per_sample: (nz) or (nz,1,1); the noise is float32 on `device`, where the generator is.
Tensor generate_samples_u8(Sequential& generator, const Shape& noise_per_sample, Device device, int64_t first,
                           int64_t count, uint64_t seed);

}  // namespace nn::metrics
