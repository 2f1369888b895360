// data.cu — a shuffled training batch made on the device from the uint8 dataset that lives there
// (DESIGN.md, "The data lives on the device"): one pass gathers the batch's images through the
// epoch's permutation and scales them to [-1, 1] (data_math.h). The CPU twin, with the same
// arguments, is nn::data::gather_scale_cpu in src/data/cifar100.cpp.
// Tests: tests/test_data.cpp (Sampler.CudaBatchMatchesCpuBitForBit).
#include "data_math.h"
#include "kernels.h"
#include "launch.cuh"

namespace nn {

// One thread per output float, grid-stride: element i of the batch is pixel j = i mod
// sample_elems of sample b = i / sample_elems, which is dataset image order[first + b]. The
// order comes from the host's Fisher-Yates shuffle, so every index is in range by construction.
// Reads are one byte per thread but coalesced within an image; writes are coalesced floats.
// first = (cursor ? *cursor * batch : 0) + first_host: a graph-replayed step reads its batch
// index from the device (BatchSampler::batch_into_next).
__global__ void gather_scale_kernel(const uint8_t* __restrict__ images, const int32_t* __restrict__ order,
                                    const int64_t* cursor, int64_t first_host, int64_t batch, int64_t total,
                                    int64_t sample_elems, float* __restrict__ out) {
  const int64_t first = first_host + (cursor ? *cursor * batch : 0);
  NN_GRID_STRIDE_LOOP(i, total) {
    const int64_t b = i / sample_elems;
    const int64_t j = i - b * sample_elems;
    const int64_t image = order[first + b];
    out[i] = pixel_to_unit_range(images[image * sample_elems + j]);
  }
}

void gather_scale_cuda(const uint8_t* images, const int32_t* order, int64_t first, int64_t batch,
                       int64_t sample_elems, float* out, cudaStream_t s) {
  const int64_t total = batch * sample_elems;
  if (total == 0) return;
  gather_scale_kernel<<<grid_for(total), kThreads, 0, s>>>(images, order, nullptr, first, batch, total,
                                                                sample_elems, out);
  NN_LAUNCH_CHECK(s);
}

void gather_scale_cuda(const uint8_t* images, const int32_t* order, const int64_t* batch_cursor, int64_t batch,
                       int64_t sample_elems, float* out, cudaStream_t s) {
  const int64_t total = batch * sample_elems;
  if (total == 0) return;
  gather_scale_kernel<<<grid_for(total), kThreads, 0, s>>>(images, order, batch_cursor, 0, batch, total,
                                                                sample_elems, out);
  NN_LAUNCH_CHECK(s);
}

}  // namespace nn
