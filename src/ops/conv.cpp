// conv.cpp — conv2d and conv_transpose2d, on the CPU and through cuDNN.
//
// One convolution geometry: x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q),
//   P = (H + 2 pad_h - R) / stride_h + 1,  Q = (W + 2 pad_w - S) / stride_w + 1,
// and with ih = p stride_h - pad_h + r, iw = q stride_w - pad_w + s (taps outside x read zero):
//
//   forward          y[n,k,p,q]  = sum_{c,r,s} x[n,c,ih,iw] w[k,c,r,s]           (+ b[k])
//   backward-data    dx[n,c,ih,iw] += sum_{k,r,s over taps hitting (ih,iw)} dy[n,k,p,q] w[k,c,r,s]
//   backward-filter  dw[k,c,r,s] += sum_{n,p,q} dy[n,k,p,q] x[n,c,ih,iw]
//   bias             db[k] += sum_{n,p,q} dy[n,k,p,q]
//
// Backward-data is the adjoint (transpose) of forward as a linear map of x, and backward-filter
// the adjoint in w; these three primitives (conv_forward, conv_backward_data,
// conv_backward_filter) are all the ops need.
//
// conv2d(x, w (O,C,kh,kw), b): y = forward(x, w) + b;  dx += backward-data(dy, w);
//   dw += backward-filter(x, dy);  db += sum dy.
//
// conv_transpose2d(x (N,C_in,H,W), w (C_in,O,kh,kw), b): the transposed convolution IS the
// backward-data (adjoint) of the *matching* convolution, the one that maps an (N,O,H_out,W_out)
// image to (N,C_in,H,W) with filter w read as (K = C_in, C = O, kh, kw) — which is exactly
// PyTorch's ConvTranspose2d weight layout, so no weight copy is needed. With
//   H_out = (H - 1) stride - 2 pad + kh + output_padding   (output_padding < stride),
// the matching convolution's output size is exactly H again. Hence
//   forward:  y  = backward-data(x, w)          (on CUDA: cudnnConvolutionBackwardData)
//   dx      += forward(dy, w)                   (cudnnConvolutionForward)
//   dw      += backward-filter(dy, x)           (cudnnConvolutionBackwardFilter, with the roles
//                                                of "input" and "output gradient" swapped)
//   db      += sum dy.
// output_padding only adds rows/columns at the bottom/right that the matching convolution's
// stride skips over, which is why it must be smaller than the stride (PyTorch's rule).
//
// Every primitive ACCUMULATES into its output (out += ...), the engine's backward rule; a
// forward asks for a fresh output (zeros on the CPU, beta = 0 in cuDNN). The CPU loops run in
// float or double; the CUDA path is float32 through src/cuda/cudnn_conv.cpp, and the bias through
// kernels/bias.cu.
//
// Kernels need not be square, nor strides and paddings equal per axis: R and S, stride_h and
// stride_w, pad_h and pad_w are separate everywhere (im2col here, the descriptors in cuDNN), as
// Inception-v3's 1x7 / 7x1 (padding (0,3) / (3,0)) and 1x3 / 3x1 convolutions need.
//
// Tests (tests/test_conv.cpp): Gradcheck.conv2d, Gradcheck.conv_transpose2d, CudaParity.conv2d,
// CudaParity.conv_transpose2d, ConvIdentity.AdjointConvTranspose, Conv.KnownValues*,
// ConvTranspose.KnownValues*, Conv.MatchesNaiveLoops, Conv.BackwardAccumulates, Conv.ShapeErrors,
// ConvCuda.DeterministicGrads; rectangular kernels: Gradcheck.conv2d_rectangular,
// CudaParity.conv2d_rectangular, ConvRect.*.
#include <algorithm>
#include <vector>

#include "cpu/onednn_conv.h"
#include "nn/backend.h"
#include "cpu_gemm.h"
#include "op_util.h"

#if defined(NN_WITH_CUDA)
#include "cuda/cudnn_conv.h"
#endif

