// evaluate.cpp — FID and IS with their protocol (see evaluate.h).
#include "metrics/evaluate.h"

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/png.h"
#include "nn/autograd.h"

namespace nn::metrics {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStatsVersion = "1";  // bump when the reference pipeline changes
constexpr const char* kPipeline = "u8/255, bilinear resize (align_corners=False), 2x-1, FID Inception pool3";

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string exact(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* split_name(data::Split s) { return s == data::Split::Train ? "train" : "test"; }

// "6726825d…": how a number names its weights.
std::string short_hash(const std::string& sha) { return sha.substr(0, 8) + "\u2026"; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Puts a Sequential back into the mode it was in, however the evaluation ends.
struct ModeRestore {
  Sequential& net;
  bool was_training;
  ~ModeRestore() { net.train(was_training); }
};

}  // namespace

// ---------------------------------------------------------------- results

// A distance is >= 0; rounding in the eigendecompositions can leave -1e-4 for identical sets,
// which would print as "-0.00". The JSON keeps the raw value.
std::string EvalResult::fid_line() const { return "FID " + fixed(std::max(fid, 0.0), 2) + " (" + protocol + ")"; }

std::string EvalResult::is_line() const {
  return "IS " + fixed(is_mean, 2) + " \u00b1 " + fixed(is_std, 2) + " (" + std::to_string(generated) + " generated, " +
         std::to_string(is_splits) + " splits, " + resize + ", weights " + short_hash(weights_sha256) + ")";
}

std::string EvalResult::to_json() const {
  nlohmann::ordered_json j;
  j["fid"] = fid;
  j["is_mean"] = is_mean;
  j["is_std"] = is_std;
  j["is_splits"] = is_splits;
  j["generated"] = generated;
  j["reference"] = reference;
  j["resize"] = resize;
  j["weights_sha256"] = weights_sha256;
  j["standard_weights"] = standard_weights;
  j["protocol"] = protocol;
  j["seconds"] = seconds;
  return j.dump();
}

Tensor quantize_images(const Tensor& images) {
  NN_CHECK(images.defined() && images.dim() == 4 && is_floating(images.dtype()),
           "quantize_images: expected float images (N,C,H,W), got ",
           images.defined() ? images.str() : std::string("an undefined tensor"));
  const std::vector<double> v = images.to_vector();  // from any device
  Tensor out = Tensor::empty(images.shape(), DType::U8);
  uint8_t* dst = out.data<uint8_t>();
  // The PNG writer's mapping (io/png.h), on the float32 value as the writer sees it.
  for (size_t i = 0; i < v.size(); ++i) dst[i] = io::image_value_to_byte(static_cast<float>(v[i]));
  return out;
}

// ---------------------------------------------------------------- the evaluator

struct Evaluator::Accumulator {
  FeatureStatistics stats{kInceptionFeatureDim};
  std::vector<float> logits;  // (count, 1008) row-major, on the host
  int64_t count = 0;
};

Evaluator::Evaluator(EvalOptions options) : options_(std::move(options)) {
  NN_CHECK(options_.reference_limit >= 0, "evaluation: the reference limit must be >= 0");
  NN_CHECK(options_.batch_size >= 0, "evaluation: the batch size must be >= 0");
  NN_CHECK(options_.is_splits >= 1, "evaluation: the IS needs at least 1 split");
  if (options_.batch_size == 0) options_.batch_size = options_.device == Device::CUDA ? 200 : 8;
  // Fails now, not after a reference pass of hours, when this build cannot take the FID's
  // eigendecompositions on this device.
  (void)eigensolver_name(options_.device);
  net_ = std::make_unique<InceptionV3>(InceptionV3::load(options_.weights_path, options_.device));
  net_->set_input_size(options_.input_size);
  if (net_->weights_sha256().rfind(kInceptionSha256Prefix, 0) != 0)
    note("the weights in " + options_.weights_path + " (SHA-256 " + net_->weights_sha256() +
         ") are not pytorch-fid's FID Inception weights (" + kInceptionSha256Prefix +
         "...): these numbers are not comparable with published FID/IS");
  load_or_compute_reference();
}

Evaluator::~Evaluator() = default;

std::string Evaluator::reference_name() const {
  return str_cat("CIFAR-100 ", split_name(options_.reference_split), " ", reference_count_);
}

void Evaluator::run_batch(const Tensor& u8_batch, Accumulator& acc) const {
  // u8 / 255 in float32 on the host (12 KB per 32x32 image), then one upload.
  const int64_t n = u8_batch.numel();
  Tensor x = Tensor::empty(u8_batch.shape(), DType::F32);
  const uint8_t* src = u8_batch.data<uint8_t>();
  float* dst = x.data<float>();
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  InceptionV3::Output out = net_->forward(x.to(options_.device));
  acc.stats.add(out.pool3);  // on the device where it is: no feature read-back
  Tensor logits = out.logits.to(Device::CPU);
  const float* l = logits.data<float>();
  acc.logits.insert(acc.logits.end(), l, l + logits.numel());
  acc.count += u8_batch.size(0);
}

EvalResult Evaluator::finish(Accumulator& acc, double seconds) const {
  NN_CHECK(acc.count >= 2, "evaluation needs at least 2 images (FID fits a covariance), got ", acc.count);
  EvalResult r;
  r.generated = acc.count;
  r.reference = reference_name();
  r.resize = "bilinear " + std::to_string(net_->input_size());
  r.weights_sha256 = net_->weights_sha256();
  r.standard_weights = r.weights_sha256.rfind(kInceptionSha256Prefix, 0) == 0;
  r.protocol = std::to_string(r.generated) + " generated vs " + r.reference + ", " + r.resize + ", weights " +
               short_hash(r.weights_sha256);
  r.fid = frechet_distance(acc.stats.finish(), reference_, options_.device);
  const Tensor logits = Tensor::empty({acc.count, kInceptionClasses}, DType::F32);
  std::memcpy(logits.data<float>(), acc.logits.data(), acc.logits.size() * sizeof(float));
  r.is_splits = static_cast<int>(std::min<int64_t>(options_.is_splits, acc.count));
  const InceptionScore is = inception_score(logits, r.is_splits, options_.is_seed);
  r.is_mean = is.mean;
  r.is_std = is.std;
  r.seconds = seconds;
  return r;
}

EvalResult Evaluator::evaluate_images(const Tensor& images_u8) {
  NN_CHECK(images_u8.defined() && images_u8.dtype() == DType::U8 && images_u8.dim() == 4 && images_u8.size(1) == 3 &&
               images_u8.device() == Device::CPU,
           "evaluate_images: expected uint8 (N,3,H,W) images on the CPU, got ",
           images_u8.defined() ? images_u8.str() : std::string("an undefined tensor"));
  const auto t0 = std::chrono::steady_clock::now();
  NoGradGuard no_grad;
  Accumulator acc;
  const int64_t n = images_u8.size(0), B = options_.batch_size;
  Shape per_image(images_u8.shape().begin() + 1, images_u8.shape().end());
  const int64_t image_elems = shape_numel(per_image);
  for (int64_t first = 0; first < n; first += B) {
    const int64_t b = std::min(B, n - first);
    Shape shape{b};
    shape.insert(shape.end(), per_image.begin(), per_image.end());
    run_batch(images_u8.view_at(first * image_elems, shape), acc);
    if (options_.progress) options_.progress("images evaluated", acc.count, n);
  }
  return finish(acc, seconds_since(t0));
}

Tensor generate_samples_u8(Sequential& generator, const Shape& noise_per_sample, Device device, int64_t first,
                           int64_t count, uint64_t seed) {
  NN_CHECK(first >= 0 && count >= 1, "generate_samples_u8: need first >= 0 and count >= 1");
  NoGradGuard no_grad;
  ModeRestore restore{generator, generator.training()};
  generator.train(false);
  const int64_t nz = shape_numel(noise_per_sample);
  // The stream's elements [first nz, (first + count) nz): start on the counter that holds element
  // first nz and skip the `skip` elements of that counter that belong to the previous image.
  const int64_t begin = first * nz, skip = begin % 4;
  Generator rng(seed, static_cast<uint64_t>(begin / 4));
  Tensor stream = Tensor::empty({skip + count * nz}, DType::F32, device);
  stream.normal_(rng);
  Shape shape{count};
  shape.insert(shape.end(), noise_per_sample.begin(), noise_per_sample.end());
  const Tensor noise = stream.view_at(skip, shape);
  return quantize_images(generator.forward(noise));  // (count,3,32,32) in [-1,1] -> u8
}

EvalResult Evaluator::evaluate_generator(Sequential& generator, const Shape& noise_per_sample, Device device,
                                         int64_t n_images, uint64_t seed) {
  NN_CHECK(n_images >= 2, "evaluation needs at least 2 images (FID fits a covariance), got ", n_images);
  const auto t0 = std::chrono::steady_clock::now();
  NoGradGuard no_grad;
  Accumulator acc;
  const int64_t B = options_.batch_size;
  for (int64_t first = 0; first < n_images; first += B) {
    const int64_t b = std::min(B, n_images - first);
    run_batch(generate_samples_u8(generator, noise_per_sample, device, first, b, seed), acc);
    if (options_.progress) options_.progress("images generated and evaluated", acc.count, n_images);
  }
  return finish(acc, seconds_since(t0));
}

void Evaluator::load_or_compute_reference() {
  const std::string split = split_name(options_.reference_split);
  // The split's size from its file, so a slice (tools/gpu_bundle.sh) gets statistics, a cache
  // file and a protocol string of its own size; without the file, the official size (the cached
  // statistics may still be there, and otherwise the load below says how to fetch the data).
  int64_t split_size = data::cifar100_official_records(options_.reference_split);
  try {
    split_size = data::cifar100_records(options_.data_dir, options_.reference_split);
  } catch (const Error&) {
  }
  reference_count_ = options_.reference_limit > 0 ? std::min(options_.reference_limit, split_size) : split_size;
  const std::string sha = net_->weights_sha256();
  const std::string resize = "bilinear " + std::to_string(net_->input_size());

  std::string dir = options_.cache_dir;
  if (dir.empty()) {
    dir = fs::path(options_.weights_path).parent_path().string();
    if (dir.empty()) dir = ".";
  }
  cache_path_ = (fs::path(dir) / str_cat("fid_stats_cifar100_", split, "_", reference_count_, "_bilinear",
                                         net_->input_size(), "_", sha.substr(0, 16), ".safetensors"))
                    .string();
  // What the file must say about itself to be used.
  const std::map<std::string, std::string> expected{
      {"dataset", "CIFAR-100"}, {"split", split},          {"images", std::to_string(reference_count_)},
      {"resize", resize},       {"weights_sha256", sha},   {"pipeline", kPipeline},
      {"stats_version", kStatsVersion},
      // The reference's own IS is kept in the file too: it is only valid for these splits and seed.
      {"is_splits", std::to_string(std::min<int64_t>(options_.is_splits, reference_count_))},
      {"is_seed", std::to_string(options_.is_seed)}};

  std::error_code ec;
  if (fs::exists(cache_path_, ec)) {
    try {
      std::map<std::string, std::string> protocol;
      GaussianStats stats = load_gaussian_stats(cache_path_, &protocol);
      std::string mismatch;
      for (const auto& [key, value] : expected) {
        auto it = protocol.find(key);
        if (it == protocol.end() || it->second != value)
          mismatch = key + " is " + (it == protocol.end() ? std::string("missing") : it->second) + ", expected " + value;
      }
      if (stats.count != reference_count_ || stats.dim() != kInceptionFeatureDim)
        mismatch = str_cat("it holds ", stats.count, " images of dimension ", stats.dim());
      if (mismatch.empty()) {
        reference_ = std::move(stats);
        reference_is_ = {std::stod(protocol.at("is_mean")), std::stod(protocol.at("is_std"))};
        reference_from_cache_ = true;
        note("reference statistics of " + reference_name() + " from " + cache_path_);
        return;
      }
      note("recomputing the reference statistics: " + cache_path_ + " does not match (" + mismatch + ")");
    } catch (const std::exception& e) {
      note(std::string("recomputing the reference statistics: ") + e.what());
    }
  }

  // Compute: the split's first reference_count_ images, through the same pipeline as any image set.
  note("computing the reference statistics of " + reference_name() + " (once; cached in " + cache_path_ + ")");
  const data::Cifar100 cifar = data::load_cifar100(options_.data_dir, options_.reference_split);
  NoGradGuard no_grad;
  Accumulator acc;
  const int64_t B = options_.batch_size;
  const std::string what = "reference images (" + reference_name() + ")";
  for (int64_t first = 0; first < reference_count_; first += B) {
    const int64_t b = std::min(B, reference_count_ - first);
    run_batch(cifar.images.view_at(first * data::kCifarImageBytes,
                                   {b, data::kCifarChannels, data::kCifarSide, data::kCifarSide}),
              acc);
    if (options_.progress) options_.progress(what, acc.count, reference_count_);
  }
  NN_CHECK(acc.count >= 2, "the reference needs at least 2 images, got ", acc.count);
  reference_ = acc.stats.finish();
  const Tensor logits = Tensor::empty({acc.count, kInceptionClasses}, DType::F32);
  std::memcpy(logits.data<float>(), acc.logits.data(), acc.logits.size() * sizeof(float));
  const int splits = static_cast<int>(std::min<int64_t>(options_.is_splits, acc.count));
  const InceptionScore is = inception_score(logits, splits, options_.is_seed);
  reference_is_ = {is.mean, is.std};
  reference_from_cache_ = false;

  std::map<std::string, std::string> protocol = expected;
  protocol["is_mean"] = exact(is.mean);
  protocol["is_std"] = exact(is.std);
  try {
    fs::create_directories(dir);
    save_gaussian_stats(cache_path_, reference_, protocol);
  } catch (const std::exception& e) {
    note(std::string("could not cache the reference statistics (continuing without): ") + e.what());
  }
}

}  // namespace nn::metrics
