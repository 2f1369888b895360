// fid.cpp — feature statistics, the Fréchet distance and statistics files. The formulas, and why
// they are computed this way, are in fid.h; tests in tests/test_metrics.cpp.
#include "metrics/fid.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <exception>
#include <mutex>
#include <string>

#include "io/safetensors.h"
#include "nn/backend.h"
#include "ops/cpu_gemm.h"

#if defined(NN_WITH_CUDA)
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda/context.h"
#endif
#if defined(NN_WITH_CUSOLVER)
#include <cusolverDn.h>
#endif

#if defined(NN_WITH_LAPACK)
// LAPACK's symmetric eigensolver (divide and conquer), declared here so that no LAPACKE is needed.
// The Fortran convention: every argument by pointer, column-major matrices, and the lengths of the
// CHARACTER arguments appended as hidden trailing arguments (size_t with gfortran >= 8; passing
// them is harmless for libraries that do not read them).
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len,
                        size_t uplo_len);
#endif

namespace nn::metrics {

#if defined(NN_WITH_CUDA)
// fid_kernels.cu: y[r*D + j] = double(x[r*D + j]) - shift[j] (shift may be null: 0).
void center_to_double_cuda(const float* x, const double* shift, int64_t rows, int64_t dim, double* y,
                           cudaStream_t s);
#endif

namespace {

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

// Sizes handed to LAPACK, cuBLAS and cuSOLVER are 32-bit ints. (Unused, like sum_sqrt_clipped, in a
// build with neither LAPACK nor CUDA.)
[[maybe_unused]] int checked_int(int64_t n, const char* what) {
  NN_CHECK(n >= 0 && n <= INT_MAX, "FID: ", what, " ", n, " is too large for a 32-bit BLAS/LAPACK size");
  return static_cast<int>(n);
}

// S2[i][j] += sum_r y[r][i] y[r][j] for j >= i: the upper triangle of Y^T Y, Y = (rows, D)
// row-major (the lower one is its mirror, filled in by finish()). Rows of Y are taken
// kRowBlock at a time so that the block stays in cache while every row i of S2 passes over it.
// Row i of S2 belongs to one thread, and r runs in order within and across blocks, so each
// element is summed in sample order whatever the thread count (bit-reproducible, as cpu_gemm.h).
void accumulate_upper_cross(const double* y, int64_t rows, int64_t D, double* cross) {
  constexpr int64_t kRowBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = std::min(rows, r0 + kRowBlock);
    // dynamic: row i has D - i elements, so equal slices of i would give unequal work.
#pragma omp parallel for schedule(dynamic, 8) if ((r1 - r0) * D * D >= (int64_t{1} << 17))
    for (int64_t i = 0; i < D; ++i) {
      double* c_row = cross + i * D;
      for (int64_t r = r0; r < r1; ++r) {
        const double a = y[r * D + i];
        const double* y_row = y + r * D;
        for (int64_t j = i; j < D; ++j) c_row[j] += a * y_row[j];  // contiguous: vectorises
      }
    }
  }
}

// ------------------------------------------------------------------ eigensolvers

enum class Eigensolver { Lapack, Cusolver };

bool cusolver_usable() {
#if defined(NN_WITH_CUSOLVER)
  return cuda_available();
#else
  return false;
#endif
}

// Device::CPU: LAPACK when the build has it, else cuSOLVER on a GPU (the GPU machine may have no
// LAPACK). Device::CUDA: cuSOLVER.
Eigensolver pick_eigensolver(Device device) {
#if defined(NN_WITH_LAPACK)
  if (device == Device::CPU) return Eigensolver::Lapack;
#endif
  if (cusolver_usable()) return Eigensolver::Cusolver;
  NN_CHECK(device != Device::CPU,
           "the FID needs a symmetric eigensolver: this build has no LAPACK (install liblapack-dev, e.g. with "
           "tools/setup.sh, and rebuild) and no CUDA GPU with cuSOLVER");
  NN_CHECK(cuda_built(), "the FID on CUDA needs a CUDA build of the engine (with cuSOLVER)");
#if defined(NN_WITH_CUSOLVER)
  throw_error(str_cat("the FID on CUDA needs a GPU: ", cuda_device_description()));
#else
  throw_error("the FID on CUDA needs cuSOLVER, which this CUDA build did not find in the toolkit");
#endif
}

[[maybe_unused]] double sum_sqrt_clipped(const std::vector<double>& eigenvalues) {
  double total = 0;
  for (double l : eigenvalues) total += std::sqrt(std::max(l, 0.0));  // l < 0: rounding of a PSD matrix
  return total;
}

#if defined(NN_WITH_LAPACK)
// Eigenvalues (ascending) of the symmetric D x D matrix `a`; with `vectors`, `a` is overwritten by
// the eigenvectors, column-major: eigenvector k is a[k*D .. k*D + D).
std::vector<double> lapack_dsyevd(std::vector<double>& a, int64_t D, bool vectors) {
  const int n = checked_int(D, "dimension");
  const char jobz = vectors ? 'V' : 'N', uplo = 'L';
  std::vector<double> w(static_cast<size_t>(D));
  int info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0;
  dsyevd_(&jobz, &uplo, &n, a.data(), &n, w.data(), &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  NN_CHECK(info == 0, "LAPACK dsyevd: the workspace query failed (info ", info, ")");
  lwork = std::max(1, static_cast<int>(std::ceil(work_size)));
  liwork = std::max(1, iwork_size);
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(liwork));
  dsyevd_(&jobz, &uplo, &n, a.data(), &n, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  NN_CHECK(info == 0, "LAPACK dsyevd failed on a ", D, "x", D, " matrix (info ", info,
           info > 0 ? ": the algorithm did not converge)" : ": an illegal argument)");
  return w;
}

// Tr sqrt(S1 S2) on the CPU (fid.h): S1 = V diag(l) V^T, then the eigenvalues of
// M = diag(r) V^T S2 V diag(r), r = sqrt(max(l, 0)).
double trace_sqrt_product_lapack(const std::vector<double>& s1, const std::vector<double>& s2, int64_t D) {
  // S1 is symmetric, so its row-major array is the same matrix in LAPACK's column-major order.
  std::vector<double> v = s1;
  const std::vector<double> l = lapack_dsyevd(v, D, /*vectors=*/true);
  // Read row-major, v is now Vr = V^T: row k is eigenvector k. V^T S2 V = Vr S2 Vr^T.
  std::vector<double> vs(static_cast<size_t>(D * D), 0.0), m(static_cast<size_t>(D * D), 0.0);
  gemm_nn_cpu<double>(D, D, D, v.data(), s2.data(), vs.data());  // Vr S2
  gemm_nt_cpu<double>(D, D, D, vs.data(), v.data(), m.data());   // (Vr S2) Vr^T
  std::vector<double> r(static_cast<size_t>(D));
  for (int64_t k = 0; k < D; ++k) r[static_cast<size_t>(k)] = std::sqrt(std::max(l[static_cast<size_t>(k)], 0.0));
  // M_ij = r_i r_j (B_ij + B_ji) / 2: B = V^T S2 V is symmetric only up to rounding, and its
  // symmetric part is what the eigensolver should see (rather than whichever triangle it reads).
  for (int64_t i = 0; i < D; ++i) {
    for (int64_t j = i; j < D; ++j) {
      const size_t ij = static_cast<size_t>(i * D + j), ji = static_cast<size_t>(j * D + i);
      const double value = r[static_cast<size_t>(i)] * r[static_cast<size_t>(j)] * (0.5 * (m[ij] + m[ji]));
      m[ij] = m[ji] = value;
    }
  }
  return sum_sqrt_clipped(lapack_dsyevd(m, D, /*vectors=*/false));
}
#endif

#if defined(NN_WITH_CUDA)
// A device buffer of `n` doubles, freed (stream-ordered) with the unique_ptr.
std::unique_ptr<Storage> device_doubles(int64_t n) {
  return std::make_unique<Storage>(static_cast<size_t>(n) * sizeof(double), Device::CUDA);
}
double* doubles(const std::unique_ptr<Storage>& s) { return static_cast<double*>(s->data); }
#endif

#if defined(NN_WITH_CUSOLVER)
const char* cusolver_status_name(cusolverStatus_t st) {
  switch (st) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED (out of device memory)";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default: return "cusolverStatus_t";
  }
}

#define NN_CUSOLVER_CHECK(call)                                                                             \
  do {                                                                                                      \
    cusolverStatus_t nn_st_ = (call);                                                                       \
    if (nn_st_ != CUSOLVER_STATUS_SUCCESS)                                                                  \
      ::nn::throw_error(::nn::str_cat("cuSOLVER error ", cusolver_status_name(nn_st_), " (", int(nn_st_), \
                                      ") in ", #call, " at ", __FILE__, ":", __LINE__,                     \
                                      ::nn::current_op_context()));                                        \
  } while (0)

// One cuSOLVER handle for the process, on the engine's stream, created on first use (as
// cuda::cublas() is; kept to the end of the process like the other handles).
cusolverDnHandle_t cusolver_handle() {
  static cusolverDnHandle_t handle = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    cudaStream_t s = cuda::stream();
    NN_CUSOLVER_CHECK(cusolverDnCreate(&handle));
    NN_CUSOLVER_CHECK(cusolverDnSetStream(handle, s));
  });
  return handle;
}