namespace nn {

namespace {

// The geometry of one (non-transposed) convolution x (N,C,H,W) * w (K,C,R,S) -> y (N,K,P,Q).
struct ConvGeometry {
  int64_t N, C, H, W;
  int64_t K, R, S;
  int64_t P, Q;
  int64_t stride_h, stride_w, pad_h, pad_w;
};

// Output positions [lo, hi) whose tap `tap` lands inside the input along one axis, i.e.
// 0 <= o * stride - pad + tap < in_size. Walking inwards from both ends is cheap (a few steps at
// most: pad / stride) and plainer than floor/ceil divisions of possibly negative numbers.
struct Range {
  int64_t lo, hi;
};
Range valid_range(int64_t out_size, int64_t in_size, int64_t stride, int64_t pad, int64_t tap) {
  Range r{0, out_size};
  while (r.lo < out_size && r.lo * stride - pad + tap < 0) ++r.lo;
  while (r.hi > r.lo && (r.hi - 1) * stride - pad + tap >= in_size) --r.hi;
  return r;
}

// The valid output rows of every tap row r, and the valid output columns of every tap column s:
// they depend only on the geometry, so they are worked out once per call, not in the hot loops.
struct TapRanges {
  std::vector<Range> rows, cols;  // rows[r], cols[s]
  explicit TapRanges(const ConvGeometry& g) {
    for (int64_t r = 0; r < g.R; ++r) rows.push_back(valid_range(g.P, g.H, g.stride_h, g.pad_h, r));
    for (int64_t s = 0; s < g.S; ++s) cols.push_back(valid_range(g.Q, g.W, g.stride_w, g.pad_w, s));
  }
};

// ---------------------------------------------------------------- CPU reference primitives
//
// Each primitive runs per sample as a matrix product over the "column" matrix of im2col:
//
//   cols (C*R*S, P*Q):  cols[(c*R + r)*S + s, p*Q + q] = x[c, p*stride_h - pad_h + r, q*stride_w - pad_w + s]
//                       (0 where the tap falls in the padding)
//   forward          y_n  (K,PQ)   += W (K,CRS) cols (CRS,PQ)
//   backward-filter  dW   (K,CRS)  += dy_n (K,PQ) cols^T
//   backward-data    dcols (CRS,PQ) = W^T dy_n,  then dx_n += col2im(dcols)  (col2im is im2col's
//                    adjoint: every column entry is added back to the input pixel it was read from)
//
// which is the definition above, rearranged so the work is in cache-friendly products
// (cpu_gemm.h) instead of short strided loops over 4x4 outputs.

// cols = im2col(x_n).   x_n (C,H,W), cols (C*R*S, P*Q), fully overwritten.
template <class T>
void im2col_cpu(const ConvGeometry& g, const TapRanges& taps, const T* x_n, T* cols) {
  const int64_t PQ = g.P * g.Q;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s) {
        T* col = cols + ((c * g.R + r) * g.S + s) * PQ;
        std::fill(col, col + PQ, T(0));
        const Range rows = taps.rows[r], cs = taps.cols[s];
        for (int64_t p = rows.lo; p < rows.hi; ++p) {
          const T* x_row = x_n + (c * g.H + p * g.stride_h - g.pad_h + r) * g.W;
          for (int64_t q = cs.lo; q < cs.hi; ++q) col[p * g.Q + q] = x_row[q * g.stride_w - g.pad_w + s];
        }
      }
}

// dx_n += col2im(cols), the adjoint of im2col_cpu.
template <class T>
void col2im_add_cpu(const ConvGeometry& g, const TapRanges& taps, const T* cols, T* dx_n) {
  const int64_t PQ = g.P * g.Q;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s) {
        const T* col = cols + ((c * g.R + r) * g.S + s) * PQ;
        const Range rows = taps.rows[r], cs = taps.cols[s];
        for (int64_t p = rows.lo; p < rows.hi; ++p) {
          T* dx_row = dx_n + (c * g.H + p * g.stride_h - g.pad_h + r) * g.W;
          for (int64_t q = cs.lo; q < cs.hi; ++q) dx_row[q * g.stride_w - g.pad_w + s] += col[p * g.Q + q];
        }
      }
}

