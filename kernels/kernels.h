// kernels.h — plain C++ declarations of every CUDA kernel launcher, one block per .cu family.
//
// Launchers take raw float pointers, sizes and a stream; they never see a Tensor, so they can be
// benchmarked on their own (bench/). Every launcher checks its launch (NN_LAUNCH_CHECK).
// Backward launchers ACCUMULATE into their gradient outputs (dx += ...), the engine's rule.
// Scalars that live on the device (an upstream gradient of a loss) are passed as pointers, so
// no launcher ever waits for the host.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "adam_math.h"
#include "elementwise_math.h"
#include "loss_math.h"
#include "pooling_math.h"

namespace nn {

// ---- elementwise.cu: activations, arithmetic, fills, reductions
void activation_fwd_cuda(ActKind kind, const float* x, float* y, int64_t n, float slope, cudaStream_t s);
// dx += dy * f'(.); `xy` is the input x for ReLU/leaky ReLU and the output y for tanh/sigmoid.
void activation_bwd_cuda(ActKind kind, const float* xy, const float* dy, float* dx, int64_t n, float slope,
                         cudaStream_t s);
void binary_fwd_cuda(BinaryKind kind, const float* a, const float* b, float* y, int64_t n, cudaStream_t s);
void affine_fwd_cuda(const float* x, float* y, int64_t n, float scale, float shift, cudaStream_t s);  // y = scale x + shift
void axpy_cuda(float alpha, const float* x, float* y, int64_t n, cudaStream_t s);          // y += alpha x
void mul_accumulate_cuda(float alpha, const float* a, const float* b, float* y, int64_t n,
                         cudaStream_t s);                                                  // y += alpha a b
void scalar_accumulate_cuda(float alpha, const float* scalar, float* y, int64_t n, cudaStream_t s);  // y += alpha *scalar
void sum_cuda(const float* x, int64_t n, float scale, float* out, cudaStream_t s);         // *out = scale sum(x), deterministic
void fill_cuda(float* y, int64_t n, float value, cudaStream_t s);
// y_i = fma(u_i, span, lo) and y_i = fma(z_i, std, mean): the same float ops as the CPU fills.
void uniform_fill_cuda(float* y, int64_t n, uint64_t seed, uint64_t c0, float lo, float span, cudaStream_t s);
void normal_fill_cuda(float* y, int64_t n, uint64_t seed, uint64_t c0, float mean, float std, cudaStream_t s);
// The same with the first counter read on the device (a DeviceGenerator's take: step_state.h).
void normal_fill_cuda(float* y, int64_t n, uint64_t seed, const int64_t* c0_device, float mean, float std,
                      cudaStream_t s);

// ---- batchnorm.cu: x viewed as (N, C, HW). gamma/beta may be null (no affine: 1 and 0).
// Training: per-channel batch mean and biased variance -> save_mean, save_invstd = 1/sqrt(var+eps),
// y = (x - mean) invstd gamma + beta; running stats (if non-null) <- (1-momentum) r + momentum
// (mean, unbiased var). Eval: the same with the running statistics (also written to save_*).
// `act`, `slope`: the activation fused after the normalisation (batchnorm_math.h's BnAct as an
// int: 0 none, 1 relu, 2 leaky relu with `slope`); the backward then takes its output's gradient.
void batchnorm_fwd_train_cuda(const float* x, const float* gamma, const float* beta, float* y, float* save_mean,
                              float* save_invstd, float* running_mean, float* running_var, int N, int C, int HW,
                              float momentum, float eps, int act, float slope, cudaStream_t s);
void batchnorm_fwd_eval_cuda(const float* x, const float* gamma, const float* beta, const float* running_mean,
                             const float* running_var, float* y, float* save_mean, float* save_invstd, int N, int C,
                             int HW, float eps, int act, float slope, cudaStream_t s);
// dx (nullable), dgamma (nullable), dbeta (nullable) accumulate. `training` picks the formula:
// batch statistics depend on x in training mode, running ones do not. beta (nullable) is read
// only with a fused activation (to recompute its input).
void batchnorm_bwd_cuda(const float* x, const float* dy, const float* gamma, const float* beta, const float* save_mean,
                        const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C, int HW,
                        bool training, int act, float slope, cudaStream_t s);

// ---- dropout.cu: keep element i when rng_bits(seed, c0, i) >= threshold (threshold = p 2^32),
// y = x * scale * keep, scale = 1/(1-p). Backward regenerates the mask: dx += dy * scale * keep.
void dropout_fwd_cuda(const float* x, float* y, int64_t n, uint64_t seed, uint64_t c0, uint32_t threshold,
                      float scale, cudaStream_t s);
void dropout_bwd_cuda(const float* dy, float* dx, int64_t n, uint64_t seed, uint64_t c0, uint32_t threshold,
                      float scale, cudaStream_t s);
// The same with c0 read on the device (a DeviceGenerator's take, saved for the backward).
void dropout_fwd_cuda(const float* x, float* y, int64_t n, uint64_t seed, const int64_t* c0_device, uint32_t threshold,
                      float scale, cudaStream_t s);
void dropout_bwd_cuda(const float* dy, float* dx, int64_t n, uint64_t seed, const int64_t* c0_device,
                      uint32_t threshold, float scale, cudaStream_t s);

// ---- loss.cu: per-element losses (loss_math.h) reduced to one float, deterministically.
// fwd: *out (+)= scale * sum_i loss(x_i, t_i) (accumulate picks += or =); target may be null
// for the kinds that have none. bwd: dx_i += (*gout) * scale * dloss/dx_i.
void loss_fwd_cuda(LossKind kind, const float* x, const float* target, int64_t n, float scale, bool accumulate,
                   float* out, cudaStream_t s);
void loss_bwd_cuda(LossKind kind, const float* x, const float* target, const float* gout, float* dx, int64_t n,
                   float scale, cudaStream_t s);

// ---- bias.cu: per-channel bias of a (N, C, HW) tensor.
void bias_add_cuda(float* y, const float* bias, int N, int C, int HW, cudaStream_t s);    // y[n,c,:] += b[c]
void bias_grad_cuda(const float* dy, float* dbias, int N, int C, int HW, cudaStream_t s);  // db[c] += sum dy[n,c,:]
// bias_act (src/ops/bias_act.cpp): y = f(x + b[c]) with f = act_forward(ActKind(act)); backward
// dz = dy f'(.) (xy: x for relu / leaky relu, y for tanh / sigmoid), dx += dz, db[c] += sum dz
// (dx, db nullable). HW == 1 uses the coalesced column layout (launch.cuh).
void bias_act_fwd_cuda(int act, const float* x, const float* bias, float* y, int N, int C, int HW, float slope,
                       cudaStream_t s);
void bias_act_bwd_cuda(int act, const float* xy, const float* bias, const float* dy, float* dx, float* dbias, int N,
                       int C, int HW, float slope, cudaStream_t s);

// ---- adam.cu: one fused update over a whole parameter arena (adam_math.h).
void adam_step_cuda(float* param, const float* grad, float* m, float* v, int64_t n, AdamScalars sc, cudaStream_t s);
// The same with the scalars read from device memory (written there by adam_prepare_cuda).
void adam_step_cuda(float* param, const float* grad, float* m, float* v, int64_t n, const AdamScalars* sc,
                    cudaStream_t s);

// ---- step_state.cu: a step's changing scalars, kept on the device (step_state_math.h).
// start (nullable) = *counter; *counter += amount.
void counter_take_cuda(int64_t* counter, int64_t amount, int64_t* start, cudaStream_t s);
// *t += 1; *out = adam_scalars_for_step(*t, *lr, beta1, beta2, eps).
void adam_prepare_cuda(int64_t* t, const double* lr, double beta1, double beta2, double eps, AdamScalars* out,
                       cudaStream_t s);
// *lr_a = *lr_b (nullable) = linear_decay_lr(*step, lr0, total_steps).
void linear_decay_lr_cuda(const int64_t* step, double lr0, double total_steps, double* lr_a, double* lr_b,
                          cudaStream_t s);
// Row r = (*row >= capacity_rows ? 0 : *row) of buffer (capacity_rows x columns) = values; *row = r + 1.
void metrics_append_cuda(float* buffer, int64_t* row, const float* values, int64_t columns, int64_t capacity_rows,
                         cudaStream_t s);
// e_i = ema_value(e_i, g_i, *step, ema_start, w).
void ema_update_cuda(float* e, const float* g, int64_t n, const int64_t* step, int64_t ema_start, float w,
                     cudaStream_t s);

// ---- data.cu: a training batch gathered from the uint8 dataset on the device (src/data/).
// images: (N, sample_elems) bytes; order: a permutation of 0..N-1 (int32);
// out[b * sample_elems + j] = pixel_to_unit_range(images[order[first + b] * sample_elems + j])
// for b < batch, j < sample_elems: (byte - 127.5) / 127.5, in [-1, 1] (data_math.h).
void gather_scale_cuda(const uint8_t* images, const int32_t* order, int64_t first, int64_t batch,
                       int64_t sample_elems, float* out, cudaStream_t s);
// The same with first = *batch_cursor * batch read on the device (BatchSampler::batch_into_next).
void gather_scale_cuda(const uint8_t* images, const int32_t* order, const int64_t* batch_cursor, int64_t batch,
                       int64_t sample_elems, float* out, cudaStream_t s);

// ---- pooling.cu: planes of (NC, H, W) pooled to (NC, OH, OW) with geometry g (pooling_math.h).
// max: y = window max; argmax (nullable: inference) = h W + w of the first maximum in the plane.
void max_pool2d_fwd_cuda(const float* x, float* y, int32_t* argmax, int64_t NC, const PoolGeom& g, cudaStream_t s);
// dx[p, argmax] += dy, as a gather: one thread per input element sums the dy of the windows that
// picked it (no atomics, deterministic).
void max_pool2d_bwd_cuda(const float* dy, const int32_t* argmax, float* dx, int64_t NC, const PoolGeom& g,
                         cudaStream_t s);
void avg_pool2d_fwd_cuda(const float* x, float* y, int64_t NC, const PoolGeom& g, bool count_include_pad,
                         cudaStream_t s);
// dx[h,w] += sum over covering windows of dy / divisor (a gather, deterministic).
void avg_pool2d_bwd_cuda(const float* dy, float* dx, int64_t NC, const PoolGeom& g, bool count_include_pad,
                         cudaStream_t s);
// x (NC, HW) -> y (NC) plane means; backward dx[p, i] += dy[p] / HW.
void global_avg_pool2d_fwd_cuda(const float* x, float* y, int64_t NC, int64_t HW, cudaStream_t s);
void global_avg_pool2d_bwd_cuda(const float* dy, float* dx, int64_t NC, int64_t HW, cudaStream_t s);

// ---- concat.cu: one input's slice of a concatenation viewed as (outer, cols):
// fwd: y[o, y_offset + j] = x[o, j];  bwd: dx[o, j] += dy[o, y_offset + j], for o < outer, j < x_cols.
void concat_fwd_cuda(const float* x, float* y, int64_t outer, int64_t x_cols, int64_t y_cols, int64_t y_offset,
                     cudaStream_t s);
void concat_bwd_cuda(const float* dy, float* dx, int64_t outer, int64_t x_cols, int64_t y_cols, int64_t y_offset,
                     cudaStream_t s);

// ---- resize.cu: bilinear resize (resize_math.h) of planes (NC, H, W) to (NC, OH, OW).
void resize_bilinear_fwd_cuda(const float* x, float* y, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              cudaStream_t s);
// dx += the transpose, as a gather: one thread per input element sums dy over the outputs that
// read it, times their weights (no atomics, deterministic).
void resize_bilinear_bwd_cuda(const float* dy, float* dx, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              cudaStream_t s);

// Nearest upsampling of planes (NC, H, W) by an integer factor s (resize_math.h); the backward
// dx += the s x s block sums of dy, as a gather (deterministic).
void upsample_nearest_fwd_cuda(const float* x, float* y, int64_t NC, int64_t H, int64_t W, int64_t s,
                               cudaStream_t stream);
void upsample_nearest_bwd_cuda(const float* dy, float* dx, int64_t NC, int64_t H, int64_t W, int64_t s,
                               cudaStream_t stream);

// ---- spectral_norm.cu (spectral_norm_math.h): the device-side divisions of spectral
// normalisation; every scalar (sigma, a sum of squares, <dy, W>) is a one-element device buffer.
void sn_divide_by_sigma_cuda(const float* x, const float* sigma, float* y, int64_t n, cudaStream_t s);
// y = x / max(sqrt(sum_of_squares), eps), as F.normalize.
void sn_normalize_cuda(const float* x, const float* sum_of_squares, float* y, int64_t n, float eps, cudaStream_t s);
// dw[i,j] += dy[i,j] / sigma - (<dy, W> / sigma^2) u[i] v[j]  (rows x cols, row-major).
void sn_weight_grad_cuda(const float* dy, const float* sigma, const float* dy_dot_w, const float* u, const float* v,
                         float* dw, int64_t rows, int64_t cols, cudaStream_t s);

// ---- softmax.cu: softmax over the rows of (N, K) (softmax_math.h).
void softmax_fwd_cuda(const float* x, float* y, int64_t N, int64_t K, cudaStream_t s);
// dx += y (dy - sum(dy y)) per row.
void softmax_bwd_cuda(const float* y, const float* dy, float* dx, int64_t N, int64_t K, cudaStream_t s);

}  // namespace nn
