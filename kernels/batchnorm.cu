// batchnorm.cu — hand-written batch normalization kernels (not cuDNN), x viewed as (N, C, HW).
//
//   forward (training): mean_c = sum x / M, var_c = sum (x - mean_c)^2 / M (biased, two passes),
//                       invstd_c = 1/sqrt(var_c + eps), y = (x - mean_c) invstd_c gamma_c + beta_c,
//                       running <- (1 - momentum) running + momentum (mean_c, var_c M/(M-1))
//   forward (eval):     the same normalisation with the running statistics
//   backward:           dx += gamma invstd (dy - mean(dy) - xhat mean(dy xhat))   (training)
//                       dx += gamma invstd dy                                     (eval)
//                       dgamma_c += sum dy xhat,  dbeta_c += sum dy
// with M = N*HW; batch_norm_act adds relu / leaky relu after y and its derivative before the
// backward (act, slope: BnAct of batchnorm_math.h, None for batch_norm). The per-element formulas are in batchnorm_math.h, shared with the CPU reference
// in src/ops/batchnorm.cpp. Tests: tests/test_batchnorm.cpp (CudaParity.batch_norm,
// BatchNorm.RunningStatsSameOnCpuAndCuda); they run wherever a GPU is.
//
// Layout of the work: ONE BLOCK PER CHANNEL for (N, C, HW) inputs with HW > 1. The block reduces
// its channel's M values with the deterministic block_sum (launch.cuh: a fixed tree, so the
// statistics are the same bits on every run), then the same block writes its channel's outputs.
// Because a channel is owned by exactly one block, there are no atomics, no temporary buffers
// between kernels, and dgamma/dbeta can be accumulated with a plain +=. The price is that the
// statistics are read twice and x a third time.
//
// (N, C) inputs (HW = 1: batchnorm1d, e.g. keras's (256, 16384) after its linear layer) would make
// consecutive threads of that layout read addresses C floats apart. They take the COLUMN layout
// instead (launch.cuh's kColChannels x kColRows blocks): a block owns 32 consecutive channels,
// a warp reads 32 consecutive floats of one row, and column_sum reduces each channel's rows in a
// fixed order (deterministic too; the sums are taken in another order than the plane layout's,
// so the two layouts agree to rounding, not bit for bit).
#include "batchnorm_math.h"
#include "kernels.h"
#include "launch.cuh"

namespace nn {

namespace {

// Flat offset of the i-th value of channel c, i = n*HW + hw in [0, M): element (n, c, hw).
__device__ __forceinline__ int64_t bn_offset(int64_t i, int c, int C, int HW) {
  const int64_t n = i / HW;
  const int64_t hw = i - n * HW;
  return (n * C + c) * HW + hw;
}

// Channel c's batch statistics into save_* and (when non-null) the running statistics, by the one
// thread of the channel that writes them.
__device__ __forceinline__ void store_channel_stats(int c, float mean, float var, float invstd, float Mf, float momentum,
                                                    float* save_mean, float* save_invstd, float* running_mean,
                                                    float* running_var) {
  save_mean[c] = mean;
  save_invstd[c] = invstd;
  if (running_mean != nullptr) running_mean[c] = bn_running_update(running_mean[c], mean, momentum);
  if (running_var != nullptr) running_var[c] = bn_running_update(running_var[c], bn_unbiased_var(var, Mf), momentum);
}

// grid (C), block (kThreads). x, y: (N, C, HW); gamma, beta: (C) or null; save_*: (C);
// running_*: (C) or null.
__global__ void batchnorm_fwd_train_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                           const float* __restrict__ beta, float* __restrict__ y,
                                           float* __restrict__ save_mean, float* __restrict__ save_invstd,
                                           float* __restrict__ running_mean, float* __restrict__ running_var, int N,
                                           int C, int HW, float momentum, float eps, BnAct act, float slope) {
  __shared__ float scratch[kThreads];
  const int c = blockIdx.x;
  const int64_t M = static_cast<int64_t>(N) * HW;
  const float Mf = static_cast<float>(M);

  // Pass 1: the mean.
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) acc += x[bn_offset(i, c, C, HW)];
  const float mean = block_sum(acc, scratch) / Mf;

