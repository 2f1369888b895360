// step_state_math.h — the per-step scalars of a training step, computed where the step runs.
//
// A CUDA graph replays the kernels it captured with the arguments they had at capture time, so
// nothing that changes from step to step may be a kernel argument (DESIGN.md, "the whole step
// replayable as one CUDA graph"). Every such value lives in a small device tensor instead, and
// one-thread kernels (kernels/step_state.cu) update it in stream order; the CPU path runs the same
// functions on CPU tensors (src/ops/step_state.cpp), so its tests cover the logic:
//
//   counter take     start = counter; counter += blocks        Philox offsets, batch cursor, step
//   Adam scalars     t += 1; step_size = lr / (1 - beta1^t); bias_correction2_sqrt = sqrt(1 - beta2^t)
//   linear lr decay  lr = lr0 max(0, 1 - s / T)                 s: the trainer's step counter
//   metrics row      row = (row >= capacity ? 0 : row); buffer[row, :] = values; row += 1
//   EMA              e = (s <= start) ? g : e + w (g - e),  w = 1 - decay   (s: G's steps so far)
//
// Everything is in double (or int64), as the host code that computed these values before was.
// One known difference between the two sides: CUDA's pow is within 2 ulp, glibc's correctly
// rounded, so on the GPU Adam's bias corrections may differ from the CPU's in the last bit
// (relative 1e-16, far below float32's resolution); eager and replayed CUDA steps share the kernel.
// Tests: tests/test_step_state.cpp.
#pragma once
#include <cmath>
#include <cstdint>

#include "adam_math.h"
#include "hd.h"

namespace nn {

// The bias-corrected scalars of Adam's step t (1-based), exactly the host code's formulas.
NN_HD AdamScalars adam_scalars_for_step(int64_t t, double lr, double beta1, double beta2, double eps) {
  const double td = static_cast<double>(t);
  const double bc1 = 1.0 - pow(beta1, td);
  const double bc2 = 1.0 - pow(beta2, td);
  return AdamScalars(beta1, beta2, eps, lr / bc1, sqrt(bc2));
}

// Mimicry's linear schedule: the learning rate during step s (0-based) of a run of T steps.
NN_HD double linear_decay_lr(int64_t s, double lr0, double total_steps) {
  const double f = 1.0 - static_cast<double>(s) / total_steps;
  return lr0 * (f > 0.0 ? f : 0.0);
}

// One element of the EMA generator after G's step s: a copy up to ema_start, torch.lerp's form
// after, e + w (g - e), each operation rounded as written (nvcc would contract it into an fma; the
// host never does), so the CPU loop and the CUDA kernel give the same bits.
template <class T>
NN_HD T ema_value(T e, T g, int64_t s, int64_t ema_start, T w) {
  return s <= ema_start ? g : add_rn(e, mul_rn(w, add_rn(g, -e)));
}

}  // namespace nn
