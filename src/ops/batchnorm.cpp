// batchnorm.cpp — batch_norm: batch normalization over the channel dimension, as PyTorch's
// BatchNorm1d (x: (N,C)) and BatchNorm2d (x: (N,C,H,W)). x is viewed as (N, C, HW), M = N*HW.
//
//   forward, training:  mean_c = (1/M) sum x,   var_c = (1/M) sum (x - mean_c)^2   (biased)
//                       xhat = (x - mean_c) / sqrt(var_c + eps),  y = gamma_c xhat + beta_c
//                       running_mean <- (1 - momentum) running_mean + momentum mean_c
//                       running_var  <- (1 - momentum) running_var  + momentum var_c M/(M-1)
//   forward, eval:      the same y with running_mean / running_var in place of the batch ones
//   backward (ACCUMULATES), sums over the channel's M values:
//     training:  dx += gamma invstd / M (M dy - sum dy - xhat sum(dy xhat))
//     eval:      dx += gamma invstd dy
//     dgamma_c += sum dy xhat,   dbeta_c += sum dy
//
// The running statistics are updated in place through raw pointers, outside autograd, exactly
// once per training forward; they may be undefined (then nothing is updated). weight (gamma) and
// bias (beta) may each be undefined (no affine: 1 and 0). The forward saves mean_c and invstd_c
// as (C) tensors captured by the backward closure, in both modes, so the backward never reads
// the running statistics (which a later training step may have changed).
//
// batch_norm_act(..., relu | leaky relu, slope): y = act(batch_norm(x)) in one op; the backward
// forms dz = dy act'(z) on the fly from x (z recomputed, never stored) and runs the formulas above
// on dz. Same values as the two separate ops (kernels/batchnorm_math.h says why).
//
// CPU: the loops below, templated on T. CUDA: kernels/batchnorm.cu (hand-written, not cuDNN). The
// per-element formulas are shared (kernels/batchnorm_math.h).
// Tests: tests/test_batchnorm.cpp (Gradcheck.batch_norm, CudaParity.batch_norm, BatchNorm.*;
// Gradcheck.batch_norm_act, CudaParity.batch_norm_act, BatchNormAct.* against the composition).
#include <limits>

#include "batchnorm_math.h"
#include <algorithm>
#include <vector>

#include "cpu_parallel.h"
#include "op_util.h"