// The products run over a chunk of nb samples at once: their columns side by side,
//   cols (CRS, nb*PQ):  cols[row, j*PQ + pq] = im2col(x_{n0+j})[row, pq]
// so one GEMM of (K, CRS) x (CRS, nb*PQ) replaces nb small ones. Late layers have PQ = 16 or
// 64: per sample that would be a thin product that no BLAS runs fast. The chunk holds at most
// kChunkElems column entries (32 MiB of float32), so memory stays bounded at batch 256.
// The scratch buffers are kept between calls (thread_local, grown as needed): a training step
// calls the same shapes over and over, and reallocating 32 MiB each time costs page faults.
constexpr int64_t kChunkElems = int64_t{8} << 20;

int64_t chunk_samples(const ConvGeometry& g) {
  const int64_t per_sample = g.C * g.R * g.S * g.P * g.Q;
  return std::max<int64_t>(1, std::min<int64_t>(g.N, kChunkElems / std::max<int64_t>(per_sample, 1)));
}

template <class T>
T* scratch(int slot, size_t elems) {
  thread_local std::vector<T> buffers[3];
  std::vector<T>& b = buffers[slot];
  if (b.size() < elems) b.resize(elems);
  return b.data();
}

// The chunk layout: rows of nb samples side by side. gather_chunk reads samples n0 .. n0+nb-1 of
// t (N, R, PQ) into chunk (R, nb*PQ); scatter_add_chunk adds a chunk back into t.
template <class T>
void gather_chunk(const T* t, int64_t n0, int64_t nb, int64_t R, int64_t PQ, T* chunk) {
  const int64_t L = nb * PQ;
  for (int64_t j = 0; j < nb; ++j)
    for (int64_t r = 0; r < R; ++r) {
      const T* src = t + ((n0 + j) * R + r) * PQ;
      std::copy(src, src + PQ, chunk + r * L + j * PQ);
    }
}

template <class T>
void scatter_add_chunk(const T* chunk, int64_t n0, int64_t nb, int64_t R, int64_t PQ, T* t) {
  const int64_t L = nb * PQ;
  for (int64_t j = 0; j < nb; ++j)
    for (int64_t r = 0; r < R; ++r) {
      T* dst = t + ((n0 + j) * R + r) * PQ;
      const T* src = chunk + r * L + j * PQ;
      for (int64_t i = 0; i < PQ; ++i) dst[i] += src[i];
    }
}

// cols (CRS, nb*PQ) for samples n0 .. n0+nb-1: each sample's im2col in its own block of columns.
template <class T>
void im2col_chunk(const ConvGeometry& g, const TapRanges& taps, const T* x, int64_t n0, int64_t nb, T* cols) {
  const int64_t CRS = g.C * g.R * g.S, PQ = g.P * g.Q, L = nb * PQ, CHW = g.C * g.H * g.W;
  T* sample_cols = scratch<T>(2, static_cast<size_t>(CRS * PQ));
  for (int64_t j = 0; j < nb; ++j) {
    im2col_cpu(g, taps, x + (n0 + j) * CHW, sample_cols);
    for (int64_t row = 0; row < CRS; ++row)
      std::copy(sample_cols + row * PQ, sample_cols + (row + 1) * PQ, cols + row * L + j * PQ);
  }
}

// y += conv(x, w).   x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q)
template <class T>
void conv2d_fwd_cpu(const ConvGeometry& g, const T* x, const T* w, T* y) {
  const TapRanges taps(g);
  const int64_t CRS = g.C * g.R * g.S, PQ = g.P * g.Q, nb_max = chunk_samples(g);
  T* cols = scratch<T>(0, static_cast<size_t>(CRS * nb_max * PQ));
  T* out = scratch<T>(1, static_cast<size_t>(g.K * nb_max * PQ));
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0), L = nb * PQ;
    im2col_chunk(g, taps, x, n0, nb, cols);
    std::fill(out, out + g.K * L, T(0));
    gemm_nn_cpu(g.K, L, CRS, w, cols, out);  // out (K, nb*PQ) = W cols
    scatter_add_chunk(out, n0, nb, g.K, PQ, y);
  }
}