// Eigenvalues (ascending, on the host) of the symmetric n x n device matrix `a`; with `vectors`,
// `a` is overwritten by the eigenvectors (column k = eigenvector k, column-major).
std::vector<double> cusolver_dsyevd(double* a, int n, bool vectors) {
  cusolverDnHandle_t h = cusolver_handle();
  const cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  auto w = device_doubles(n);
  int lwork = 0;
  NN_CUSOLVER_CHECK(cusolverDnDsyevd_bufferSize(h, jobz, CUBLAS_FILL_MODE_LOWER, n, a, n, doubles(w), &lwork));
  auto work = device_doubles(std::max(lwork, 1));
  Storage info(sizeof(int), Device::CUDA);
  NN_CUSOLVER_CHECK(cusolverDnDsyevd(h, jobz, CUBLAS_FILL_MODE_LOWER, n, a, n, doubles(w), doubles(work), lwork,
                                     static_cast<int*>(info.data)));
  int info_host = 0;
  cuda::copy_to_host(&info_host, info.data, sizeof(int));  // waits for the solver
  NN_CHECK(info_host == 0, "cuSOLVER cusolverDnDsyevd failed on a ", n, "x", n, " matrix (info ", info_host,
           info_host > 0 ? ": the algorithm did not converge)" : ": an illegal argument)");
  std::vector<double> eigenvalues(static_cast<size_t>(n));
  cuda::copy_to_host(eigenvalues.data(), w->data, eigenvalues.size() * sizeof(double));
  return eigenvalues;
}

