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
// Algorithm choice, once per geometry and setting (the cache below); algo_fallback.h has the
// filtering rules and the fallback: the first call of each direction tries cuDNN's candidates in
// order and keeps the first that runs, since a listed algorithm can still refuse a geometry.
//   * normal mode: cudnnFind*Algorithm, which times every algorithm once and returns them sorted
//     by measured time (what PyTorch does with cudnn.benchmark = True). It is blocking and
//     allocates its own scratch memory, which is fine once per shape, before any graph capture.
//   * deterministic mode: cudnnGet*Algorithm_v7 (heuristics, no timing), keeping only algorithms
//     whose determinism is CUDNN_DETERMINISTIC. Heuristics give the same choice on every run,
//     where timing could pick a different (also deterministic, but differently rounding)
//     algorithm next run — and bit-reproducible runs are the point of the mode.
//   * heuristic mode (NN_CUDNN_ALGO=heuristic): cudnnGet*Algorithm_v7 without the determinism
//     filter; for runs under compute-sanitizer, where timing every algorithm is far too slow.
//   * exact mode (backend_settings().exact_conv_algorithms, set by the test binary): no FFT or
//     Winograd algorithm, whose rounding breaks the CUDA-vs-CPU tolerances.
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
// ConvCuda.DeterministicGrads (tests/test_conv.cpp); the fallback: AlgoFallback.* (tests/test_algo_fallback.cpp).
#include "cuda/cudnn_conv.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/algo_fallback.h"
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

// The math type the descriptor runs with: the chosen algorithm's when TF32 is allowed (PyTorch
// does the same), FMA_MATH otherwise, so no path can fall back to TF32.
// TENSOR_OP_MATH_ALLOW_CONVERSION would also let cuDNN convert float32 data down to FP16; TF32 is
// all "allow TF32" means, so such an entry runs with plain TENSOR_OP_MATH.
cudnnMathType_t math_type_for(int listed) {
  if (!backend_settings().allow_tf32) return CUDNN_FMA_MATH;
  const auto m = static_cast<cudnnMathType_t>(listed);
  return m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION ? CUDNN_TENSOR_OP_MATH : m;
}

bool heuristic_choice() { return backend_settings().deterministic || backend_settings().heuristic_conv_algorithms; }

AlgoPolicy current_policy() {
  const BackendSettings& b = backend_settings();
  AlgoPolicy p;
  p.max_workspace_bytes = kMaxWorkspaceBytes;
  p.deterministic = b.deterministic;
  p.allow_tf32 = b.allow_tf32;
  p.exact_algorithms = b.exact_conv_algorithms;
  return p;
}