// dx += conv^T(dy, w): every output pixel sends dy * w back to the input pixel its tap read.
// w (K,C,R,S), dy (N,K,P,Q), dx (N,C,H,W)
template <class T>
void conv2d_bwd_data_cpu(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
  const TapRanges taps(g);
  const int64_t CRS = g.C * g.R * g.S, PQ = g.P * g.Q, CHW = g.C * g.H * g.W, nb_max = chunk_samples(g);
  T* dcols = scratch<T>(0, static_cast<size_t>(CRS * nb_max * PQ));
  T* dy_chunk = scratch<T>(1, static_cast<size_t>(g.K * nb_max * PQ));
  T* sample_cols = scratch<T>(2, static_cast<size_t>(CRS * PQ));
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0), L = nb * PQ;
    gather_chunk(dy, n0, nb, g.K, PQ, dy_chunk);  // dy_chunk (K, nb*PQ)
    std::fill(dcols, dcols + CRS * L, T(0));
    gemm_tn_cpu(CRS, L, g.K, w, dy_chunk, dcols);  // dcols (CRS, nb*PQ) = W^T dy_chunk
    for (int64_t j = 0; j < nb; ++j) {
      for (int64_t row = 0; row < CRS; ++row)
        std::copy(dcols + row * L + j * PQ, dcols + row * L + (j + 1) * PQ, sample_cols + row * PQ);
      col2im_add_cpu(g, taps, sample_cols, dx + (n0 + j) * CHW);
    }
  }
}

// dw += corr(x, dy): each weight collects dy times the input pixel it read, over n, p, q.
// x (N,C,H,W), dy (N,K,P,Q), dw (K,C,R,S)
template <class T>
void conv2d_bwd_filter_cpu(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
  const TapRanges taps(g);
  const int64_t CRS = g.C * g.R * g.S, PQ = g.P * g.Q, nb_max = chunk_samples(g);
  T* cols = scratch<T>(0, static_cast<size_t>(CRS * nb_max * PQ));
  T* dy_chunk = scratch<T>(1, static_cast<size_t>(g.K * nb_max * PQ));
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0), L = nb * PQ;
    im2col_chunk(g, taps, x, n0, nb, cols);
    gather_chunk(dy, n0, nb, g.K, PQ, dy_chunk);
    gemm_nt_cpu(g.K, CRS, L, dy_chunk, cols, dw);  // dW (K,CRS) += dy_chunk cols^T
  }
}

// y[n,c,:] += b[c].   y (N,C,HW)
template <class T>
void bias_add_cpu(T* y, const T* b, int64_t N, int64_t C, int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      T* plane = y + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) plane[i] += b[c];
    }
}

// db[c] += sum_{n,i} dy[n,c,i].   dy (N,C,HW)
// The sum is taken in double whatever T: a bias in front of a batchnorm has a gradient that is
// zero up to rounding, and a float32 running sum over N*H*W terms made that noise several times
// PyTorch's (its reductions are pairwise); in double it is rounded once.
template <class T>
void bias_grad_cpu(const T* dy, T* db, int64_t N, int64_t C, int64_t HW) {
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* plane = dy + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) acc += static_cast<double>(plane[i]);
    }
    db[c] += static_cast<T>(acc);
  }
}

// ---------------------------------------------------------------- primitives on either device

#if defined(NN_WITH_CUDA)
cuda::ConvShape to_cudnn(const ConvGeometry& g) {
  cuda::ConvShape s;
  s.N = static_cast<int>(g.N);
  s.C = static_cast<int>(g.C);
  s.H = static_cast<int>(g.H);
  s.W = static_cast<int>(g.W);
  s.K = static_cast<int>(g.K);
  s.R = static_cast<int>(g.R);
  s.S = static_cast<int>(g.S);
  s.P = static_cast<int>(g.P);
  s.Q = static_cast<int>(g.Q);
  s.stride_h = static_cast<int>(g.stride_h);
  s.stride_w = static_cast<int>(g.stride_w);
  s.pad_h = static_cast<int>(g.pad_h);
  s.pad_w = static_cast<int>(g.pad_w);
  return s;
}
#endif

