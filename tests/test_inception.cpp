// test_inception.cpp — the FID Inception-v3 (src/metrics/inception.h) against pytorch-fid's own
// classes, and the user-facing errors of the FID/IS tools.
//
// The network has 23.8M parameters, too many for a committed fixture, so both sides use weights
// given by a formula (tools/make_inception_fixtures.py states it; formula_value() below is the same
// arithmetic): tensor k of the state_dict, element i, is built from splitmix64(k 2^32 + i), which
// both languages compute exactly, so the weights are bit-identical. The fixture
// tests/golden/inception_blocks.safetensors holds, for every block output of pytorch-fid's
// InceptionV3 run in float64 on two fixed 32x32 images (resize 299, 2x - 1), each channel's mean
// over (N,H,W) and 256 strided elements. Here the same network runs on our engine and each block
// is compared, reporting the block, the worst element and both values on a mismatch:
//
//   Inception.BlocksMatchPytorchFidFloat64   CPU float64, |ours - theirs| <= 1e-9 (scale + |theirs|),
//       scale = the largest |value| in the block's summary. Both sides compute the same sums in
//       double in different orders (and we fold batchnorm into the weights): measured worst 3e-15
//       over all blocks, so 1e-9 has a wide margin for other compilers and BLAS orders, while any
//       architectural slip (a wrong padding, a counted pad, a swapped branch, an average pool for
//       a max pool) shows up as an O(1e-2..1) error.
//   Inception.BlocksMatchPytorchFidFloat32   CPU float32 (weights folded in double, then rounded),
//       tolerance 1e-4 (scale + |theirs|): float32 has u = 6e-8; each layer's sums over up to 4032
//       products give relative errors around sqrt(K) u ~ 4e-6 at worst, compounding through ~20
//       layers in sequence. Measured worst 1.9e-6 (Conv2d_3b_1x1); 1e-4 leaves room for cuDNN's
//       Winograd/FFT algorithms, which lose a few more bits, and is still far below what an
//       architectural mistake gives.
//   Inception.CudaFloat32MatchesPytorchFid   the same on CUDA (cuDNN convolutions), same tolerance.
// Each prints its per-block worst error and the forward's time (2 images at 299x299 on 2 idle
// cores: about 4 s in float64, 2 s in float32).
//
// Also here: the tensor list against pytorch-fid's state_dict (Inception.TensorSpec*), weights
// files (Inception.Missing*, Inception.Rejects*), PNG folders (ImageFolder.*), the evaluator end to
// end with the formula weights at a 75x75 input (Evaluator.*: reference statistics cached and
// checked, FID ~ 0 of a set against itself, the protocol strings, the generator's noise stream),
// and the command lines' errors and output (GanEval.*, ConvertInception.*). The FID of each
// evaluation takes two 2048x2048 symmetric eigendecompositions (fid.h): most of the ~30 s that
// Evaluator.ReferenceStatistics* and GanEval.Checkpoint* take on 2 cores.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/cifar100.h"
#include "io/image_folder.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "metrics/evaluate.h"
#include "metrics/inception.h"
#include "test_util.h"
#include "train/models.h"
#include "train/trainer.h"

