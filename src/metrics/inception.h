// inception.h — the FID Inception-v3, forward only: the network behind FID and IS.
//
// This is the TensorFlow graph inception-2015-12-05 that the original FID and IS code used, as
// ported to PyTorch by pytorch-fid (pytorch_fid/inception.py: torchvision's Inception3 with the
// FIDInceptionA/C/E_1/E_2 patches), with its weights file pt_inception-2015-12-05-6726825d.pth
// converted by tools/convert_inception.py. Tensor names are pytorch-fid's state_dict names.
//
// Input pipeline (pytorch-fid's InceptionV3(resize_input=True, normalize_input=True)):
//   images in [0,1], (N,3,H,W)  ->  bilinear resize to 299x299 (align_corners=False)  ->  2x - 1
// Network (shapes for one 299x299 image; every "conv" is BasicConv2d = conv without bias, then
// batchnorm with eps 0.001 in eval mode, then ReLU):
//   Conv2d_1a_3x3 3x3/2      (32,149,149)    Conv2d_2a_3x3 3x3      (32,147,147)
//   Conv2d_2b_3x3 3x3 pad 1  (64,147,147)    maxpool1 3x3/2         (64,73,73)
//   Conv2d_3b_1x1            (80,73,73)      Conv2d_4a_3x3 3x3      (192,71,71)
//   maxpool2 3x3/2           (192,35,35)
//   Mixed_5b,5c,5d (A)       (256|288|288,35,35)    Mixed_6a (B)      (768,17,17)
//   Mixed_6b..6e (C)         (768,17,17)            Mixed_7a (D)      (1280,8,8)
//   Mixed_7b (E_1), 7c (E_2) (2048,8,8)             global avg pool   pool3 (2048)   FID features
//   logits = pool3 fc.weight^T                       (1008)          IS logits, WITHOUT fc.bias
// The blocks concatenate their branches along channels, in the order below:
//   A:   1x1 | 1x1,5x5 | 1x1,3x3,3x3 | avgpool3x3(s1,p1, padding NOT counted),1x1
//   B:   3x3/2 | 1x1,3x3,3x3/2 | maxpool3x3/2
//   C:   1x1 | 1x1,1x7,7x1 | 1x1,7x1,1x7,7x1,1x7 | avgpool3x3(s1,p1, padding NOT counted),1x1
//   D:   1x1,3x3/2 | 1x1,1x7,7x1,3x3/2 | maxpool3x3/2
//   E_1: 1x1 | 1x1,(1x3 | 3x1) | 1x1,3x3,(1x3 | 3x1) | avgpool3x3(s1,p1, padding NOT counted),1x1
//   E_2: the same with a MAX pool 3x3 s1 p1 in the pool branch (a quirk of the TF graph that
//        pytorch-fid keeps, so Mixed_7c matches it)
// (1x7 means kernel (1,7) with padding (0,3); 7x1 kernel (7,1) padding (3,0); 1x3/3x1 likewise.)
// The "padding not counted" average is TensorFlow's SAME average pool, which is why pytorch-fid
// patches torchvision's count_include_pad=True away.
//
// The IS logits drop fc.bias because the TF graph's IS code (and torch-fidelity) reads the
// softmax of the MatMul before the bias add; FID uses pool3 and never reads fc.
//
// Batchnorm is folded into the convolution when the weights are loaded, in double:
//   s = gamma / sqrt(running_var + 0.001),  w' = w s (per output channel),  b' = beta - running_mean s
// so each block runs as relu(conv2d(x, w', b')): one convolution and one activation, no batchnorm.
//
// Tests: tests/test_inception.cpp (Inception.* : per-block outputs against pytorch-fid's classes
// with formula weights, tests/golden/inception_blocks.safetensors from
// tools/make_inception_fixtures.py, in float64 and float32 on the CPU and float32 on CUDA).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/ops.h"
#include "nn/tensor.h"

