// nn.h — parameters and layers.
//
// ParameterArena: all parameters of a model live in ONE contiguous buffer, their gradients in a
// second buffer of the same layout (and the optimizer's moments in more of the same, optim.h).
// Each parameter Tensor is a view into it. So zeroing gradients is one fill, Adam is one kernel
// launch, and a checkpoint is a few large writes. Non-trained state (batchnorm running
// statistics) lives in a third buffer. Names follow PyTorch's state_dict ("main.0.weight"), so
// checkpoints move between the two.
//
// Usage: layers add their tensors to the arena when constructed; arena.build(device) allocates
// and the tensors become usable; init_dcgan() draws the DCGAN initial values.
//
// Layers mirror torch.nn: Linear, Conv2d, ConvTranspose2d, BatchNorm (1d and 2d), the
// activations, Dropout, Flatten, Unflatten, and Sequential. Layouts follow PyTorch
// (Conv2d (out,in,kh,kw), ConvTranspose2d (in,out,kh,kw), Linear (out,in)).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/ops.h"
#include "nn/rng.h"
#include "nn/step_state.h"
#include "nn/tensor.h"

namespace nn {

// How init_dcgan() draws a parameter (DCGAN paper, section 3, and pytorch/examples' weights_init).
enum class ParamInit {
  Weight,           // conv / linear weight: normal(0, 0.02)
  BatchNormWeight,  // normal(1, 0.02)
  Bias,             // zeros
  XavierUniform,    // uniform(-a, a), a = gain sqrt(6 / (fan_in + fan_out)), as nn.init.xavier_uniform_ (init_sngan)
};

struct Parameter {
  std::string name;
  Tensor tensor;  // a view into the arena (requires grad); .grad() is a view into the grad arena
  ParamInit init;
  size_t offset;  // in elements, from the arena start
  double init_gain = 1.0;  // XavierUniform's gain
};

struct Buffer {
  std::string name;
  Tensor tensor;  // a view into the buffer arena (no grad)
  double initial_value;
  size_t offset;
  // Spectral normalisation's u and v: drawn as normalize(normal(0, 1)) by
  // init_spectral_norm_vectors, as torch.nn.utils.spectral_norm starts them.
  bool random_unit_vector = false;
};

class ParameterArena {
 public:
  // Declare a parameter / buffer; the returned Tensor has no storage until build().
  Tensor add_parameter(const std::string& name, const Shape& shape, ParamInit init);
  Tensor add_buffer(const std::string& name, const Shape& shape, double initial_value, bool random_unit_vector = false);
  // Changes how init_dcgan / init_sngan draw the parameter `param` (a tensor add_parameter returned).
  void set_init(const Tensor& param, ParamInit init, double gain = 1.0);

  // Allocates the value, gradient and buffer arenas on `device` and binds every view. Parameters
  // start at 0 (init_dcgan or a checkpoint gives values), gradients at 0, buffers at their
  // initial values. Calling build() again moves everything to another device, keeping values.
  void build(Device device, DType dtype = DType::F32);
  bool built() const { return values_.defined(); }

  const std::vector<Parameter>& parameters() const { return params_; }
  const std::vector<Buffer>& buffers() const { return buffers_; }
  int64_t parameter_count() const;  // real elements, without alignment padding
  Tensor values() const { return values_; }  // flat (arena_size) views of the whole arenas
  Tensor grads() const { return grads_; }
  Tensor buffer_values() const { return buffer_values_; }
  Device device() const;
  DType dtype() const;

  void zero_grad();  // one fill over the gradient arena
  // Freezes (false) or unfreezes all parameters. Backward closures read requires_grad when they
  // run, so freezing between forward and backward makes a sweep skip these parameters' gradients
  // (the trainer uses it to get dLoss/dInput through a network without touching its weights).
  void set_requires_grad(bool on);
  // A view of `flat` (an arena-shaped buffer: values, grads, Adam moments) for parameter p.
  static Tensor parameter_view(const Tensor& flat, const Parameter& p) {
    return flat.view_at(static_cast<int64_t>(p.offset), p.tensor.shape());
  }
  static Tensor buffer_view(const Tensor& flat, const Buffer& b) {
    return flat.view_at(static_cast<int64_t>(b.offset), b.tensor.shape());
  }