cpu::OnednnConvShape to_onednn(const ConvGeometry& g) {
  return {g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.P, g.Q, g.stride_h, g.stride_w, g.pad_h, g.pad_w};
}

// float32 CPU convolutions go through oneDNN when the build has it (src/cpu/onednn_conv.h), unless
// backend_settings().cpu_conv_im2col says otherwise; float64 and geometries oneDNN refuses use im2col + GEMM.
bool use_onednn(const ConvGeometry& g, const Tensor& t) {
  return t.dtype() == DType::F32 && !backend_settings().cpu_conv_im2col && cpu::onednn_conv_available(to_onednn(g));
}

// y (=|+=) forward(x, w). accumulate == false overwrites y (cuDNN beta = 0 never reads it).
void conv_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& y, bool accumulate) {
  if (y.is_cuda()) {
    NN_CUDA_ONLY(
        cuda::conv_forward(to_cudnn(g), x.data<float>(), w.data<float>(), y.data<float>(), accumulate ? 1.0f : 0.0f));
    return;
  }
  if (use_onednn(g, y)) {
    cpu::onednn_conv_forward(to_onednn(g), x.data<float>(), w.data<float>(), y.data<float>(), accumulate);
    return;
  }
  if (!accumulate) Tensor(y).fill_(0.0);  // a handle copy: fill_ is not const, the data is shared
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    conv2d_fwd_cpu<T>(g, x.data<T>(), w.data<T>(), y.data<T>());
  });
}

// dx (=|+=) backward-data(dy, w).
void conv_backward_data(const ConvGeometry& g, const Tensor& w, const Tensor& dy, const Tensor& dx, bool accumulate) {
  if (dx.is_cuda()) {
    NN_CUDA_ONLY(cuda::conv_backward_data(to_cudnn(g), w.data<float>(), dy.data<float>(), dx.data<float>(),
                                          accumulate ? 1.0f : 0.0f));
    return;
  }
  if (use_onednn(g, dx)) {
    cpu::onednn_conv_backward_data(to_onednn(g), w.data<float>(), dy.data<float>(), dx.data<float>(), accumulate);
    return;
  }
  if (!accumulate) Tensor(dx).fill_(0.0);
  dispatch_float(dx.dtype(), [&](auto zero) {
    using T = decltype(zero);
    conv2d_bwd_data_cpu<T>(g, w.data<T>(), dy.data<T>(), dx.data<T>());
  });
}

// dw += backward-filter(x, dy). Only ever used to accumulate into a gradient.
void conv_backward_filter(const ConvGeometry& g, const Tensor& x, const Tensor& dy, const Tensor& dw) {
  if (dw.is_cuda()) {
    NN_CUDA_ONLY(cuda::conv_backward_filter(to_cudnn(g), x.data<float>(), dy.data<float>(), dw.data<float>(), 1.0f));
    return;
  }
  if (use_onednn(g, dw)) {
    cpu::onednn_conv_backward_weights(to_onednn(g), x.data<float>(), dy.data<float>(), dw.data<float>(), true);
    return;
  }
  dispatch_float(dw.dtype(), [&](auto zero) {
    using T = decltype(zero);
    conv2d_bwd_filter_cpu<T>(g, x.data<T>(), dy.data<T>(), dw.data<T>());
  });
}

// y[n,c,:] += b[c] for y (N,C,H,W).
void bias_add(const Tensor& y, const Tensor& b) {
  const int64_t N = y.size(0), C = y.size(1), HW = y.size(2) * y.size(3);
  if (y.is_cuda()) {
    NN_CUDA_ONLY(bias_add_cuda(y.data<float>(), b.data<float>(), static_cast<int>(N), static_cast<int>(C),
                               static_cast<int>(HW), op_stream()));
    return;
  }
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    bias_add_cpu<T>(y.data<T>(), b.data<T>(), N, C, HW);
  });
}

// db[c] += sum over n, h, w of dy[n,c,h,w].
void bias_grad(const Tensor& dy, const Tensor& db) {
  const int64_t N = dy.size(0), C = dy.size(1), HW = dy.size(2) * dy.size(3);
  if (dy.is_cuda()) {
    NN_CUDA_ONLY(bias_grad_cuda(dy.data<float>(), db.data<float>(), static_cast<int>(N), static_cast<int>(C),
                                static_cast<int>(HW), op_stream()));
    return;
  }
  dispatch_float(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    bias_grad_cpu<T>(dy.data<T>(), db.data<T>(), N, C, HW);
  });
}