// FFT and Winograd algorithms of each direction (algo_fallback.h: "exact" leaves them out).
bool transform_based(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool transform_based(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool transform_based(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// cuDNN's list (the three perf-result structs share these fields) in the selection's terms.
template <class Perf>
std::vector<AlgoCandidate> to_candidates(const std::vector<Perf>& perfs, int returned) {
  std::vector<AlgoCandidate> out;
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perfs[static_cast<size_t>(i)];
    AlgoCandidate c;
    c.algo = static_cast<int>(p.algo);
    c.listed_ok = p.status == CUDNN_STATUS_SUCCESS;
    c.workspace_bytes = p.memory;
    c.deterministic = p.determinism == CUDNN_DETERMINISTIC;
    // With TF32 off, skip only what reports tensor-core math: cuDNN versions differ in whether
    // they report FMA or DEFAULT for plain algorithms, and the descriptor stays at FMA_MATH anyway
    // (math_type_for), which is what actually forbids TF32.
    c.tensor_op_math = p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    c.transform_based = transform_based(p.algo);
    c.math_type = static_cast<int>(p.mathType);
    out.push_back(c);
  }
  return out;
}

// A refusal that another algorithm may not hit (try the next), or a real failure (stop). Only the
// statuses that are about this algorithm on this geometry move on; a null or misaligned pointer,
// a stream or graph mismatch, a wrong architecture or driver, a missing sub-library are the
// caller's or the installation's fault and would hit every algorithm alike.
AlgoAttempt classify(cudnnStatus_t st) {
  switch (st) {
    case CUDNN_STATUS_BAD_PARAM:
    case CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND:
    case CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT:
    case CUDNN_STATUS_NOT_SUPPORTED:
    case CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN:
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE:
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE:
    case CUDNN_STATUS_NOT_SUPPORTED_LAYOUT:
    case CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT:
    case CUDNN_STATUS_NOT_SUPPORTED_PADDING:
    case CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM:
    case CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED:
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
      return AlgoAttempt::refused(cudnnGetErrorString(st));
    default:
      return AlgoAttempt::failed(cudnnGetErrorString(st));
  }
}

// After a refused attempt: a refused launch leaves a (non-sticky) error in the runtime, which the
// next kernel's launch check would report as its own; clear it. A sticky error (the context is
// broken) survives the clear and is a real failure.
AlgoAttempt after_refusal(AlgoAttempt a) {
  cudaGetLastError();
  const cudaError_t sticky = cudaPeekAtLastError();
  if (sticky != cudaSuccess) return AlgoAttempt::failed(str_cat(a.why, ", then CUDA error ", cudaGetErrorString(sticky)));
  return a;
}

// The algorithm of one direction: the usable candidates in cuDNN's order, then (after the first
// call) the one that ran, with its own convolution descriptor set to that algorithm's math type.
struct Choice {
  std::unique_ptr<ConvDesc> conv;
  std::vector<AlgoCandidate> candidates;
  int chosen = -1;  // index into candidates, once one has run
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

// Lists one direction's algorithms: `list(conv, max_count, &returned, perfs)` is cudnnFind* or
// cudnnGet*_v7 with the plan's descriptors bound. Find allocates its own buffers with cudaMalloc,
// so the pool's cached memory is released first, and a failed trial allocation inside it must not
// surface at a later check.
template <class Perf, class MaxCount, class List>
std::unique_ptr<Choice> list_candidates(ConvPlan& plan, const char* direction, MaxCount max_count_fn, List list) {
  auto choice = std::make_unique<Choice>();
  choice->conv = std::make_unique<ConvDesc>(plan.shape, requested_math_type());
  int max_count = 0;
  NN_CUDNN_CHECK(max_count_fn(cudnn(), &max_count));
  std::vector<Perf> perfs(static_cast<size_t>(std::max(max_count, 1)));
  int returned = 0;
  if (!heuristic_choice()) release_cached_memory();
  NN_CUDNN_CHECK(list(choice->conv->get(), std::max(max_count, 1), &returned, perfs.data()));
  if (!heuristic_choice()) cudaGetLastError();
  choice->candidates = usable_candidates(to_candidates(perfs, returned), current_policy());
  if (choice->candidates.empty()) {
    const BackendSettings& b = backend_settings();
    throw_error(str_cat("cuDNN: no usable ", direction, " algorithm for ", describe(plan.shape),
                        b.deterministic ? " (deterministic mode)" : "", b.allow_tf32 ? "" : " (TF32 off)",
                        b.exact_conv_algorithms ? " (no FFT/Winograd)" : ""));
  }
  return choice;
}

Choice& choose_forward(ConvPlan& plan) {
  cudnnHandle_t h = cudnn();
  plan.forward = list_candidates<cudnnConvolutionFwdAlgoPerf_t>(
      plan, "forward", cudnnGetConvolutionForwardAlgorithmMaxCount,
      [&](cudnnConvolutionDescriptor_t conv, int n, int* returned, cudnnConvolutionFwdAlgoPerf_t* perfs) {
        return heuristic_choice()
                   ? cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x.get(), plan.w.get(), conv, plan.y.get(), n,
                                                            returned, perfs)
                   : cudnnFindConvolutionForwardAlgorithm(h, plan.x.get(), plan.w.get(), conv, plan.y.get(), n,
                                                          returned, perfs);
      });
  return *plan.forward;
}

// Backward-data reads w and dy (shaped like y) and writes dx (shaped like x).
Choice& choose_backward_data(ConvPlan& plan) {
  cudnnHandle_t h = cudnn();
  plan.backward_data = list_candidates<cudnnConvolutionBwdDataAlgoPerf_t>(
      plan, "backward-data", cudnnGetConvolutionBackwardDataAlgorithmMaxCount,
      [&](cudnnConvolutionDescriptor_t conv, int n, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perfs) {
        return heuristic_choice()
                   ? cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w.get(), plan.y.get(), conv, plan.x.get(), n,
                                                                 returned, perfs)
                   : cudnnFindConvolutionBackwardDataAlgorithm(h, plan.w.get(), plan.y.get(), conv, plan.x.get(), n,
                                                               returned, perfs);
      });
  return *plan.backward_data;
}

// Backward-filter reads x and dy (shaped like y) and writes dw (shaped like w).
Choice& choose_backward_filter(ConvPlan& plan) {
  cudnnHandle_t h = cudnn();
  plan.backward_filter = list_candidates<cudnnConvolutionBwdFilterAlgoPerf_t>(
      plan, "backward-filter", cudnnGetConvolutionBackwardFilterAlgorithmMaxCount,
      [&](cudnnConvolutionDescriptor_t conv, int n, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perfs) {
        return heuristic_choice()
                   ? cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan.x.get(), plan.y.get(), conv, plan.w.get(),
                                                                   n, returned, perfs)
                   : cudnnFindConvolutionBackwardFilterAlgorithm(h, plan.x.get(), plan.y.get(), conv, plan.w.get(), n,
                                                                 returned, perfs);
      });
  return *plan.backward_filter;
}

// ---------------------------------------------------------------- the per-geometry cache

// Every parameter that changes the descriptors or the choice: the geometry and the settings.
using PlanKey = std::array<int, 17>;

PlanKey key_of(const ConvShape& s) {
  const BackendSettings& b = backend_settings();
  // clang-format off
  return {s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
          b.allow_tf32 ? 1 : 0, b.deterministic ? 1 : 0, b.heuristic_conv_algorithms ? 1 : 0,
          b.exact_conv_algorithms ? 1 : 0};
  // clang-format on
}