namespace nn::metrics {

constexpr int64_t kInceptionFeatureDim = 2048;  // pool3
constexpr int64_t kInceptionClasses = 1008;     // the TF graph's 1008 outputs (1000 ImageNet + 8 unused)
constexpr int64_t kInceptionInputSize = 299;
constexpr double kInceptionBatchNormEps = 0.001;

// pytorch-fid's weights: the release file, and its SHA-256 prefix (torch.hub names files after it).
constexpr const char* kInceptionPthUrl =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";
constexpr const char* kInceptionSha256Prefix = "6726825d";
// Where gan_eval looks by default (tools/fetch_inception.sh writes it there).
constexpr const char* kDefaultInceptionWeights = "data/inception/pt_inception-2015-12-05-6726825d.safetensors";
// The "format" metadata value tools/convert_inception.py writes.
constexpr const char* kInceptionWeightsFormat = "nn-fid-inception-v3/1";

// One BasicConv2d: conv (no bias) + batchnorm + ReLU, as named in the state_dict ("Mixed_5b.branch1x1").
struct InceptionConvSpec {
  std::string name;
  int64_t in, out;
  int kernel_h, kernel_w;
  int stride;
  int pad_h, pad_w;
};

// Every BasicConv2d of the network in pytorch-fid's state_dict order (the order torchvision's
// Inception3 and its blocks assign their submodules).
const std::vector<InceptionConvSpec>& inception_conv_specs();
// Every tensor the network reads, with its shape, in state_dict order, without the integer
// bn.num_batches_tracked: per conv  <name>.conv.weight (out,in,kh,kw), <name>.bn.weight,
// .bn.bias, .bn.running_mean, .bn.running_var (out); then fc.weight (1008,2048), fc.bias (1008).
std::vector<std::pair<std::string, Shape>> inception_tensor_spec();

// The one-line message saying how to get the weights when `path` does not hold them.
std::string inception_weights_missing_message(const std::string& path);
// True when `path` is a readable file. Otherwise false, with the how-to-get-them line in *message.
bool inception_weights_available(const std::string& path, std::string* message = nullptr);

class InceptionV3 {
 public:
  // Gives the tensor `name` (float32 or float64, any device) of the expected shape.
  using TensorSource = std::function<Tensor(const std::string& name, const Shape& shape)>;
  // Called with each block's output during forward(): "input_299", "Conv2d_1a_3x3", ...,
  // "maxpool1", ..., "Mixed_7c", "pool3", "logits" (the tests compare them with pytorch-fid's).
  using BlockObserver = std::function<void(const std::string& block, const Tensor& output)>;

  // Builds the network from `source` (every tensor of inception_tensor_spec(); shapes checked),
  // folding batchnorm in double, with the weights in `dtype` on `device` (CUDA: float32 only).
  InceptionV3(const TensorSource& source, Device device, DType dtype = DType::F32);

  // Loads a file written by tools/convert_inception.py. One-line nn::Error when it is missing
  // (saying how to get it), not such a file, or lacks a tensor.
  static InceptionV3 load(const std::string& path, Device device, DType dtype = DType::F32);

  // Rough memory of one image's activations in forward() (for picking batch sizes): the
  // largest live set, Conv2d_2b_3x3's input and output at 299x299.
  static int64_t activation_bytes_per_image(DType dtype);

  struct Output {
    Tensor pool3;   // (N, 2048): the FID features
    Tensor logits;  // (N, 1008): the IS logits (no bias)
  };
  // images: (N,3,H,W) in [0,1], the network's dtype, on its device (any H, W: resized to 299x299
  // unless already that size, exactly as pytorch-fid). Runs without recording a graph. The first
  // block is called "input_299" whatever input_size() is.
  Output forward(const Tensor& images01, const BlockObserver& observe = nullptr) const;

  // The side the images are resized to. 299 is the FID/IS protocol (pytorch-fid, the TF code)
  // and the default; the network is fully convolutional down to 75, which the tests use to run
  // the whole evaluation pipeline cheaply. Anything else is not comparable with published numbers.
  void set_input_size(int64_t size);
  int64_t input_size() const { return input_size_; }

  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  // The weights' SHA-256 (of the .pth they were converted from), "" when built from a source.
  const std::string& weights_sha256() const { return sha256_; }

 private:
  struct FoldedConv {
    Tensor weight, bias;  // w' (out,in,kh,kw), b' (out)
    Conv2dArgs args;
  };
  Tensor conv(const std::string& name, const Tensor& x) const;  // relu(conv2d(x, w', b'))
  Tensor block_a(const std::string& m, const Tensor& x) const;
  Tensor block_b(const std::string& m, const Tensor& x) const;
  Tensor block_c(const std::string& m, const Tensor& x) const;
  Tensor block_d(const std::string& m, const Tensor& x) const;
  Tensor block_e(const std::string& m, const Tensor& x, bool max_pool_branch) const;

  Device device_;
  DType dtype_;
  int64_t input_size_ = kInceptionInputSize;
  std::map<std::string, FoldedConv> convs_;
  Tensor fc_weight_;  // (1008, 2048)
  std::string sha256_;
};

}  // namespace nn::metrics
