// cuda_check.h — error checks for CUDA runtime calls and kernel launches.
//
// NN_CUDA_CHECK(call) throws nn::Error with the runtime's message, the call, file and line.
// NN_LAUNCH_CHECK(stream) goes after every kernel launch: it reports launch errors at once and,
// when the environment sets NN_SYNC_LAUNCHES=1, synchronizes the stream so that an asynchronous
// fault (an illegal address, say) is reported at the launch that caused it.
#pragma once
#include <cuda_runtime_api.h>

#include "nn/check.h"

namespace nn {
bool cuda_sync_launches();  // reads NN_SYNC_LAUNCHES once (src/cuda/context.cpp)
}

#define NN_CUDA_CHECK(call)                                                                      \
  do {                                                                                           \
    cudaError_t nn_err_ = (call);                                                                \
    if (nn_err_ != cudaSuccess)                                                                  \
      ::nn::throw_error(::nn::str_cat("CUDA error ", cudaGetErrorName(nn_err_), ": ",           \
                                      cudaGetErrorString(nn_err_), " in ", #call, " at ",       \
                                      __FILE__, ":", __LINE__, ::nn::current_op_context()));    \
  } while (0)

#define NN_LAUNCH_CHECK(stream)                                        \
  do {                                                                 \
    NN_CUDA_CHECK(cudaGetLastError());                                 \
    if (::nn::cuda_sync_launches()) NN_CUDA_CHECK(cudaStreamSynchronize(stream)); \
  } while (0)
