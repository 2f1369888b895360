// fid.h — the Fréchet Inception Distance's math: feature statistics, the distance between two
// Gaussians, and the statistics files (issue #6). The Inception network that makes the features is
// elsewhere (src/metrics/inception.h); here features are just an (N, D) matrix.
//
// Statistics (FeatureStatistics), in float64 whatever the features' dtype:
//   mu    = (1/N) sum_n x_n
//   Sigma = (1/(N-1)) sum_n (x_n - mu)(x_n - mu)^T          unbiased, as np.cov(rowvar=False),
//                                                            which pytorch-fid uses
// accumulated batch by batch around a fixed shift s (the first batch's mean), which keeps the
// sums small where the features' mean is large compared with their spread (the textbook
// one-pass sum x x^T - N mu mu^T cancels catastrophically there):
//   S1 = sum_n (x_n - s),   S2 = sum_n (x_n - s)(x_n - s)^T
//   mu = s + S1/N,          Sigma = (S2 - S1 S1^T / N) / (N - 1)
// On the CPU S2 is a plain loop (OpenMP over its rows, each row summed in sample order by one
// thread, so the result does not depend on the thread count); on CUDA the features are converted
// to float64 on the device (fid_kernels.cu) and S2 is one cuBLAS DSYRK per batch, S1 one DGEMV.
//
// The distance between N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982; Heusel et al. 2017):
//   FID = |mu1 - mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2)
// pytorch-fid takes scipy.linalg.sqrtm of the non-symmetric S1 S2. Here, with R = sqrt(S1) from a
// symmetric eigendecomposition S1 = V diag(l) V^T, R = V diag(r) V^T, r = sqrt(max(l, 0))
// (eigenvalues below zero are rounding errors of a PSD matrix: clipped to 0):
//   Tr sqrt(S1 S2) = sum_i sqrt(max(lambda_i, 0)),  lambda_i the eigenvalues of R S2 R,
// because S1 S2 = R (R S2) has the eigenvalues of (R S2) R, which is symmetric and PSD. And
// R S2 R = V M V^T with M = diag(r) (V^T S2 V) diag(r), an orthogonal similarity, so the lambda_i
// are M's eigenvalues: two symmetric eigendecompositions and two matrix products, instead of a
// general matrix square root in complex arithmetic.
// The eigendecompositions are LAPACK's dsyevd on the CPU or cuSOLVER's cusolverDnDsyevd on the
// device (eigensolver_name() says which one a call will use).
//
// Statistics files are safetensors (src/io/safetensors.h): "mu" (D) and "sigma" (D, D) float64,
// the names pytorch-fid uses in its .npz files, and in the metadata "count" (N) and the caller's
// protocol strings (which split, how many images, the Inception weights' hash, the resize...),
// so that a reference file says how it was made and a mismatch can be caught before comparing.
//
// Errors (nn::Error, one line): features that are not (N, D) floats, dimension mismatches, fewer
// than 2 samples, non-finite values, corrupt statistics files, no eigensolver in this build.
// Tests: tests/test_metrics.cpp (FidStatistics.*, Fid.*, FidStatsFile.*), against pytorch-fid's
// formula in float64 NumPy/SciPy (tools/make_fid_fixtures.py -> tests/golden/fid_features.safetensors).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace nn::metrics {

// A Gaussian fitted to N feature vectors of dimension D.
struct GaussianStats {
  int64_t count = 0;         // N
  std::vector<double> mean;  // (D)
  std::vector<double> cov;   // (D, D) row-major, symmetric
  int64_t dim() const { return static_cast<int64_t>(mean.size()); }
};

// Running mean and covariance of feature batches (formulas above). The sums live where the first
// non-empty batch was (CPU or CUDA); later batches must come from the same device.
class FeatureStatistics {
 public:
  explicit FeatureStatistics(int64_t dim);
  ~FeatureStatistics();
  FeatureStatistics(FeatureStatistics&&) noexcept;
  FeatureStatistics& operator=(FeatureStatistics&&) noexcept;
  FeatureStatistics(const FeatureStatistics&) = delete;
  FeatureStatistics& operator=(const FeatureStatistics&) = delete;

  // features: (B, D) float32 or float64 on the CPU, or float32 on CUDA. B = 0 is allowed (no-op).
  // On the CPU a non-finite value is reported here; on CUDA when the sums are read back.
  void add(const Tensor& features);

  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  std::vector<double> mean() const;        // needs count() >= 1
  std::vector<double> covariance() const;  // (D, D) row-major; needs count() >= 2
  GaussianStats finish() const;            // both, and the count; needs count() >= 2

 private:
  struct DeviceSums;  // the CUDA buffers (fid.cpp)
  void add_cpu(const Tensor& features);
  void add_cuda(const Tensor& features);
  // The shift s, S1 and the upper triangle of S2 on the host (read back from the device if there).
  void host_sums(std::vector<double>& shift, std::vector<double>& sum, std::vector<double>& cross) const;

  int64_t dim_;
  int64_t count_ = 0;
  Device device_ = Device::CPU;  // where the sums live, once count_ > 0
  // CPU sums: s (D), S1 (D), S2 (D, D) row-major with only the upper triangle (j >= i) kept.
  std::vector<double> shift_, sum_, cross_;
  std::unique_ptr<DeviceSums> device_sums_;
};

// The Fréchet distance between two Gaussians (formula above), computed in float64. `device`
// picks the eigensolver: Device::CPU uses LAPACK when the build has it and falls back to
// cuSOLVER on a GPU when it has not; Device::CUDA uses cuSOLVER.
double frechet_distance(const GaussianStats& a, const GaussianStats& b, Device device = Device::CPU);
// "LAPACK dsyevd (CPU)" or "cuSOLVER cusolverDnDsyevd (CUDA)": what frechet_distance(.., device)
// will use. Throws, saying what to install, when neither is available.
std::string eigensolver_name(Device device = Device::CPU);

// Writes `stats` as a safetensors file (atomically). `protocol` goes into the metadata next to
// "count" (a protocol key may not be "count").
void save_gaussian_stats(const std::string& path, const GaussianStats& stats,
                         const std::map<std::string, std::string>& protocol = {});
// Reads a file written by save_gaussian_stats, checking names, dtypes, shapes, the count and that
// every value is finite. The protocol strings (the metadata without "count") go to *protocol.
GaussianStats load_gaussian_stats(const std::string& path, std::map<std::string, std::string>* protocol = nullptr);

}  // namespace nn::metrics
