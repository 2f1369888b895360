// step_state.cpp — counters, Philox streams, the learning-rate schedule, the metrics row and the
// EMA update with their state in device tensors (formulas: kernels/step_state_math.h; why:
// include/nn/step_state.h). Each function is one kernel launch on CUDA and the same arithmetic on
// CPU tensors here. Tests: tests/test_step_state.cpp.
#include "nn/step_state.h"

#include "op_util.h"
#include "step_state_math.h"

namespace nn {

namespace {

void check_counter(const char* op, const Tensor& c) {
  NN_CHECK(c.defined() && c.dtype() == DType::I64 && c.numel() == 1, op, ": needs a one-element int64 counter, got ",
           c.defined() ? c.str() : std::string("an undefined tensor"));
}

void check_scalar_f64(const char* op, const Tensor& t, const Tensor& like) {
  NN_CHECK(t.dtype() == DType::F64 && t.numel() == 1, op, ": needs a one-element float64 tensor, got ", t.str());
  check_same_device(op, like, t);
}

}  // namespace

Tensor make_counter(Device device, int64_t value) {
  return Tensor::from_vector({1}, {static_cast<double>(value)}, DType::I64, device);
}

int64_t counter_value(const Tensor& counter) {
  check_counter("counter_value", counter);
  if (!counter.is_cuda()) return counter.data<int64_t>()[0];
  int64_t v = 0;
  NN_CUDA_ONLY(cuda::copy_to_host(&v, counter.raw(), sizeof v));
  return v;
}

void set_counter(const Tensor& counter, int64_t value) {
  check_counter("set_counter", counter);
  if (!counter.is_cuda()) {
    counter.data<int64_t>()[0] = value;
    return;
  }
  NN_CUDA_ONLY(cuda::copy_to_device(counter.raw(), &value, sizeof value));
}

Tensor counter_take_(const Tensor& counter, int64_t amount, bool want_start) {
  check_counter("counter_take_", counter);
  Tensor start = want_start ? Tensor::empty({1}, DType::I64, counter.device()) : Tensor();
  if (counter.is_cuda()) {
    NN_CUDA_ONLY(counter_take_cuda(counter.data<int64_t>(), amount, want_start ? start.data<int64_t>() : nullptr,
                                   op_stream()));
    return start;
  }
  int64_t* c = counter.data<int64_t>();
  if (want_start) start.data<int64_t>()[0] = *c;
  *c += amount;
  return start;
}

DeviceGenerator::DeviceGenerator(uint64_t seed, Device device, uint64_t offset)
    : seed_(seed), counter_(make_counter(device, static_cast<int64_t>(offset))) {}

Tensor DeviceGenerator::take(int64_t n) const {
  NN_CHECK(defined(), "DeviceGenerator::take: the generator has no counter (default-constructed)");
  NN_CHECK(n >= 0, "DeviceGenerator::take: n must be >= 0, got ", n);
  return counter_take_(counter_, (n + 3) / 4);  // Generator::take's ceil(n / 4) Philox blocks
}

void linear_decay_lr_(const Tensor& step, double lr0, double total_steps, const Tensor& lr_a, const Tensor& lr_b) {
  check_counter("linear_decay_lr_", step);
  check_scalar_f64("linear_decay_lr_", lr_a, step);
  if (lr_b.defined()) check_scalar_f64("linear_decay_lr_", lr_b, step);
  NN_CHECK(total_steps > 0, "linear_decay_lr_: total_steps must be > 0, got ", total_steps);
  if (step.is_cuda()) {
    NN_CUDA_ONLY(linear_decay_lr_cuda(step.data<int64_t>(), lr0, total_steps, lr_a.data<double>(),
                                      lr_b.defined() ? lr_b.data<double>() : nullptr, op_stream()));
    return;
  }
  const double lr = linear_decay_lr(step.data<int64_t>()[0], lr0, total_steps);
  lr_a.data<double>()[0] = lr;
  if (lr_b.defined()) lr_b.data<double>()[0] = lr;
}

void metrics_append_(const Tensor& buffer, const Tensor& row, const Tensor& values) {
  check_counter("metrics_append_", row);
  NN_CHECK(buffer.dtype() == DType::F32 && values.dtype() == DType::F32 && buffer.dim() == 2 &&
               values.numel() == buffer.size(1),
           "metrics_append_: needs a float32 (rows, columns) buffer and `columns` float32 values, got ", buffer.str(),
           " and ", values.str());
  check_same_device("metrics_append_", buffer, row);
  check_same_device("metrics_append_", buffer, values);
  const int64_t rows = buffer.size(0), cols = buffer.size(1);
  if (buffer.is_cuda()) {
    NN_CUDA_ONLY(metrics_append_cuda(buffer.data<float>(), row.data<int64_t>(), values.data<float>(), cols, rows,
                                     op_stream()));
    return;
  }
  int64_t* r = row.data<int64_t>();
  if (*r >= rows) *r = 0;
  for (int64_t k = 0; k < cols; ++k) buffer.data<float>()[*r * cols + k] = values.data<float>()[k];
  *r += 1;
}

void ema_update_(const Tensor& e, const Tensor& g, const Tensor& step, int64_t ema_start, double decay) {
  check_same_shape("ema_update_", e, g);
  check_op_tensors("ema_update_", {&e, &g});
  check_counter("ema_update_", step);
  check_same_device("ema_update_", e, step);
  const int64_t n = e.numel();
  if (e.is_cuda()) {
    NN_CUDA_ONLY(ema_update_cuda(e.data<float>(), g.data<float>(), n, step.data<int64_t>(), ema_start,
                                 static_cast<float>(1.0 - decay), op_stream()));
    return;
  }
  const int64_t s = step.data<int64_t>()[0];
  dispatch_float(e.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* ep = e.data<T>();
    const T* gp = g.data<T>();
    const T w = static_cast<T>(1.0 - decay);
    for (int64_t i = 0; i < n; ++i) ep[i] = ema_value<T>(ep[i], gp[i], s, ema_start, w);
  });
}

}  // namespace nn
