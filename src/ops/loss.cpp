// loss.cpp — the GAN losses, each reduced by the mean to a 0-dim tensor.
//
//   bce_with_logits(x, t) = mean_i [ max(x_i,0) - x_i t_i + log(1 + e^-|x_i|) ]
//                           dx_i += g (sigmoid(x_i) - t_i) / n
//   bce(p, t)             = mean_i -[ t_i max(log p_i, -100) + (1 - t_i) max(log(1 - p_i), -100) ]
//                           dp_i += g (p_i - t_i) / max(p_i (1 - p_i), 1e-12) / n
//   bce_sigmoid(x, t)     = bce(sigmoid(x), t) in one op (#13: the dcgan discriminator's Sigmoid
//                           fused into its loss): p_i = sigmoid(x_i), the same loss, and
//                           dx_i += (g dp_i) p_i (1 - p_i), the composition's products in its order
//   hinge_d_loss(r, f)    = mean_i relu(1 - r_i) + mean_j relu(1 + f_j)
//                           dr_i += -g [r_i < 1] / n_r,   df_j += g [f_j > -1] / n_f
//   hinge_g_loss(f)       = -mean_j f_j
//                           df_j += -g / n_f
// with g the upstream gradient (a one-element tensor on the input's device) and n the input's
// number of elements. Backward ACCUMULATES. The per-element formulas and the PyTorch clamps are in
// kernels/loss_math.h, shared with the CUDA kernels (kernels/loss.cu).
//
// Targets: same shape, dtype and device as the input; no gradient flows to a target. A target
// that requires grad (while grad mode is on) is an error rather than silently ignored, since
// it would mean the caller expects a gradient it will never get; pass target.detach().
// hinge_d_loss's two inputs may have different shapes: each mean is over its own elements.
// bce does not check that p lies in [0, 1] (that would need a device-to-host read on CUDA);
// outside it the logarithms give NaN.
//
// CPU forward sums in double (the reference the CUDA reduction is checked against); CUDA reads
// nothing back to the host, the loss and the upstream gradient stay on the device.
// Tests: tests/test_loss.cpp (Gradcheck.*, CudaParity.* for the five ops, Loss.*), and
// Fusion.BceSigmoidSameBitsAsTheComposition (tests/test_fusion.cpp).
#include "loss_math.h"
#include "op_util.h"

namespace nn {

namespace {

// out (0-dim) = scale sum_i loss(x_i, t_i), or out += that when accumulating. target may be
// undefined for the kinds that have none.
void loss_fwd(LossKind kind, const Tensor& x, const Tensor& target, double scale, bool accumulate, const Tensor& out) {
  const int64_t n = x.numel();
  if (x.is_cuda()) {
    NN_CUDA_ONLY(loss_fwd_cuda(kind, x.data<float>(), target.defined() ? target.data<float>() : nullptr, n,
                               static_cast<float>(scale), accumulate, out.data<float>(), op_stream()));
    return;
  }
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pt = target.defined() ? target.data<T>() : nullptr;
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += loss_value<T>(kind, px[i], pt != nullptr ? pt[i] : T(0));
    const T value = static_cast<T>(scale * acc);
    T* o = out.data<T>();
    o[0] = accumulate ? o[0] + value : value;
  });
}

// dx_i += gout scale dloss/dx(x_i, t_i); gout is a one-element tensor on x's device.
void loss_bwd(LossKind kind, const Tensor& x, const Tensor& target, const Tensor& gout, double scale,
              const Tensor& dx) {
  const int64_t n = x.numel();
  if (x.is_cuda()) {
    NN_CUDA_ONLY(loss_bwd_cuda(kind, x.data<float>(), target.defined() ? target.data<float>() : nullptr,
                               gout.data<float>(), dx.data<float>(), n, static_cast<float>(scale), op_stream()));
    return;
  }
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pt = target.defined() ? target.data<T>() : nullptr;
    T* d = dx.data<T>();
    const T g = gout.data<T>()[0] * static_cast<T>(scale);  // same order as the CUDA kernel
    for (int64_t i = 0; i < n; ++i) d[i] += loss_grad<T>(kind, g, px[i], pt != nullptr ? pt[i] : T(0));
  });
}