  // Pass 2: the biased variance as the mean of squared deviations. Two passes instead of
  // E[x^2] - E[x]^2, which cancels catastrophically in float when |mean| >> std.
  acc = 0.0f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float d = x[bn_offset(i, c, C, HW)] - mean;
    acc += d * d;
  }
  const float var = block_sum(acc, scratch) / Mf;
  const float invstd = bn_invstd(var, eps);

  if (threadIdx.x == 0) store_channel_stats(c, mean, var, invstd, Mf, momentum, save_mean, save_invstd, running_mean, running_var);

  // Pass 3: normalise this channel.
  const float g = gamma != nullptr ? gamma[c] : 1.0f;
  const float b = beta != nullptr ? beta[c] : 0.0f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t j = bn_offset(i, c, C, HW);
    y[j] = bn_act(act, bn_normalize(x[j], mean, invstd, g, b), slope);
  }
}

// grid (C), block (kThreads). The running statistics are copied to save_* (with the variance
// turned into invstd) so that the backward pass reads the same arrays in both modes.
__global__ void batchnorm_fwd_eval_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                          const float* __restrict__ beta, const float* __restrict__ running_mean,
                                          const float* __restrict__ running_var, float* __restrict__ y,
                                          float* __restrict__ save_mean, float* __restrict__ save_invstd, int N, int C,
                                          int HW, float eps, BnAct act, float slope) {
  const int c = blockIdx.x;
  const int64_t M = static_cast<int64_t>(N) * HW;
  const float mean = running_mean[c];
  const float invstd = bn_invstd(running_var[c], eps);
  if (threadIdx.x == 0) {
    save_mean[c] = mean;
    save_invstd[c] = invstd;
  }
  const float g = gamma != nullptr ? gamma[c] : 1.0f;
  const float b = beta != nullptr ? beta[c] : 0.0f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t j = bn_offset(i, c, C, HW);
    y[j] = bn_act(act, bn_normalize(x[j], mean, invstd, g, b), slope);
  }
}

// grid (C), block (kThreads). dx, dgamma, dbeta may each be null; the non-null ones accumulate.
// With a fused activation (batch_norm_act) dy is its output's gradient: dz = dy act'(z) is formed
// on the fly, z recomputed from x, in both passes (bn_act_grad), and never stored.
__global__ void batchnorm_bwd_kernel(const float* __restrict__ x, const float* __restrict__ dy_out,
                                     const float* __restrict__ gamma, const float* __restrict__ beta,
                                     const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                     float* __restrict__ dx, float* __restrict__ dgamma, float* __restrict__ dbeta,
                                     int N, int C, int HW, bool training, BnAct act, float slope) {
  __shared__ float scratch[kThreads];
  const int c = blockIdx.x;
  const int64_t M = static_cast<int64_t>(N) * HW;
  const float Mf = static_cast<float>(M);
  const float mean = save_mean[c];
  const float invstd = save_invstd[c];
  const float gc = gamma != nullptr ? gamma[c] : 1.0f, bc = beta != nullptr ? beta[c] : 0.0f;
  auto dz = [&](int64_t j) {
    return act == BnAct::None ? dy_out[j] : bn_act_grad(act, bn_normalize(x[j], mean, invstd, gc, bc), dy_out[j], slope);
  };

  // The two channel sums. Eval mode's dx does not need them, so they are skipped when nothing
  // else does either. The condition depends only on kernel arguments, so the whole block takes
  // the same branch and the barriers inside are reached by every thread.
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  if (training || dgamma != nullptr || dbeta != nullptr) {
    float acc_dy = 0.0f, acc_dy_xhat = 0.0f;
    for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
      const int64_t j = bn_offset(i, c, C, HW);
      const float g = dz(j);
      acc_dy += g;
      acc_dy_xhat += g * bn_xhat(x[j], mean, invstd);
    }
    sum_dy = block_sum(acc_dy, scratch);
    sum_dy_xhat = block_sum(acc_dy_xhat, scratch);
  }
  if (threadIdx.x == 0) {
    if (dgamma != nullptr) dgamma[c] += sum_dy_xhat;
    if (dbeta != nullptr) dbeta[c] += sum_dy;
  }
  if (dx == nullptr) return;

  const float gamma_invstd = (gamma != nullptr ? gamma[c] : 1.0f) * invstd;
  const float mean_dy = sum_dy / Mf;
  const float mean_dy_xhat = sum_dy_xhat / Mf;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t j = bn_offset(i, c, C, HW);
    const float g = dz(j);
    dx[j] += training ? bn_dx_train(g, bn_xhat(x[j], mean, invstd), gamma_invstd, mean_dy, mean_dy_xhat)
                      : bn_dx_eval(g, gamma_invstd);
  }
}