// Tr sqrt(S1 S2) on the device, the same steps as trace_sqrt_product_lapack. cuBLAS is
// column-major; S1 and S2 are symmetric, so their row-major arrays are the same matrices, and the
// products are written in column-major terms (V's columns are the eigenvectors).
double trace_sqrt_product_cusolver(const std::vector<double>& s1, const std::vector<double>& s2, int64_t D) {
  const int n = checked_int(D, "dimension");
  const size_t bytes = static_cast<size_t>(D * D) * sizeof(double);
  auto v = device_doubles(D * D), b = device_doubles(D * D), tmp = device_doubles(D * D), roots = device_doubles(D);
  cuda::copy_to_device(v->data, s1.data(), bytes);
  cuda::copy_to_device(b->data, s2.data(), bytes);

  const std::vector<double> l = cusolver_dsyevd(doubles(v), n, /*vectors=*/true);  // v <- V
  std::vector<double> root_host(l.size());
  for (size_t k = 0; k < l.size(); ++k) root_host[k] = std::sqrt(std::max(l[k], 0.0));
  cuda::copy_to_device(roots->data, root_host.data(), root_host.size() * sizeof(double));

  cublasHandle_t h = cuda::cublas();
  NN_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));  // alpha and beta below are host values
  const double one = 1.0, zero = 0.0, half = 0.5;
  // tmp = S2 V, then b = V^T tmp = V^T S2 V
  NN_CUBLAS_CHECK(cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, doubles(b), n, doubles(v), n, &zero,
                              doubles(tmp), n));
  NN_CUBLAS_CHECK(cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, doubles(v), n, doubles(tmp), n, &zero,
                              doubles(b), n));
  // tmp = (b + b^T) / 2, the symmetric part, as on the CPU (geam cannot transpose in place)
  NN_CUBLAS_CHECK(cublasDgeam(h, CUBLAS_OP_N, CUBLAS_OP_T, n, n, &half, doubles(b), n, &half, doubles(b), n,
                              doubles(tmp), n));
  // M = diag(r) tmp diag(r), through b (out of place both times)
  NN_CUBLAS_CHECK(cublasDdgmm(h, CUBLAS_SIDE_LEFT, n, n, doubles(tmp), n, doubles(roots), 1, doubles(b), n));
  NN_CUBLAS_CHECK(cublasDdgmm(h, CUBLAS_SIDE_RIGHT, n, n, doubles(b), n, doubles(roots), 1, doubles(tmp), n));
  return sum_sqrt_clipped(cusolver_dsyevd(doubles(tmp), n, /*vectors=*/false));
}
#endif

