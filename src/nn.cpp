// nn.cpp — the parameter arena, DCGAN initialisation and the layers (see nn.h).
#include "nn/nn.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace nn {

// Each tensor starts on a 16-element (64-byte) boundary so vectorised kernels can load whole
// aligned chunks of any parameter; the padding is zero and stays zero (its gradient is zero).
static constexpr size_t kArenaAlign = 16;

size_t ParameterArena::reserve(const Shape& shape, size_t& end) {
  NN_CHECK(!built(), "ParameterArena: cannot add tensors after build()");
  size_t offset = (end + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
  end = offset + static_cast<size_t>(shape_numel(shape));
  return offset;
}

static Tensor unbound_view(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  return Tensor(impl);
}

Tensor ParameterArena::add_parameter(const std::string& name, const Shape& shape, ParamInit init) {
  for (const Parameter& p : params_) NN_CHECK(p.name != name, "ParameterArena: duplicate parameter name ", name);
  size_t offset = reserve(shape, param_end_);
  Tensor t = unbound_view(shape);
  t.impl().requires_grad = true;
  params_.push_back(Parameter{name, t, init, offset});
  return t;
}

Tensor ParameterArena::add_buffer(const std::string& name, const Shape& shape, double initial_value,
                                  bool random_unit_vector) {
  for (const Buffer& b : buffers_) NN_CHECK(b.name != name, "ParameterArena: duplicate buffer name ", name);
  size_t offset = reserve(shape, buffer_end_);
  Tensor t = unbound_view(shape);
  buffers_.push_back(Buffer{name, t, initial_value, offset, random_unit_vector});
  return t;
}

void ParameterArena::set_init(const Tensor& param, ParamInit init, double gain) {
  for (Parameter& p : params_) {
    if (&p.tensor.impl() == &param.impl()) {
      p.init = init;
      p.init_gain = gain;
      return;
    }
  }
  throw_error("ParameterArena::set_init: not a parameter of this arena");
}

void ParameterArena::build(Device device, DType dtype) {
  Tensor values = Tensor::zeros({static_cast<int64_t>(param_end_)}, dtype, device);
  Tensor grads = Tensor::zeros({static_cast<int64_t>(param_end_)}, dtype, device);
  Tensor buffers = Tensor::zeros({static_cast<int64_t>(buffer_end_)}, dtype, device);
  if (built()) {  // moving: keep the values (dtype conversion goes through the CPU)
    auto move = [&](const Tensor& from, Tensor& to) {
      Tensor src = from.to(Device::CPU).to(dtype);
      to.copy_(src);
    };
    move(values_, values);
    move(grads_, grads);
    move(buffer_values_, buffers);
  }
  bool first_build = !built();
  values_ = values;
  grads_ = grads;
  buffer_values_ = buffers;
  // Rebind every view in place: holders of the parameter Tensors see the new storage.
  auto bind = [&](const Tensor& t, const Tensor& arena, size_t offset) {
    TensorImpl& impl = t.impl();
    impl.storage = arena.impl().storage;
    impl.offset = offset;
    impl.dtype = dtype;
    impl.device = device;
  };
  for (Parameter& p : params_) {
    bind(p.tensor, values_, p.offset);
    auto g = std::make_shared<TensorImpl>();
    g->shape = p.tensor.shape();
    Tensor grad(g);
    bind(grad, grads_, p.offset);
    p.tensor.set_grad(grad);
  }
  for (Buffer& b : buffers_) {
    bind(b.tensor, buffer_values_, b.offset);
    if (first_build) b.tensor.fill_(b.initial_value);
  }
}

int64_t ParameterArena::parameter_count() const {
  int64_t n = 0;
  for (const Parameter& p : params_) n += p.tensor.numel();
  return n;
}

Device ParameterArena::device() const {
  NN_CHECK(built(), "ParameterArena: not built yet");
  return values_.device();
}
DType ParameterArena::dtype() const {
  NN_CHECK(built(), "ParameterArena: not built yet");
  return values_.dtype();
}

void ParameterArena::zero_grad() {
  NN_CHECK(built(), "ParameterArena::zero_grad: not built yet");
  grads_.fill_(0.0);
}

void ParameterArena::set_requires_grad(bool on) {
  for (Parameter& p : params_) p.tensor.impl().requires_grad = on;
}

void init_dcgan(ParameterArena& arena, Generator& gen) {
  NN_CHECK(arena.built(), "init_dcgan: build the arena first");
  for (const Parameter& p : arena.parameters()) {
    Tensor t = p.tensor;
    switch (p.init) {
      case ParamInit::Weight: t.normal_(gen, 0.0, 0.02); break;
      case ParamInit::BatchNormWeight: t.normal_(gen, 1.0, 0.02); break;
      case ParamInit::Bias: t.fill_(0.0); break;
      case ParamInit::XavierUniform: throw_error(str_cat("init_dcgan: ", p.name, " is drawn by init_sngan (XavierUniform)"));
    }
  }
}

// fan_in and fan_out as torch.nn.init computes them: dim 1 and dim 0, times the receptive field.
static void fans(const Shape& shape, double* fan_in, double* fan_out) {
  NN_CHECK(shape.size() >= 2, "xavier_uniform: needs a weight of at least 2 dimensions, got ", shape_str(shape));
  double receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= static_cast<double>(shape[i]);
  *fan_in = static_cast<double>(shape[1]) * receptive;
  *fan_out = static_cast<double>(shape[0]) * receptive;
}

void init_sngan(ParameterArena& arena, Generator& gen) {
  NN_CHECK(arena.built(), "init_sngan: build the arena first");
  for (const Parameter& p : arena.parameters()) {
    Tensor t = p.tensor;
    switch (p.init) {
      case ParamInit::XavierUniform: {
        double fan_in = 0, fan_out = 0;
        fans(t.shape(), &fan_in, &fan_out);
        const double a = p.init_gain * std::sqrt(6.0 / (fan_in + fan_out));
        t.uniform_(gen, -a, a);
        break;
      }
      case ParamInit::Weight: t.normal_(gen, 0.0, 0.02); break;
      case ParamInit::BatchNormWeight: t.fill_(1.0); break;  // PyTorch's BatchNorm default
      case ParamInit::Bias: t.fill_(0.0); break;
    }
  }
}

void init_spectral_norm_vectors(ParameterArena& arena, Generator& gen) {
  NN_CHECK(arena.built(), "init_spectral_norm_vectors: build the arena first");
  for (const Buffer& b : arena.buffers()) {
    if (!b.random_unit_vector) continue;
    Tensor host = Tensor::empty(b.tensor.shape(), b.tensor.dtype(), Device::CPU);
    host.normal_(gen, 0.0, 1.0);
    std::vector<double> x = host.to_vector();
    double sum_of_squares = 0;
    for (double v : x) sum_of_squares += v * v;
    const double norm = std::max(std::sqrt(sum_of_squares), 1e-12);
    for (double& v : x) v /= norm;
    b.tensor.copy_(Tensor::from_vector(b.tensor.shape(), x, b.tensor.dtype()));
  }
}

// ---------------------------------------------------------------- layers

void SpectralNormWeight::declare(ParameterArena& arena, const std::string& name, const Shape& shape) {
  const int64_t rows = shape[0], cols = shape_numel(shape) / rows;
  u = arena.add_buffer(name + ".weight_u", {rows}, 0.0, /*random_unit_vector=*/true);
  v = arena.add_buffer(name + ".weight_v", {cols}, 0.0, /*random_unit_vector=*/true);
}

Tensor SpectralNormWeight::effective(const Tensor& weight, bool training) const {
  if (!on()) return weight;
  if (training) spectral_norm_power_iteration_(weight, u, v);
  return spectral_normalize(weight, u, v);
}

Linear::Linear(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, bool has_bias,
               bool spectral_norm)
    : in_(in), out_(out) {
  weight = arena.add_parameter(name + (spectral_norm ? ".weight_orig" : ".weight"), {out, in}, ParamInit::Weight);
  if (has_bias) bias = arena.add_parameter(name + ".bias", {out}, ParamInit::Bias);
  if (spectral_norm) sn.declare(arena, name, {out, in});
}
std::string Linear::describe() const {
  return str_cat("Linear(in_features=", in_, ", out_features=", out_, ", bias=", bias.defined() ? "True" : "False",
                 ")");
}

Conv2d::Conv2d(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, int kernel, int stride,
               int padding, bool has_bias, bool spectral_norm)
    : Conv2d(arena, name, in, out, kernel, kernel, Conv2dArgs::make(stride, padding), has_bias, spectral_norm) {}
Conv2d::Conv2d(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, int kernel_h, int kernel_w,
               const Conv2dArgs& args, bool has_bias, bool spectral_norm)
    : in_(in), out_(out), kernel_h_(kernel_h), kernel_w_(kernel_w), args_(args) {
  NN_CHECK(kernel_h >= 1 && kernel_w >= 1, "Conv2d ", name, ": kernel must be >= 1, got (", kernel_h, ",", kernel_w,
           ")");
  NN_CHECK(args.out_pad_h == 0 && args.out_pad_w == 0, "Conv2d ", name, ": output_padding is for ConvTranspose2d");
  const Shape shape{out, in, kernel_h, kernel_w};
  weight = arena.add_parameter(name + (spectral_norm ? ".weight_orig" : ".weight"), shape, ParamInit::Weight);
  if (has_bias) bias = arena.add_parameter(name + ".bias", {out}, ParamInit::Bias);
  if (spectral_norm) sn.declare(arena, name, shape);
}
std::string Conv2d::describe() const {
  // Square and symmetric: the short form the DCGAN layers have always printed; otherwise PyTorch's
  // tuple form, e.g. "Conv2d(768, 128, kernel_size=(1, 7), stride=(1, 1), padding=(0, 3), bias=False)".
  const std::string bias_str = bias.defined() ? "True" : "False";
  if (kernel_h_ == kernel_w_ && args_.stride_h == args_.stride_w && args_.pad_h == args_.pad_w)
    return str_cat("Conv2d(", in_, ", ", out_, ", kernel_size=", kernel_h_, ", stride=", args_.stride_h,
                   ", padding=", args_.pad_h, ", bias=", bias_str, ")");
  return str_cat("Conv2d(", in_, ", ", out_, ", kernel_size=(", kernel_h_, ", ", kernel_w_, "), stride=(",
                 args_.stride_h, ", ", args_.stride_w, "), padding=(", args_.pad_h, ", ", args_.pad_w,
                 "), bias=", bias_str, ")");
}

ConvTranspose2d::ConvTranspose2d(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, int kernel,
                                 int stride, int padding, int output_padding, bool has_bias)
    : in_(in), out_(out), kernel_(kernel), args_(Conv2dArgs::make(stride, padding, output_padding)) {
  weight = arena.add_parameter(name + ".weight", {in, out, kernel, kernel}, ParamInit::Weight);
  if (has_bias) bias = arena.add_parameter(name + ".bias", {out}, ParamInit::Bias);
}
std::string ConvTranspose2d::describe() const {
  return str_cat("ConvTranspose2d(", in_, ", ", out_, ", kernel_size=", kernel_, ", stride=", args_.stride_h,
                 ", padding=", args_.pad_h, ", output_padding=", args_.out_pad_h,
                 ", bias=", bias.defined() ? "True" : "False", ")");
}

BatchNorm::BatchNorm(ParameterArena& arena, const std::string& name, int64_t channels, int dims, double momentum,
                     double eps)
    : name_(name), channels_(channels), dims_(dims), momentum_(momentum), eps_(eps) {
  weight = arena.add_parameter(name + ".weight", {channels}, ParamInit::BatchNormWeight);
  bias = arena.add_parameter(name + ".bias", {channels}, ParamInit::Bias);
  running_mean = arena.add_buffer(name + ".running_mean", {channels}, 0.0);
  running_var = arena.add_buffer(name + ".running_var", {channels}, 1.0);
}
Tensor BatchNorm::forward(const Tensor& x) {
  if (fused_) return forward_fused(x, fused_activation_, fused_slope_);
  if (training_) ++num_batches_tracked;
  return batch_norm(x, weight, bias, running_mean, running_var, training_, momentum_, eps_);
}
Tensor BatchNorm::forward_fused(const Tensor& x, FusedActivation activation, double slope) {
  if (training_) ++num_batches_tracked;
  return batch_norm_act(x, weight, bias, running_mean, running_var, training_, momentum_, eps_, activation, slope);
}
std::string BatchNorm::describe() const {
  return str_cat("BatchNorm", dims_, "d(", channels_, ", eps=", eps_, ", momentum=", momentum_, ")");
}

Tensor Activation::forward(const Tensor& x) {
  if (fused_) return x;  // applied by the layer before it, or by the loss after it (fuse_activations)
  switch (kind_) {
    case Kind::ReLU: return relu(x);
    case Kind::LeakyReLU: return leaky_relu(x, slope_);
    case Kind::Tanh: return nn::tanh(x);
    default: return sigmoid(x);
  }
}
std::string Activation::describe() const {
  switch (kind_) {
    case Kind::ReLU: return "ReLU()";
    case Kind::LeakyReLU: return str_cat("LeakyReLU(negative_slope=", slope_, ")");
    case Kind::Tanh: return "Tanh()";
    default: return "Sigmoid()";
  }
}

Tensor Dropout::forward(const Tensor& x) {
  if (!mask_source_ || !training_ || p_ == 0.0)
    return device_gen_ ? dropout(x, p_, training_, *device_gen_) : dropout(x, p_, training_, *gen_);
  Tensor mask = mask_source_(x.shape());
  NN_CHECK(mask.shape() == x.shape(), "Dropout: the given mask is ", shape_str(mask.shape()), ", the input ",
           shape_str(x.shape()));
  return mul(x, mask);
}
std::string Dropout::describe() const { return str_cat("Dropout(p=", p_, ")"); }

Tensor Unflatten::forward(const Tensor& x) {
  Shape s{x.size(0)};
  s.insert(s.end(), per_sample_.begin(), per_sample_.end());
  return reshape(x, s);
}
std::string Unflatten::describe() const { return str_cat("Unflatten(1, ", shape_str(per_sample_), ")"); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = layers_[i]->forward(h);
    if (observer_) observer_(i, h);
  }
  return h;
}
std::string Sequential::describe() const {
  std::ostringstream os;
  os << "Sequential(\n";
  for (size_t i = 0; i < layers_.size(); ++i) os << "  (" << i << "): " << layers_[i]->describe() << "\n";
  os << ")";
  return os.str();
}
int fuse_activations(Sequential& net) {
  const auto& layers = net.layers();
  int fused = 0;
  for (size_t i = 0; i + 1 < layers.size(); ++i) {
    auto act = std::dynamic_pointer_cast<Activation>(layers[i + 1]);
    if (!act || act->fused()) continue;
    const Activation::Kind k = act->kind();
    if (auto bn = std::dynamic_pointer_cast<BatchNorm>(layers[i])) {
      if (k != Activation::Kind::ReLU && k != Activation::Kind::LeakyReLU) continue;
      bn->fuse_activation(k == Activation::Kind::ReLU ? FusedActivation::Relu : FusedActivation::LeakyRelu,
                          k == Activation::Kind::ReLU ? 0.0 : act->slope());
    } else {
      BiasEpilogue* epilogue = nullptr;
      Tensor bias;
      if (auto l = std::dynamic_pointer_cast<Linear>(layers[i])) {
        epilogue = &l->epilogue;
        bias = l->bias;
      } else if (auto c = std::dynamic_pointer_cast<Conv2d>(layers[i])) {
        epilogue = &c->epilogue;
        bias = c->bias;
      } else if (auto t = std::dynamic_pointer_cast<ConvTranspose2d>(layers[i])) {
        epilogue = &t->epilogue;
        bias = t->bias;
      }
      if (!epilogue || !bias.defined()) continue;  // no bias: nothing to fuse the activation with
      epilogue->on = true;
      epilogue->activation = k == Activation::Kind::ReLU        ? BiasActivation::Relu
                             : k == Activation::Kind::LeakyReLU ? BiasActivation::LeakyRelu
                             : k == Activation::Kind::Tanh      ? BiasActivation::Tanh
                                                                : BiasActivation::Sigmoid;
      epilogue->slope = k == Activation::Kind::LeakyReLU ? act->slope() : 0.0;
    }
    act->set_fused();
    ++fused;
  }
  return fused;
}

void Sequential::train(bool on) {
  training_ = on;
  for (auto& layer : layers_) layer->set_training(on);
}

}  // namespace nn
