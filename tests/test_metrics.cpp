// Tests for src/metrics: FID statistics and distance (fid.h), the Inception Score
// (inception_score.h) and the statistics files.
//
//  * FidStatistics.*, Fid.*: against pytorch-fid's formula in float64 NumPy/SciPy on seeded random
//    features (tests/golden/fid_features.safetensors, made by tools/make_fid_fixtures.py), and
//    against identities and closed forms that need no reference: FID(X, X) = 0, symmetry, equal
//    covariances leave |mu1 - mu2|^2, diagonal covariances give sum (sqrt s1 - sqrt s2)^2.
//  * InceptionScore.*: distributions whose score is known in closed form (uniform: 1, balanced
//    confident classes: about K, a two-distribution mixture: exp(Jensen-Shannon)), the population
//    std, and the seeded shuffle.
//  * FidStatsFile.*: save/load round trip and every kind of corrupt file.
//  * The CUDA paths (device statistics, cuSOLVER) against the CPU ones; skipped without a GPU.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "io/safetensors.h"
#include "metrics/fid.h"
#include "metrics/inception_score.h"
#include "test_util.h"

namespace nn::test {
namespace {

using metrics::FeatureStatistics;
using metrics::GaussianStats;

const std::string kFidGolden = std::string(NN_SOURCE_DIR) + "/tests/golden/fid_features.safetensors";

// Rows [begin, end) of a (N, D) tensor, as a view.
Tensor rows_of(const Tensor& t, int64_t begin, int64_t end) {
  return t.view_at(begin * t.size(1), {end - begin, t.size(1)});
}

GaussianStats stats_of(const Tensor& features, int64_t chunk = 0) {
  FeatureStatistics stats(features.size(1));
  const int64_t n = features.size(0);
  if (chunk <= 0) chunk = n;
  for (int64_t begin = 0; begin < n; begin += chunk) stats.add(rows_of(features, begin, std::min(n, begin + chunk)));
  return stats.finish();
}

// (n, d) correlated features x = z A + offset + b, z and A uniform: a full, non-diagonal covariance.
Tensor correlated_features(int64_t n, int64_t d, uint64_t seed, double offset, DType dtype = DType::F64) {
  const std::vector<double> z = rand_tensor({n, d}, seed).to_vector();
  const std::vector<double> a = rand_tensor({d, d}, seed + 1).to_vector();
  const std::vector<double> b = rand_tensor({d}, seed + 2, -2.0, 2.0).to_vector();
  std::vector<double> x(static_cast<size_t>(n * d));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < d; ++j) {
      double v = offset + b[j] + 0.5 * z[r * d + j];  // + a diagonal part keeps the covariance well conditioned
      for (int64_t k = 0; k < d; ++k) v += z[r * d + k] * a[k * d + j];
      x[r * d + j] = v;
    }
  }
  return Tensor::from_vector({n, d}, x, dtype);
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double atol, double rtol,
                  const std::string& what) {
  std::string where;
  EXPECT_TRUE(all_close(got, want, atol, rtol, &where)) << what << ": " << where;
}

