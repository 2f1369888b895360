// context.h — the CUDA backend's process-wide state (internal to src/).
//
//   * one CUDA stream for all engine work (never the legacy default stream);
//   * device memory from the stream-ordered allocator (cudaMallocAsync) on the device's default
//     pool, whose release threshold is raised so freed blocks stay cached for reuse — the
//     library's caching allocator instead of a home-made one, and what CUDA Graph capture needs;
//   * one cuBLAS handle and one cuDNN handle, created lazily and bound to that stream.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>

#include "cuda_check.h"

#define NN_CUBLAS_CHECK(call)                                                                         \
  do {                                                                                                \
    cublasStatus_t nn_st_ = (call);                                                                   \
    if (nn_st_ != CUBLAS_STATUS_SUCCESS)                                                              \
      ::nn::throw_error(::nn::str_cat("cuBLAS error ", cublasGetStatusName(nn_st_), ": ",            \
                                      cublasGetStatusString(nn_st_), " in ", #call, " at ", __FILE__, \
                                      ":", __LINE__, ::nn::current_op_context()));                   \
  } while (0)

#define NN_CUDNN_CHECK(call)                                                                       \
  do {                                                                                             \
    cudnnStatus_t nn_st_ = (call);                                                                 \
    if (nn_st_ != CUDNN_STATUS_SUCCESS)                                                            \
      ::nn::throw_error(::nn::str_cat("cuDNN error ", cudnnGetErrorString(nn_st_), " in ", #call, \
                                      " at ", __FILE__, ":", __LINE__, ::nn::current_op_context())); \
  } while (0)

namespace nn::cuda {

cudaStream_t stream();
cublasHandle_t cublas();
cudnnHandle_t cudnn();

// Stream-ordered allocation; throws "CUDA out of memory: asked for X MiB ..." on failure.
void* alloc(size_t bytes);
void free(void* ptr) noexcept;

// Before a library call that allocates with plain cudaMalloc (cudnnFind* times algorithms in
// buffers of its own): return the pool's cached, unused blocks to the driver, since the pool
// never releases them on its own. Once per new convolution shape, never inside a steady step.
void release_cached_memory();

// Copies that the host waits for (tensor creation, to(), to_vector()). Never inside a step.
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);

}  // namespace nn::cuda