namespace nn::test {
namespace {

using metrics::InceptionV3;

const std::string kGolden = std::string(NN_SOURCE_DIR) + "/tests/golden/inception_blocks.safetensors";

// ---------------------------------------------------------------- the formula weights

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// v in [-1, 1), exactly as numpy computes it: 2 * ((h >> 11) * 2^-53) - 1.
double unit_value(uint64_t k, uint64_t i) {
  const uint64_t h = splitmix64((k << 32) + i) >> 11;
  return 2.0 * (static_cast<double>(h) * 0x1p-53) - 1.0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Tensor k (state_dict order) of the formula network, as float64 on the CPU.
Tensor formula_tensor(uint64_t k, const std::string& name, const Shape& shape) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = unit_value(k, static_cast<uint64_t>(i));
  auto scale = [&](double a, double b) {  // x -> a + b x, written as numpy's a + b * v
    for (double& x : v) x = a + b * x;
  };
  if (ends_with(name, "conv.weight")) {
    const double s = std::sqrt(6.0 / static_cast<double>(shape[1] * shape[2] * shape[3]));
    for (double& x : v) x = x * s;
  } else if (ends_with(name, "bn.weight")) {
    scale(1.0, 0.25);
  } else if (ends_with(name, "bn.bias")) {
    for (double& x : v) x = 0.2 * x;
  } else if (ends_with(name, "bn.running_mean")) {
    for (double& x : v) x = 0.1 * x;
  } else if (ends_with(name, "bn.running_var")) {
    scale(1.0, 0.5);
  } else if (name == "fc.weight") {
    const double s = std::sqrt(3.0 / static_cast<double>(shape[1]));
    for (double& x : v) x = x * s;
  } else if (name == "fc.bias") {
    for (double& x : v) x = 0.1 * x;
  } else {
    ADD_FAILURE() << "no formula for " << name;
  }
  return Tensor::from_vector(shape, v, DType::F64);
}

InceptionV3::TensorSource formula_source() {
  auto index = std::make_shared<std::map<std::string, uint64_t>>();
  uint64_t k = 0;
  for (const auto& [name, shape] : metrics::inception_tensor_spec()) (*index)[name] = k++;
  return [index](const std::string& name, const Shape& shape) { return formula_tensor(index->at(name), name, shape); };
}

// ---------------------------------------------------------------- block summaries

struct Summary {
  Shape shape;
  std::vector<double> channel_mean;
  std::vector<double> samples;
};

constexpr int64_t kSamples = 256;

// What make_inception_fixtures.py's summary() computes: per-channel means over (N,H,W) (over N
// for (N,C)), and elements floor(j numel / 256).
Summary summarize(const Tensor& t) {
  Summary s;
  s.shape = t.shape();
  const std::vector<double> v = t.to_vector();
  const int64_t N = t.size(0), C = t.size(1);
  const int64_t HW = t.dim() == 4 ? t.size(2) * t.size(3) : 1;
  s.channel_mean.assign(static_cast<size_t>(C), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) acc += v[static_cast<size_t>((n * C + c) * HW + i)];
    s.channel_mean[static_cast<size_t>(c)] = acc / static_cast<double>(N * HW);
  }
  const int64_t numel = static_cast<int64_t>(v.size());
  for (int64_t j = 0; j < kSamples; ++j) s.samples.push_back(v[static_cast<size_t>(j * numel / kSamples)]);
  return s;
}

struct Golden {
  io::SafetensorsFile file;
  std::vector<std::string> blocks;
  Tensor input_u8;  // (2,3,32,32)
};

const Golden& golden() {
  static const Golden g = [] {
    Golden g;
    g.file = io::load_safetensors(kGolden);
    for (const auto& b : nlohmann::json::parse(g.file.metadata.at("blocks"))) g.blocks.push_back(b.get<std::string>());
    g.input_u8 = g.file.get("input_u8");
    return g;
  }();
  return g;
}

// The golden images as [0,1] floats in `dtype` on `device`: u8 / 255, as pytorch-fid's input.
Tensor golden_images(DType dtype, Device device) {
  const Tensor& u8 = golden().input_u8;
  std::vector<double> v = u8.to_vector();
  for (double& x : v) x = dtype == DType::F32 ? static_cast<double>(static_cast<float>(x) / 255.0f) : x / 255.0;
  return Tensor::from_vector(u8.shape(), v, dtype, device);
}

// Runs the formula network in dtype on device over the golden images and compares every block.
// *worst_overall: the worst error over all blocks, relative to each block's scale.
void compare_blocks(DType dtype, Device device, double tol, double* worst_overall) {
  const Golden& g = golden();
  auto t0 = std::chrono::steady_clock::now();
  InceptionV3 net(formula_source(), device, dtype);
  auto t1 = std::chrono::steady_clock::now();
  std::map<std::string, Summary> ours;
  net.forward(golden_images(dtype, device), [&](const std::string& block, const Tensor& out) { ours[block] = summarize(out); });
  auto t2 = std::chrono::steady_clock::now();
  std::printf("[ %s %s ] weights built and folded in %.1f s, forward of 2 images in %.1f s\n", dtype_name(dtype),
              device_name(device), std::chrono::duration<double>(t1 - t0).count(),
              std::chrono::duration<double>(t2 - t1).count());

  *worst_overall = 0;
  for (const std::string& block : g.blocks) {
    SCOPED_TRACE("block " + block);
    ASSERT_TRUE(ours.count(block)) << "our forward reported no block " << block;
    const Summary& s = ours[block];
    const std::vector<double> shape = g.file.get(block + ".shape").to_vector();
    ASSERT_EQ(Shape(shape.begin(), shape.end()), s.shape) << "shape of " << block;
    const std::vector<double> mean_ref = g.file.get(block + ".channel_mean").to_vector();
    const std::vector<double> samples_ref = g.file.get(block + ".samples").to_vector();
    double scale = 0;
    for (double x : mean_ref) scale = std::max(scale, std::fabs(x));
    for (double x : samples_ref) scale = std::max(scale, std::fabs(x));
    double worst = 0;
    for (const auto& [what, a, b] : {std::make_tuple("channel_mean", &s.channel_mean, &mean_ref),
                                     std::make_tuple("samples", &s.samples, &samples_ref)}) {
      std::string where;
      EXPECT_TRUE(all_close(*a, *b, tol * scale, tol, &where)) << block << "." << what << ": " << where;
      for (size_t i = 0; i < a->size() && i < b->size(); ++i)
        worst = std::max(worst, std::fabs((*a)[i] - (*b)[i]) / (scale + std::fabs((*b)[i])));
    }
    std::printf("  %-14s %-20s worst error / (scale + |ref|) = %.2e\n", block.c_str(), shape_str(s.shape).c_str(), worst);
    *worst_overall = std::max(*worst_overall, worst);
  }
}

// ---------------------------------------------------------------- architecture

TEST(Inception, TensorSpecMatchesPytorchFidStateDict) {
  // The golden file lists pytorch-fid's state_dict (names and shapes, num_batches_tracked left
  // out) in order; our spec must be the same list, or the formula weights would differ.
  const auto expected = nlohmann::json::parse(golden().file.metadata.at("parameters"));
  const auto ours = metrics::inception_tensor_spec();
  ASSERT_EQ(ours.size(), expected.size());
  int64_t params = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].first, expected[i][0].get<std::string>()) << "tensor " << i;
    EXPECT_EQ(ours[i].second, expected[i][1].get<Shape>()) << ours[i].first;
    if (!ends_with(ours[i].first, "running_mean") && !ends_with(ours[i].first, "running_var"))
      params += shape_numel(ours[i].second);
  }
  EXPECT_EQ(params, 23850960) << "pytorch-fid's Inception3 (aux_logits=False, 1008 classes) has 23,850,960 parameters";
}