double relative_difference(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

// ================================================================== FeatureStatistics

TEST(FidStatistics, MatchesNumpyOnGoldenFeatures) {
  const io::SafetensorsFile golden = io::load_safetensors(kFidGolden);
  for (const char* set : {"a", "b"}) {
    const std::string name = set;
    const GaussianStats s = stats_of(golden.get("features_" + name));
    EXPECT_EQ(s.count, golden.get("features_" + name).size(0));
    expect_close(s.mean, golden.get("mu_" + name).to_vector(), 1e-12, 1e-12, "mu_" + name);
    expect_close(s.cov, golden.get("sigma_" + name).to_vector(), 1e-12, 1e-12, "sigma_" + name);
  }
}

TEST(FidStatistics, ChunkSizesGiveTheSameStatistics) {
  const Tensor x = io::load_safetensors(kFidGolden).get("features_a");  // (300, 16)
  const GaussianStats whole = stats_of(x);
  for (int64_t chunk : {1, 7, 64, 299}) {
    const GaussianStats parts = stats_of(x, chunk);
    EXPECT_EQ(parts.count, whole.count);
    expect_close(parts.mean, whole.mean, 1e-13, 1e-13, "mean, chunks of " + std::to_string(chunk));
    expect_close(parts.cov, whole.cov, 1e-13, 1e-12, "covariance, chunks of " + std::to_string(chunk));
  }
  // Empty batches are allowed and change nothing, before and after the first real one.
  FeatureStatistics stats(16);
  stats.add(rows_of(x, 0, 0));
  stats.add(x);
  stats.add(rows_of(x, 5, 5));
  EXPECT_EQ(stats.count(), 300);
  EXPECT_EQ(stats.covariance(), whole.cov);
  EXPECT_EQ(stats.mean(), whole.mean);
}

// The shifted sums keep the covariance exact where the features' mean dwarfs their spread; the
// one-pass sum x x^T - N mu mu^T would lose about 12 of 16 digits at an offset of 1e6.
TEST(FidStatistics, LargeMeanDoesNotCostPrecision) {
  const GaussianStats near_zero = stats_of(correlated_features(500, 8, 11, 0.0), 100);
  const GaussianStats far = stats_of(correlated_features(500, 8, 11, 1e6), 100);
  expect_close(far.cov, near_zero.cov, 1e-8, 1e-8, "covariance at offset 1e6");
  for (size_t j = 0; j < far.mean.size(); ++j) EXPECT_NEAR(far.mean[j] - 1e6, near_zero.mean[j], 1e-9);
}

TEST(FidStatistics, Float32FeaturesAreAccumulatedInDouble) {
  const Tensor x32 = correlated_features(200, 12, 5, 3.0, DType::F32);
  const GaussianStats from32 = stats_of(x32, 50);
  const GaussianStats from64 = stats_of(x32.to(DType::F64), 50);  // the same values, exactly
  EXPECT_EQ(from32.mean, from64.mean);
  EXPECT_EQ(from32.cov, from64.cov);
}

TEST(FidStatistics, RejectsBadInput) {
  FeatureStatistics stats(4);
  expect_error_containing([&] { stats.add(Tensor::zeros({3, 5}, DType::F64)); }, {"dimension mismatch", "D = 4"});
  expect_error_containing([&] { stats.add(Tensor::zeros({12}, DType::F64)); }, {"(N, D)"});
  expect_error_containing([&] { stats.add(Tensor::zeros({3, 4}, DType::I32)); }, {"float32 or float64", "int32"});
  Tensor bad = Tensor::zeros({3, 4}, DType::F32);
  bad.data<float>()[6] = std::numeric_limits<float>::infinity();
  expect_error_containing([&] { stats.add(bad); }, {"non-finite", "row 1", "column 2"});
  EXPECT_EQ(stats.count(), 0) << "a refused batch must not be counted";
  expect_error_containing([&] { stats.mean(); }, {"no features"});
  stats.add(Tensor::ones({1, 4}, DType::F64));
  expect_error_containing([&] { stats.finish(); }, {"at least 2 samples", "got 1"});
  expect_error_containing([&] { stats.covariance(); }, {"at least 2 samples"});
  expect_error_containing([] { FeatureStatistics zero_dim(0); }, {"must be positive"});
}

// ================================================================== the distance

TEST(Fid, MatchesPytorchFidOnGoldenFeatures) {
  const io::SafetensorsFile golden = io::load_safetensors(kFidGolden);
  const double want = golden.get("fid").item();
  const double got = metrics::frechet_distance(stats_of(golden.get("features_a")), stats_of(golden.get("features_b")));
  EXPECT_LT(relative_difference(got, want), 1e-9) << "FID " << got << ", pytorch-fid " << want;
  // And from NumPy's mu and sigma directly, so the distance is checked apart from the statistics.
  GaussianStats a{300, golden.get("mu_a").to_vector(), golden.get("sigma_a").to_vector()};
  GaussianStats b{200, golden.get("mu_b").to_vector(), golden.get("sigma_b").to_vector()};
  EXPECT_LT(relative_difference(metrics::frechet_distance(a, b), want), 1e-9);
}

TEST(Fid, IsZeroForIdenticalStatisticsAndSymmetric) {
  const io::SafetensorsFile golden = io::load_safetensors(kFidGolden);
  const GaussianStats a = stats_of(golden.get("features_a")), b = stats_of(golden.get("features_b"));
  EXPECT_NEAR(metrics::frechet_distance(a, a), 0.0, 1e-9);
  EXPECT_NEAR(metrics::frechet_distance(b, b), 0.0, 1e-9);
  const double ab = metrics::frechet_distance(a, b), ba = metrics::frechet_distance(b, a);
  EXPECT_LT(relative_difference(ab, ba), 1e-12) << ab << " vs " << ba;
}

TEST(Fid, EqualCovariancesLeaveTheSquaredMeanDistance) {
  GaussianStats a = stats_of(correlated_features(400, 10, 3, 0.0));
  GaussianStats b = a;
  double squared = 0;
  for (size_t j = 0; j < b.mean.size(); ++j) {
    const double delta = 0.25 * static_cast<double>(j) - 1.0;
    b.mean[j] += delta;
    squared += delta * delta;
  }
  EXPECT_NEAR(metrics::frechet_distance(a, b), squared, 1e-9);
}

// Commuting (here diagonal) covariances: Tr sqrt(S1 S2) = sum sqrt(s1_i s2_i), so
// FID = |mu1 - mu2|^2 + sum (sqrt s1_i - sqrt s2_i)^2.
TEST(Fid, DiagonalCovariancesHaveAClosedForm) {
  const int64_t D = 6;
  GaussianStats a{100, std::vector<double>(D), std::vector<double>(D * D, 0.0)};
  GaussianStats b{100, std::vector<double>(D), std::vector<double>(D * D, 0.0)};
  double want = 0;
  for (int64_t i = 0; i < D; ++i) {
    a.mean[i] = 0.1 * i;
    b.mean[i] = -0.3 * i + 1.0;
    a.cov[i * D + i] = 0.5 + i;
    b.cov[i * D + i] = 4.0 / (1.0 + i);
    want += (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i]);
    want += std::pow(std::sqrt(a.cov[i * D + i]) - std::sqrt(b.cov[i * D + i]), 2);
  }
  EXPECT_LT(relative_difference(metrics::frechet_distance(a, b), want), 1e-12);
}

