// concat.cpp — concat(xs, dim): the tensors joined along dimension `dim`, as torch.cat.
//
// All inputs have the same number of dimensions, dtype and device, and the same sizes except
// along `dim` (negative dim counts from the end); inputs of size 0 along `dim` are allowed and
// contribute nothing. Around `dim`, every tensor is viewed as (outer, size_d * inner), with
// outer = prod of the sizes before dim and inner = prod of those after it. Input k's slice of the
// output starts at column offset_k = (sum of the sizes along dim of inputs before k) * inner:
//
//   forward:  y[o, offset_k + j]  = x_k[o, j]
//   backward: dx_k[o, j]         += dy[o, offset_k + j]     (the slice of dy, accumulated)
//
// CPU: the row loops below. CUDA: kernels/concat.cu (one copy kernel per input, float4 when
// aligned). Tests: tests/test_concat.cpp (Gradcheck.concat, CudaParity.concat, Concat.*).
#include <algorithm>
#include <vector>

#include "op_util.h"

namespace nn {

namespace {

// y[o, y_offset + j] = x[o, j] for o < outer, j < x_cols; y rows are y_cols long.
template <class T>
void concat_fwd_cpu(const T* x, T* y, int64_t outer, int64_t x_cols, int64_t y_cols, int64_t y_offset) {
  for (int64_t o = 0; o < outer; ++o) std::copy(x + o * x_cols, x + (o + 1) * x_cols, y + o * y_cols + y_offset);
}

// dx[o, j] += dy[o, y_offset + j].
template <class T>
void concat_bwd_cpu(const T* dy, T* dx, int64_t outer, int64_t x_cols, int64_t y_cols, int64_t y_offset) {
  for (int64_t o = 0; o < outer; ++o) {
    const T* src = dy + o * y_cols + y_offset;
    T* dst = dx + o * x_cols;
    for (int64_t j = 0; j < x_cols; ++j) dst[j] += src[j];
  }
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  const char* op = "concat";
  NN_CHECK(!xs.empty(), op, ": needs at least one tensor");
  // OpScope names up to a few tensors; the first and last describe the call well enough.
  OpScope scope(op, {&xs.front(), &xs.back()});
  for (size_t k = 0; k < xs.size(); ++k) NN_CHECK(xs[k].defined(), op, ": tensor ", k, " is undefined");
  const Tensor& first = xs.front();
  for (size_t k = 0; k < xs.size(); ++k) check_op_tensors(op, {&first, &xs[k]});
  const int64_t rank = first.dim();
  NN_CHECK(rank >= 1, op, ": tensors must have at least one dimension, got ", shape_str(first.shape()));
  NN_CHECK(dim >= -rank && dim < rank, op, ": dimension ", dim, " is out of range for ", rank, "-D tensors");
  const int64_t d = dim < 0 ? dim + rank : dim;

  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Shape& s = xs[k].shape();
    bool same = static_cast<int64_t>(s.size()) == rank;
    for (int64_t i = 0; same && i < rank; ++i) same = i == d || s[i] == first.shape()[i];
    NN_CHECK(same, op, ": tensor ", k, " ", shape_str(s), " does not match tensor 0 ", shape_str(first.shape()),
             " outside dimension ", d);
    out_shape[d] += s[d];
  }
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= out_shape[i];
  for (int64_t i = d + 1; i < rank; ++i) inner *= out_shape[i];
  const int64_t y_cols = out_shape[d] * inner;

  // Column offsets of each input's slice.
  std::vector<int64_t> offsets(xs.size());
  int64_t running = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    offsets[k] = running * inner;
    running += xs[k].size(d);
  }

  Tensor y = Tensor::empty(out_shape, first.dtype(), first.device());
  for (size_t k = 0; k < xs.size(); ++k) {
    const int64_t x_cols = xs[k].size(d) * inner;
    if (y.is_cuda()) {
      NN_CUDA_ONLY(
          concat_fwd_cuda(xs[k].data<float>(), y.data<float>(), outer, x_cols, y_cols, offsets[k], op_stream()));
    } else {
      dispatch_float(y.dtype(), [&](auto zero) {
        using T = decltype(zero);
        concat_fwd_cpu<T>(xs[k].data<T>(), y.data<T>(), outer, x_cols, y_cols, offsets[k]);
      });
    }
  }

  record_op(y, op, xs, [xs, offsets, d, outer, inner, y_cols](const Tensor& dy) {
    for (size_t k = 0; k < xs.size(); ++k) {
      if (!wants_grad(xs[k])) continue;
      Tensor dx = xs[k].ensure_grad();
      const int64_t x_cols = xs[k].size(d) * inner;
      if (dy.is_cuda()) {
        NN_CUDA_ONLY(
            concat_bwd_cuda(dy.data<float>(), dx.data<float>(), outer, x_cols, y_cols, offsets[k], op_stream()));
      } else {
        dispatch_float(dy.dtype(), [&](auto zero) {
          using T = decltype(zero);
          concat_bwd_cpu<T>(dy.data<T>(), dx.data<T>(), outer, x_cols, y_cols, offsets[k]);
        });
      }
    }
  });
  return y;
}

}  // namespace nn