 private:
  size_t reserve(const Shape& shape, size_t& end);
  std::vector<Parameter> params_;
  std::vector<Buffer> buffers_;
  size_t param_end_ = 0, buffer_end_ = 0;  // arena sizes in elements (with padding)
  Tensor values_, grads_, buffer_values_;
};

// DCGAN initialisation drawn from the shared generator: weights normal(0, 0.02), batchnorm
// weights normal(1, 0.02), biases zero; parameters in arena order, so a seed fixes them all.
void init_dcgan(ParameterArena& arena, Generator& gen);
// The SNGAN initialisation (README, "sngan"): XavierUniform parameters with their gains, other
// weights as init_dcgan, biases zero, batchnorm weights one; parameters in arena order.
void init_sngan(ParameterArena& arena, Generator& gen);
// Draws every random_unit_vector buffer (spectral normalisation's u, v) in arena order:
// normal(0, 1), then divided by its norm. Call after the parameters' initialisation.
void init_spectral_norm_vectors(ParameterArena& arena, Generator& gen);

// ---------------------------------------------------------------- layers

class Layer {
 public:
  virtual ~Layer() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  virtual std::string describe() const = 0;  // in PyTorch's repr, e.g. "Conv2d(3, 64, 4, 2, 1, bias=False)"
  // Blocks with layers inside (train/sngan.cpp) pass the mode on to them.
  virtual void set_training(bool on) { training_ = on; }
  bool training() const { return training_; }

 protected:
  bool training_ = true;
};

// Spectral normalisation of a layer's weight (torch.nn.utils.spectral_norm, dim 0, one power
// iteration): the parameter is then named "<name>.weight_orig", with buffers "<name>.weight_u"
// (out) and "<name>.weight_v" (the rest), and the layer uses weight_orig / sigma. A training-mode
// forward first runs one power iteration on u and v; an eval-mode forward uses them as they are.
class SpectralNormWeight {
 public:
  void declare(ParameterArena& arena, const std::string& name, const Shape& shape);
  bool on() const { return u.defined(); }
  Tensor effective(const Tensor& weight, bool training) const;  // weight itself when off
  Tensor u, v;
};

// --fuse: the activation after a layer that has a bias, applied together with the bias by one
// bias_act (fuse_activations). The layer's convolution or product then adds no bias itself.
struct BiasEpilogue {
  bool on = false;
  BiasActivation activation = BiasActivation::Relu;
  double slope = 0;
  // y = the layer's output without its bias; returns bias_act(y, bias, ...).
  Tensor apply(const Tensor& y, const Tensor& bias) const { return bias_act(y, bias, activation, slope); }
};

class Linear : public Layer {
 public:
  Linear(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, bool bias = true,
         bool spectral_norm = false);
  Tensor forward(const Tensor& x) override {
    const Tensor w = sn.effective(weight, training_);
    return epilogue.on ? epilogue.apply(linear(x, w, Tensor()), bias) : linear(x, w, bias);
  }
  std::string describe() const override;
  Tensor weight, bias;  // (out, in), (out) or undefined; weight is "weight_orig" under spectral norm
  SpectralNormWeight sn;
  BiasEpilogue epilogue;

 private:
  int64_t in_, out_;
};

class Conv2d : public Layer {
 public:
  Conv2d(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, int kernel, int stride,
         int padding, bool bias = true, bool spectral_norm = false);
  // A rectangular kernel with per-axis stride and padding, e.g. Inception's (1,7) with padding
  // (0,3): Conv2d(arena, name, in, out, 1, 7, Conv2dArgs{1, 1, 0, 3}, false).
  Conv2d(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, int kernel_h, int kernel_w,
         const Conv2dArgs& args, bool bias = true, bool spectral_norm = false);
  Tensor forward(const Tensor& x) override {
    const Tensor w = sn.effective(weight, training_);
    return epilogue.on ? epilogue.apply(conv2d(x, w, Tensor(), args_), bias) : conv2d(x, w, bias, args_);
  }
  std::string describe() const override;
  Tensor weight, bias;  // (out, in, kernel_h, kernel_w), (out) or undefined; "weight_orig" under spectral norm
  SpectralNormWeight sn;
  BiasEpilogue epilogue;

 private:
  int64_t in_, out_;
  int kernel_h_, kernel_w_;
  Conv2dArgs args_;
};

class ConvTranspose2d : public Layer {
 public:
  ConvTranspose2d(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, int kernel, int stride,
                  int padding, int output_padding = 0, bool bias = true);
  Tensor forward(const Tensor& x) override {
    return epilogue.on ? epilogue.apply(conv_transpose2d(x, weight, Tensor(), args_), bias)
                       : conv_transpose2d(x, weight, bias, args_);
  }
  std::string describe() const override;
  Tensor weight, bias;  // (in, out, k, k), (out) or undefined
  BiasEpilogue epilogue;

