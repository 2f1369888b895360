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
#include "nn/step_state.h"
#include "rng_math.h"
#include "cpu_parallel.h"
#include "op_util.h"

namespace nn {

namespace {

// v is x (forward, out = y, accumulate = false) or dy (backward, out = dx, accumulate = true).
// Philox-4x32-10 blocks counter .. counter + kLanes - 1 (counter_hi 0, one key) at once: each
// lane does exactly philox4x32_10's operations, written over arrays so that the lanes vectorise
// (32x32 -> 64-bit multiplies, xors, adds). bits[4 l + j] is word j of block counter + l: element
// order, so bits[k] is the mask word of element first + k.
constexpr int64_t kLanes = 16;

NN_CPU_CLONES void philox_lanes(uint64_t counter, uint64_t key, uint32_t (&bits)[4 * kLanes]) {
  uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) {
    const uint64_t ctr = counter + static_cast<uint64_t>(l);
    c0[l] = static_cast<uint32_t>(ctr);
    c1[l] = static_cast<uint32_t>(ctr >> 32);
    c2[l] = 0;
    c3[l] = 0;
  }
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0[l];
      const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2[l];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[l] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = static_cast<uint32_t>(p1);
      c3[l] = static_cast<uint32_t>(p0);
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int64_t l = 0; l < kLanes; ++l) {
    bits[4 * l + 0] = c0[l];
    bits[4 * l + 1] = c1[l];
    bits[4 * l + 2] = c2[l];
    bits[4 * l + 3] = c3[l];
  }
}

void dropout_cpu(const Tensor& v, const Tensor& out, bool accumulate, uint64_t seed, uint64_t c0, uint32_t threshold,
                 double scale) {
  dispatch_float(v.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* in = v.data<T>();
    T* o = out.data<T>();
    const T s = static_cast<T>(scale);
    // Element i's mask bit is word i % 4 of Philox block c0 + i / 4 (dropout_keep, rng_bits). The
    // loop walks groups of kLanes whole blocks (4 kLanes elements), each block computed once (not
    // once per element) and the lanes together; groups are independent, so threads split them
    // without changing a bit. Dropout.MaskMatchesRngBits checks the masks against rng_bits.
    const int64_t n = v.numel(), group = 4 * kLanes, groups = (n + group - 1) / group;
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
    for (int64_t gi = 0; gi < groups; ++gi) {
      uint32_t bits[4 * kLanes];
      philox_lanes(c0 + static_cast<uint64_t>(gi * kLanes), seed, bits);
      const int64_t first = gi * group, count = std::min(n, first + group) - first;
      const T* x = in + first;
      T* y = o + first;
      if (accumulate) {
        for (int64_t k = 0; k < count; ++k) y[k] += dropout_apply(x[k], bits[k] >= threshold, s);
      } else {
        for (int64_t k = 0; k < count; ++k) y[k] = dropout_apply(x[k], bits[k] >= threshold, s);
      }
    }
  });
}

}  // namespace

namespace {

// The shared body, with exactly one of host and device: the mask's first counter is taken from a
// host Generator, or from a DeviceGenerator, whose take leaves it in a one-element tensor that the
// kernels read on the device and the backward keeps. Nothing is taken when no mask is drawn.
Tensor dropout_impl(const Tensor& x, double p, bool training, Generator* host, const DeviceGenerator* device) {
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
  NN_CHECK(!device || device->device() == x.device(), "dropout: the generator's counter is on ",
           device_name(device ? device->device() : x.device()), " but the input on ", device_name(x.device()));
  const uint64_t seed = device ? device->seed() : host->seed;
  const Tensor c0_device = device ? device->take(n) : Tensor();
  // On the CPU a device counter is read here; on CUDA only the kernels read it.
  const uint64_t c0 = !device ? host->take(static_cast<uint64_t>(n))
                              : c0_device.is_cuda() ? 0 : static_cast<uint64_t>(c0_device.data<int64_t>()[0]);
  const bool on_device = c0_device.defined() && c0_device.is_cuda();
  const uint32_t threshold = dropout_threshold(p);
  // Kept in double here and rounded to the tensor's type where it is used (static_cast<float> on
  // both the CPU float path and the CUDA path), so both multiply by the same float.
  const double scale = 1.0 / (1.0 - p);

  Tensor y = Tensor::empty_like(x);
  if (x.is_cuda()) {
    if (on_device) {
      NN_CUDA_ONLY(dropout_fwd_cuda(x.data<float>(), y.data<float>(), n, seed, c0_device.data<int64_t>(), threshold,
                                    static_cast<float>(scale), op_stream()));
    } else {
      NN_CUDA_ONLY(dropout_fwd_cuda(x.data<float>(), y.data<float>(), n, seed, c0, threshold,
                                    static_cast<float>(scale), op_stream()));
    }
  } else {
    dropout_cpu(x, y, /*accumulate=*/false, seed, c0, threshold, scale);
  }
  record_op(y, "dropout", {x}, [x, n, seed, c0, c0_device, on_device, threshold, scale](const Tensor& gy) {
    Tensor gx = x.ensure_grad();
    if (gy.is_cuda()) {
      if (on_device) {
        NN_CUDA_ONLY(dropout_bwd_cuda(gy.data<float>(), gx.data<float>(), n, seed, c0_device.data<int64_t>(),
                                      threshold, static_cast<float>(scale), op_stream()));
      } else {
        NN_CUDA_ONLY(dropout_bwd_cuda(gy.data<float>(), gx.data<float>(), n, seed, c0, threshold,
                                      static_cast<float>(scale), op_stream()));
      }
    } else {
      dropout_cpu(gy, gx, /*accumulate=*/true, seed, c0, threshold, scale);
    }
  });
  return y;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  return dropout_impl(x, p, training, &gen, nullptr);
}

Tensor dropout(const Tensor& x, double p, bool training, const DeviceGenerator& gen) {
  return dropout_impl(x, p, training, nullptr, &gen);
}

}  // namespace nn
