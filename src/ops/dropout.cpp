// dropout.cpp — dropout(x, p, training, gen): inverted dropout, as PyTorch's nn.Dropout.
//
//   forward:  y_i = keep_i x_i / (1 - p),   keep_i = rng_bits(gen.seed, c0, i) >= round(p 2^32)
//   backward: dx_i += keep_i dy_i / (1 - p)          (ACCUMULATES; the mask is regenerated)
//
// c0 = gen.take(numel) reserves this call's Philox counters, so consecutive calls draw
// different masks and the same (seed, offset) always draws the same one. No mask tensor is
// stored: the backward closure keeps (seed, c0, threshold, scale) and recomputes keep_i, which
// is an integer comparison and therefore identical on the CPU and the GPU (dropout_math.h).
//
// Special cases, as PyTorch: the identity (x itself is returned, so gradients flow straight
// through) when !training or p == 0, without consuming counters; p == 1 gives zeros (and zero
// gradient) without consuming counters; p outside [0, 1] is an error.
//
// CPU: the loops below, templated on T. CUDA: kernels/dropout.cu.
// Tests: tests/test_dropout.cpp (Gradcheck.dropout, CudaParity.dropout, Dropout.*).
#include <algorithm>

#include "dropout_math.h"
#include "rng_math.h"
#include "cpu_parallel.h"
#include "op_util.h"

namespace nn {

namespace {

// v is x (forward, out = y, accumulate = false) or dy (backward, out = dx, accumulate = true).
void dropout_cpu(const Tensor& v, const Tensor& out, bool accumulate, uint64_t seed, uint64_t c0, uint32_t threshold,
                 double scale) {
  dispatch_float(v.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* in = v.data<T>();
    T* o = out.data<T>();
    const T s = static_cast<T>(scale);
    // Element i's mask bit is word i % 4 of Philox block c0 + i / 4 (dropout_keep, rng_bits): the
    // loop walks whole blocks so each block is computed once, not four times, and the blocks are
    // independent, so threads split them without changing a bit.
    const int64_t n = v.numel(), blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
    for (int64_t b = 0; b < blocks; ++b) {
      const Philox4 bits = philox4x32_10(c0 + static_cast<uint64_t>(b), 0, seed);
      for (int64_t i = 4 * b; i < std::min(n, 4 * b + 4); ++i) {
        const T r = dropout_apply(in[i], bits.w[i % 4] >= threshold, s);
        o[i] = accumulate ? o[i] + r : r;
      }
    }
  });
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  OpScope scope("dropout", {&x});
  check_defined("dropout", x, "input");
  check_op_tensors("dropout", {&x});
  // Written so that NaN fails too.
  NN_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability p must be in [0, 1], got ", p, " (input ", shape_str(x.shape()),
           ")");
  if (!training || p == 0.0) return x;

  if (p == 1.0) {
    // Everything dropped: no mask to draw. The node still exists so that x gets a (zero) gradient.
    Tensor y = Tensor::zeros_like(x);
    record_op(y, "dropout", {x}, [x](const Tensor&) { x.ensure_grad(); });
    return y;
  }

  const int64_t n = x.numel();
  const uint64_t seed = gen.seed;
  const uint64_t c0 = gen.take(static_cast<uint64_t>(n));
  const uint32_t threshold = dropout_threshold(p);
  // Kept in double here and rounded to the tensor's type where it is used (static_cast<float> on
  // both the CPU float path and the CUDA path), so both multiply by the same float.
  const double scale = 1.0 / (1.0 - p);

  Tensor y = Tensor::empty_like(x);
  if (x.is_cuda()) {
    NN_CUDA_ONLY(dropout_fwd_cuda(x.data<float>(), y.data<float>(), n, seed, c0, threshold, static_cast<float>(scale),
                                  op_stream()));
  } else {
    dropout_cpu(x, y, /*accumulate=*/false, seed, c0, threshold, scale);
  }
  record_op(y, "dropout", {x}, [x, n, seed, c0, threshold, scale](const Tensor& gy) {
    Tensor gx = x.ensure_grad();
    if (gy.is_cuda()) {
      NN_CUDA_ONLY(dropout_bwd_cuda(gy.data<float>(), gx.data<float>(), n, seed, c0, threshold,
                                    static_cast<float>(scale), op_stream()));
    } else {
      dropout_cpu(gy, gx, /*accumulate=*/true, seed, c0, threshold, scale);
    }
  });
  return y;
}

}  // namespace nn