// ---- the column layout (HW == 1): x, y (N, C) row-major; block (kColChannels, kColRows).
__global__ void batchnorm_fwd_train_columns_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                                   const float* __restrict__ beta, float* __restrict__ y,
                                                   float* __restrict__ save_mean, float* __restrict__ save_invstd,
                                                   float* __restrict__ running_mean,
                                                   float* __restrict__ running_var, int N, int C, float momentum,
                                                   float eps, BnAct act, float slope) {
  __shared__ float scratch[kColRows][kColChannels + 1];
  const int c = blockIdx.x * kColChannels + threadIdx.x;
  const bool valid = c < C;  // the last block's spare columns still reach every barrier
  const float Mf = static_cast<float>(N);
  float acc = 0.0f;
  if (valid)
    for (int64_t n = threadIdx.y; n < N; n += kColRows) acc += x[n * C + c];
  const float mean = column_sum(acc, scratch) / Mf;
  acc = 0.0f;
  if (valid)
    for (int64_t n = threadIdx.y; n < N; n += kColRows) {
      const float d = x[n * C + c] - mean;
      acc += d * d;
    }
  const float var = column_sum(acc, scratch) / Mf;
  if (!valid) return;
  const float invstd = bn_invstd(var, eps);
  if (threadIdx.y == 0) store_channel_stats(c, mean, var, invstd, Mf, momentum, save_mean, save_invstd, running_mean, running_var);
  const float g = gamma != nullptr ? gamma[c] : 1.0f;
  const float b = beta != nullptr ? beta[c] : 0.0f;
  for (int64_t n = threadIdx.y; n < N; n += kColRows) {
    const int64_t j = n * C + c;
    y[j] = bn_act(act, bn_normalize(x[j], mean, invstd, g, b), slope);
  }
}

// Eval, (N, C): one thread per element, grid-stride (no reduction); row 0 writes save_*.
__global__ void batchnorm_fwd_eval_rows_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                               const float* __restrict__ beta, const float* __restrict__ running_mean,
                                               const float* __restrict__ running_var, float* __restrict__ y,
                                               float* __restrict__ save_mean, float* __restrict__ save_invstd,
                                               int64_t total, int C, float eps, BnAct act, float slope) {
  NN_GRID_STRIDE_LOOP(j, total) {
    const int c = static_cast<int>(j % C);
    const float mean = running_mean[c];
    const float invstd = bn_invstd(running_var[c], eps);
    if (j < C) {
      save_mean[c] = mean;
      save_invstd[c] = invstd;
    }
    const float g = gamma != nullptr ? gamma[c] : 1.0f;
    const float b = beta != nullptr ? beta[c] : 0.0f;
    y[j] = bn_act(act, bn_normalize(x[j], mean, invstd, g, b), slope);
  }
}