void check_stats(const GaussianStats& s, const char* which) {
  const int64_t D = s.dim();
  NN_CHECK(D >= 1, "frechet_distance: statistics ", which, " are empty");
  NN_CHECK(static_cast<int64_t>(s.cov.size()) == D * D, "frechet_distance: statistics ", which, " have a mean of ",
           D, " values but a covariance of ", s.cov.size(), " (expected ", D, "x", D, ")");
  NN_CHECK(s.count >= 2, "frechet_distance: statistics ", which, " come from ", s.count,
           " samples; a covariance needs at least 2");
  NN_CHECK(all_finite(s.mean) && all_finite(s.cov), "frechet_distance: statistics ", which,
           " hold non-finite values");
}

}  // namespace

// ================================================================== FeatureStatistics

struct FeatureStatistics::DeviceSums {
#if defined(NN_WITH_CUDA)
  std::unique_ptr<Storage> shift, sum, cross;  // s (D), S1 (D), S2 (D, D): doubles on the device
  std::unique_ptr<Storage> ones;               // (capacity) doubles, all 1: S1 += Y^T 1 is a DGEMV
  std::unique_ptr<Storage> centred;            // (capacity, D) doubles: this batch's x - s
  int64_t capacity = 0;                        // rows that `ones` and `centred` hold
#endif
};

FeatureStatistics::FeatureStatistics(int64_t dim) : dim_(dim) {
  NN_CHECK(dim >= 1, "FeatureStatistics: the feature dimension must be positive, got ", dim);
}
FeatureStatistics::~FeatureStatistics() = default;
FeatureStatistics::FeatureStatistics(FeatureStatistics&&) noexcept = default;
FeatureStatistics& FeatureStatistics::operator=(FeatureStatistics&&) noexcept = default;

void FeatureStatistics::add(const Tensor& features) {
  NN_CHECK(features.defined(), "FeatureStatistics::add: undefined tensor");
  NN_CHECK(features.dim() == 2, "FeatureStatistics::add: features must be (N, D), got ", shape_str(features.shape()));
  NN_CHECK(is_floating(features.dtype()), "FeatureStatistics::add: features must be float32 or float64, got ",
           dtype_name(features.dtype()));
  NN_CHECK(features.size(1) == dim_, "FeatureStatistics::add: dimension mismatch: features are ",
           shape_str(features.shape()), " but the statistics have D = ", dim_);
  if (features.size(0) == 0) return;
  if (count_ > 0) {
    NN_CHECK(features.device() == device_, "FeatureStatistics::add: the sums are on ", device_name(device_),
             " (where the first batch was), this batch is on ", device_name(features.device()));
  }
  if (features.device() == Device::CPU) {
    add_cpu(features);
  } else {
    add_cuda(features);
  }
  device_ = features.device();
  count_ += features.size(0);
}

