// models.cpp — builds the dcgan and keras networks (see models.h for the architectures).
#include "train/models.h"

#include <iostream>

#include "io/safetensors.h"
#include "nn/backend.h"
#include "train/sngan.h"

#include <type_traits>

namespace nn::train {

namespace {

using Act = Activation::Kind;

// Adds layers with PyTorch Sequential names: main.0, main.1, ...
class Builder {
 public:
  explicit Builder(Network& n) : n_(n) {}
  std::string next_name() const { return "main." + std::to_string(n_.net.layers().size()); }
  template <class L, class... Args>
  Builder& param_layer(Args&&... args) {
    auto layer = std::make_shared<L>(n_.arena, next_name(), std::forward<Args>(args)...);
    if constexpr (std::is_same_v<L, BatchNorm>) n_.batchnorms.push_back(layer);
    n_.net.add(layer);
    return *this;
  }
  Builder& act(Act kind, double slope = 0.0) {
    n_.net.add(std::make_shared<Activation>(kind, slope));
    return *this;
  }
  Builder& layer(std::shared_ptr<Layer> l) {
    n_.net.add(std::move(l));
    return *this;
  }

 private:
  Network& n_;
};

void build_dcgan(const Config& c, Gan& gan) {
  const int64_t w = c.width, nz = c.noise_dim;
  const double slope = c.leaky_slope;
  Builder g(gan.generator);
  g.param_layer<ConvTranspose2d>(nz, 4 * w, 4, 1, 0, 0, false).param_layer<BatchNorm>(4 * w, 2).act(Act::ReLU);
  g.param_layer<ConvTranspose2d>(4 * w, 2 * w, 4, 2, 1, 0, false).param_layer<BatchNorm>(2 * w, 2).act(Act::ReLU);
  g.param_layer<ConvTranspose2d>(2 * w, w, 4, 2, 1, 0, false).param_layer<BatchNorm>(w, 2).act(Act::ReLU);
  g.param_layer<ConvTranspose2d>(w, 3, 4, 2, 1, 0, false).act(Act::Tanh);

  Builder d(gan.discriminator);
  const bool sn = c.spectral_norm;  // --spectral-norm: weight_orig, weight_u, weight_v instead of weight
  d.param_layer<Conv2d>(3, w, 4, 2, 1, false, sn).act(Act::LeakyReLU, slope);
  d.param_layer<Conv2d>(w, 2 * w, 4, 2, 1, false, sn).param_layer<BatchNorm>(2 * w, 2).act(Act::LeakyReLU, slope);
  d.param_layer<Conv2d>(2 * w, 4 * w, 4, 2, 1, false, sn).param_layer<BatchNorm>(4 * w, 2).act(Act::LeakyReLU, slope);
  d.param_layer<Conv2d>(4 * w, 1, 4, 1, 0, false, sn);
  gan.d_outputs_probability = (c.loss == "bce");
  if (gan.d_outputs_probability) d.act(Act::Sigmoid);
  gan.noise_per_sample = {nz, 1, 1};
}

void build_keras(const Config& c, Gan& gan) {
  const int64_t w = c.width, nz = c.noise_dim;
  const double slope = c.leaky_slope;
  Builder g(gan.generator);
  g.param_layer<Linear>(nz, 8 * 8 * w, false).param_layer<BatchNorm>(8 * 8 * w, 1).act(Act::LeakyReLU, slope);
  g.layer(std::make_shared<Unflatten>(Shape{w, 8, 8}));
  g.param_layer<ConvTranspose2d>(w, w / 2, 5, 1, 2, 0, false).param_layer<BatchNorm>(w / 2, 2).act(Act::LeakyReLU,
                                                                                                 slope);
  g.param_layer<ConvTranspose2d>(w / 2, w / 4, 5, 2, 2, 1, false)
      .param_layer<BatchNorm>(w / 4, 2)
      .act(Act::LeakyReLU, slope);
  g.param_layer<ConvTranspose2d>(w / 4, 3, 5, 2, 2, 1, false).act(Act::Tanh);

  Builder d(gan.discriminator);
  // The Dropout modules are there whatever --dropout says (p = 0 is the identity and draws no
  // mask), so the tensor names are a function of the preset alone: main.0, main.3, main.7, as in
  // the PyTorch model, and a --dropout 0 checkpoint still loads there with strict=True.
  const bool sn = c.spectral_norm;
  d.param_layer<Conv2d>(3, w / 4, 5, 2, 2, true, sn).act(Act::LeakyReLU, slope);
  d.layer(std::make_shared<Dropout>(c.dropout, gan.dropout_rng));
  d.param_layer<Conv2d>(w / 4, w / 2, 5, 2, 2, true, sn).act(Act::LeakyReLU, slope);
  d.layer(std::make_shared<Dropout>(c.dropout, gan.dropout_rng));
  d.layer(std::make_shared<Flatten>());
  d.param_layer<Linear>(w / 2 * 8 * 8, 1, true, sn);
  gan.d_outputs_probability = false;
  gan.noise_per_sample = {nz};
}

}  // namespace

std::unique_ptr<Gan> build_gan(const Config& config, Device device) {
  validate(config);
  auto gan = std::make_unique<Gan>();
  // Dropout masks come from their own stream of the run's seed (counter-based: any fixed,
  // distinct seed works), so they never shift the noise or initialisation streams. The counter is
  // on the run's device, so a replayed CUDA graph draws new masks every step.
  gan->dropout_rng = DeviceGenerator(config.seed ^ 0xD0D0D0D0ull, device);
  if (config.preset == "dcgan") {
    build_dcgan(config, *gan);
  } else if (config.preset == "keras") {
    build_keras(config, *gan);
  } else {
    build_sngan(config, *gan);
  }
  const DType dtype = config.dtype == "float64" ? DType::F64 : DType::F32;
  gan->generator.arena.build(device, dtype);
  gan->discriminator.arena.build(device, dtype);
  if (config.fuse) {  // --fuse: batch_norm_act and bias_act where a layer meets its activation
    fuse_activations(gan->generator.net);
    fuse_activations(gan->discriminator.net);
    // dcgan's D ends in Sigmoid, and BCE follows: the trainer's loss applies it (bce_sigmoid).
    if (gan->d_outputs_probability) {
      auto last = std::dynamic_pointer_cast<Activation>(gan->discriminator.net.layers().back());
      NN_CHECK(last && last->kind() == Activation::Kind::Sigmoid, "internal: D does not end in a Sigmoid");
      last->set_fused();
      gan->d_sigmoid_in_loss = true;
    }
  }
  Generator init_rng(config.seed);
  auto init = config.preset == "sngan" ? init_sngan : init_dcgan;
  init(gan->generator.arena, init_rng);
  init(gan->discriminator.arena, init_rng);
  // Spectral normalisation's u and v, after every parameter (without spectral norm there are
  // none and the stream is not touched, so the other presets' weights stay what they were).
  init_spectral_norm_vectors(gan->discriminator.arena, init_rng);
  return gan;
}

std::unique_ptr<Gan> load_generator(const std::string& checkpoint, Device device) {
  io::SafetensorsFile file = io::load_safetensors(checkpoint);
  if (!file.verified) std::cerr << io::unverified_note(file) << "\n";
  auto it = file.metadata.find("config");
  NN_CHECK(it != file.metadata.end(), "checkpoint ", checkpoint, " has no configuration (not a gan_train checkpoint)");
  Config config = config_from_json(it->second);
  config.dtype = "float32";  // sampling and evaluation run in float32, whatever the training precision
  config.cuda_graph = "off";  // nothing is trained here
  auto gan = build_gan(config, device);
  // --ema runs keep an EMA generator (generator_ema.*): what samples and evaluations use.
  const bool ema = file.has("generator_ema." + gan->generator.arena.parameters().front().name);
  const std::string prefix = ema ? "generator_ema." : "generator.";
  if (ema) std::cerr << "using the EMA generator of " << checkpoint << " (generator_ema.*)\n";
  auto load = [&](const std::string& name, const Tensor& dst) {
    const Tensor& src = file.get(prefix + name);
    NN_CHECK(src.shape() == dst.shape(), "checkpoint ", checkpoint, " is corrupt: ", prefix, name, " is ", src.str(),
             ", expected ", shape_str(dst.shape()));
    dst.copy_(src.dtype() == dst.dtype() ? src : src.to(dst.dtype()));
  };
  for (const Parameter& p : gan->generator.arena.parameters()) load(p.name, p.tensor);
  for (const Buffer& b : gan->generator.arena.buffers()) load(b.name, b.tensor);
  cuda_synchronize();  // the copies read host buffers that `file` frees on return
  gan->generator.train(false);
  return gan;
}

}  // namespace nn::train