// One lock for the cache and every first run: the engine queues on one stream, so the lock is
// never contended in practice; it only makes the lazy choice safe.
std::mutex cache_mutex;
std::map<PlanKey, std::unique_ptr<ConvPlan>>& plan_cache() {
  static std::map<PlanKey, std::unique_ptr<ConvPlan>> cache;
  return cache;
}

// Plans are never erased, so the returned reference stays valid. Caller holds cache_mutex.
ConvPlan& plan_for(const ConvShape& s) {
  std::unique_ptr<ConvPlan>& slot = plan_cache()[key_of(s)];
  if (!slot) slot = std::make_unique<ConvPlan>(s);
  return *slot;
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

// Runs one direction: `call(algo, workspace, bytes)` is the cuDNN call with everything else
// bound, `workspace_size(algo, &bytes)` its cudnnGet*WorkspaceSize. After the first call the
// cached algorithm runs directly; the first call tries the candidates in order
// (run_first_that_works, algo_fallback.h) and keeps the first that runs.
template <class WorkspaceSize, class Call>
void run_direction(Choice& c, const char* direction, const ConvShape& s, WorkspaceSize workspace_size, Call call) {
  if (c.chosen >= 0) {
    Workspace ws(c.workspace_bytes);
    NN_CUDNN_CHECK(call(c.candidates[static_cast<size_t>(c.chosen)].algo, ws.get(), c.workspace_bytes));
    return;
  }
  const size_t index = run_first_that_works(
      c.candidates,
      [&](const AlgoCandidate& cand) {
        NN_CUDNN_CHECK(cudnnSetConvolutionMathType(c.conv->get(), math_type_for(cand.math_type)));
        size_t bytes = 0;
        const cudnnStatus_t size_status = workspace_size(cand.algo, &bytes);
        if (size_status != CUDNN_STATUS_SUCCESS) return after_refusal(classify(size_status));
        bytes = std::max(bytes, cand.workspace_bytes);  // the larger of the two reports, to be safe
        if (bytes > kMaxWorkspaceBytes) {
          return AlgoAttempt::refused(str_cat("workspace of ", bytes >> 20, " MiB, over the ", kMaxWorkspaceBytes >> 20,
                                              " MiB cap"));
        }
        void* ws = nullptr;
        try {
          ws = alloc(bytes);
        } catch (const Error& e) {
          // Out of memory for this workspace: a leaner algorithm may still fit.
          if (std::string(e.what()).rfind("CUDA out of memory", 0) == 0) return AlgoAttempt::refused(e.what());
          throw;
        }
        const cudnnStatus_t st = call(cand.algo, ws, bytes);
        free(ws);
        if (st != CUDNN_STATUS_SUCCESS) return after_refusal(classify(st));
        c.workspace_bytes = bytes;
        return AlgoAttempt::ran();
      },
      str_cat(direction, " of ", describe(s)));
  c.chosen = static_cast<int>(index);
}

}  // namespace

// ---------------------------------------------------------------- the three directions

void conv_forward(const ConvShape& s, const float* x, const float* w, float* y, float beta) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  ConvPlan& plan = plan_for(s);
  Choice& c = plan.forward ? *plan.forward : choose_forward(plan);
  const float alpha = 1.0f;
  run_direction(
      c, "forward", s,
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(cudnn(), plan.x.get(), plan.w.get(), c.conv->get(),
                                                       plan.y.get(), static_cast<cudnnConvolutionFwdAlgo_t>(algo),
                                                       bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionForward(cudnn(), &alpha, plan.x.get(), x, plan.w.get(), w, c.conv->get(),
                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes, &beta, plan.y.get(),
                                       y);
      });
}

void conv_backward_data(const ConvShape& s, const float* w, const float* dy, float* dx, float beta) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  ConvPlan& plan = plan_for(s);
  Choice& c = plan.backward_data ? *plan.backward_data : choose_backward_data(plan);
  const float alpha = 1.0f;
  run_direction(
      c, "backward-data", s,
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn(), plan.w.get(), plan.y.get(), c.conv->get(),
                                                            plan.x.get(),
                                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardData(cudnn(), &alpha, plan.w.get(), w, plan.y.get(), dy, c.conv->get(),
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws, bytes, &beta,
                                            plan.x.get(), dx);
      });
}

void conv_backward_filter(const ConvShape& s, const float* x, const float* dy, float* dw, float beta) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  ConvPlan& plan = plan_for(s);
  Choice& c = plan.backward_filter ? *plan.backward_filter : choose_backward_filter(plan);
  const float alpha = 1.0f;
  run_direction(
      c, "backward-filter", s,
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn(), plan.x.get(), plan.y.get(), c.conv->get(),
                                                              plan.w.get(),
                                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                                              bytes);
      },
      [&](int algo, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardFilter(cudnn(), &alpha, plan.x.get(), x, plan.y.get(), dy, c.conv->get(),
                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws, bytes, &beta,
                                              plan.w.get(), dw);
      });
}

}  // namespace nn::cuda