// Fewer samples than dimensions: singular covariances, whose zero eigenvalues come out of the
// eigensolver as tiny negatives. They are clipped to 0, so the distance stays finite and ~0.
TEST(Fid, SingularCovariancesStayFinite) {
  const GaussianStats few = stats_of(correlated_features(5, 16, 21, 1.0));
  const double fid = metrics::frechet_distance(few, few);
  EXPECT_TRUE(std::isfinite(fid));
  EXPECT_NEAR(fid, 0.0, 1e-6);
}

TEST(Fid, RejectsMismatchedOrBadStatistics) {
  const GaussianStats a = stats_of(correlated_features(50, 4, 1, 0.0));
  const GaussianStats b = stats_of(correlated_features(50, 3, 2, 0.0));
  expect_error_containing([&] { metrics::frechet_distance(a, b); }, {"dimension mismatch", "D = 4", "D = 3"});
  GaussianStats one = a;
  one.count = 1;
  expect_error_containing([&] { metrics::frechet_distance(one, a); }, {"1 samples", "at least 2"});
  GaussianStats nan = a;
  nan.cov[5] = std::nan("");
  expect_error_containing([&] { metrics::frechet_distance(a, nan); }, {"non-finite"});
  GaussianStats ragged = a;
  ragged.cov.pop_back();
  expect_error_containing([&] { metrics::frechet_distance(ragged, a); }, {"covariance of 15", "expected 4x4"});
  expect_error_containing([&] { metrics::frechet_distance(GaussianStats{}, a); }, {"empty"});
}

TEST(Fid, SaysWhichEigensolverItUses) {
#if defined(NN_WITH_LAPACK)
  EXPECT_EQ(metrics::eigensolver_name(Device::CPU), "LAPACK dsyevd (CPU)");
#else
  // Without LAPACK the CPU request goes to cuSOLVER on a GPU, or fails saying what to install.
  const std::string msg = error_message([] { metrics::eigensolver_name(Device::CPU); });
  if (!msg.empty()) {
    EXPECT_NE(msg.find("liblapack-dev"), std::string::npos) << msg;
  }
#endif
  if (!cuda_available()) {
    EXPECT_NE(error_message([] { metrics::eigensolver_name(Device::CUDA); }), "");
  } else {
    EXPECT_EQ(metrics::eigensolver_name(Device::CUDA), "cuSOLVER cusolverDnDsyevd (CUDA)");
  }
}

// ================================================================== statistics files

