// optim.cpp — Adam over a parameter arena (formulas in kernels/adam_math.h).
// Tests: tests/test_optim.cpp (hand-computed steps, CPU vs CUDA).
#include "nn/optim.h"

#include <cmath>
#include <type_traits>

#include "adam_math.h"
#include "nn/step_state.h"
#include "step_state_math.h"
#include "cpu_parallel.h"

#if defined(NN_WITH_CUDA)
#include "cuda/context.h"
#include "kernels.h"
#endif

namespace nn {

// AdamScalars is seven doubles, so a float64 tensor of seven holds one on the device.
constexpr int64_t kScalarDoubles = 7;
static_assert(sizeof(AdamScalars) == kScalarDoubles * sizeof(double), "AdamScalars must be 7 packed doubles");
static_assert(std::is_trivially_copyable<AdamScalars>::value, "AdamScalars is copied as bytes");

Adam::Adam(ParameterArena& arena, AdamOptions options) : arena_(&arena), options_(options) {
  NN_CHECK(arena.built(), "Adam: build the parameter arena before creating the optimizer");
  NN_CHECK(options.lr >= 0 && options.eps >= 0, "Adam: lr and eps must be >= 0 (lr=", options.lr,
           ", eps=", options.eps, ")");
  NN_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
           "Adam: betas must be in [0, 1), got (", options.beta1, ", ", options.beta2, ")");
  m_ = Tensor::zeros_like(arena.values());
  v_ = Tensor::zeros_like(arena.values());
  const Device device = arena.values().device();
  t_ = make_counter(device, 0);
  lr_ = Tensor::from_vector({1}, {options.lr}, DType::F64, device);
  scalars_ = Tensor::zeros({kScalarDoubles}, DType::F64, device);
}

void Adam::to(Device device) {
  m_ = m_.to(device);
  v_ = v_.to(device);
  t_ = t_.to(device);
  lr_ = lr_.to(device);
  scalars_ = scalars_.to(device);
}

int64_t Adam::step_count() const { return counter_value(t_); }
void Adam::set_step_count(int64_t t) { set_counter(t_, t); }
void Adam::set_lr(double lr) {
  NN_CHECK(lr >= 0, "Adam: lr must be >= 0, got ", lr);
  lr_.copy_(Tensor::full({1}, lr, DType::F64));
}
double Adam::lr() const { return lr_.item(); }

void Adam::step() {
  Tensor p = arena_->values(), g = arena_->grads();
  NN_CHECK(p.device() == m_.device(), "Adam::step: the arena moved to ", device_name(p.device()),
           "; call Adam::to() too");
  const int64_t n = p.numel();
  if (p.is_cuda()) {
#if defined(NN_WITH_CUDA)
    // t += 1 and this step's scalars, on the device; then the update reads them there.
    AdamScalars* sc = reinterpret_cast<AdamScalars*>(scalars_.data<double>());
    adam_prepare_cuda(t_.data<int64_t>(), lr_.data<double>(), options_.beta1, options_.beta2, options_.eps, sc,
                      cuda::stream());
    adam_step_cuda(p.data<float>(), g.data<float>(), m_.data<float>(), v_.data<float>(), n, sc, cuda::stream());
#endif
    return;
  }
  // The same on the CPU tensors: t += 1, then the bias corrections in double, once per step.
  int64_t& t = t_.data<int64_t>()[0];
  ++t;
  const AdamScalars sc = adam_scalars_for_step(t, lr_.data<double>()[0], options_.beta1, options_.beta2, options_.eps);
  dispatch_float(p.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T *pp = p.data<T>(), *gp = g.data<T>(), *mp = m_.data<T>(), *vp = v_.data<T>();
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
    for (int64_t i = 0; i < n; ++i) adam_update<T>(pp[i], gp[i], mp[i], vp[i], sc);
  });
}

}  // namespace nn