TEST(Inception, BlocksMatchPytorchFidFloat64) {
  double worst = 0;
  compare_blocks(DType::F64, Device::CPU, 1e-9, &worst);
  std::printf("float64 worst relative error over all blocks: %.2e (tolerance 1e-9)\n", worst);
}

TEST(Inception, BlocksMatchPytorchFidFloat32) {
  double worst = 0;
  compare_blocks(DType::F32, Device::CPU, 1e-4, &worst);
  std::printf("float32 CPU worst relative error over all blocks: %.2e (tolerance 1e-4)\n", worst);
}

TEST(Inception, CudaFloat32MatchesPytorchFid) {
  NN_SKIP_WITHOUT_CUDA();
  double worst = 0;
  compare_blocks(DType::F32, Device::CUDA, 1e-4, &worst);
  std::printf("float32 CUDA worst relative error over all blocks: %.2e (tolerance 1e-4)\n", worst);
}

TEST(Inception, RejectsWrongShapes) {
  expect_error_containing(
      [&] {
        InceptionV3 net(
            [&](const std::string& name, const Shape& shape) {
              if (name == "Mixed_6b.branch7x7_2.conv.weight") return Tensor::zeros({128, 128, 7, 1}, DType::F64);
              return Tensor::zeros(shape, DType::F64);
            },
            Device::CPU, DType::F64);
      },
      {"Mixed_6b.branch7x7_2.conv.weight", "(128,128,7,1)", "(128,128,1,7)"});
}

