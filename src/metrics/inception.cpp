// inception.cpp — the FID Inception-v3 (the architecture and formulas are in inception.h).
//
// The network is data (inception_conv_specs(): every BasicConv2d with its kernel, stride and
// padding, in state_dict order) plus forward code that mirrors pytorch-fid's and torchvision's
// forward() methods line for line, looking the folded convolutions up by their state_dict name.
#include "metrics/inception.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "nn/autograd.h"

namespace nn::metrics {

namespace {

// Collects the BasicConv2d specs of one module, prefixed with its name.
struct SpecBuilder {
  std::vector<InceptionConvSpec>& out;
  std::string prefix;
  // kernel (kh, kw), padding (ph, pw), as torchvision's conv_block(in, out, kernel_size=..., ...)
  void conv(const std::string& name, int64_t in, int64_t o, int kh, int kw, int stride = 1, int ph = 0, int pw = 0) {
    out.push_back({prefix + name, in, o, kh, kw, stride, ph, pw});
  }
};

// torchvision's InceptionA..E __init__, in their assignment order (= state_dict order).
void add_block_a(std::vector<InceptionConvSpec>& v, const std::string& m, int64_t in, int64_t pool_features) {
  SpecBuilder b{v, m + "."};
  b.conv("branch1x1", in, 64, 1, 1);
  b.conv("branch5x5_1", in, 48, 1, 1);
  b.conv("branch5x5_2", 48, 64, 5, 5, 1, 2, 2);
  b.conv("branch3x3dbl_1", in, 64, 1, 1);
  b.conv("branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
  b.conv("branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1);
  b.conv("branch_pool", in, pool_features, 1, 1);
}

void add_block_b(std::vector<InceptionConvSpec>& v, const std::string& m, int64_t in) {
  SpecBuilder b{v, m + "."};
  b.conv("branch3x3", in, 384, 3, 3, 2);
  b.conv("branch3x3dbl_1", in, 64, 1, 1);
  b.conv("branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
  b.conv("branch3x3dbl_3", 96, 96, 3, 3, 2);
}

void add_block_c(std::vector<InceptionConvSpec>& v, const std::string& m, int64_t in, int64_t c7) {
  SpecBuilder b{v, m + "."};
  b.conv("branch1x1", in, 192, 1, 1);
  b.conv("branch7x7_1", in, c7, 1, 1);
  b.conv("branch7x7_2", c7, c7, 1, 7, 1, 0, 3);
  b.conv("branch7x7_3", c7, 192, 7, 1, 1, 3, 0);
  b.conv("branch7x7dbl_1", in, c7, 1, 1);
  b.conv("branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0);
  b.conv("branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3);
  b.conv("branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0);
  b.conv("branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3);
  b.conv("branch_pool", in, 192, 1, 1);
}

void add_block_d(std::vector<InceptionConvSpec>& v, const std::string& m, int64_t in) {
  SpecBuilder b{v, m + "."};
  b.conv("branch3x3_1", in, 192, 1, 1);
  b.conv("branch3x3_2", 192, 320, 3, 3, 2);
  b.conv("branch7x7x3_1", in, 192, 1, 1);
  b.conv("branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3);
  b.conv("branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0);
  b.conv("branch7x7x3_4", 192, 192, 3, 3, 2);
}

void add_block_e(std::vector<InceptionConvSpec>& v, const std::string& m, int64_t in) {
  SpecBuilder b{v, m + "."};
  b.conv("branch1x1", in, 320, 1, 1);
  b.conv("branch3x3_1", in, 384, 1, 1);
  b.conv("branch3x3_2a", 384, 384, 1, 3, 1, 0, 1);
  b.conv("branch3x3_2b", 384, 384, 3, 1, 1, 1, 0);
  b.conv("branch3x3dbl_1", in, 448, 1, 1);
  b.conv("branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1);
  b.conv("branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1);
  b.conv("branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0);
  b.conv("branch_pool", in, 192, 1, 1);
}

std::vector<InceptionConvSpec> make_specs() {
  std::vector<InceptionConvSpec> v;
  SpecBuilder top{v, ""};
  top.conv("Conv2d_1a_3x3", 3, 32, 3, 3, 2);
  top.conv("Conv2d_2a_3x3", 32, 32, 3, 3);
  top.conv("Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1);
  top.conv("Conv2d_3b_1x1", 64, 80, 1, 1);
  top.conv("Conv2d_4a_3x3", 80, 192, 3, 3);
  add_block_a(v, "Mixed_5b", 192, 32);
  add_block_a(v, "Mixed_5c", 256, 64);
  add_block_a(v, "Mixed_5d", 288, 64);
  add_block_b(v, "Mixed_6a", 288);
  add_block_c(v, "Mixed_6b", 768, 128);
  add_block_c(v, "Mixed_6c", 768, 160);
  add_block_c(v, "Mixed_6d", 768, 160);
  add_block_c(v, "Mixed_6e", 768, 192);
  add_block_d(v, "Mixed_7a", 768);
  add_block_e(v, "Mixed_7b", 1280);
  add_block_e(v, "Mixed_7c", 2048);
  return v;
}

// The same 3x3 pooling windows everywhere: stride 1 pad 1 inside the blocks, stride 2 between.
const Pool2dArgs kPool3s1p1 = Pool2dArgs::make(3, 1, 1);
const Pool2dArgs kPool3s2 = Pool2dArgs::make(3, 2, 0);

}  // namespace

const std::vector<InceptionConvSpec>& inception_conv_specs() {
  static const std::vector<InceptionConvSpec> specs = make_specs();
  return specs;
}

std::vector<std::pair<std::string, Shape>> inception_tensor_spec() {
  std::vector<std::pair<std::string, Shape>> out;
  for (const InceptionConvSpec& c : inception_conv_specs()) {
    out.push_back({c.name + ".conv.weight", {c.out, c.in, c.kernel_h, c.kernel_w}});
    for (const char* t : {".bn.weight", ".bn.bias", ".bn.running_mean", ".bn.running_var"})
      out.push_back({c.name + t, {c.out}});
  }
  out.push_back({"fc.weight", {kInceptionClasses, kInceptionFeatureDim}});
  out.push_back({"fc.bias", {kInceptionClasses}});
  return out;
}

std::string inception_weights_missing_message(const std::string& path) {
  return str_cat("FID Inception weights not found at ", path, ": run tools/fetch_inception.sh, or download ",
                 kInceptionPthUrl, " and run python3 tools/convert_inception.py pt_inception-2015-12-05-6726825d.pth ",
                 path);
}

bool inception_weights_available(const std::string& path, std::string* message) {
  std::error_code ec;
  const bool ok = std::filesystem::is_regular_file(path, ec) && std::ifstream(path).good();
  if (!ok && message != nullptr) *message = inception_weights_missing_message(path);
  return ok;
}

InceptionV3::InceptionV3(const TensorSource& source, Device device, DType dtype) : device_(device), dtype_(dtype) {
  NN_CHECK(is_floating(dtype), "InceptionV3: the network runs in float32 or float64");
  NN_CHECK(device == Device::CPU || dtype == DType::F32, "InceptionV3: CUDA runs in float32 only");
  auto fetch = [&](const std::string& name, const Shape& shape) {
    Tensor t = source(name, shape);
    NN_CHECK(t.defined() && t.shape() == shape, "Inception weights: tensor ", name, " has shape ",
             t.defined() ? shape_str(t.shape()) : std::string("(missing)"), ", expected ", shape_str(shape));
    return t.to_vector();  // as double, from any device and float dtype
  };
  for (const InceptionConvSpec& c : inception_conv_specs()) {
    const Shape wshape{c.out, c.in, c.kernel_h, c.kernel_w};
    std::vector<double> w = fetch(c.name + ".conv.weight", wshape);
    const std::vector<double> gamma = fetch(c.name + ".bn.weight", {c.out});
    const std::vector<double> beta = fetch(c.name + ".bn.bias", {c.out});
    const std::vector<double> mean = fetch(c.name + ".bn.running_mean", {c.out});
    const std::vector<double> var = fetch(c.name + ".bn.running_var", {c.out});
    // Fold in double: s = gamma / sqrt(var + eps); w' = w s; b' = beta - mean s.
    std::vector<double> b(static_cast<size_t>(c.out));
    const size_t per_out = static_cast<size_t>(c.in * c.kernel_h * c.kernel_w);
    for (size_t o = 0; o < static_cast<size_t>(c.out); ++o) {
      NN_CHECK(var[o] + kInceptionBatchNormEps > 0, "Inception weights: ", c.name, ".bn.running_var[", o,
               "] is ", var[o], " (must be > -eps)");
      const double s = gamma[o] / std::sqrt(var[o] + kInceptionBatchNormEps);
      for (size_t i = 0; i < per_out; ++i) w[o * per_out + i] *= s;
      b[o] = beta[o] - mean[o] * s;
    }
    FoldedConv f;
    f.weight = Tensor::from_vector(wshape, w, dtype, device);
    f.bias = Tensor::from_vector({c.out}, b, dtype, device);
    f.args.stride_h = f.args.stride_w = c.stride;
    f.args.pad_h = c.pad_h;
    f.args.pad_w = c.pad_w;
    convs_.emplace(c.name, std::move(f));
  }
  const Shape fc_shape{kInceptionClasses, kInceptionFeatureDim};
  fc_weight_ = Tensor::from_vector(fc_shape, fetch("fc.weight", fc_shape), dtype, device);
}

InceptionV3 InceptionV3::load(const std::string& path, Device device, DType dtype) {
  std::string missing;
  NN_CHECK(inception_weights_available(path, &missing), missing);
  io::SafetensorsFile file = io::load_safetensors(path);
  auto format = file.metadata.find("format");
  NN_CHECK(format != file.metadata.end() && format->second == kInceptionWeightsFormat, path,
           " is not an Inception weights file written by tools/convert_inception.py (no format \"",
           kInceptionWeightsFormat, "\" in its metadata)");
  InceptionV3 net(
      [&](const std::string& name, const Shape&) -> Tensor {
        NN_CHECK(file.has(name), "Inception weights ", path, " have no tensor ", name,
                 " (not pytorch-fid's FID Inception: rerun tools/convert_inception.py)");
        return file.get(name);
      },
      device, dtype);
  auto sha = file.metadata.find("source_sha256");
  net.sha256_ = sha != file.metadata.end() ? sha->second : "unknown";
  return net;
}

int64_t InceptionV3::activation_bytes_per_image(DType dtype) {
  // Conv2d_2b_3x3: input (32,147,147) and output (64,147,147), plus the 299x299 input.
  return (32 + 64) * 147 * 147 * static_cast<int64_t>(dtype_size(dtype)) +
         3 * kInceptionInputSize * kInceptionInputSize * static_cast<int64_t>(dtype_size(dtype));
}

void InceptionV3::set_input_size(int64_t size) {
  // 75 is the smallest side whose Mixed_7a output still has one pixel (torchvision's limit).
  NN_CHECK(size >= 75, "InceptionV3: input size ", size, " is below 75, the smallest the network takes");
  input_size_ = size;
}

Tensor InceptionV3::conv(const std::string& name, const Tensor& x) const {
  auto it = convs_.find(name);
  NN_CHECK(it != convs_.end(), "InceptionV3: no convolution ", name);  // a typo in the forward code
  return relu(conv2d(x, it->second.weight, it->second.bias, it->second.args));
}

// pytorch-fid's FIDInceptionA.forward
Tensor InceptionV3::block_a(const std::string& m, const Tensor& x) const {
  Tensor b1 = conv(m + ".branch1x1", x);
  Tensor b5 = conv(m + ".branch5x5_2", conv(m + ".branch5x5_1", x));
  Tensor b3 = conv(m + ".branch3x3dbl_3", conv(m + ".branch3x3dbl_2", conv(m + ".branch3x3dbl_1", x)));
  Tensor bp = conv(m + ".branch_pool", avg_pool2d(x, kPool3s1p1, /*count_include_pad=*/false));
  return concat({b1, b5, b3, bp}, 1);
}

// torchvision's InceptionB.forward (not patched by pytorch-fid)
Tensor InceptionV3::block_b(const std::string& m, const Tensor& x) const {
  Tensor b3 = conv(m + ".branch3x3", x);
  Tensor bd = conv(m + ".branch3x3dbl_3", conv(m + ".branch3x3dbl_2", conv(m + ".branch3x3dbl_1", x)));
  Tensor bp = max_pool2d(x, kPool3s2);
  return concat({b3, bd, bp}, 1);
}

// pytorch-fid's FIDInceptionC.forward
Tensor InceptionV3::block_c(const std::string& m, const Tensor& x) const {
  Tensor b1 = conv(m + ".branch1x1", x);
  Tensor b7 = conv(m + ".branch7x7_3", conv(m + ".branch7x7_2", conv(m + ".branch7x7_1", x)));
  Tensor bd = conv(m + ".branch7x7dbl_1", x);
  bd = conv(m + ".branch7x7dbl_3", conv(m + ".branch7x7dbl_2", bd));
  bd = conv(m + ".branch7x7dbl_5", conv(m + ".branch7x7dbl_4", bd));
  Tensor bp = conv(m + ".branch_pool", avg_pool2d(x, kPool3s1p1, /*count_include_pad=*/false));
  return concat({b1, b7, bd, bp}, 1);
}

// torchvision's InceptionD.forward (not patched by pytorch-fid)
Tensor InceptionV3::block_d(const std::string& m, const Tensor& x) const {
  Tensor b3 = conv(m + ".branch3x3_2", conv(m + ".branch3x3_1", x));
  Tensor b7 = conv(m + ".branch7x7x3_2", conv(m + ".branch7x7x3_1", x));
  b7 = conv(m + ".branch7x7x3_4", conv(m + ".branch7x7x3_3", b7));
  Tensor bp = max_pool2d(x, kPool3s2);
  return concat({b3, b7, bp}, 1);
}

// pytorch-fid's FIDInceptionE_1.forward (average pool) and FIDInceptionE_2.forward (max pool)
Tensor InceptionV3::block_e(const std::string& m, const Tensor& x, bool max_pool_branch) const {
  Tensor b1 = conv(m + ".branch1x1", x);
  Tensor b3 = conv(m + ".branch3x3_1", x);
  b3 = concat({conv(m + ".branch3x3_2a", b3), conv(m + ".branch3x3_2b", b3)}, 1);
  Tensor bd = conv(m + ".branch3x3dbl_2", conv(m + ".branch3x3dbl_1", x));
  bd = concat({conv(m + ".branch3x3dbl_3a", bd), conv(m + ".branch3x3dbl_3b", bd)}, 1);
  Tensor pooled = max_pool_branch ? max_pool2d(x, kPool3s1p1) : avg_pool2d(x, kPool3s1p1, /*count_include_pad=*/false);
  Tensor bp = conv(m + ".branch_pool", pooled);
  return concat({b1, b3, bd, bp}, 1);
}

InceptionV3::Output InceptionV3::forward(const Tensor& images01, const BlockObserver& observe) const {
  NN_CHECK(images01.defined() && images01.dim() == 4 && images01.size(1) == 3, "InceptionV3: expected images (N,3,H,W), got ",
           images01.defined() ? shape_str(images01.shape()) : std::string("an undefined tensor"));
  NN_CHECK(images01.device() == device_ && images01.dtype() == dtype_, "InceptionV3: images are ", images01.str(),
           ", the network is ", dtype_name(dtype_), " on ", device_name(device_));
  NoGradGuard no_grad;
  auto seen = [&](const char* block, const Tensor& t) {
    if (observe) observe(block, t);
  };
  // pytorch-fid: F.interpolate(x, (299, 299), bilinear, align_corners=False); then 2x - 1.
  Tensor x = images01;
  if (x.size(2) != input_size_ || x.size(3) != input_size_) x = resize_bilinear(x, input_size_, input_size_);
  x = add_scalar(mul_scalar(x, 2.0), -1.0);  // two roundings, as torch's 2 * x - 1
  seen("input_299", x);
  // x: (N,3,299,299)
  for (const char* name : {"Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"}) {
    x = conv(name, x);
    seen(name, x);
  }
  x = max_pool2d(x, kPool3s2);  // (N,64,73,73)
  seen("maxpool1", x);
  for (const char* name : {"Conv2d_3b_1x1", "Conv2d_4a_3x3"}) {
    x = conv(name, x);
    seen(name, x);
  }
  x = max_pool2d(x, kPool3s2);  // (N,192,35,35)
  seen("maxpool2", x);
  for (const char* name : {"Mixed_5b", "Mixed_5c", "Mixed_5d"}) {
    x = block_a(name, x);  // (N,256|288|288,35,35)
    seen(name, x);
  }
  x = block_b("Mixed_6a", x);  // (N,768,17,17)
  seen("Mixed_6a", x);
  for (const char* name : {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"}) {
    x = block_c(name, x);
    seen(name, x);
  }
  x = block_d("Mixed_7a", x);  // (N,1280,8,8)
  seen("Mixed_7a", x);
  x = block_e("Mixed_7b", x, /*max_pool_branch=*/false);  // (N,2048,8,8)
  seen("Mixed_7b", x);
  x = block_e("Mixed_7c", x, /*max_pool_branch=*/true);
  seen("Mixed_7c", x);
  Output out;
  out.pool3 = reshape(global_avg_pool2d(x), {x.size(0), kInceptionFeatureDim});  // (N,2048)
  seen("pool3", out.pool3);
  out.logits = linear(out.pool3, fc_weight_);  // (N,1008), no bias
  seen("logits", out.logits);
  return out;
}

}  // namespace nn::metrics
