// cudnn_conv.cpp — cuDNN forward, backward-data and backward-filter convolutions (see cudnn_conv.h).
//
// Descriptor dimension orders (all NCHW, float32, cross-correlation like PyTorch):
//   x  tensor  (N, C, H, W)
//   w  filter  (K, C, R, S)   "KCRS": K output channels, C input channels, R x S taps.
//              For conv2d this is exactly the PyTorch Conv2d weight (O, C, kh, kw). For
//              conv_transpose2d, src/ops/conv.cpp describes the *matching* convolution, whose
//              filter (K = C_in of the transposed conv, C = its O, kh, kw) is exactly the PyTorch
//              ConvTranspose2d weight layout (C_in, O, kh, kw): no copy or transpose needed.
//   y  tensor  (N, K, P, Q)
//
// Algorithm choice, once per geometry and setting (the cache below):
//   * normal mode: cudnnFind*Algorithm, which times every algorithm once and returns them sorted
//     by measured time (what PyTorch does with cudnn.benchmark = True). It is blocking and
//     allocates its own scratch memory, which is fine once per shape, before any graph capture.
//   * deterministic mode: cudnnGet*Algorithm_v7 (heuristics, no timing), keeping only algorithms
//     whose determinism is CUDNN_DETERMINISTIC. Heuristics give the same choice on every run,
//     where timing could pick a different (also deterministic, but differently rounding)
//     algorithm next run — and bit-reproducible runs are the point of the mode.
//   * math type: CUDNN_FMA_MATH when backend_settings().allow_tf32 is false (forbids TF32 tensor
//     cores, so float32 means float32), CUDNN_TENSOR_OP_MATH when it is true. cuDNN needs the
//     descriptor's math type to agree with the chosen algorithm's, so each direction keeps its own
//     convolution descriptor set to the math type its algorithm reported.
// Workspaces come from the engine's stream-ordered allocator per call (cuda::alloc/free: the pool
// makes that cheap, and the free is ordered after the convolution on the same stream).
//
// Rectangular kernels (R != S) and per-axis stride/padding go straight into the descriptors and
// the plan key, so Inception's 1x7 / 7x1 convolutions are ordinary geometries here.
//
// Tests: CudaParity.conv2d, CudaParity.conv_transpose2d, CudaParity.conv2d_rectangular,
// ConvCuda.DeterministicGrads (tests/test_conv.cpp).
#include "cuda/cudnn_conv.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/context.h"
#include "nn/backend.h"

namespace nn::cuda {
namespace {

// ---------------------------------------------------------------- RAII descriptors

// Owns one cuDNN descriptor and destroys it once. A member of this type is fully constructed
// before the owning class's constructor body sets the descriptor, so a throwing NN_CUDNN_CHECK
// there still destroys it.
template <class Raw, cudnnStatus_t (*Destroy)(Raw)>
class Owned {
 public:
  Owned() = default;
  ~Owned() {
    if (raw_ != nullptr) Destroy(raw_);  // a destructor cannot throw; destroy cannot fail usefully
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Raw get() const { return raw_; }
  Raw* out() { return &raw_; }

 private:
  Raw raw_ = nullptr;
};

class TensorDesc {
 public:
  TensorDesc(int n, int c, int h, int w) {
    NN_CUDNN_CHECK(cudnnCreateTensorDescriptor(desc_.out()));
    NN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
  }
  cudnnTensorDescriptor_t get() const { return desc_.get(); }

 private:
  Owned<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor> desc_;
};

class FilterDesc {
 public:
  // (k, c, r, s) = (output channels, input channels, kernel height, kernel width), KCRS order.
  FilterDesc(int k, int c, int r, int s) {
    NN_CUDNN_CHECK(cudnnCreateFilterDescriptor(desc_.out()));
    NN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(desc_.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c, r, s));
  }
  cudnnFilterDescriptor_t get() const { return desc_.get(); }