void check_loss_input(const char* op, const Tensor& x, const char* what) {
  check_defined(op, x, what);
  NN_CHECK(x.numel() > 0, op, ": ", what, " is empty ", shape_str(x.shape()), "; the mean needs elements");
}

// bce_with_logits and bce: one input, one target of the same shape.
Tensor target_loss(const char* op, LossKind kind, const Tensor& x, const Tensor& target) {
  OpScope scope(op, {&x, &target});
  check_loss_input(op, x, "input");
  check_defined(op, target, "target");
  check_op_tensors(op, {&x, &target});
  check_same_shape(op, x, target);
  NN_CHECK(!(grad_enabled() && target.requires_grad()), op, ": target ", shape_str(target.shape()),
           " requires grad, but no gradient flows to the target; pass target.detach()");
  const double scale = 1.0 / static_cast<double>(x.numel());
  Tensor y = Tensor::empty({}, x.dtype(), x.device());
  loss_fwd(kind, x, target, scale, /*accumulate=*/false, y);
  record_op(y, op, {x}, [x, t = target.detach(), kind, scale](const Tensor& gy) {
    loss_bwd(kind, x, t, gy, scale, x.ensure_grad());
  });
  return y;
}

}  // namespace

Tensor bce_with_logits(const Tensor& logits, const Tensor& target) {
  return target_loss("bce_with_logits", LossKind::BceLogits, logits, target);
}

Tensor bce(const Tensor& prob, const Tensor& target) { return target_loss("bce", LossKind::Bce, prob, target); }

Tensor bce_sigmoid(const Tensor& logits, const Tensor& target) {
  return target_loss("bce_sigmoid", LossKind::BceSigmoid, logits, target);
}

Tensor hinge_d_loss(const Tensor& d_real, const Tensor& d_fake) {
  OpScope scope("hinge_d_loss", {&d_real, &d_fake});
  check_loss_input("hinge_d_loss", d_real, "d_real");
  check_loss_input("hinge_d_loss", d_fake, "d_fake");
  check_op_tensors("hinge_d_loss", {&d_real, &d_fake});
  const double scale_real = 1.0 / static_cast<double>(d_real.numel());
  const double scale_fake = 1.0 / static_cast<double>(d_fake.numel());
  Tensor y = Tensor::empty({}, d_real.dtype(), d_real.device());
  loss_fwd(LossKind::HingeReal, d_real, Tensor(), scale_real, /*accumulate=*/false, y);
  loss_fwd(LossKind::HingeFake, d_fake, Tensor(), scale_fake, /*accumulate=*/true, y);
  record_op(y, "hinge_d_loss", {d_real, d_fake}, [d_real, d_fake, scale_real, scale_fake](const Tensor& gy) {
    if (wants_grad(d_real)) loss_bwd(LossKind::HingeReal, d_real, Tensor(), gy, scale_real, d_real.ensure_grad());
    if (wants_grad(d_fake)) loss_bwd(LossKind::HingeFake, d_fake, Tensor(), gy, scale_fake, d_fake.ensure_grad());
  });
  return y;
}

Tensor hinge_g_loss(const Tensor& d_fake) {
  OpScope scope("hinge_g_loss", {&d_fake});
  check_loss_input("hinge_g_loss", d_fake, "d_fake");
  check_op_tensors("hinge_g_loss", {&d_fake});
  const double scale = 1.0 / static_cast<double>(d_fake.numel());
  Tensor y = Tensor::empty({}, d_fake.dtype(), d_fake.device());
  loss_fwd(LossKind::Neg, d_fake, Tensor(), scale, /*accumulate=*/false, y);
  record_op(y, "hinge_g_loss", {d_fake}, [d_fake, scale](const Tensor& gy) {
    loss_bwd(LossKind::Neg, d_fake, Tensor(), gy, scale, d_fake.ensure_grad());
  });
  return y;
}

}  // namespace nn
