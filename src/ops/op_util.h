// op_util.h — small helpers shared by the op files (internal to src/ops/).
#pragma once
#include <type_traits>

#include "nn/autograd.h"
#include "nn/ops.h"
#include "nn/tensor.h"
// The shared math is plain C++ and needed on both paths.
#include "adam_math.h"
#include "elementwise_math.h"
#include "loss_math.h"

#if defined(NN_WITH_CUDA)
#include "cuda/context.h"
#include "kernels.h"
#endif

namespace nn {

// The engine's CUDA stream, for launcher calls; only compiled into CUDA builds.
#if defined(NN_WITH_CUDA)
inline cudaStream_t op_stream() { return cuda::stream(); }
#endif

// Checks that every defined tensor in `ts` shares the first one's device and dtype, and that CUDA
// tensors are float32 — the common preamble of every op.
inline void check_op_tensors(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    NN_CHECK(is_floating(t->dtype()), op, ": needs float32 or float64 tensors, got ", t->str());
    if (first == nullptr) {
      first = t;
      check_cuda_f32(op, *t);
      continue;
    }
    check_same_device(op, *first, *t);
    check_same_dtype(op, *first, *t);
  }
}

// Calls f(std::integral_constant<ActKind, kind>) for the run-time kind: a CPU loop templated on
// the kind has act_forward's switch folded away and vectorises (a run-time kind kept it scalar).
template <class F>
void dispatch_kind(ActKind kind, F&& f) {
  switch (kind) {
    case ActKind::Relu: return f(std::integral_constant<ActKind, ActKind::Relu>{});
    case ActKind::LeakyRelu: return f(std::integral_constant<ActKind, ActKind::LeakyRelu>{});
    case ActKind::Tanh: return f(std::integral_constant<ActKind, ActKind::Tanh>{});
    default: return f(std::integral_constant<ActKind, ActKind::Sigmoid>{});
  }
}

}  // namespace nn

// NN_CUDA_ONLY(stmt): stmt in a CUDA build, unreachable otherwise (CUDA tensors cannot exist
// without the backend; check_cuda_f32 already reported it).
#if defined(NN_WITH_CUDA)
#define NN_CUDA_ONLY(...) __VA_ARGS__
#else
#define NN_CUDA_ONLY(...) ::nn::throw_error("internal: CUDA path in a CPU-only build")
#endif