 private:
  Owned<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor> desc_;
};

class ConvDesc {
 public:
  ConvDesc(const ConvShape& s, cudnnMathType_t math) {
    NN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(desc_.out()));
    // Dilation 1; CROSS_CORRELATION = no kernel flip, as PyTorch; accumulate in float32.
    NN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(desc_.get(), s.pad_h, s.pad_w, s.stride_h, s.stride_w, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    NN_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_.get(), math));
  }
  cudnnConvolutionDescriptor_t get() const { return desc_.get(); }

 private:
  Owned<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor> desc_;
};

// ---------------------------------------------------------------- algorithm choice

std::string describe(const ConvShape& s) {
  return str_cat("x (", s.N, ",", s.C, ",", s.H, ",", s.W, ") w (", s.K, ",", s.C, ",", s.R, ",", s.S, ") y (", s.N,
                 ",", s.K, ",", s.P, ",", s.Q, ") stride (", s.stride_h, ",", s.stride_w, ") pad (", s.pad_h, ",",
                 s.pad_w, ")");
}

// The DCGAN's convolutions need workspaces of a few MiB; an algorithm asking for more than this
// is an FFT variant whose memory is better spent elsewhere.
constexpr size_t kMaxWorkspaceBytes = size_t{1} << 30;

cudnnMathType_t requested_math_type() { return backend_settings().allow_tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }

// First acceptable entry of cuDNN's list (already sorted best first): it ran, it fits the
// workspace cap, it is deterministic when that mode is on, and it does not use TF32 when TF32 is
// off. Works for the three perf-result structs, which share these fields.
template <class Perf>
const Perf& pick_algorithm(const std::vector<Perf>& perfs, int returned, const char* direction, const ConvShape& s) {
  const bool deterministic = backend_settings().deterministic;
  const bool allow_tf32 = backend_settings().allow_tf32;
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perfs[i];
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    if (p.memory > kMaxWorkspaceBytes) continue;
    if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    // With TF32 off, skip only what reports tensor-core math: cuDNN versions differ in whether they
    // report FMA or DEFAULT for plain algorithms, and the descriptor stays at FMA_MATH anyway
    // (math_type_for below), which is what actually forbids TF32.
    if (!allow_tf32 && (p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    return p;
  }
  throw_error(str_cat("cuDNN: no usable ", direction, " algorithm for ", describe(s),
                      deterministic ? " (deterministic mode)" : "", allow_tf32 ? "" : " (TF32 off)"));
}

// The math type the descriptor runs with: the chosen algorithm's when TF32 is allowed (PyTorch
// does the same), FMA_MATH otherwise, so no path can fall back to TF32.
cudnnMathType_t math_type_for(cudnnMathType_t chosen) {
  return backend_settings().allow_tf32 ? chosen : CUDNN_FMA_MATH;
}

// The algorithm of one direction, with its own convolution descriptor set to the math type the
// algorithm was chosen with.
struct Choice {
  std::unique_ptr<ConvDesc> conv;
  int algo = 0;
  size_t workspace_bytes = 0;
};

// Everything cuDNN needs for one geometry: descriptors, then each direction's choice, made the
// first time that direction runs (a generator's convolution never runs backward-filter for its
// first layer's input, say, and a frozen network never runs backward at all).
struct ConvPlan {
  ConvShape shape;
  TensorDesc x, y;
  FilterDesc w;
  std::unique_ptr<Choice> forward, backward_data, backward_filter;

  explicit ConvPlan(const ConvShape& s)
      : shape(s), x(s.N, s.C, s.H, s.W), y(s.N, s.K, s.P, s.Q), w(s.K, s.C, s.R, s.S) {
    // Cross-check the caller's output size against cuDNN's own arithmetic: a mismatch means the
    // op built the geometry wrong (for a transposed convolution, say), and would otherwise show up
    // as a cryptic BAD_PARAM later.
    ConvDesc conv(s, requested_math_type());
    int n = 0, k = 0, p = 0, q = 0;
    NN_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), w.get(), &n, &k, &p, &q));
    NN_CHECK(n == s.N && k == s.K && p == s.P && q == s.Q, "cuDNN convolution: output (", n, ",", k, ",", p, ",", q,
             ") differs from the expected one for ", describe(s));
  }
};