// ---------------------------------------------------------------- weights files

TEST(Inception, MissingWeightsSayHowToGetThem) {
  TempDir dir("incep_missing");
  const std::string path = dir / "nowhere.safetensors";
  std::string message;
  EXPECT_FALSE(metrics::inception_weights_available(path, &message));
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  for (const char* part : {"not found", "fetch_inception.sh", "convert_inception.py",
                           "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                           "pt_inception-2015-12-05-6726825d.pth"})
    EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
  EXPECT_NE(message.find(path), std::string::npos);
  expect_error_containing([&] { InceptionV3::load(path, Device::CPU); }, {"not found", path, "convert_inception.py"});
}

TEST(Inception, RejectsFilesNotFromTheConverter) {
  TempDir dir("incep_foreign");
  const std::string plain = dir / "plain.safetensors";
  io::save_safetensors(plain, {{"x", Tensor::zeros({2})}});
  expect_error_containing([&] { InceptionV3::load(plain, Device::CPU); }, {plain, "convert_inception.py"});
  const std::string partial = dir / "partial.safetensors";
  io::save_safetensors(partial, {{"x", Tensor::zeros({2})}}, {{"format", metrics::kInceptionWeightsFormat}});
  expect_error_containing([&] { InceptionV3::load(partial, Device::CPU); }, {partial, "no tensor Conv2d_1a_3x3.conv.weight"});
}

// ---------------------------------------------------------------- PNG folders

// A 32x32 (or w x h) RGB image whose bytes say which image and pixel they are.
std::vector<uint8_t> test_pixels(int w, int h, int salt) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * 7 + static_cast<size_t>(salt) * 31) & 0xFF);
  return rgb;
}

TEST(ImageFolder, ReadsPngsInNameOrderAsPlanes) {
  TempDir dir("incep_pngs");
  // Written out of order; read back sorted by name. A non-PNG file is ignored.
  io::write_png_rgb(dir / "b.png", 32, 32, test_pixels(32, 32, 2));
  io::write_png_rgb(dir / "a.PNG", 32, 32, test_pixels(32, 32, 1));
  std::ofstream(dir / "notes.txt") << "not an image";
  const Tensor t = io::read_png_folder(dir.path().string(), 32, 32);
  ASSERT_EQ(t.shape(), (Shape{2, 3, 32, 32}));
  const uint8_t* p = t.data<uint8_t>();
  for (int img = 0; img < 2; ++img) {
    const std::vector<uint8_t> rgb = test_pixels(32, 32, img + 1);
    for (int pix = 0; pix < 32 * 32; ++pix)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(p[(img * 3 + c) * 1024 + pix], rgb[static_cast<size_t>(pix * 3 + c)]) << img << " " << pix << " " << c;
  }
  EXPECT_EQ(io::read_png_folder(dir.path().string(), 32, 32, /*limit=*/1).size(0), 1);
}

TEST(ImageFolder, ClearErrors) {
  TempDir dir("incep_png_errors");
  expect_error_containing([&] { io::read_png_folder(dir / "missing", 32, 32); }, {"not found"});
  expect_error_containing([&] { io::read_png_folder(dir.path().string(), 32, 32); }, {"has no .png files"});
  io::write_png_rgb(dir / "small.png", 16, 8, test_pixels(16, 8, 0));
  expect_error_containing([&] { io::read_png_folder(dir.path().string(), 32, 32); },
                          {"small.png", "is 16x8", "expected 32x32"});
  std::ofstream(dir / "zz_broken.png") << "this is not a PNG";
  std::filesystem::remove(dir / "small.png");
  expect_error_containing([&] { io::read_png_folder(dir.path().string(), 32, 32); }, {"cannot read image", "zz_broken.png"});
}

