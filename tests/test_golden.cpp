// Golden parity: three full adversarial steps of each preset against PyTorch, tensor by tensor.
//
// tools/make_golden.py wrote tests/golden/<preset>_inputs.safetensors (the run's config, our own
// initialiser's weights, the noise, real batches and dropout masks) and <preset>_step<k>.safetensors
// (everything step k touches, from PyTorch in float64). Here gan_train's Trainer starts from those
// weights through --init-from's loader, takes the same inputs through train_step(real, noise) and a
// Dropout mask source, and every tensor of every step is compared:
//   every layer's output (G.main.<i>, D<call>.main.<i>), loss_d, loss_g, d_x, d_g_z1, d_g_z2,
//   grad.<network>.<param>, and after the step every parameter, batchnorm statistic and counter
//   (<network>.*) and Adam moment (optimizer_<g|d>.<param>.exp_avg[_sq]).
//
// Tolerances, and why:
//   * float64 on the CPU: |ours - torch| <= 1e-10 * max|torch| (+ 1e-6 of PyTorch's float32 error,
//     for tensors that are rounding noise, see compare()) for each tensor (relative to the
//     tensor's largest element, so that entries that are zero up to cancellation do not demand
//     digits neither engine has). Both engines compute the same formulas in double; what differs is
//     only the order of the sums (im2col + GEMM against MKL/oneDNN's), worth ~1e-15 relative, which
//     three steps of Adam do not amplify beyond ~1e-12 here.
//   * float32 (CPU, and CUDA with TF32 off): the fixture records, per tensor, how far PyTorch's own
//     float32 run lands from its float64 run (e_torch = max |torch32 - torch64|). Ours must land
//     within |ours32 - torch64| <= 8 e_torch + 1e-6 max|torch64|: a float32 engine as accurate as
//     PyTorch's, with room for a different summation order. 8 is the margin; the floor covers
//     tensors where PyTorch's float32 happens to be exact (e_torch = 0, e.g. a mask's zeros).
//   * counters (num_batches_tracked) are integers: equal.
// A mismatch prints the tensor's name, its worst element, both values and the tolerance.
//
// Also: the fixture's initial weights are exactly what our initialiser draws for that config (so a
// changed initialiser says "regenerate the fixtures" instead of failing everywhere).
#include <nlohmann/json.hpp>

#include <cmath>
#include <deque>
#include <map>
#include <sstream>

#include "io/safetensors.h"
#include "test_util.h"
#include "train/trainer.h"