TEST(FidStatsFile, RoundTripsStatisticsAndProtocol) {
  TempDir dir;
  const std::string path = dir / "train_stats.safetensors";
  const GaussianStats s = stats_of(correlated_features(64, 5, 8, 2.0));
  const std::map<std::string, std::string> protocol = {
      {"split", "train"}, {"size", "50000"}, {"weights_sha256", "6726825d"}, {"resize", "bilinear 299"}};
  metrics::save_gaussian_stats(path, s, protocol);
  std::map<std::string, std::string> got_protocol;
  const GaussianStats got = metrics::load_gaussian_stats(path, &got_protocol);
  EXPECT_EQ(got.count, s.count);
  EXPECT_EQ(got.mean, s.mean);  // float64 on disk: bit for bit
  EXPECT_EQ(got.cov, s.cov);
  EXPECT_EQ(got_protocol, protocol);
  EXPECT_NO_THROW(metrics::load_gaussian_stats(path));  // the protocol is optional to read back

  // What is on disk is what the header says: mu (D) and sigma (D, D) float64, count in the metadata.
  const io::SafetensorsFile raw = io::load_safetensors(path);
  EXPECT_EQ(raw.get("mu").shape(), (Shape{5}));
  EXPECT_EQ(raw.get("sigma").shape(), (Shape{5, 5}));
  EXPECT_EQ(raw.get("sigma").dtype(), DType::F64);
  EXPECT_EQ(raw.metadata.at("count"), "64");

  expect_error_containing([&] { metrics::save_gaussian_stats(path, s, {{"count", "3"}}); }, {"\"count\""});
}

TEST(FidStatsFile, RejectsCorruptFiles) {
  TempDir dir;
  const GaussianStats s = stats_of(correlated_features(32, 3, 9, 0.0));
  const Tensor mu = Tensor::from_vector({3}, s.mean, DType::F64);
  const Tensor sigma = Tensor::from_vector({3, 3}, s.cov, DType::F64);
  const std::map<std::string, std::string> count = {{"count", "32"}};
  auto write = [&](const std::string& name, const std::vector<std::pair<std::string, Tensor>>& tensors,
                   const std::map<std::string, std::string>& metadata) {
    const std::string path = dir / name;
    io::save_safetensors(path, tensors, metadata);
    return path;
  };
  auto expect_corrupt = [](const std::string& path, const std::string& reason) {
    expect_error_containing([&] { metrics::load_gaussian_stats(path); }, {path, "corrupt", reason});
  };

  expect_error_containing([&] { metrics::load_gaussian_stats(dir / "missing.safetensors"); },
                          {"cannot load FID statistics", "not found"});
  const std::string good = write("good.safetensors", {{"mu", mu}, {"sigma", sigma}}, count);
  std::filesystem::resize_file(good, std::filesystem::file_size(good) - 8);
  expect_error_containing([&] { metrics::load_gaussian_stats(good); }, {"cannot load FID statistics", "truncated"});

  expect_corrupt(write("no_sigma.safetensors", {{"mu", mu}}, count), "no \"mu\" and \"sigma\"");
  expect_corrupt(write("f32.safetensors", {{"mu", mu.to(DType::F32)}, {"sigma", sigma}}, count), "float64");
  expect_corrupt(write("shape.safetensors", {{"mu", mu}, {"sigma", Tensor::zeros({3, 2}, DType::F64)}}, count),
                 "\"sigma\" has shape (3,2)");
  expect_corrupt(write("mu2d.safetensors", {{"mu", sigma}, {"sigma", sigma}}, count), "\"mu\" has shape (3,3)");
  expect_corrupt(write("nocount.safetensors", {{"mu", mu}, {"sigma", sigma}}, {}), "no \"count\"");
  expect_corrupt(write("badcount.safetensors", {{"mu", mu}, {"sigma", sigma}}, {{"count", "32x"}}), "\"32x\"");
  expect_corrupt(write("onecount.safetensors", {{"mu", mu}, {"sigma", sigma}}, {{"count", "1"}}), "at least 2");
  Tensor nan_sigma = sigma.clone();
  nan_sigma.data<double>()[4] = std::nan("");
  expect_corrupt(write("nan.safetensors", {{"mu", mu}, {"sigma", nan_sigma}}, count), "non-finite");
}

// ================================================================== Inception Score