// ---------------------------------------------------------------- the evaluator, end to end

const char* kTestSha = "0123456789abcdef-formula-weights-of-test_inception";

// The formula network as a weights file like tools/convert_inception.py writes (float32), made
// once per test process (95 MB in the temp folder).
const std::string& formula_weights_file() {
  static TempDir dir("incep_weights");
  static const std::string path = [] {
    const std::string p = dir / "formula.safetensors";
    std::vector<std::pair<std::string, Tensor>> tensors;
    auto source = formula_source();
    for (const auto& [name, shape] : metrics::inception_tensor_spec())
      tensors.push_back({name, source(name, shape).to(DType::F32)});
    io::save_safetensors(p, tensors, {{"format", metrics::kInceptionWeightsFormat}, {"source_sha256", kTestSha}});
    return p;
  }();
  return path;
}

metrics::EvalOptions small_options(const std::string& cache_dir, std::vector<std::string>* notes) {
  metrics::EvalOptions o;
  o.weights_path = formula_weights_file();
  o.cache_dir = cache_dir;
  o.data_dir = cifar100_dir();
  o.reference_split = data::Split::Test;
  o.reference_limit = 4;
  o.batch_size = 3;     // 4 images in batches of 3 and 1
  o.input_size = 75;    // the smallest input the network takes: 16x cheaper than 299
  o.log = [notes](const std::string& n) { notes->push_back(n); };
  return o;
}