namespace nn {

namespace {

// x viewed as (N, C, HW).
struct BnDims {
  int N = 0, C = 0, HW = 0;
  int64_t M() const { return static_cast<int64_t>(N) * HW; }
  // Flat offset of element (n, c, hw).
  int64_t at(int64_t n, int64_t c, int64_t hw) const { return (n * C + c) * HW + hw; }
};

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mutable_data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The statistics are accumulated in double even when T is float: with M in the thousands a
// float running sum loses about log2(M) bits, and this loop is the reference that the CUDA
// kernels (float tree reductions, far more accurate than a float running sum) are checked
// against, so it must be the more accurate of the two.
//
// The loops run over blocks of channels: for each sample n, the block's channels side by side.
// Every channel's sums are still taken in the order n, then hw, ascending (so the results are
// those of one loop per channel, and independent of the thread count: a block belongs to one
// thread), but an (N, C) input (BatchNorm1d, HW = 1) is then read row by row instead of one
// column at a time, C floats apart: the keras generator's 16384-channel batchnorm was a cache
// miss per element that way.
constexpr int64_t kBnBlockElems = 64;

// Channels per block: about kBnBlockElems contiguous elements per sample.
int64_t bn_block(const BnDims& d) { return std::max<int64_t>(1, kBnBlockElems / std::max(d.HW, 1)); }

template <class T>
void batchnorm_fwd_train_cpu(const T* x, const T* gamma, const T* beta, T* y, T* save_mean, T* save_invstd,
                             T* running_mean, T* running_var, BnDims d, double momentum, double eps, BnAct act,
                             T slope) {
  const int64_t M = d.M(), B = bn_block(d);
#pragma omp parallel for schedule(static) if (d.C * M >= kParallelElems)
  for (int64_t c0 = 0; c0 < d.C; c0 += B) {
    const int64_t c1 = std::min<int64_t>(d.C, c0 + B);
    std::vector<double> sum(static_cast<size_t>(c1 - c0), 0.0), sqdev(sum.size(), 0.0), mean(sum.size());
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t hw = 0; hw < d.HW; ++hw) sum[c - c0] += x[d.at(n, c, hw)];
    for (int64_t c = c0; c < c1; ++c) mean[c - c0] = sum[c - c0] / static_cast<double>(M);
    // Second pass over the deviations (not E[x^2] - mean^2, which cancels when |mean| >> std).
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t hw = 0; hw < d.HW; ++hw) {
          const double dev = x[d.at(n, c, hw)] - mean[c - c0];
          sqdev[c - c0] += dev * dev;
        }
    std::vector<T> m(sum.size()), is(sum.size()), g(sum.size()), b(sum.size());
    for (int64_t c = c0; c < c1; ++c) {
      const double var = sqdev[c - c0] / static_cast<double>(M);
      const double invstd = bn_invstd(var, eps);
      save_mean[c] = static_cast<T>(mean[c - c0]);
      save_invstd[c] = static_cast<T>(invstd);
      if (running_mean != nullptr)
        running_mean[c] = static_cast<T>(bn_running_update(static_cast<double>(running_mean[c]), mean[c - c0], momentum));
      if (running_var != nullptr)
        running_var[c] = static_cast<T>(bn_running_update(static_cast<double>(running_var[c]),
                                                          bn_unbiased_var(var, static_cast<double>(M)), momentum));
      m[c - c0] = static_cast<T>(mean[c - c0]);
      is[c - c0] = static_cast<T>(invstd);
      g[c - c0] = gamma != nullptr ? gamma[c] : T(1);
      b[c - c0] = beta != nullptr ? beta[c] : T(0);
    }
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t hw = 0; hw < d.HW; ++hw) {
          const int64_t j = d.at(n, c, hw);
          y[j] = bn_act(act, bn_normalize(x[j], m[c - c0], is[c - c0], g[c - c0], b[c - c0]), slope);
        }
  }
}

// invstd is computed in T from the stored running variance, the same float operations as the
// CUDA eval kernel.
template <class T>
void batchnorm_fwd_eval_cpu(const T* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                            T* y, T* save_mean, T* save_invstd, BnDims d, double eps, BnAct act, T slope) {
  for (int64_t c = 0; c < d.C; ++c) {
    save_mean[c] = running_mean[c];
    save_invstd[c] = bn_invstd(running_var[c], static_cast<T>(eps));
  }
#pragma omp parallel for schedule(static) if (d.C * d.M() >= kParallelElems)
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c) {
      const T g = gamma != nullptr ? gamma[c] : T(1);
      const T b = beta != nullptr ? beta[c] : T(0);
      for (int64_t hw = 0; hw < d.HW; ++hw) {
        const int64_t j = d.at(n, c, hw);
        y[j] = bn_act(act, bn_normalize(x[j], save_mean[c], save_invstd[c], g, b), slope);
      }
    }
}