// The score straight from the definition, with the probabilities materialised: an independent
// spelling of the formula for the tests below.
metrics::InceptionScore reference_inception_score(const std::vector<double>& logits, int64_t N, int64_t K,
                                                  int splits) {
  std::vector<double> p(logits.size());
  for (int64_t n = 0; n < N; ++n) {
    double total = 0;
    for (int64_t y = 0; y < K; ++y) total += std::exp(logits[n * K + y]);
    for (int64_t y = 0; y < K; ++y) p[n * K + y] = std::exp(logits[n * K + y]) / total;
  }
  metrics::InceptionScore out;
  out.splits = splits;
  for (int k = 0; k < splits; ++k) {
    const int64_t begin = k * N / splits, end = (k + 1) * N / splits;
    std::vector<double> q(K, 0.0);
    for (int64_t n = begin; n < end; ++n)
      for (int64_t y = 0; y < K; ++y) q[y] += p[n * K + y] / static_cast<double>(end - begin);
    double kl = 0;
    for (int64_t n = begin; n < end; ++n)
      for (int64_t y = 0; y < K; ++y) kl += p[n * K + y] * std::log(p[n * K + y] / q[y]);
    out.split_scores.push_back(std::exp(kl / static_cast<double>(end - begin)));
  }
  for (double s : out.split_scores) out.mean += s / splits;
  for (double s : out.split_scores) out.std += (s - out.mean) * (s - out.mean) / splits;
  out.std = std::sqrt(out.std);
  return out;
}

TEST(InceptionScore, UniformPredictionsScoreOne) {
  const metrics::InceptionScore is = metrics::inception_score(Tensor::full({100, 7}, 3.5, DType::F32));
  EXPECT_EQ(is.splits, 10);
  EXPECT_NEAR(is.mean, 1.0, 1e-14);
  EXPECT_NEAR(is.std, 0.0, 1e-14);
}

// Sample n is confident in class n mod K: logit L there, 0 elsewhere, so p = a on its class and
// b = (1 - a)/(K - 1) on the others, a = e^L / (e^L + K - 1). Every part of N/S = m K samples holds
// each class m times, so p_k(y) = 1/K and IS = exp(a log(a K) + (K - 1) b log(b K)) in every part.
TEST(InceptionScore, ConfidentBalancedClassesScoreAboutK) {
  const int64_t K = 10, splits = 10, N = splits * K * 3;
  for (double L : {2.0, 8.0, 30.0}) {
    std::vector<double> logits(N * K, 0.0);
    for (int64_t n = 0; n < N; ++n) logits[n * K + n % K] = L;
    const double log_norm = std::log(std::exp(L) + static_cast<double>(K - 1));
    const double log_a = L - log_norm, log_b = -log_norm;
    const double kl = std::exp(log_a) * (log_a + std::log(double(K))) +
                      double(K - 1) * std::exp(log_b) * (log_b + std::log(double(K)));
    const double want = std::exp(kl);
    const metrics::InceptionScore is =
        metrics::inception_score(Tensor::from_vector({N, K}, logits, DType::F64), splits, 0, /*shuffle=*/false);
    EXPECT_LT(relative_difference(is.mean, want), 1e-12) << "L = " << L << ": " << is.mean << " vs " << want;
    // Every part holds the same rows in the same order: the same bits in every part, and a std
    // of 0 but for the rounding of the mean (sum / S).
    for (double s : is.split_scores) EXPECT_EQ(s, is.split_scores[0]);
    EXPECT_LT(is.std, 1e-15 * is.mean);
    if (L == 30.0) {
      EXPECT_NEAR(is.mean, double(K), 1e-9);
    }
  }
}

// Half the samples predict p1, half p2, alternating: each part's marginal is m = (p1 + p2)/2 and
// IS = exp((KL(p1||m) + KL(p2||m)) / 2) = exp(JS(p1, p2)), the Jensen-Shannon divergence.
TEST(InceptionScore, TwoDistributionMixtureScoresExpJensenShannon) {
  const std::vector<double> p1 = {0.7, 0.2, 0.1}, p2 = {0.1, 0.3, 0.6};
  const int64_t N = 200, K = 3;
  std::vector<double> logits(N * K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < K; ++y) logits[n * K + y] = std::log(n % 2 == 0 ? p1[y] : p2[y]) + 1.5;
  double js = 0;
  for (int64_t y = 0; y < K; ++y) {
    const double m = 0.5 * (p1[y] + p2[y]);
    js += 0.5 * p1[y] * std::log(p1[y] / m) + 0.5 * p2[y] * std::log(p2[y] / m);
  }
  const metrics::InceptionScore is =
      metrics::inception_score(Tensor::from_vector({N, K}, logits, DType::F64), 10, 0, /*shuffle=*/false);
  EXPECT_LT(relative_difference(is.mean, std::exp(js)), 1e-12) << is.mean << " vs " << std::exp(js);
  EXPECT_NEAR(is.std, 0.0, 1e-14);
}