void FeatureStatistics::add_cpu(const Tensor& features) {
  const int64_t rows = features.size(0), D = dim_;
  // y = x in double (checked finite), then y -= s.
  std::vector<double> y(static_cast<size_t>(rows * D));
  dispatch_float(features.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = features.data<T>();
    for (int64_t i = 0; i < rows * D; ++i) {
      const double v = static_cast<double>(x[i]);
      NN_CHECK(std::isfinite(v), "FeatureStatistics::add: non-finite feature ", v, " at row ", i / D, ", column ",
               i % D, " of this batch");
      y[static_cast<size_t>(i)] = v;
    }
  });
  if (count_ == 0) {  // the first batch's mean is the shift for good
    shift_.assign(static_cast<size_t>(D), 0.0);
    sum_.assign(static_cast<size_t>(D), 0.0);
    cross_.assign(static_cast<size_t>(D * D), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < D; ++j) shift_[static_cast<size_t>(j)] += y[static_cast<size_t>(r * D + j)];
    for (double& s : shift_) s /= static_cast<double>(rows);
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < D; ++j) {
      double& v = y[static_cast<size_t>(r * D + j)];
      v -= shift_[static_cast<size_t>(j)];
      sum_[static_cast<size_t>(j)] += v;
    }
  }
  accumulate_upper_cross(y.data(), rows, D, cross_.data());
}

void FeatureStatistics::add_cuda(const Tensor& features) {
#if defined(NN_WITH_CUDA)
  const int64_t rows = features.size(0), D = dim_;
  const int n = checked_int(D, "feature dimension"), k = checked_int(rows, "batch size");
  cudaStream_t stream = cuda::stream();
  if (!device_sums_) {
    device_sums_ = std::make_unique<DeviceSums>();
    device_sums_->shift = device_doubles(D);
    device_sums_->sum = device_doubles(D);
    device_sums_->cross = device_doubles(D * D);
    NN_CUDA_CHECK(cudaMemsetAsync(device_sums_->sum->data, 0, device_sums_->sum->bytes, stream));  // 0 bits = 0.0
    NN_CUDA_CHECK(cudaMemsetAsync(device_sums_->cross->data, 0, device_sums_->cross->bytes, stream));
  }
  DeviceSums& dev = *device_sums_;
  if (rows > dev.capacity) {
    dev.centred = device_doubles(rows * D);
    dev.ones = device_doubles(rows);
    const std::vector<double> ones(static_cast<size_t>(rows), 1.0);
    cuda::copy_to_device(dev.ones->data, ones.data(), ones.size() * sizeof(double));
    dev.capacity = rows;
  }
  // Column-major, the row-major (B, D) batch Y is the (D, B) matrix Y^T with leading dimension D:
  // S1 += Y^T 1 is a DGEMV without transpose, S2 += Y^T Y a DSYRK without transpose. DSYRK fills
  // the lower triangle of the column-major S2, which is the upper one of the row-major array, as
  // on the CPU.
  const float* x = features.data<float>();
  double* y = doubles(dev.centred);
  cublasHandle_t h = cuda::cublas();
  NN_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));  // alpha and beta below are host values
  const double one = 1.0, zero = 0.0;
  if (count_ == 0) {  // s = (1/B) Y^T 1 of the raw first batch
    const double inv_rows = 1.0 / static_cast<double>(rows);
    center_to_double_cuda(x, nullptr, rows, D, y, stream);
    NN_CUBLAS_CHECK(cublasDgemv(h, CUBLAS_OP_N, n, k, &inv_rows, y, n, doubles(dev.ones), 1, &zero,
                                doubles(dev.shift), 1));
  }
  center_to_double_cuda(x, doubles(dev.shift), rows, D, y, stream);
  NN_CUBLAS_CHECK(cublasDgemv(h, CUBLAS_OP_N, n, k, &one, y, n, doubles(dev.ones), 1, &one, doubles(dev.sum), 1));
  NN_CUBLAS_CHECK(cublasDsyrk(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, k, &one, y, n, &one, doubles(dev.cross), n));
