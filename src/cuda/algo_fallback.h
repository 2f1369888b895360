// algo_fallback.h — which cuDNN convolution algorithm to use, and falling back to the next one
// when the chosen one refuses to run. Plain C++ (no cuDNN types), so the CPU tests cover it:
// tests/test_algo_fallback.cpp (AlgoFallback.*) drives it with fake candidate lists.
//
// cuDNN answers "which algorithm?" with a list sorted best first (measured time for
// cudnnFind*, heuristic rank for cudnnGet*_v7), each entry with a status, a workspace size, a
// determinism flag and a math type. Two things can still go wrong after that:
//   1. an entry can be unsuitable for this run: it failed its trial, needs too much workspace,
//      is not deterministic in deterministic mode, uses TF32 tensor cores when TF32 is off, or is
//      an FFT/Winograd transform when exact algorithms are asked for (those round differently
//      enough to break the CUDA-vs-CPU tolerances);
//   2. the first entry that looks fine can still refuse to run: heuristics list algorithms
//      without trying them, and on some geometries (a 1x1 output, a 4x4 filter over a 1x1 input)
//      cudnnConvolution* then returns NOT_SUPPORTED or BAD_PARAM, or its workspace cannot be
//      allocated. PyTorch then tries the next candidate; so does the engine.
// usable_candidates() is step 1; run_first_that_works() is step 2, done once per geometry and
// direction on its first call (before any CUDA graph capture, in the warm-up steps); the winner
// is cached by the caller, so later calls run it directly.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "nn/check.h"

namespace nn::cuda {

// One entry of cuDNN's list, as the selection needs it.
struct AlgoCandidate {
  int algo = 0;                 // cudnnConvolution*Algo_t value
  bool listed_ok = true;        // cuDNN's own status for the entry was SUCCESS
  size_t workspace_bytes = 0;   // what cuDNN said the entry needs
  bool deterministic = true;    // CUDNN_DETERMINISTIC
  bool tensor_op_math = false;  // reports TENSOR_OP math (TF32 on float32 data)
  bool transform_based = false; // an FFT or Winograd algorithm
  int math_type = 0;            // cudnnMathType_t the entry was listed with (for the descriptor)
};

struct AlgoPolicy {
  size_t max_workspace_bytes = size_t{1} << 30;
  bool deterministic = false;      // keep CUDNN_DETERMINISTIC entries only
  bool allow_tf32 = false;         // keep TENSOR_OP entries only when TF32 is allowed
  bool exact_algorithms = false;   // drop FFT and Winograd
};

// Step 1: the entries the policy allows, in cuDNN's order. May be empty.
inline std::vector<AlgoCandidate> usable_candidates(const std::vector<AlgoCandidate>& listed, const AlgoPolicy& p) {
  std::vector<AlgoCandidate> out;
  for (const AlgoCandidate& c : listed) {
    if (!c.listed_ok) continue;
    if (c.workspace_bytes > p.max_workspace_bytes) continue;
    if (p.deterministic && !c.deterministic) continue;
    if (!p.allow_tf32 && c.tensor_op_math) continue;
    if (p.exact_algorithms && c.transform_based) continue;
    out.push_back(c);
  }
  return out;
}

// What one attempt at running a candidate gave.
struct AlgoAttempt {
  enum Kind { Ran, Refused, Failed } kind = Ran;
  std::string why;  // for Refused / Failed: the library's status name or the allocator's message
  static AlgoAttempt ran() { return {Ran, ""}; }
  // The algorithm cannot run here (NOT_SUPPORTED, BAD_PARAM, workspace allocation failed): try
  // the next candidate.
  static AlgoAttempt refused(std::string why) { return {Refused, std::move(why)}; }
  // Anything else (an execution failure, a sticky CUDA error): trying another would hide it.
  static AlgoAttempt failed(std::string why) { return {Failed, std::move(why)}; }
};

// Step 2: calls attempt(candidate) for each candidate in order until one runs, and returns its
// index. A Failed attempt throws at once; when every candidate is refused (or there is none), the
// error names the direction, the geometry and each algorithm tried with its reason.
template <class Attempt>
size_t run_first_that_works(const std::vector<AlgoCandidate>& candidates, Attempt&& attempt,
                            const std::string& what) {
  std::string tried;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const AlgoAttempt a = attempt(candidates[i]);
    if (a.kind == AlgoAttempt::Ran) return i;
    if (a.kind == AlgoAttempt::Failed) {
      throw_error(str_cat("cuDNN: ", what, ": algorithm ", candidates[i].algo, " failed: ", a.why));
    }
    tried += str_cat(tried.empty() ? "" : ", ", "algorithm ", candidates[i].algo, " (", a.why, ")");
  }
  if (candidates.empty()) throw_error(str_cat("cuDNN: no usable algorithm for ", what));
  throw_error(str_cat("cuDNN: no algorithm would run for ", what, "; tried ", tried));
}

}  // namespace nn::cuda
