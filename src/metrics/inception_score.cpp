// inception_score.cpp — the Inception Score from logits (formulas and the shuffle in
// inception_score.h; tests in tests/test_metrics.cpp).
#include "metrics/inception_score.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "rng_math.h"

namespace nn::metrics {
namespace {

// The shuffle's 32-bit words, in order (inception_score.h gives the formula).
class ShuffleWords {
 public:
  explicit ShuffleWords(uint64_t seed) : seed_(seed) {}
  uint32_t next() {
    if (k_ % 4 == 0) block_ = philox4x32_10(k_ / 4, kInceptionShuffleStream, seed_);
    return block_.w[k_++ % 4];
  }

 private:
  uint64_t seed_;
  uint64_t k_ = 0;
  Philox4 block_{};
};

// Uniform integer in [0, range), 1 <= range <= 2^32, without bias (Lemire, "Fast random integer
// generation in an interval", 2019): word * range spreads the 2^32 words over `range` buckets;
// rejecting the (2^32 mod range) lowest low halves leaves exactly floor(2^32 / range) per bucket.
uint64_t uniform_below(ShuffleWords& words, uint64_t range) {
  uint64_t m = static_cast<uint64_t>(words.next()) * range;
  uint64_t low = m & 0xffffffffull;
  if (low < range) {
    const uint64_t threshold = ((uint64_t{1} << 32) - range) % range;  // 2^32 mod range
    while (low < threshold) {
      m = static_cast<uint64_t>(words.next()) * range;
      low = m & 0xffffffffull;
    }
  }
  return m >> 32;
}

// The score of logits x (N, K) row-major, the samples taken in `order` (inception_score.h).
template <class T>
InceptionScore score_logits(const T* x, int64_t N, int64_t K, const std::vector<int64_t>& order, int splits) {
  // log p(y|x_n) = x_ny - lse_n with lse_n = logsumexp_y x_ny (max-shifted, so exp never overflows).
  std::vector<double> lse(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const T* row = x + n * K;
    double max = -std::numeric_limits<double>::infinity();
    for (int64_t y = 0; y < K; ++y) {
      const double v = static_cast<double>(row[y]);
      NN_CHECK(std::isfinite(v), "inception_score: non-finite logit ", v, " at sample ", n, ", class ", y);
      max = std::max(max, v);
    }
    double sum = 0;
    for (int64_t y = 0; y < K; ++y) sum += std::exp(static_cast<double>(row[y]) - max);
    lse[static_cast<size_t>(n)] = max + std::log(sum);
  }

  InceptionScore result;
  result.splits = splits;
  std::vector<double> q(static_cast<size_t>(K)), log_q(static_cast<size_t>(K));
  for (int k = 0; k < splits; ++k) {
    const int64_t begin = k * N / splits, end = (k + 1) * N / splits;
    const double count = static_cast<double>(end - begin);
    // p_k(y) = mean over the part of p(y|x)
    std::fill(q.begin(), q.end(), 0.0);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = order[static_cast<size_t>(i)];
      for (int64_t y = 0; y < K; ++y)
        q[static_cast<size_t>(y)] += std::exp(static_cast<double>(x[n * K + y]) - lse[static_cast<size_t>(n)]);
    }
    for (int64_t y = 0; y < K; ++y) {
      q[static_cast<size_t>(y)] /= count;
      log_q[static_cast<size_t>(y)] = std::log(q[static_cast<size_t>(y)]);  // -inf only where every p is 0
    }
    // mean over the part of KL(p(y|x) || p_k(y))
    double kl_sum = 0;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = order[static_cast<size_t>(i)];
      double kl = 0;
      for (int64_t y = 0; y < K; ++y) {
        const double log_p = static_cast<double>(x[n * K + y]) - lse[static_cast<size_t>(n)];
        const double p = std::exp(log_p);
        if (p > 0) kl += p * (log_p - log_q[static_cast<size_t>(y)]);  // p = 0: the term's limit is 0
      }
      kl_sum += kl;
    }
    result.split_scores.push_back(std::exp(kl_sum / count));
  }

  const double S = static_cast<double>(splits);
  result.mean = std::accumulate(result.split_scores.begin(), result.split_scores.end(), 0.0) / S;
  double squares = 0;
  for (double s : result.split_scores) squares += (s - result.mean) * (s - result.mean);
  result.std = std::sqrt(squares / S);  // ddof = 0
  return result;
}

}  // namespace

std::vector<int64_t> inception_score_order(int64_t n, uint64_t seed) {
  NN_CHECK(n >= 0 && static_cast<uint64_t>(n) <= (uint64_t{1} << 32),
           "inception_score: the shuffle takes at most 2^32 samples, got ", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  ShuffleWords words(seed);
  for (int64_t i = n - 1; i >= 1; --i) {
    const uint64_t j = uniform_below(words, static_cast<uint64_t>(i) + 1);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

InceptionScore inception_score(const Tensor& logits, int splits, uint64_t seed, bool shuffle) {
  NN_CHECK(logits.defined(), "inception_score: undefined tensor");
  NN_CHECK(logits.dim() == 2 && logits.size(1) >= 1, "inception_score: logits must be (N, K), got ",
           shape_str(logits.shape()));
  NN_CHECK(is_floating(logits.dtype()), "inception_score: logits must be float32 or float64, got ",
           dtype_name(logits.dtype()));
  const int64_t N = logits.size(0), K = logits.size(1);
  NN_CHECK(splits >= 1 && splits <= N, "inception_score: ", splits, " splits of ", N,
           " samples (need 1 <= splits <= N)");

  std::vector<int64_t> order;
  if (shuffle) {
    order = inception_score_order(N, seed);
  } else {
    order.resize(static_cast<size_t>(N));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  const Tensor host = logits.to(Device::CPU);
  InceptionScore result;
  dispatch_float(host.dtype(), [&](auto zero) {
    using T = decltype(zero);
    result = score_logits(host.data<T>(), N, K, order, splits);
  });
  return result;
}

}  // namespace nn::metrics