// Two parts with different scores: part 0 uniform (IS 1), part 1 confident and balanced (IS v).
// numpy's std (ddof = 0) is |v - 1| / 2; with ddof = 1 it would be |v - 1| / sqrt 2.
TEST(InceptionScore, StdIsThePopulationStdOverSplits) {
  const int64_t K = 4, half = 40, N = 2 * half;
  std::vector<double> logits(N * K, 0.0);
  for (int64_t n = half; n < N; ++n) logits[n * K + n % K] = 50.0;
  const metrics::InceptionScore is =
      metrics::inception_score(Tensor::from_vector({N, K}, logits, DType::F64), 2, 0, /*shuffle=*/false);
  ASSERT_EQ(is.split_scores.size(), 2u);
  EXPECT_NEAR(is.split_scores[0], 1.0, 1e-14);
  EXPECT_NEAR(is.split_scores[1], double(K), 1e-12);
  EXPECT_NEAR(is.mean, (1.0 + K) / 2.0, 1e-12);
  EXPECT_NEAR(is.std, (K - 1.0) / 2.0, 1e-12);
}

// Random logits, N not a multiple of the splits: the parts' boundaries (k N / S) and the sums
// agree with the definition spelled out in the test.
TEST(InceptionScore, MatchesTheDefinitionOnRandomLogits) {
  const int64_t N = 103, K = 9;
  const Tensor logits = rand_tensor({N, K}, 77, -4.0, 4.0);
  for (int splits : {1, 4, 10}) {
    const metrics::InceptionScore want = reference_inception_score(logits.to_vector(), N, K, splits);
    const metrics::InceptionScore got = metrics::inception_score(logits, splits, 0, /*shuffle=*/false);
    expect_close(got.split_scores, want.split_scores, 0, 1e-12, "split scores, " + std::to_string(splits) + " splits");
    EXPECT_LT(relative_difference(got.mean, want.mean), 1e-12);
    EXPECT_NEAR(got.std, want.std, 1e-12);
  }
  // float32 logits are read exactly (the score is computed in double either way).
  const Tensor logits32 = logits.to(DType::F32);
  const metrics::InceptionScore from32 = metrics::inception_score(logits32, 10, 3);
  const metrics::InceptionScore from64 = metrics::inception_score(logits32.to(DType::F64), 10, 3);
  EXPECT_EQ(from32.mean, from64.mean);
  EXPECT_EQ(from32.std, from64.std);
}

// The shuffle is a seeded permutation, and the shuffled score is exactly the unshuffled score of
// the logits taken in that order.
TEST(InceptionScore, ShuffleIsASeededPermutation) {
  const int64_t N = 57, K = 5;
  const std::vector<int64_t> order = metrics::inception_score_order(N, 42);
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), size_t(N));
  EXPECT_EQ(*std::min_element(order.begin(), order.end()), 0);
  EXPECT_EQ(*std::max_element(order.begin(), order.end()), N - 1);
  EXPECT_EQ(metrics::inception_score_order(N, 42), order);
  EXPECT_NE(metrics::inception_score_order(N, 43), order);

  const Tensor logits = rand_tensor({N, K}, 5, -3.0, 3.0);
  const std::vector<double> values = logits.to_vector();
  std::vector<double> permuted(values.size());
  for (int64_t i = 0; i < N; ++i)
    for (int64_t y = 0; y < K; ++y) permuted[i * K + y] = values[order[i] * K + y];
  const metrics::InceptionScore shuffled = metrics::inception_score(logits, 5, 42);
  const metrics::InceptionScore by_hand =
      metrics::inception_score(Tensor::from_vector({N, K}, permuted, DType::F64), 5, 0, /*shuffle=*/false);
  EXPECT_EQ(shuffled.split_scores, by_hand.split_scores);
  EXPECT_EQ(shuffled.mean, by_hand.mean);

  // Every permutation of 4 items about equally often over 2400 seeds (100 expected each;
  // the bounds are 4.5 standard deviations).
  std::map<std::vector<int64_t>, int> seen;
  for (uint64_t seed = 0; seed < 2400; ++seed) ++seen[metrics::inception_score_order(4, seed)];
  EXPECT_EQ(seen.size(), 24u);
  for (const auto& [perm, times] : seen) {
    EXPECT_GT(times, 55);
    EXPECT_LT(times, 145);
  }
}

