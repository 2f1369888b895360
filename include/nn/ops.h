// ops.h — every differentiable op of the engine (the list is include/nn/ops.def).
//
// Each op checks its arguments (shapes, dtypes, devices) and throws nn::Error naming itself,
// runs on the input's device (CPU reference loops in float32/float64, or CUDA in float32), and
// records its backward when an input requires grad. One file per family under src/ops/, with
// the formulas in its header comment.
#pragma once
#include "nn/autograd.h"
#include "nn/tensor.h"

namespace nn {

// ---- linear algebra (src/ops/linear.cpp; cuBLAS on CUDA)
Tensor matmul(const Tensor& a, const Tensor& b);  // (M,K) x (K,N) -> (M,N)
// y = x w^T + b; x (N,in), w (out,in) as PyTorch's Linear, b (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- convolutions (src/ops/conv.cpp; cuDNN on CUDA)
struct Conv2dArgs {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int out_pad_h = 0, out_pad_w = 0;  // conv_transpose2d only
  static Conv2dArgs make(int stride, int padding, int output_padding = 0) {
    return Conv2dArgs{stride, stride, padding, padding, output_padding, output_padding};
  }
};
// x (N,C,H,W), weight (O,C,kh,kw) as PyTorch's Conv2d, bias (O) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& args);
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int stride = 1,
              int padding = 0);
// x (N,C,H,W), weight (C,O,kh,kw) as PyTorch's ConvTranspose2d, bias (O) or undefined;
// H_out = (H-1) stride - 2 padding + kh + output_padding.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& args);
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int stride = 1,
                        int padding = 0, int output_padding = 0);

// ---- batch normalization (src/ops/batchnorm.cpp; hand-written CUDA kernels)
// x (N,C) or (N,C,H,W); weight, bias, running_mean, running_var (C). training: normalise with the
// batch statistics (biased variance) and update the running ones in place with `momentum` and the
// unbiased variance; eval: normalise with the running statistics. Running stats may be undefined
// in training mode (then nothing is updated). weight/bias may be undefined (no affine).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// batch_norm followed by relu or leaky_relu(slope) in one op: the same values as the two ops,
// with one pass over the activation in the forward and no stored pre-activation (the backward
// recomputes it from x).
enum class FusedActivation { Relu, LeakyRelu };
Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                      const Tensor& running_var, bool training, double momentum, double eps,
                      FusedActivation activation, double slope = 0.0);

// A layer's bias and the activation after it in one op (src/ops/bias_act.cpp): y = f(x + b[c])
// for x (N, C, ...) and b (C). On the CPU the same bits as adding the bias as conv2d / linear do
// and applying f after, with one pass over the activation fewer each way; --fuse applies it
// wherever a layer with a bias is followed by an activation.
enum class BiasActivation { Relu, LeakyRelu, Tanh, Sigmoid };
Tensor bias_act(const Tensor& x, const Tensor& bias, BiasActivation activation, double slope = 0.0);

// ---- activations (src/ops/activation.cpp)
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);

// ---- dropout (src/ops/dropout.cpp): zeroes each element with probability p (mask from the
// shared Philox generator, so CPU and CUDA masks are identical) and scales the rest by 1/(1-p);
// the identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
// The same with the mask's counters taken on the device (nn/step_state.h): replayable in a CUDA graph.
Tensor dropout(const Tensor& x, double p, bool training, const DeviceGenerator& gen);

// ---- shapes (src/ops/shape.cpp): views, no copy. One dimension may be -1.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x);  // (N, ...) -> (N, rest)

// ---- element-wise arithmetic and reductions (src/ops/elementwise.cpp); same shapes, no broadcasting
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
Tensor sum(const Tensor& x);   // -> 0-dim tensor
Tensor mean(const Tensor& x);  // -> 0-dim tensor
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
inline Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }

// ---- losses (src/ops/loss.cpp); all return the mean as a 0-dim tensor.
// Binary cross-entropy on logits, the stable form: max(x,0) - x t + log(1 + exp(-|x|)).
Tensor bce_with_logits(const Tensor& logits, const Tensor& target);
// Binary cross-entropy on probabilities, logs clamped at -100 as PyTorch's BCELoss.
Tensor bce(const Tensor& prob, const Tensor& target);
// bce(sigmoid(logits), target) as one op: the composition's values and gradients bit for bit, one
// pass (and two kernels) fewer. What the dcgan discriminator's Sigmoid + BCELoss become under --fuse.
Tensor bce_sigmoid(const Tensor& logits, const Tensor& target);
// Hinge losses: D: mean(relu(1 - d_real)) + mean(relu(1 + d_fake)); G: -mean(d_fake).
Tensor hinge_d_loss(const Tensor& d_real, const Tensor& d_fake);
Tensor hinge_g_loss(const Tensor& d_fake);

// ---- pooling (src/ops/pooling.cpp; kernels/pooling.cu), as PyTorch's F.max_pool2d / F.avg_pool2d.
// Window of kernel_h x kernel_w, stride, zero padding with pad <= kernel / 2 (PyTorch's rule).
struct Pool2dArgs {
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  static Pool2dArgs make(int kernel, int stride, int padding = 0) {
    return Pool2dArgs{kernel, kernel, stride, stride, padding, padding};
  }
};
// x (N,C,H,W) -> (N,C,OH,OW), floor mode as PyTorch: OH = (H + 2 pad_h - kernel_h) / stride_h + 1.
// Max: padding acts as -inf; the gradient goes to the first maximum of each window (row-major).
Tensor max_pool2d(const Tensor& x, const Pool2dArgs& a);
// Average: count_include_pad divides by kernel_h kernel_w; otherwise by the number of in-bounds
// elements of the window (a 3x3 pad-1 window at a corner divides by 4).
Tensor avg_pool2d(const Tensor& x, const Pool2dArgs& a, bool count_include_pad);
Tensor global_avg_pool2d(const Tensor& x);  // (N,C,H,W) -> (N,C,1,1), the mean over H,W

// ---- concatenation (src/ops/concat.cpp; kernels/concat.cu), as torch.cat: same dtype, device and
// sizes except along dim (negative counts from the end); size 0 along dim is allowed.
Tensor concat(const std::vector<Tensor>& xs, int dim);

// ---- resize (src/ops/resize.cpp; kernels/resize.cu)
// As F.interpolate(x, size=(out_h,out_w), mode="bilinear", align_corners=False) (no antialias):
// per axis, scale = in/out, src = (dst + 0.5) scale - 0.5 clamped at 0, taps floor(src) and the
// next index (clamped at the border), weights 1 - frac and frac. x (N,C,H,W) -> (N,C,out_h,out_w).
Tensor resize_bilinear(const Tensor& x, int64_t out_h, int64_t out_w);
// (N,C,H,W) -> (N,C,sH,sW), each pixel repeated s x s: F.interpolate(x, scale_factor=s, mode="nearest").
Tensor upsample_nearest2d(const Tensor& x, int64_t scale);

// ---- spectral normalisation (src/ops/spectral_norm.cpp; kernels/spectral_norm.cu), as
// torch.nn.utils.spectral_norm: W_mat is the weight as (size(0), rest); u (size(0)), v (rest).
// One power iteration, in place, no gradient: v = normalize(W_mat^T u), u = normalize(W_mat v).
void spectral_norm_power_iteration_(const Tensor& weight, const Tensor& u, const Tensor& v, double eps = 1e-12);
// sigma = u^T W_mat v, a 0-dim tensor on the weight's device (no gradient).
Tensor spectral_norm_sigma(const Tensor& weight, const Tensor& u, const Tensor& v);
// weight / sigma, differentiable in weight with u and v held constant (their values now).
Tensor spectral_normalize(const Tensor& weight, const Tensor& u, const Tensor& v);

// ---- softmax (src/ops/softmax.cpp; kernels/softmax.cu)
Tensor softmax(const Tensor& x);  // over the last dimension of a 2-D (N,K) tensor, max-subtracted

// ---- non-differentiable helpers used by backward passes and optimizers
void accumulate_(const Tensor& dst, const Tensor& src, double scale = 1.0);  // dst += scale * src

}  // namespace nn