#else
  (void)features;
  throw_error("FeatureStatistics::add: this build has no CUDA backend");
#endif
}

void FeatureStatistics::host_sums(std::vector<double>& shift, std::vector<double>& sum,
                                  std::vector<double>& cross) const {
  if (device_ == Device::CPU) {
    shift = shift_;
    sum = sum_;
    cross = cross_;
  } else {
#if defined(NN_WITH_CUDA)
    shift.resize(static_cast<size_t>(dim_));
    sum.resize(static_cast<size_t>(dim_));
    cross.resize(static_cast<size_t>(dim_ * dim_));
    cuda::copy_to_host(shift.data(), device_sums_->shift->data, shift.size() * sizeof(double));
    cuda::copy_to_host(sum.data(), device_sums_->sum->data, sum.size() * sizeof(double));
    cuda::copy_to_host(cross.data(), device_sums_->cross->data, cross.size() * sizeof(double));
#endif
  }
  // On the CPU a non-finite feature is refused in add(); on the device it shows up here, in the sums.
  NN_CHECK(all_finite(shift) && all_finite(sum) && all_finite(cross),
           "FeatureStatistics: non-finite values among the ", count_, " features added");
}

std::vector<double> FeatureStatistics::mean() const {
  NN_CHECK(count_ >= 1, "FeatureStatistics::mean: no features were added");
  std::vector<double> shift, sum, cross;
  host_sums(shift, sum, cross);
  std::vector<double> mu(static_cast<size_t>(dim_));
  for (size_t j = 0; j < mu.size(); ++j) mu[j] = shift[j] + sum[j] / static_cast<double>(count_);
  return mu;
}

std::vector<double> FeatureStatistics::covariance() const {
  return finish().cov;
}

GaussianStats FeatureStatistics::finish() const {
  NN_CHECK(count_ >= 2, "FeatureStatistics: a covariance needs at least 2 samples, got ", count_);
  std::vector<double> shift, sum, cross;
  host_sums(shift, sum, cross);
  const int64_t D = dim_;
  const double N = static_cast<double>(count_);
  GaussianStats out;
  out.count = count_;
  out.mean.resize(static_cast<size_t>(D));
  for (int64_t j = 0; j < D; ++j) out.mean[static_cast<size_t>(j)] = shift[static_cast<size_t>(j)] + sum[static_cast<size_t>(j)] / N;
  // Sigma_ij = (S2_ij - S1_i S1_j / N) / (N - 1), from the upper triangle, mirrored.
  out.cov.resize(static_cast<size_t>(D * D));
  for (int64_t i = 0; i < D; ++i) {
    for (int64_t j = i; j < D; ++j) {
      const double c = (cross[static_cast<size_t>(i * D + j)] -
                        sum[static_cast<size_t>(i)] * sum[static_cast<size_t>(j)] / N) / (N - 1.0);
      out.cov[static_cast<size_t>(i * D + j)] = c;
      out.cov[static_cast<size_t>(j * D + i)] = c;
    }
  }
  return out;
}

// ================================================================== the distance