__global__ void batchnorm_bwd_columns_kernel(const float* __restrict__ x, const float* __restrict__ dy_out,
                                             const float* __restrict__ gamma, const float* __restrict__ beta,
                                             const float* __restrict__ save_mean,
                                             const float* __restrict__ save_invstd, float* __restrict__ dx,
                                             float* __restrict__ dgamma, float* __restrict__ dbeta, int N, int C,
                                             bool training, BnAct act, float slope) {
  __shared__ float scratch[kColRows][kColChannels + 1];
  const int c = blockIdx.x * kColChannels + threadIdx.x;
  const bool valid = c < C;
  const float Mf = static_cast<float>(N);
  const float mean = valid ? save_mean[c] : 0.0f;
  const float invstd = valid ? save_invstd[c] : 0.0f;
  const float gc = valid && gamma != nullptr ? gamma[c] : 1.0f, bc = valid && beta != nullptr ? beta[c] : 0.0f;
  auto dz = [&](int64_t j) {
    return act == BnAct::None ? dy_out[j] : bn_act_grad(act, bn_normalize(x[j], mean, invstd, gc, bc), dy_out[j], slope);
  };
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  if (training || dgamma != nullptr || dbeta != nullptr) {  // the same for the whole block
    float acc_dy = 0.0f, acc_dy_xhat = 0.0f;
    if (valid)
      for (int64_t n = threadIdx.y; n < N; n += kColRows) {
        const int64_t j = n * C + c;
        const float g = dz(j);
        acc_dy += g;
        acc_dy_xhat += g * bn_xhat(x[j], mean, invstd);
      }
    sum_dy = column_sum(acc_dy, scratch);
    sum_dy_xhat = column_sum(acc_dy_xhat, scratch);
  }
  if (!valid) return;
  if (threadIdx.y == 0) {
    if (dgamma != nullptr) dgamma[c] += sum_dy_xhat;
    if (dbeta != nullptr) dbeta[c] += sum_dy;
  }
  if (dx == nullptr) return;
  const float gamma_invstd = gc * invstd;
  const float mean_dy = sum_dy / Mf;
  const float mean_dy_xhat = sum_dy_xhat / Mf;
  for (int64_t n = threadIdx.y; n < N; n += kColRows) {
    const int64_t j = n * C + c;
    const float g = dz(j);
    dx[j] += training ? bn_dx_train(g, bn_xhat(x[j], mean, invstd), gamma_invstd, mean_dy, mean_dy_xhat)
                      : bn_dx_eval(g, gamma_invstd);
  }
}

unsigned column_blocks(int C) { return static_cast<unsigned>((C + kColChannels - 1) / kColChannels); }

}  // namespace

void batchnorm_fwd_train_cuda(const float* x, const float* gamma, const float* beta, float* y, float* save_mean,
                              float* save_invstd, float* running_mean, float* running_var, int N, int C, int HW,
                              float momentum, float eps, int act, float slope, cudaStream_t s) {
  if (C == 0 || static_cast<int64_t>(N) * HW == 0) return;
  if (HW == 1) {
    batchnorm_fwd_train_columns_kernel<<<column_blocks(C), dim3(kColChannels, kColRows), 0, s>>>(
        x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var, N, C, momentum, eps,
        static_cast<BnAct>(act), slope);
    NN_LAUNCH_CHECK(s);
    return;
  }
  batchnorm_fwd_train_kernel<<<C, kThreads, 0, s>>>(x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                                    running_var, N, C, HW, momentum, eps, static_cast<BnAct>(act),
                                                    slope);
  NN_LAUNCH_CHECK(s);
}

void batchnorm_fwd_eval_cuda(const float* x, const float* gamma, const float* beta, const float* running_mean,
                             const float* running_var, float* y, float* save_mean, float* save_invstd, int N, int C,
                             int HW, float eps, int act, float slope, cudaStream_t s) {
  if (C == 0) return;
  if (HW == 1 && N > 0) {  // (N == 0 keeps the plane kernel, which still writes save_*)
    const int64_t total = static_cast<int64_t>(N) * C;
    batchnorm_fwd_eval_rows_kernel<<<grid_for(total), kThreads, 0, s>>>(x, gamma, beta, running_mean, running_var, y,
                                                                       save_mean, save_invstd, total, C, eps,
                                                                       static_cast<BnAct>(act), slope);
    NN_LAUNCH_CHECK(s);
    return;
  }
  batchnorm_fwd_eval_kernel<<<C, kThreads, 0, s>>>(x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd,
                                                   N, C, HW, eps, static_cast<BnAct>(act), slope);
  NN_LAUNCH_CHECK(s);
}

void batchnorm_bwd_cuda(const float* x, const float* dy, const float* gamma, const float* beta, const float* save_mean,
                        const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C, int HW,
                        bool training, int act, float slope, cudaStream_t s) {
  if (C == 0 || static_cast<int64_t>(N) * HW == 0) return;
  if (dx == nullptr && dgamma == nullptr && dbeta == nullptr) return;
  if (HW == 1) {
    batchnorm_bwd_columns_kernel<<<column_blocks(C), dim3(kColChannels, kColRows), 0, s>>>(
        x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, N, C, training, static_cast<BnAct>(act), slope);
    NN_LAUNCH_CHECK(s);
    return;
  }
  batchnorm_bwd_kernel<<<C, kThreads, 0, s>>>(x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, N, C, HW,
                                              training, static_cast<BnAct>(act), slope);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
