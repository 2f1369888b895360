// step_state.h — the scalars of a training step that change from step to step, kept in small
// tensors on the run's device so that a captured step replays as a CUDA graph (DESIGN.md; the
// formulas are in kernels/step_state_math.h, the kernels in kernels/step_state.cu).
//
//   DeviceGenerator   a Philox stream (seed, counter) whose counter is an int64 tensor: take(n)
//                     reserves ceil(n/4) counters on the device and returns where they start
//   counter_take_     the same for any int64 counter (a batch cursor, a step count)
//   linear_decay_lr_  the learning rate of the step a device counter names, into Adam's lr tensors
//   metrics_append_   one row of a metrics buffer, the row index a device counter
//   ema_update_       the EMA generator's update, the copy-or-average choice made on the device
//
// On the CPU the same functions run on CPU tensors (same formulas, same order), so the CPU tests
// cover the logic the CUDA graph depends on. Reading or setting a counter from the host
// (counter_value, set_counter) is a copy the host waits for: between steps only, never inside one.
// Tests: tests/test_step_state.cpp.
#pragma once
#include <cstdint>

#include "nn/tensor.h"

namespace nn {

// A one-element int64 counter on `device`, holding `value`.
Tensor make_counter(Device device, int64_t value = 0);
int64_t counter_value(const Tensor& counter);           // waits for the device
void set_counter(const Tensor& counter, int64_t value);  // a host-to-device copy (between steps)

// start (a new one-element int64 tensor, or undefined when not wanted) = counter; counter += amount.
Tensor counter_take_(const Tensor& counter, int64_t amount, bool want_start = true);

class DeviceGenerator {
 public:
  DeviceGenerator() = default;
  DeviceGenerator(uint64_t seed, Device device, uint64_t offset = 0);
  uint64_t seed() const { return seed_; }
  Device device() const { return counter_.device(); }
  bool defined() const { return counter_.defined(); }
  uint64_t offset() const { return static_cast<uint64_t>(counter_value(counter_)); }  // waits for the device
  void set_offset(uint64_t offset) const { set_counter(counter_, static_cast<int64_t>(offset)); }
  // Reserves the counters of n random elements, as Generator::take: returns a one-element int64
  // tensor holding the first (the kernels read it there) and advances the counter on the device.
  Tensor take(int64_t n) const;
  // The host Generator at the current offset (waits for the device): for CPU reference code.
  Generator host() const { return Generator(seed_, offset()); }

 private:
  uint64_t seed_ = 0;
  Tensor counter_;  // int64 (1) on the device: the next unused Philox counter
};

// lr_a[0] = lr_b[0] (if defined) = lr0 max(0, 1 - step[0] / total_steps); float64 tensors.
void linear_decay_lr_(const Tensor& step, double lr0, double total_steps, const Tensor& lr_a, const Tensor& lr_b);

// buffer (capacity_rows, columns) float32; values (columns) float32; row: int64 counter.
// Row r = (row >= capacity_rows ? 0 : row) of buffer = values; row = r + 1.
void metrics_append_(const Tensor& buffer, const Tensor& row, const Tensor& values);

// e = (step[0] <= ema_start) ? g : e + (1 - decay) (g - e), elementwise; step: int64 counter of
// G's steps so far (after this one).
void ema_update_(const Tensor& e, const Tensor& g, const Tensor& step, int64_t ema_start, double decay);

}  // namespace nn