TEST(InceptionScore, RejectsBadInput) {
  expect_error_containing([] { metrics::inception_score(Tensor::zeros({10}, DType::F32)); }, {"(N, K)"});
  expect_error_containing([] { metrics::inception_score(Tensor::zeros({5, 3}, DType::F32)); },
                          {"10 splits of 5 samples"});
  expect_error_containing([] { metrics::inception_score(Tensor::zeros({5, 3}, DType::F32), 0); }, {"0 splits"});
  expect_error_containing([] { metrics::inception_score(Tensor::zeros({20, 3}, DType::I32)); }, {"float32 or float64"});
  Tensor nan = Tensor::zeros({20, 3}, DType::F64);
  nan.data<double>()[3 * 7 + 2] = std::nan("");
  expect_error_containing([&] { metrics::inception_score(nan); }, {"non-finite", "sample 7", "class 2"});
}

// ================================================================== CUDA

TEST(FidStatistics, CudaMatchesCpu) {
  NN_SKIP_WITHOUT_CUDA();
  const Tensor x = correlated_features(1000, 64, 31, 3.0, DType::F32);
  const Tensor x_gpu = x.to(Device::CUDA);
  FeatureStatistics cpu(64), gpu(64);
  for (int64_t begin = 0; begin < 1000; begin += 300) {  // 300, 300, 300, 100: the scratch is reused
    const int64_t end = std::min<int64_t>(1000, begin + 300);
    cpu.add(rows_of(x, begin, end));
    gpu.add(rows_of(x_gpu, begin, end));
  }
  const GaussianStats want = cpu.finish(), got = gpu.finish();
  EXPECT_EQ(got.count, 1000);
  expect_close(got.mean, want.mean, 1e-11, 1e-12, "mean");
  expect_close(got.cov, want.cov, 1e-10, 1e-10, "covariance");
  expect_error_containing([&] { gpu.add(x); }, {"the sums are on cuda"});

  Tensor bad = x.clone();
  bad.data<float>()[17] = std::numeric_limits<float>::quiet_NaN();
  FeatureStatistics with_nan(64);
  with_nan.add(bad.to(Device::CUDA));
  expect_error_containing([&] { with_nan.finish(); }, {"non-finite"});
}

TEST(Fid, CusolverMatchesLapackAndPytorchFid) {
  NN_SKIP_WITHOUT_CUDA();
  const io::SafetensorsFile golden = io::load_safetensors(kFidGolden);
  const GaussianStats a = stats_of(golden.get("features_a")), b = stats_of(golden.get("features_b"));
  const double want = golden.get("fid").item();
  EXPECT_LT(relative_difference(metrics::frechet_distance(a, b, Device::CUDA), want), 1e-9);
  EXPECT_NEAR(metrics::frechet_distance(a, a, Device::CUDA), 0.0, 1e-9);

  const GaussianStats c = stats_of(correlated_features(600, 64, 41, 0.0));
  const GaussianStats d = stats_of(correlated_features(500, 64, 42, 0.5));
  const double on_gpu = metrics::frechet_distance(c, d, Device::CUDA);
#if defined(NN_WITH_LAPACK)
  const double on_cpu = metrics::frechet_distance(c, d, Device::CPU);
  EXPECT_LT(relative_difference(on_gpu, on_cpu), 1e-9) << on_gpu << " vs " << on_cpu;
#else
  EXPECT_TRUE(std::isfinite(on_gpu));
#endif
}

TEST(InceptionScore, CudaLogitsGiveTheSameScore) {
  NN_SKIP_WITHOUT_CUDA();
  const Tensor logits = rand_tensor({200, 10}, 13, -5.0, 5.0, DType::F32);
  const metrics::InceptionScore cpu = metrics::inception_score(logits, 10, 7);
  const metrics::InceptionScore gpu = metrics::inception_score(logits.to(Device::CUDA), 10, 7);
  EXPECT_EQ(gpu.split_scores, cpu.split_scores);  // the same float32 values, read back: same bits
}

}  // namespace
}  // namespace nn::test