// ---------------------------------------------------------------- argument checks

// Shared by both ops. `weight_layout` names the expected layout for the error message.
void check_conv_inputs(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Conv2dArgs& args, const char* weight_layout) {
  check_defined(op, x, "input");
  check_defined(op, weight, "weight");
  check_op_tensors(op, {&x, &weight, &bias});
  NN_CHECK(x.dim() == 4, op, ": input must be 4-D (N,C,H,W), got ", shape_str(x.shape()));
  NN_CHECK(weight.dim() == 4, op, ": weight must be 4-D ", weight_layout, ", got ", shape_str(weight.shape()));
  for (int64_t d : x.shape()) NN_CHECK(d > 0, op, ": input ", shape_str(x.shape()), " has an empty dimension");
  for (int64_t d : weight.shape())
    NN_CHECK(d > 0, op, ": weight ", shape_str(weight.shape()), " has an empty dimension");
  NN_CHECK(args.stride_h >= 1 && args.stride_w >= 1, op, ": stride must be >= 1, got (", args.stride_h, ",",
           args.stride_w, ")");
  NN_CHECK(args.pad_h >= 0 && args.pad_w >= 0, op, ": padding must be >= 0, got (", args.pad_h, ",", args.pad_w, ")");
}

// cuDNN describes tensors with int sizes; say so rather than let the sizes wrap.
void check_fits_cudnn(const char* op, const Tensor& x, const Shape& shape) {
  if (!x.is_cuda()) return;
  NN_CHECK(shape_numel(shape) <= INT32_MAX, op, ": tensor ", shape_str(shape),
           " is too large for cuDNN's 32-bit sizes");
}

void check_bias(const char* op, const Tensor& bias, int64_t channels, const Tensor& weight) {
  if (!bias.defined()) return;
  NN_CHECK(bias.dim() == 1 && bias.size(0) == channels, op, ": bias ", shape_str(bias.shape()), " must be (", channels,
           ") to match weight ", shape_str(weight.shape()));
}

}  // namespace

// ---------------------------------------------------------------- conv2d

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& args) {
  const char* op = "conv2d";
  OpScope scope(op, {&x, &weight, &bias});
  check_conv_inputs(op, x, weight, bias, args, "(O,C,kh,kw)");
  NN_CHECK(args.out_pad_h == 0 && args.out_pad_w == 0, op, ": output_padding is for conv_transpose2d only, got (",
           args.out_pad_h, ",", args.out_pad_w, ")");
  NN_CHECK(x.size(1) == weight.size(1), op, ": input ", shape_str(x.shape()), " has ", x.size(1),
           " channels but weight ", shape_str(weight.shape()), " expects ", weight.size(1));
  check_bias(op, bias, weight.size(0), weight);

  ConvGeometry g{};
  g.N = x.size(0);
  g.C = x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.K = weight.size(0);
  g.R = weight.size(2);
  g.S = weight.size(3);
  g.stride_h = args.stride_h;
  g.stride_w = args.stride_w;
  g.pad_h = args.pad_h;
  g.pad_w = args.pad_w;
  // Checked before dividing: a negative numerator would round towards zero, not down.
  const int64_t span_h = g.H + 2 * g.pad_h - g.R, span_w = g.W + 2 * g.pad_w - g.S;
  NN_CHECK(span_h >= 0 && span_w >= 0, op, ": output size is not positive: input ", shape_str(x.shape()),
           " padded by (", g.pad_h, ",", g.pad_w, ") is smaller than the kernel of weight ", shape_str(weight.shape()));
  g.P = span_h / g.stride_h + 1;
  g.Q = span_w / g.stride_w + 1;

  const Shape y_shape{g.N, g.K, g.P, g.Q};  // y: (N,O,P,Q)
  for (const Shape& s : {x.shape(), weight.shape(), y_shape}) check_fits_cudnn(op, x, s);
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device());
  conv_forward(g, x, weight, y, /*accumulate=*/false);
  if (bias.defined()) bias_add(y, bias);

  record_op(y, op, {x, weight, bias}, [x, weight, bias, g](const Tensor& dy) {
    if (wants_grad(x)) conv_backward_data(g, weight, dy, x.ensure_grad(), /*accumulate=*/true);
    if (wants_grad(weight)) conv_backward_filter(g, x, dy, weight.ensure_grad());
    if (wants_grad(bias)) bias_grad(dy, bias.ensure_grad());
  });
  return y;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding) {
  return conv2d(x, weight, bias, Conv2dArgs::make(stride, padding));
}