Choice* choose_forward(ConvPlan& plan) {
  cudnnHandle_t h = cudnn();
  auto choice = std::make_unique<Choice>();
  choice->conv = std::make_unique<ConvDesc>(plan.shape, requested_math_type());
  int max_count = 0;
  NN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perfs(static_cast<size_t>(std::max(max_count, 1)));
  int returned = 0;
  if (backend_settings().deterministic) {
    NN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x.get(), plan.w.get(), choice->conv->get(),
                                                          plan.y.get(), max_count, &returned, perfs.data()));
  } else {
    release_cached_memory();  // Find allocates its own buffers with cudaMalloc
    NN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, plan.x.get(), plan.w.get(), choice->conv->get(),
                                                        plan.y.get(), max_count, &returned, perfs.data()));
    cudaGetLastError();  // a failed trial allocation inside Find must not surface at a later check
  }
  const auto& best = pick_algorithm(perfs, returned, "forward", plan.shape);
  NN_CUDNN_CHECK(cudnnSetConvolutionMathType(choice->conv->get(), math_type_for(best.mathType)));
  size_t bytes = 0;
  NN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, plan.x.get(), plan.w.get(), choice->conv->get(),
                                                         plan.y.get(), best.algo, &bytes));
  choice->algo = static_cast<int>(best.algo);
  choice->workspace_bytes = std::max(bytes, best.memory);  // the larger of the two reports, to be safe
  plan.forward = std::move(choice);
  return plan.forward.get();
}

Choice* choose_backward_data(ConvPlan& plan) {
  cudnnHandle_t h = cudnn();
  auto choice = std::make_unique<Choice>();
  choice->conv = std::make_unique<ConvDesc>(plan.shape, requested_math_type());
  int max_count = 0;
  NN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perfs(static_cast<size_t>(std::max(max_count, 1)));
  int returned = 0;
  // Backward-data reads w and dy (shaped like y) and writes dx (shaped like x).
  if (backend_settings().deterministic) {
    NN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w.get(), plan.y.get(), choice->conv->get(),
                                                               plan.x.get(), max_count, &returned, perfs.data()));
  } else {
    release_cached_memory();  // Find allocates its own buffers with cudaMalloc
    NN_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(h, plan.w.get(), plan.y.get(), choice->conv->get(),
                                                             plan.x.get(), max_count, &returned, perfs.data()));
    cudaGetLastError();  // a failed trial allocation inside Find must not surface at a later check
  }
  const auto& best = pick_algorithm(perfs, returned, "backward-data", plan.shape);
  NN_CUDNN_CHECK(cudnnSetConvolutionMathType(choice->conv->get(), math_type_for(best.mathType)));
  size_t bytes = 0;
  NN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w.get(), plan.y.get(), choice->conv->get(),
                                                              plan.x.get(), best.algo, &bytes));
  choice->algo = static_cast<int>(best.algo);
  choice->workspace_bytes = std::max(bytes, best.memory);
  plan.backward_data = std::move(choice);
  return plan.backward_data.get();
}