// dx, dgamma, dbeta may each be null; the others accumulate. Channel sums in double (as above).
// With a fused activation, dy is the gradient of its output and dz = dy act'(z) is formed on the
// fly from x (bn_act_grad), in both passes, instead of being stored.
template <class T>
void batchnorm_bwd_cpu(const T* x, const T* dy_out, const T* gamma, const T* beta, const T* save_mean,
                       const T* save_invstd, T* dx, T* dgamma, T* dbeta, BnDims d, bool training, BnAct act, T slope) {
  const int64_t M = d.M(), B = bn_block(d);
#pragma omp parallel for schedule(static) if (d.C * M >= kParallelElems)
  for (int64_t c0 = 0; c0 < d.C; c0 += B) {
    const int64_t c1 = std::min<int64_t>(d.C, c0 + B);
    std::vector<double> sum_dy(static_cast<size_t>(c1 - c0), 0.0), sum_dy_xhat(sum_dy.size(), 0.0);
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t c = c0; c < c1; ++c) {
        const T mean = save_mean[c], invstd = save_invstd[c];
        const T g = gamma != nullptr ? gamma[c] : T(1), b = beta != nullptr ? beta[c] : T(0);
        for (int64_t hw = 0; hw < d.HW; ++hw) {
          const int64_t j = d.at(n, c, hw);
          const T dy = act == BnAct::None ? dy_out[j] : bn_act_grad(act, bn_normalize(x[j], mean, invstd, g, b), dy_out[j], slope);
          sum_dy[c - c0] += dy;
          sum_dy_xhat[c - c0] += static_cast<double>(dy) * static_cast<double>(bn_xhat(x[j], mean, invstd));
        }
      }
    for (int64_t c = c0; c < c1; ++c) {
      if (dgamma != nullptr) dgamma[c] += static_cast<T>(sum_dy_xhat[c - c0]);
      if (dbeta != nullptr) dbeta[c] += static_cast<T>(sum_dy[c - c0]);
    }
    if (dx == nullptr) continue;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t c = c0; c < c1; ++c) {
        const T mean = save_mean[c], invstd = save_invstd[c];
        const T gamma_invstd = (gamma != nullptr ? gamma[c] : T(1)) * invstd;
        const T mean_dy = static_cast<T>(sum_dy[c - c0] / static_cast<double>(M));
        const T mean_dy_xhat = static_cast<T>(sum_dy_xhat[c - c0] / static_cast<double>(M));
        const T g = gamma != nullptr ? gamma[c] : T(1), b = beta != nullptr ? beta[c] : T(0);
        for (int64_t hw = 0; hw < d.HW; ++hw) {
          const int64_t j = d.at(n, c, hw);
          const T dy = act == BnAct::None ? dy_out[j] : bn_act_grad(act, bn_normalize(x[j], mean, invstd, g, b), dy_out[j], slope);
          dx[j] += training ? bn_dx_train(dy, bn_xhat(x[j], mean, invstd), gamma_invstd, mean_dy, mean_dy_xhat)
                            : bn_dx_eval(dy, gamma_invstd);
        }
      }
  }
}

void check_channel_vector(const Tensor& t, int64_t C, const char* what) {
  if (!t.defined()) return;
  NN_CHECK(t.dim() == 1 && t.size(0) == C, "batch_norm: ", what, " must have shape (", C, ") for ", C,
           " channels, got ", shape_str(t.shape()));
}

BnDims batchnorm_dims(const Tensor& x) {
  NN_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: input must be (N,C) or (N,C,H,W), got ", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  const int64_t int_max = std::numeric_limits<int>::max();
  NN_CHECK(N <= int_max && C <= int_max && HW <= int_max, "batch_norm: input ", shape_str(x.shape()),
           " is too large (N, C and H*W must each fit in an int)");
  return BnDims{static_cast<int>(N), static_cast<int>(C), static_cast<int>(HW)};
}

}  // namespace