bool any_contains(const std::vector<std::string>& notes, const std::string& part) {
  for (const std::string& n : notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

TEST(Evaluator, ReferenceStatisticsAreCachedAndProtocolIsPrinted) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir cache("incep_cache");
  std::vector<std::string> notes;
  metrics::Evaluator first(small_options(cache.path().string(), &notes));
  EXPECT_FALSE(first.reference_from_cache());
  EXPECT_TRUE(std::filesystem::exists(first.reference_cache_path())) << first.reference_cache_path();
  EXPECT_NE(first.reference_cache_path().find("fid_stats_cifar100_test_4_bilinear75_0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(any_contains(notes, "not pytorch-fid's FID Inception weights")) << "non-standard weights are noted";
  EXPECT_EQ(first.reference_stats().count, 4);

  // The same 4 test images as "generated": the same features, so FID ~ 0 and the same IS.
  const data::Cifar100 test = data::load_cifar100(cifar100_dir(), data::Split::Test);
  const Tensor four = test.images.view_at(0, {4, 3, 32, 32});
  const metrics::EvalResult r = first.evaluate_images(four);
  EXPECT_EQ(r.generated, 4);
  EXPECT_NEAR(r.fid, 0.0, 1e-3);
  EXPECT_EQ(r.is_splits, 4);
  EXPECT_DOUBLE_EQ(r.is_mean, first.reference_is().first);
  EXPECT_DOUBLE_EQ(r.is_std, first.reference_is().second);
  EXPECT_EQ(r.protocol, "4 generated vs CIFAR-100 test 4, bilinear 75, weights 01234567\u2026");
  EXPECT_EQ(r.fid_line().rfind("FID 0.00 (4 generated vs CIFAR-100 test 4, bilinear 75, weights 01234567", 0), 0u)
      << r.fid_line();
  EXPECT_NE(r.is_line().find("(4 generated, 4 splits, bilinear 75, weights 01234567"), std::string::npos) << r.is_line();
  EXPECT_FALSE(r.standard_weights);
  const auto j = nlohmann::json::parse(r.to_json());
  EXPECT_EQ(j.at("weights_sha256"), kTestSha);
  EXPECT_EQ(j.at("protocol"), r.protocol);

  // A second evaluator reads the cache: the same statistics, bit for bit.
  notes.clear();
  metrics::Evaluator second(small_options(cache.path().string(), &notes));
  EXPECT_TRUE(second.reference_from_cache());
  EXPECT_EQ(second.reference_stats().mean, first.reference_stats().mean);
  EXPECT_EQ(second.reference_stats().cov, first.reference_stats().cov);
  EXPECT_EQ(second.reference_is(), first.reference_is());

  // A cache made another way (here: another split size) is not used.
  metrics::EvalOptions o = small_options(cache.path().string(), &notes);
  o.reference_limit = 3;
  metrics::Evaluator third(o);
  EXPECT_FALSE(third.reference_from_cache());
  EXPECT_EQ(third.reference_stats().count, 3);
}

TEST(Evaluator, GeneratorSamplesFollowGanSampleNoiseWhateverTheBatches) {
  // nz = 10, so image 1's noise starts in the middle of a Philox counter (10 mod 4 = 2).
  train::Config c = train::preset_defaults("dcgan");
  c.width = 8;
  c.noise_dim = 10;
  auto gan = train::build_gan(c, Device::CPU);
  gan->generator.train(true);
  const Shape nps = gan->noise_per_sample;
  const Tensor all = metrics::generate_samples_u8(gan->generator.net, nps, Device::CPU, 0, 6, /*seed=*/5);
  EXPECT_TRUE(gan->generator.net.training()) << "the generator's mode is restored";
  ASSERT_EQ(all.shape(), (Shape{6, 3, 32, 32}));
  const Tensor head = metrics::generate_samples_u8(gan->generator.net, nps, Device::CPU, 0, 1, 5);
  const Tensor tail = metrics::generate_samples_u8(gan->generator.net, nps, Device::CPU, 1, 5, 5);
  std::vector<double> joined = head.to_vector(), rest = tail.to_vector();
  joined.insert(joined.end(), rest.begin(), rest.end());
  EXPECT_EQ(joined, all.to_vector()) << "batches [0,1) + [1,6) differ from [0,6)";

  // gan_sample's noise: one normal fill of (6, nz, 1, 1) from Generator(seed), eval mode, then
  // the PNG writer's bytes.
  NoGradGuard no_grad;
  gan->generator.train(false);
  Generator rng(5);
  Tensor noise = Tensor::empty(gan->noise_shape(6));
  noise.normal_(rng);
  EXPECT_EQ(metrics::quantize_images(gan->generator.net.forward(noise)).to_vector(), all.to_vector());
  EXPECT_NE(metrics::generate_samples_u8(gan->generator.net, nps, Device::CPU, 0, 6, 6).to_vector(), all.to_vector())
      << "another seed, other images";
}

TEST(Evaluator, QuantisationIsThePngWriters) {
  const Tensor x = Tensor::from_vector({1, 1, 1, 6}, {-1.5, -1.0, -0.003921, 0.0, 0.999, 2.0});
  const std::vector<double> q = metrics::quantize_images(x).to_vector();
  for (size_t i = 0; i < q.size(); ++i)
    EXPECT_EQ(q[i], io::image_value_to_byte(static_cast<float>(x.to_vector()[i]))) << i;
  EXPECT_EQ(q.front(), 0);
  EXPECT_EQ(q[3], 128);  // (0 + 1) * 127.5 = 127.5 rounds half up
  EXPECT_EQ(q.back(), 255);
}

// ---------------------------------------------------------------- the command-line tools

struct ToolRun {
  int exit_code = -1;
  std::string out, err;
};

ToolRun run_tool(const std::string& command, const TempDir& dir) {
  const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
  const int status = std::system((command + " > " + out + " 2> " + err).c_str());
  ToolRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

const std::string kGanEval = std::string(NN_BINARY_DIR) + "/gan_eval";

TEST(GanEval, MissingWeightsIsOneLineSayingHowToGetThem) {
  TempDir dir("gan_eval_noweights");
  std::filesystem::create_directories(dir / "imgs");
  io::write_png_rgb(dir / "imgs/0.png", 32, 32, test_pixels(32, 32, 0));
  io::write_png_rgb(dir / "imgs/1.png", 32, 32, test_pixels(32, 32, 1));
  const std::string weights = dir / "nowhere/inception.safetensors";
  const ToolRun r = run_tool(kGanEval + " --images " + (dir / "imgs") + " --weights " + weights, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  for (const std::string part : {std::string("gan_eval: error: FID Inception weights not found at ") + weights,
                                 std::string("tools/fetch_inception.sh"), std::string("convert_inception.py"),
                                 std::string(metrics::kInceptionPthUrl)})
    EXPECT_NE(r.err.find(part), std::string::npos) << part << " not in: " << r.err;
}

TEST(GanEval, WrongSizedPngsAreOneLineError) {
  TempDir dir("gan_eval_wrongsize");
  std::filesystem::create_directories(dir / "imgs");
  io::write_png_rgb(dir / "imgs/0.png", 64, 64, test_pixels(64, 64, 0));
  const ToolRun r = run_tool(kGanEval + " --images " + (dir / "imgs"), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("gan_eval: error: image " + (dir / "imgs/0.png") + " is 64x64, expected 32x32"),
            std::string::npos)
      << r.err;
}

TEST(GanEval, UsageErrorsExitTwo) {
  TempDir dir("gan_eval_usage");
  for (const std::string args : {std::string(""), std::string("--images a --checkpoint b"),
                                 std::string("--images a --reference valid"), std::string("--bogus")}) {
    const ToolRun r = run_tool(kGanEval + " " + args, dir);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(count_lines(r.err), 1) << args << ": " << r.err;
  }
}

TEST(GanEval, CheckpointNumbersComeWithTheirProtocol) {
  NN_SKIP_WITHOUT_CIFAR();
  // The whole pipeline at 299x299 with the formula weights, on a freshly initialised tiny
  // generator: 4 generated images against the first 2 CIFAR-100 test images.
  TempDir dir("gan_eval_run");
  train::Config c = train::preset_defaults("dcgan");
  c.width = 8;
  auto gan = train::build_gan(c, Device::CPU);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const Parameter& p : gan->generator.arena.parameters()) tensors.push_back({"generator." + p.name, p.tensor});
  for (const Buffer& b : gan->generator.arena.buffers()) tensors.push_back({"generator." + b.name, b.tensor});
  const std::string ckpt = dir / "ckpt.safetensors";
  io::save_safetensors(ckpt, tensors, {{"config", train::config_to_json(c)}, {"step", "0"}});
  const ToolRun r = run_tool(kGanEval + " --checkpoint " + ckpt + " --count 4 --seed 1 --weights " +
                                 formula_weights_file() + " --cache-dir " + (dir / "cache") + " --data " +
                                 cifar100_dir() + " --reference test --reference-limit 2 --device cpu --quiet",
                             dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "") << "--quiet";
  ASSERT_EQ(count_lines(r.out), 3) << r.out;
  std::istringstream lines(r.out);
  std::string fid, is, ref;
  std::getline(lines, fid);
  std::getline(lines, is);
  std::getline(lines, ref);
  const std::string weights = "weights 01234567\u2026)";
  EXPECT_EQ(fid.rfind("FID ", 0), 0u) << fid;
  EXPECT_NE(fid.find(" (4 generated vs CIFAR-100 test 2, bilinear 299, " + weights), std::string::npos) << fid;
  EXPECT_EQ(is.rfind("IS ", 0), 0u) << is;
  EXPECT_NE(is.find(" (4 generated, 4 splits, bilinear 299, " + weights), std::string::npos) << is;
  EXPECT_EQ(ref.rfind("reference IS ", 0), 0u) << ref;
  EXPECT_NE(ref.find("(CIFAR-100 test 2, bilinear 299, " + weights), std::string::npos) << ref;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "cache"), std::filesystem::directory_iterator()), 1)
      << "the reference statistics are cached";
}

// gan_train --eval-every: FID and IS at each epoch end into eval.csv, the best-FID checkpoint kept
// (its FID in the metadata, carried through a resume), and an epoch end whose evaluation a stop
// skipped is evaluated when the run resumes there. Formula weights, a 2-image reference and 4
// generated images at 299x299 keep it to seconds; the numbers themselves are tested above.
std::vector<std::vector<std::string>> read_eval_csv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  std::getline(in, line);
  EXPECT_EQ(line, "step,epoch,fid,is_mean,is_std,seconds,protocol");
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    for (int k = 0; k < 6 && std::getline(ss, cell, ','); ++k) cells.push_back(cell);
    std::getline(ss, cell);
    cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

TEST(GanTrainEval, EvaluatesEachEpochAndKeepsTheBestFidCheckpoint) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("train_eval");
  train::Config c = train::preset_defaults("dcgan");
  c.width = 8;
  c.batch_size = 16;
  c.train_images = 32;  // 2 steps per epoch
  c.epochs = 2;
  c.device = "cpu";
  c.data_dir = cifar100_dir();
  c.out_dir = (dir / "run");
  c.eval_reference = "test";
  c.eval_reference_limit = 2;
  c.eval_images = 4;
  c.inception_weights = formula_weights_file();
  {
    // Epoch 1 without evaluation, as when a stop signal lands on the epoch end ...
    c.epochs = 1;
    train::Trainer t(c, /*quiet=*/true);
    ASSERT_EQ(t.run(), train::kExitOk);
  }
  {
    // ... then a resume with --eval-every 1 evaluates step 2 first, then trains epoch 2 (step 4).
    c.epochs = 2;
    c.eval_every = 1;
    c.resume = "auto";
    train::Trainer t(c, /*quiet=*/true);
    ASSERT_EQ(t.step(), 2);
    ASSERT_EQ(t.run(), train::kExitOk);
  }
  auto rows = read_eval_csv(dir / "run/eval.csv");
  ASSERT_EQ(rows.size(), 2u);
  double best = INFINITY;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][0], std::to_string(2 * (i + 1)));  // steps 2 and 4
    const double fid = std::stod(rows[i][2]);
    EXPECT_TRUE(std::isfinite(fid) && fid >= 0) << rows[i][2];
    best = std::min(best, fid);
    EXPECT_NE(rows[i][6].find("4 generated vs CIFAR-100 test 2, bilinear 299, weights 01234567"), std::string::npos)
        << rows[i][6];
  }
  const std::string best_ckpt = dir / "run/checkpoint_best_fid.safetensors";
  ASSERT_TRUE(std::filesystem::exists(best_ckpt));
  io::SafetensorsFile f = io::load_safetensors(best_ckpt);
  EXPECT_NEAR(std::stod(f.metadata.at("best_fid")), best, 1e-8 * best);  // eval.csv has 10 digits
  const std::string best_step = std::stod(rows[0][2]) <= std::stod(rows[1][2]) ? "2" : "4";
  EXPECT_EQ(f.metadata.at("step"), best_step);
  EXPECT_EQ(f.metadata.at("best_fid_step"), best_step);

  // A resume carries the best FID on: the latest checkpoint has it, a resumed trainer reads it
  // and writes it into its own checkpoints.
  io::SafetensorsFile latest = io::load_safetensors(dir / "run/checkpoint_latest.safetensors");
  EXPECT_NEAR(std::stod(latest.metadata.at("best_fid")), best, 1e-8 * best);
  train::Trainer resumed(c, /*quiet=*/true);  // resume "auto" at step 4
  EXPECT_EQ(resumed.step(), 4);
  resumed.save_checkpoint(dir / "resumed.safetensors");
  io::SafetensorsFile again = io::load_safetensors(dir / "resumed.safetensors");
  EXPECT_EQ(again.metadata.at("best_fid"), latest.metadata.at("best_fid"));
  EXPECT_EQ(again.metadata.at("best_fid_step"), best_step);
}

TEST(ConvertInception, RefusesAFileWhoseShaIsNotPytorchFids) {
  if (std::system("python3 -c 'import hashlib, argparse' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  TempDir dir("convert_sha");
  std::ofstream(dir / "fake.pth") << "not the weights";
  const ToolRun r = run_tool("python3 " + std::string(NN_SOURCE_DIR) + "/tools/convert_inception.py " +
                                 (dir / "fake.pth") + " " + (dir / "out.safetensors"),
                             dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("expected one beginning with 6726825d"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.safetensors"));
}

}  // namespace
}  // namespace nn::test