 private:
  int64_t in_, out_;
  int kernel_;
  Conv2dArgs args_;
};

// BatchNorm1d over (N,C) and BatchNorm2d over (N,C,H,W) are the same op; `dims` only names it.
class BatchNorm : public Layer {
 public:
  BatchNorm(ParameterArena& arena, const std::string& name, int64_t channels, int dims = 2, double momentum = 0.1,
            double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  // The same normalisation with relu / leaky relu fused after it (batch_norm_act).
  Tensor forward_fused(const Tensor& x, FusedActivation activation, double slope);
  std::string describe() const override;
  Tensor weight, bias, running_mean, running_var;
  int64_t num_batches_tracked = 0;  // PyTorch's counter (a host integer: no device traffic)
  const std::string& name() const { return name_; }  // "main.1"
  // Set by fuse_activations: forward() then applies the activation that follows it.
  void fuse_activation(FusedActivation activation, double slope) {
    fused_ = true;
    fused_activation_ = activation;
    fused_slope_ = slope;
  }

 private:
  std::string name_;
  int64_t channels_;
  int dims_;
  double momentum_, eps_;
  bool fused_ = false;
  FusedActivation fused_activation_ = FusedActivation::Relu;
  double fused_slope_ = 0;
};

class Activation : public Layer {
 public:
  enum class Kind { ReLU, LeakyReLU, Tanh, Sigmoid };
  explicit Activation(Kind kind, double slope = 0.01) : kind_(kind), slope_(slope) {}
  Kind kind() const { return kind_; }
  double slope() const { return slope_; }
  // The layer before it applies it (fuse_activations: a batchnorm, or a layer's bias epilogue),
  // or the loss after it does (the dcgan discriminator's Sigmoid under --fuse): forward() passes
  // x through.
  void set_fused() { fused_ = true; }
  bool fused() const { return fused_; }
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  Kind kind_;
  double slope_;
  bool fused_ = false;
};

class Dropout : public Layer {
 public:
  Dropout(double p, Generator& gen) : p_(p), gen_(&gen) {}
  // Masks from a stream whose counter is on the device (a trainer's: replayable in a CUDA graph).
  Dropout(double p, const DeviceGenerator& gen) : p_(p), device_gen_(&gen) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  double p() const { return p_; }
  // For parity tests against another framework: while set, training-mode forwards multiply x by
  // mask_source(x.shape()), a tensor of 0 and 1/(1-p) (the other framework's mask), instead of
  // drawing one; the generator is not advanced. Unset (the default) for training.
  using MaskSource = std::function<Tensor(const Shape& shape)>;
  void set_mask_source(MaskSource source) { mask_source_ = std::move(source); }

 private:
  double p_;
  // One of the two, shared with the model's owner, so checkpoints capture its counter.
  Generator* gen_ = nullptr;
  const DeviceGenerator* device_gen_ = nullptr;
  MaskSource mask_source_;
};

class Flatten : public Layer {
 public:
  Tensor forward(const Tensor& x) override { return flatten(x); }
  std::string describe() const override { return "Flatten()"; }
};

// (N, C*H*W) -> (N, C, H, W)
class Unflatten : public Layer {
 public:
  explicit Unflatten(Shape per_sample) : per_sample_(std::move(per_sample)) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  Shape per_sample_;
};

// --fuse: every BatchNorm followed by a ReLU or LeakyReLU in `net` becomes one batch_norm_act,
// and every Linear / Conv2d / ConvTranspose2d with a bias followed by an activation applies both
// in one bias_act. The Activation layer stays in its place, passing its input through, so layer
// indices and tensor names do not change. The values are those of the separate layers. Returns
// the number of activations fused.
class Sequential;
int fuse_activations(Sequential& net);

class Sequential : public Layer {
 public:
  Sequential& add(std::shared_ptr<Layer> layer) {
    layers_.push_back(std::move(layer));
    return *this;
  }
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;  // one layer per line
  void train(bool on);                    // sets every layer's mode
  void set_training(bool on) override { train(on); }
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }
  // Called with (layer index, its output) after every layer of every forward while set: how the
  // golden tests see each layer's output (tests/test_golden.cpp). Unset by default.
  using OutputObserver = std::function<void(size_t index, const Tensor& output)>;
  void set_output_observer(OutputObserver observer) { observer_ = std::move(observer); }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
  OutputObserver observer_;
};

}  // namespace nn