namespace {

Tensor batch_norm_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps, BnAct act,
                       double slope_d, const char* op) {
  OpScope scope(op, {&x, &weight, &bias, &running_mean, &running_var});
  check_defined(op, x, "input");
  check_op_tensors(op, {&x, &weight, &bias, &running_mean, &running_var});
  const BnDims d = batchnorm_dims(x);
  check_channel_vector(weight, d.C, "weight");
  check_channel_vector(bias, d.C, "bias");
  check_channel_vector(running_mean, d.C, "running_mean");
  check_channel_vector(running_var, d.C, "running_var");
  NN_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must both be given or both be undefined");
  NN_CHECK(eps > 0, "batch_norm: eps must be positive, got ", eps);
  if (training) {
    // PyTorch's own message: one value per channel has no variance to normalise by.
    NN_CHECK(d.M() > 1, "batch_norm: Expected more than 1 value per channel when training, got input size ",
             shape_str(x.shape()));
    NN_CHECK(momentum >= 0 && momentum <= 1, "batch_norm: momentum must be in [0, 1], got ", momentum);
  } else {
    NN_CHECK(running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var (input ",
             shape_str(x.shape()), ")");
  }

  Tensor y = Tensor::empty_like(x);
  Tensor save_mean = Tensor::empty({d.C}, x.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({d.C}, x.dtype(), x.device());
  if (x.is_cuda()) {
    NN_CUDA_ONLY({
      const float* g = data_or_null<float>(weight);
      const float* b = data_or_null<float>(bias);
      if (training) {
        batchnorm_fwd_train_cuda(x.data<float>(), g, b, y.data<float>(), save_mean.data<float>(),
                                 save_invstd.data<float>(), mutable_data_or_null<float>(running_mean),
                                 mutable_data_or_null<float>(running_var), d.N, d.C, d.HW, static_cast<float>(momentum),
                                 static_cast<float>(eps), static_cast<int>(act), static_cast<float>(slope_d),
                                 op_stream());
      } else {
        batchnorm_fwd_eval_cuda(x.data<float>(), g, b, running_mean.data<float>(), running_var.data<float>(),
                                y.data<float>(), save_mean.data<float>(), save_invstd.data<float>(), d.N, d.C, d.HW,
                                static_cast<float>(eps), static_cast<int>(act), static_cast<float>(slope_d),
                                op_stream());
      }
    });
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      if (training) {
        batchnorm_fwd_train_cpu<T>(x.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias), y.data<T>(),
                                   save_mean.data<T>(), save_invstd.data<T>(), mutable_data_or_null<T>(running_mean),
                                   mutable_data_or_null<T>(running_var), d, momentum, eps, act, static_cast<T>(slope_d));
      } else {
        batchnorm_fwd_eval_cpu<T>(x.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias), running_mean.data<T>(),
                                  running_var.data<T>(), y.data<T>(), save_mean.data<T>(), save_invstd.data<T>(), d,
                                  eps, act, static_cast<T>(slope_d));
      }
    });
  }

  // The closure keeps x and the parameters (inputs, not the output) and the saved statistics.
  record_op(
      y, op, {x, weight, bias}, [x, weight, bias, save_mean, save_invstd, d, training, act, slope_d](const Tensor& gy) {
        const Tensor gx = wants_grad(x) ? x.ensure_grad() : Tensor();
        const Tensor gw = wants_grad(weight) ? weight.ensure_grad() : Tensor();
        const Tensor gb = wants_grad(bias) ? bias.ensure_grad() : Tensor();
        if (gy.is_cuda()) {
          NN_CUDA_ONLY(batchnorm_bwd_cuda(x.data<float>(), gy.data<float>(), data_or_null<float>(weight),
                                          data_or_null<float>(bias), save_mean.data<float>(), save_invstd.data<float>(),
                                          mutable_data_or_null<float>(gx), mutable_data_or_null<float>(gw),
                                          mutable_data_or_null<float>(gb), d.N, d.C, d.HW, training,
                                          static_cast<int>(act), static_cast<float>(slope_d), op_stream()));
        } else {
          dispatch_float(gy.dtype(), [&](auto zero) {
            using T = decltype(zero);
            batchnorm_bwd_cpu<T>(x.data<T>(), gy.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias),
                                 save_mean.data<T>(), save_invstd.data<T>(), mutable_data_or_null<T>(gx),
                                 mutable_data_or_null<T>(gw), mutable_data_or_null<T>(gb), d, training, act,
                                 static_cast<T>(slope_d));
          });
        }
      });
  return y;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps, BnAct::None, 0.0,
                         "batch_norm");
}

Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                      const Tensor& running_var, bool training, double momentum, double eps,
                      FusedActivation activation, double slope) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps,
                         activation == FusedActivation::Relu ? BnAct::Relu : BnAct::LeakyRelu, slope,
                         "batch_norm_act");
}

}  // namespace nn