namespace nn::test {
namespace {

using train::Config;
using train::Trainer;

const std::string kGoldenDir = std::string(NN_SOURCE_DIR) + "/tests/golden";

struct Golden {
  std::string inputs_path;
  io::SafetensorsFile inputs;
  std::vector<io::SafetensorsFile> steps;
  Config config;
};

Golden load_golden(const std::string& preset) {
  Golden g;
  g.inputs_path = kGoldenDir + "/" + preset + "_inputs.safetensors";
  g.inputs = io::load_safetensors(g.inputs_path);
  g.config = train::config_from_json(g.inputs.metadata.at("config"));
  const int steps = std::stoi(g.inputs.metadata.at("steps"));
  for (int k = 1; k <= steps; ++k)
    g.steps.push_back(io::load_safetensors(kGoldenDir + "/" + preset + "_step" + std::to_string(k) + ".safetensors"));
  return g;
}

// The closest call of a run: the largest |diff| / tolerance over all tensors, printed at the end so
// the margin is visible, not only pass/fail.
struct Margin {
  double ratio = 0;
  std::string name;
};

// Compares one tensor; returns false (and adds a failure) on a mismatch.
bool compare(const std::string& name, const Tensor& ours, const Tensor& theirs, DType dtype, double torch_f32_error,
             Margin& margin) {
  if (ours.shape() != theirs.shape()) {
    ADD_FAILURE() << name << ": shape " << shape_str(ours.shape()) << ", PyTorch " << shape_str(theirs.shape());
    return false;
  }
  const std::vector<double> a = ours.to(Device::CPU).to_vector(), b = theirs.to_vector();
  if (theirs.dtype() == DType::I64) {
    if (a != b) ADD_FAILURE() << name << ": " << a[0] << ", PyTorch " << b[0];
    return a == b;
  }
  double scale = 0;
  for (double v : b) scale = std::max(scale, std::fabs(v));
  // float64: 1e-10 of the tensor's scale, plus 1e-6 of PyTorch's own float32 error for it. The
  // second term matters only for tensors that are zero up to rounding noise (sngan's convolution
  // biases in front of a batchnorm, whose gradient is mathematically zero): there float64 noise is
  // all there is, about 2^-29 of float32's, and 1e-6 of it is still 500 times that.
  const double tol = dtype == DType::F64 ? 1e-10 * scale + 1e-6 * torch_f32_error : 8 * torch_f32_error + 1e-6 * scale;
  size_t worst = 0;
  double worst_diff = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    if (!(d <= worst_diff) || std::isnan(d)) {  // NaN always counts as the worst
      worst_diff = std::isnan(d) ? INFINITY : d;
      worst = i;
    }
  }
  if (!a.empty() && tol > 0 && worst_diff / tol > margin.ratio) margin = {worst_diff / tol, name};
  if (a.empty() || worst_diff <= tol) return true;
  ADD_FAILURE() << name << ": worst element " << worst << " of " << a.size() << ": ours " << a[worst]
                << ", PyTorch " << b[worst] << " (|diff| " << worst_diff << " > tolerance " << tol
                << "; max|PyTorch| " << scale << ", PyTorch float32's own error " << torch_f32_error << ")";
  return false;
}

// Runs the fixture's three steps on `device` in `dtype` and compares everything.
void check_against_pytorch(const std::string& preset, Device device, DType dtype) {
  if (device == Device::CUDA) NN_SKIP_WITHOUT_CUDA();
  Golden g = load_golden(preset);
  TempDir dir("golden_" + preset);
  Config c = g.config;
  c.device = device == Device::CUDA ? "cuda" : "cpu";
  c.dtype = dtype == DType::F64 ? "float64" : "float32";
  c.out_dir = dir.path().string();
  c.init_from = g.inputs_path;  // the initial weights go through gan_train --init-from's loader
  c.resume.clear();
  backend_settings().allow_tf32 = false;
  Trainer trainer(c, Tensor(), /*quiet=*/true);

  // Layer outputs, losses and D scores as the step produces them.
  std::map<std::string, Tensor> seen;
  auto keep = [&](const std::string& name, const Tensor& t) { seen[name] = t.detach().to(Device::CPU).to(DType::F64); };
  Sequential& G = trainer.gan().generator.net;
  Sequential& D = trainer.gan().discriminator.net;
  int d_call = 0;
  G.set_output_observer([&](size_t i, const Tensor& y) { keep("G.main." + std::to_string(i), y); });
  D.set_output_observer([&](size_t i, const Tensor& y) {
    keep("D" + std::to_string(d_call) + ".main." + std::to_string(i), y);
    if (i + 1 == D.layers().size()) ++d_call;
  });
  trainer.set_observer(keep);

  // PyTorch's dropout masks, in call order.
  std::deque<Tensor> masks;
  for (const auto& layer : D.layers()) {
    if (auto dropout = std::dynamic_pointer_cast<Dropout>(layer)) {
      const double scale = 1.0 / (1.0 - dropout->p());
      dropout->set_mask_source([&masks, scale, dtype, device](const Shape& shape) {
        NN_CHECK(!masks.empty(), "golden: more dropout calls than masks in the fixture");
        Tensor keep = masks.front().to(DType::F64);
        masks.pop_front();
        NN_CHECK(keep.shape() == shape, "golden: mask ", shape_str(keep.shape()), " for input ", shape_str(shape));
        return (keep * scale).to(dtype).to(device);
      });
    }
  }

  auto input = [&](const std::string& name) { return g.inputs.get(name).to(dtype).to(device); };
  Margin margin;
  for (size_t k = 1; k <= g.steps.size(); ++k) {
    SCOPED_TRACE(preset + " step " + std::to_string(k));
    const std::string s = "step" + std::to_string(k);
    seen.clear();
    d_call = 0;
    for (int j = 0; g.inputs.has(s + ".dropout" + std::to_string(j)); ++j)
      masks.push_back(g.inputs.get(s + ".dropout" + std::to_string(j)));
    if (preset == "sngan") {  // d_steps real batches and d_steps + 1 noise batches per step
      std::vector<Tensor> reals, noises;
      for (int j = 0; g.inputs.has(s + ".real" + std::to_string(j)); ++j) reals.push_back(input(s + ".real" + std::to_string(j)));
      for (int j = 0; g.inputs.has(s + ".noise" + std::to_string(j)); ++j) noises.push_back(input(s + ".noise" + std::to_string(j)));
      trainer.train_step(reals, noises);
    } else {
      trainer.train_step(input(s + ".real"), input(s + ".noise"));
    }
    EXPECT_TRUE(masks.empty()) << masks.size() << " dropout masks were not used";

    // Everything our side can name.
    std::map<std::string, Tensor> ours = seen;
    for (auto& [name, t] : trainer.checkpoint_tensors()) ours[name] = t;
    for (auto* net : {&trainer.gan().generator, &trainer.gan().discriminator}) {
      const std::string prefix = net == &trainer.gan().generator ? "grad.generator." : "grad.discriminator.";
      for (const Parameter& p : net->arena.parameters()) ours[prefix + p.name] = p.tensor.grad();
    }

    const io::SafetensorsFile& want = g.steps[k - 1];
    nlohmann::json f32_errors = nlohmann::json::parse(want.metadata.at("f32_error"));
    int compared = 0, failed = 0;
    for (const auto& [name, theirs] : want.tensors) {
      auto it = ours.find(name);
      if (it == ours.end()) {
        ADD_FAILURE() << "the fixture has " << name << ", which this run does not produce";
        ++failed;
        continue;
      }
      const double e = f32_errors.contains(name) ? f32_errors[name].get<double>() : 0.0;
      failed += !compare(name, it->second, theirs, dtype, e, margin);
      ++compared;
    }
    // Every layer output we produced is in the fixture too (views excepted, as make_golden.py).
    // (sngan's networks are blocks, not PyTorch Sequentials: its fixture has no layer outputs.)
    for (const auto& [name, t] : seen) {
      (void)t;
      if (preset == "sngan" && name.find(".main.") != std::string::npos) continue;
      if (!want.has(name)) {
        const size_t dot = name.rfind('.');
        const size_t index = std::stoul(name.substr(dot + 1));
        const Sequential& net = name[0] == 'G' ? G : D;
        const Layer* layer = net.layers().at(index).get();
        EXPECT_TRUE(dynamic_cast<const Flatten*>(layer) || dynamic_cast<const Unflatten*>(layer))
            << name << " is not in the fixture";
      }
    }
    EXPECT_GT(compared, 40);
    if (failed > 0) ADD_FAILURE() << failed << " of " << compared << " tensors differ from PyTorch";
  }
  std::cout << "[ golden   ] " << preset << " " << dtype_name(dtype) << " " << (device == Device::CUDA ? "cuda" : "cpu")
            << ": largest error / tolerance over 3 steps = " << margin.ratio << " (" << margin.name << ")\n";
}

TEST(Golden, DcganMatchesPytorchFloat64Cpu) { check_against_pytorch("dcgan", Device::CPU, DType::F64); }
TEST(Golden, KerasMatchesPytorchFloat64Cpu) { check_against_pytorch("keras", Device::CPU, DType::F64); }
TEST(Golden, DcganMatchesPytorchFloat32Cpu) { check_against_pytorch("dcgan", Device::CPU, DType::F32); }
TEST(Golden, KerasMatchesPytorchFloat32Cpu) { check_against_pytorch("keras", Device::CPU, DType::F32); }
TEST(Golden, SnganMatchesPytorchFloat64Cpu) { check_against_pytorch("sngan", Device::CPU, DType::F64); }
TEST(Golden, SnganMatchesPytorchFloat32Cpu) { check_against_pytorch("sngan", Device::CPU, DType::F32); }
TEST(Golden, SnganMatchesPytorchFloat32Cuda) { check_against_pytorch("sngan", Device::CUDA, DType::F32); }
TEST(Golden, DcganMatchesPytorchFloat32Cuda) { check_against_pytorch("dcgan", Device::CUDA, DType::F32); }
TEST(Golden, KerasMatchesPytorchFloat32Cuda) { check_against_pytorch("keras", Device::CUDA, DType::F32); }

// The fixtures start from our initialiser's weights for their config: if the initialiser changes,
// this says so plainly (regenerate with tools/make_golden.py) rather than every step differing.
TEST(Golden, FixturesStartFromOurInitialiser) {
  for (const std::string preset : {"dcgan", "keras", "sngan"}) {
    Golden g = load_golden(preset);
    TempDir dir("golden_init");
    Config c = g.config;
    c.device = "cpu";
    c.out_dir = dir.path().string();
    Trainer trainer(c, Tensor(), true);
    int checked = 0;
    for (auto& [name, t] : trainer.checkpoint_tensors()) {
      if (name.rfind("optimizer_", 0) == 0 || name.rfind("generator_ema.", 0) == 0) continue;  // (a copy of G)
      ASSERT_TRUE(g.inputs.has(name)) << preset << ": " << name;
      EXPECT_EQ(t.to_vector(), g.inputs.get(name).to_vector())
          << preset << ": " << name << " is not what our initialiser draws: regenerate with tools/make_golden.py";
      ++checked;
    }
    EXPECT_GT(checked, 5);
  }
}

// The fixtures are small, as the issue asks (each well under 1 MB).
TEST(Golden, FixturesAreSmall) {
  for (const std::string preset : {"dcgan", "keras", "sngan"}) {
    Golden g = load_golden(preset);
    std::vector<std::string> files = {g.inputs_path};
    for (size_t k = 1; k <= g.steps.size(); ++k)
      files.push_back(kGoldenDir + "/" + preset + "_step" + std::to_string(k) + ".safetensors");
    for (const std::string& f : files) EXPECT_LT(std::filesystem::file_size(f), 700u * 1024) << f;
    EXPECT_EQ(g.steps.size(), 3u);
  }
}

}  // namespace
}  // namespace nn::test