Choice* choose_backward_filter(ConvPlan& plan) {
  cudnnHandle_t h = cudnn();
  auto choice = std::make_unique<Choice>();
  choice->conv = std::make_unique<ConvDesc>(plan.shape, requested_math_type());
  int max_count = 0;
  NN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perfs(static_cast<size_t>(std::max(max_count, 1)));
  int returned = 0;
  // Backward-filter reads x and dy (shaped like y) and writes dw (shaped like w).
  if (backend_settings().deterministic) {
    NN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan.x.get(), plan.y.get(), choice->conv->get(),
                                                                 plan.w.get(), max_count, &returned, perfs.data()));
  } else {
    release_cached_memory();  // Find allocates its own buffers with cudaMalloc
    NN_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(h, plan.x.get(), plan.y.get(), choice->conv->get(),
                                                               plan.w.get(), max_count, &returned, perfs.data()));
    cudaGetLastError();  // a failed trial allocation inside Find must not surface at a later check
  }
  const auto& best = pick_algorithm(perfs, returned, "backward-filter", plan.shape);
  NN_CUDNN_CHECK(cudnnSetConvolutionMathType(choice->conv->get(), math_type_for(best.mathType)));
  size_t bytes = 0;
  NN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, plan.x.get(), plan.y.get(), choice->conv->get(),
                                                                plan.w.get(), best.algo, &bytes));
  choice->algo = static_cast<int>(best.algo);
  choice->workspace_bytes = std::max(bytes, best.memory);
  plan.backward_filter = std::move(choice);
  return plan.backward_filter.get();
}

// ---------------------------------------------------------------- the per-geometry cache

// Every parameter that changes the descriptors or the choice: the geometry and both settings.
using PlanKey = std::array<int, 15>;

PlanKey key_of(const ConvShape& s) {
  const BackendSettings& b = backend_settings();
  // clang-format off
  return {s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
          b.allow_tf32 ? 1 : 0, b.deterministic ? 1 : 0};
  // clang-format on
}

std::mutex cache_mutex;
std::map<PlanKey, std::unique_ptr<ConvPlan>>& plan_cache() {
  static std::map<PlanKey, std::unique_ptr<ConvPlan>> cache;
  return cache;
}

// Plans are never erased, so the returned reference stays valid.
ConvPlan& plan_for(const ConvShape& s) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  std::unique_ptr<ConvPlan>& slot = plan_cache()[key_of(s)];
  if (!slot) slot = std::make_unique<ConvPlan>(s);
  return *slot;
}

// Lazily chooses one direction's algorithm under the cache lock (the choice mutates the plan).
template <class ChooseFn>
const Choice& choice_for(ConvPlan& plan, std::unique_ptr<Choice> ConvPlan::*slot, ChooseFn choose) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (!(plan.*slot)) choose(plan);
  return *(plan.*slot);
}

// A workspace for one call, returned to the pool in stream order right after the call is queued.
class Workspace {
 public:
  explicit Workspace(size_t bytes) : ptr_(alloc(bytes)) {}
  ~Workspace() { free(ptr_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_;
};

}  // namespace

// ---------------------------------------------------------------- the three directions

void conv_forward(const ConvShape& s, const float* x, const float* w, float* y, float beta) {
  ConvPlan& plan = plan_for(s);
  const Choice& c = choice_for(plan, &ConvPlan::forward, choose_forward);
  Workspace ws(c.workspace_bytes);
  const float alpha = 1.0f;
  NN_CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &alpha, plan.x.get(), x, plan.w.get(), w, c.conv->get(),
                                         static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ws.get(), c.workspace_bytes,
                                         &beta, plan.y.get(), y));
}

void conv_backward_data(const ConvShape& s, const float* w, const float* dy, float* dx, float beta) {
  ConvPlan& plan = plan_for(s);
  const Choice& c = choice_for(plan, &ConvPlan::backward_data, choose_backward_data);
  Workspace ws(c.workspace_bytes);
  const float alpha = 1.0f;
  NN_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &alpha, plan.w.get(), w, plan.y.get(), dy, c.conv->get(),
                                              static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), ws.get(),
                                              c.workspace_bytes, &beta, plan.x.get(), dx));
}

void conv_backward_filter(const ConvShape& s, const float* x, const float* dy, float* dw, float beta) {
  ConvPlan& plan = plan_for(s);
  const Choice& c = choice_for(plan, &ConvPlan::backward_filter, choose_backward_filter);
  Workspace ws(c.workspace_bytes);
  const float alpha = 1.0f;
  NN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &alpha, plan.x.get(), x, plan.y.get(), dy, c.conv->get(),
                                                static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ws.get(),
                                                c.workspace_bytes, &beta, plan.w.get(), dw));
}

}  // namespace nn::cuda
