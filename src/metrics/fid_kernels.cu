// fid_kernels.cu — the one kernel the FID's device statistics need (src/metrics/fid.cpp):
// float32 features to shifted float64, so that cuBLAS's double-precision DSYRK and DGEMV can
// accumulate sum(x - shift) and sum((x - shift)(x - shift)^T) on the device. cuBLAS has no
// float-to-double conversion of its own (its mixed-precision *Ex calls keep one type per operand
// set), hence this kernel.
//
//   y[r*D + j] = double(x[r*D + j]) - shift[j]      (shift == nullptr: - 0)
//
// Its CPU twin is the conversion loop in FeatureStatistics::add (fid.cpp), same formula.
// Tests: tests/test_metrics.cpp (FidStatistics.CudaMatchesCpu).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "launch.cuh"

namespace nn::metrics {

__global__ void center_to_double_kernel(const float* __restrict__ x, const double* __restrict__ shift, int64_t total,
                                        int64_t dim, double* __restrict__ y) {
  NN_GRID_STRIDE_LOOP(i, total) {
    const double centre = shift != nullptr ? shift[i % dim] : 0.0;
    y[i] = static_cast<double>(x[i]) - centre;
  }
}

// Declared in fid.cpp (the only caller): x (rows, dim) float32, shift (dim) or null, y (rows, dim).
void center_to_double_cuda(const float* x, const double* shift, int64_t rows, int64_t dim, double* y,
                           cudaStream_t s) {
  const int64_t total = rows * dim;
  if (total == 0) return;
  center_to_double_kernel<<<grid_for(total), kThreads, 0, s>>>(x, shift, total, dim, y);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn::metrics