// ---------------------------------------------------------------- conv_transpose2d

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& args) {
  const char* op = "conv_transpose2d";
  OpScope scope(op, {&x, &weight, &bias});
  check_conv_inputs(op, x, weight, bias, args, "(C_in,O,kh,kw)");
  NN_CHECK(args.out_pad_h >= 0 && args.out_pad_w >= 0, op, ": output_padding must be >= 0, got (", args.out_pad_h, ",",
           args.out_pad_w, ")");
  NN_CHECK(args.out_pad_h < args.stride_h && args.out_pad_w < args.stride_w, op, ": output_padding (", args.out_pad_h,
           ",", args.out_pad_w, ") must be smaller than stride (", args.stride_h, ",", args.stride_w, ")");
  NN_CHECK(x.size(1) == weight.size(0), op, ": input ", shape_str(x.shape()), " has ", x.size(1),
           " channels but weight ", shape_str(weight.shape()), " expects ", weight.size(0));
  check_bias(op, bias, weight.size(1), weight);

  const int64_t out_h = (x.size(2) - 1) * args.stride_h - 2 * args.pad_h + weight.size(2) + args.out_pad_h;
  const int64_t out_w = (x.size(3) - 1) * args.stride_w - 2 * args.pad_w + weight.size(3) + args.out_pad_w;
  NN_CHECK(out_h > 0 && out_w > 0, op, ": output size (", out_h, ",", out_w, ") is not positive for input ",
           shape_str(x.shape()), ", weight ", shape_str(weight.shape()), ", stride (", args.stride_h, ",",
           args.stride_w, "), padding (", args.pad_h, ",", args.pad_w, ")");

  // The matching convolution: from this op's output (N,O,H_out,W_out) back to its input
  // (N,C_in,H,W), with the weight read as (K = C_in, C = O, kh, kw).
  ConvGeometry g{};
  g.N = x.size(0);
  g.C = weight.size(1);
  g.H = out_h;
  g.W = out_w;
  g.K = weight.size(0);
  g.R = weight.size(2);
  g.S = weight.size(3);
  g.P = x.size(2);
  g.Q = x.size(3);
  g.stride_h = args.stride_h;
  g.stride_w = args.stride_w;
  g.pad_h = args.pad_h;
  g.pad_w = args.pad_w;

  // y (N,O,H_out,W_out) = backward-data of the matching convolution applied to x.
  const Shape y_shape{g.N, g.C, g.H, g.W};
  for (const Shape& s : {x.shape(), weight.shape(), y_shape}) check_fits_cudnn(op, x, s);
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device());
  conv_backward_data(g, weight, x, y, /*accumulate=*/false);
  if (bias.defined()) bias_add(y, bias);

  record_op(y, op, {x, weight, bias}, [x, weight, bias, g](const Tensor& dy) {
    // dx += forward(dy, w): the adjoint of backward-data is the forward convolution.
    if (wants_grad(x)) conv_forward(g, dy, weight, x.ensure_grad(), /*accumulate=*/true);
    // dw += backward-filter with the matching convolution's input = dy, its output gradient = x.
    if (wants_grad(weight)) conv_backward_filter(g, dy, x, weight.ensure_grad());
    if (wants_grad(bias)) bias_grad(dy, bias.ensure_grad());
  });
  return y;
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding,
                        int output_padding) {
  return conv_transpose2d(x, weight, bias, Conv2dArgs::make(stride, padding, output_padding));
}

}  // namespace nn
