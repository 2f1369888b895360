// inception_score.h — the Inception Score (Salimans et al. 2016) from a classifier's logits
// (issue #6). The Inception network that makes the logits is elsewhere (src/metrics/inception.h).
//
// With p(y|x) = softmax(logits of x), in float64, and the N samples split into S parts:
//   IS_k = exp( mean_{x in part k} KL(p(y|x) || p_k(y)) ),   p_k(y) = mean_{x in part k} p(y|x)
//   KL(p || q) = sum_y p(y) (log p(y) - log q(y))            (a term with p(y) = 0 is 0, its limit)
//   result: mean_k IS_k and std_k IS_k with the population std (ddof = 0, numpy's default)
// as the original code (openai/improved-gan) and torch-fidelity compute it. Part k holds the
// samples [k N / S, (k+1) N / S) (integer division), the same boundaries as both of them.
// log p is taken as logit - logsumexp(logits), so confident logits give no log(0).
//
// Before splitting, the samples are shuffled (as torch-fidelity does by default; the original
// code does not shuffle), so that parts do not inherit an order the generator or the caller
// gave them. The shuffle is the engine's Philox-4x32-10 (kernels/rng_math.h) driving a
// Fisher-Yates shuffle, the scheme of the data sampler (src/data/cifar100.h) on a stream of its
// own: word k is philox4x32_10(counter_lo = k / 4, counter_hi = kInceptionShuffleStream,
// key = seed).w[k % 4]; for i = N-1 down to 1, swap order[i] and order[j] with j uniform in
// [0, i] by Lemire's multiply-shift with rejection. So a score is a function of (logits, splits,
// seed), on any machine. It is not torch-fidelity's NumPy permutation, so scores agree with
// torch-fidelity's in distribution (and exactly when unshuffled), not bit for bit.
//
// Errors (nn::Error, one line): logits that are not (N, K) floats (K >= 1), splits < 1 or > N,
// non-finite logits. Tests: tests/test_metrics.cpp (InceptionScore.*).
#pragma once
#include <cstdint>
#include <vector>

#include "nn/tensor.h"

namespace nn::metrics {

struct InceptionScore {
  double mean = 0, std = 0;          // over the splits, std with ddof = 0
  int splits = 0;
  std::vector<double> split_scores;  // IS_k, k = 0 .. splits-1
};

// logits: (N, K) float32 or float64, on any device (read back to the host).
// shuffle = false keeps the given order (the original IS code's behaviour).
InceptionScore inception_score(const Tensor& logits, int splits = 10, uint64_t seed = 0, bool shuffle = true);

// The shuffle above: order[i] is the sample that goes to position i (0 <= order[i] < n).
std::vector<int64_t> inception_score_order(int64_t n, uint64_t seed);

// Counter-high word of the shuffle's Philox stream: "ISCR" in ASCII, disjoint from the random
// fills (counter_hi = 0) and the data sampler's epoch streams ("DATA").
constexpr uint64_t kInceptionShuffleStream = 0x4953435200000000ull;

}  // namespace nn::metrics