std::string eigensolver_name(Device device) {
  return pick_eigensolver(device) == Eigensolver::Lapack ? "LAPACK dsyevd (CPU)" : "cuSOLVER cusolverDnDsyevd (CUDA)";
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b, Device device) {
  check_stats(a, "a");
  check_stats(b, "b");
  const int64_t D = a.dim();
  NN_CHECK(b.dim() == D, "frechet_distance: dimension mismatch: the statistics have D = ", D, " and D = ", b.dim());
  const Eigensolver solver = pick_eigensolver(device);

  double mean_term = 0, trace_a = 0, trace_b = 0;
  for (int64_t j = 0; j < D; ++j) {
    const double diff = a.mean[static_cast<size_t>(j)] - b.mean[static_cast<size_t>(j)];
    mean_term += diff * diff;
    trace_a += a.cov[static_cast<size_t>(j * D + j)];
    trace_b += b.cov[static_cast<size_t>(j * D + j)];
  }
  double trace_sqrt = 0;
  if (solver == Eigensolver::Lapack) {
#if defined(NN_WITH_LAPACK)
    trace_sqrt = trace_sqrt_product_lapack(a.cov, b.cov, D);
#endif
  } else {
#if defined(NN_WITH_CUSOLVER)
    trace_sqrt = trace_sqrt_product_cusolver(a.cov, b.cov, D);
#endif
  }
  // Not clamped at 0: for equal statistics rounding may leave a tiny negative value, as in pytorch-fid.
  return mean_term + trace_a + trace_b - 2.0 * trace_sqrt;
}

// ================================================================== statistics files

void save_gaussian_stats(const std::string& path, const GaussianStats& stats,
                         const std::map<std::string, std::string>& protocol) {
  check_stats(stats, "to save");
  NN_CHECK(protocol.count("count") == 0, "save_gaussian_stats: \"count\" is written by the library; "
                                         "use another protocol key");
  const int64_t D = stats.dim();
  std::map<std::string, std::string> metadata = protocol;
  metadata["count"] = std::to_string(stats.count);
  io::save_safetensors(path,
                       {{"mu", Tensor::from_vector({D}, stats.mean, DType::F64)},
                        {"sigma", Tensor::from_vector({D, D}, stats.cov, DType::F64)}},
                       metadata);
}

GaussianStats load_gaussian_stats(const std::string& path, std::map<std::string, std::string>* protocol) {
  io::SafetensorsFile file;
  try {
    file = io::load_safetensors(path);
  } catch (const Error& e) {
    throw_error(str_cat("cannot load FID statistics: ", e.what()));
  }
  auto corrupt = [&](const std::string& why) {
    throw_error(str_cat("FID statistics file ", path, " is corrupt: ", why));
  };
  if (!file.has("mu") || !file.has("sigma")) corrupt("it has no \"mu\" and \"sigma\" tensors");
  const Tensor& mu = file.get("mu");
  const Tensor& sigma = file.get("sigma");
  if (mu.dtype() != DType::F64 || sigma.dtype() != DType::F64)
    corrupt(str_cat("\"mu\" and \"sigma\" must be float64, they are ", dtype_name(mu.dtype()), " and ",
                    dtype_name(sigma.dtype())));
  if (mu.dim() != 1 || mu.size(0) < 1) corrupt(str_cat("\"mu\" has shape ", shape_str(mu.shape()), ", not (D)"));
  const int64_t D = mu.size(0);
  if (sigma.shape() != Shape{D, D})
    corrupt(str_cat("\"sigma\" has shape ", shape_str(sigma.shape()), ", not (", D, ",", D, ") for D = ", D));

  GaussianStats stats;
  const auto count = file.metadata.find("count");
  if (count == file.metadata.end()) corrupt("the metadata has no \"count\"");
  const std::string& text = count->second;
  size_t used = 0;
  try {
    stats.count = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || stats.count < 2)
    corrupt(str_cat("\"count\" is \"", text, "\", not a whole number of at least 2"));
  stats.mean = mu.to_vector();
  stats.cov = sigma.to_vector();
  if (!all_finite(stats.mean) || !all_finite(stats.cov)) corrupt("\"mu\" or \"sigma\" holds non-finite values");

  if (protocol != nullptr) {
    *protocol = file.metadata;
    protocol->erase("count");
  }
  return stats;
}

}  // namespace nn::metrics
