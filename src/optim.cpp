// optim.cpp — Adam over a parameter arena (formulas in kernels/adam_math.h).
// Tests: tests/test_optim.cpp (hand-computed steps, CPU vs CUDA).
#include "nn/optim.h"

#include <cmath>

#include "adam_math.h"
#include "cpu_parallel.h"

#if defined(NN_WITH_CUDA)
#include "cuda/context.h"
#include "kernels.h"
#endif

namespace nn {

Adam::Adam(ParameterArena& arena, AdamOptions options) : arena_(&arena), options_(options) {
  NN_CHECK(arena.built(), "Adam: build the parameter arena before creating the optimizer");
  NN_CHECK(options.lr >= 0 && options.eps >= 0, "Adam: lr and eps must be >= 0 (lr=", options.lr,
           ", eps=", options.eps, ")");
  NN_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
           "Adam: betas must be in [0, 1), got (", options.beta1, ", ", options.beta2, ")");
  m_ = Tensor::zeros_like(arena.values());
  v_ = Tensor::zeros_like(arena.values());
}

void Adam::to(Device device) {
  m_ = m_.to(device);
  v_ = v_.to(device);
}

void Adam::step() {
  Tensor p = arena_->values(), g = arena_->grads();
  NN_CHECK(p.device() == m_.device(), "Adam::step: the arena moved to ", device_name(p.device()),
           "; call Adam::to() too");
  ++step_;
  // Bias corrections in double on the host, once per step (they depend on t only).
  const double t = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double bc2 = 1.0 - std::pow(options_.beta2, t);
  AdamScalars sc{options_.beta1, options_.beta2, options_.eps, options_.lr / bc1, std::sqrt(bc2)};
  const int64_t n = p.numel();
  if (p.is_cuda()) {
#if defined(NN_WITH_CUDA)
    adam_step_cuda(p.data<float>(), g.data<float>(), m_.data<float>(), v_.data<float>(), n, sc, cuda::stream());
#endif
    return;
  }
  dispatch_float(p.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T *pp = p.data<T>(), *gp = g.data<T>(), *mp = m_.data<T>(), *vp = v_.data<T>();
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
    for (int64_t i = 0; i < n; ++i) adam_update<T>(pp[i], gp[i], mp[i], vp[i], sc);
  });
}

}  // namespace nn
