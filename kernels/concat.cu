// concat.cu — the copies of concat (src/ops/concat.cpp). Around the concatenated dimension every
// tensor is viewed as (outer, cols): an input x as (outer, x_cols), the output y as
// (outer, y_cols), and x's slice of y starts at column y_offset:
//
//   forward:  y[o, y_offset + j]  = x[o, j]                 (concat_fwd_cuda)
//   backward: dx[o, j]           += dy[o, y_offset + j]     (concat_bwd_cuda, accumulates)
//
// One kernel launch per input (a 2-D grid: rows by columns), templated on the vector width: float4 loads and stores
// when both rows and the offset are multiples of 4 floats and the pointers 16-byte aligned (the Inception
// concatenations of (N, 64k, 35, 35) tensors are), single floats otherwise. The CPU twin is the row loop in
// src/ops/concat.cpp. Tests: tests/test_concat.cpp (CudaParity.concat); validated and timed in bench/bench_kernels.cpp.
#include <cstdint>

#include "kernels.h"
#include "launch.cuh"

namespace nn {

namespace {

// A 2-D grid: y strides over the rows, x over the columns of a row, so no thread divides.
template <class V, bool Accumulate>
__global__ void concat_rows_kernel(const V* __restrict__ src, int64_t src_cols, V* __restrict__ dst, int64_t dst_cols,
                                   int64_t outer, int64_t cols) {
  // (outer, cols) elements of width V; src and dst rows are src_cols and dst_cols V's apart.
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    const V* s_row = src + o * src_cols;
    V* d_row = dst + o * dst_cols;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const V v = s_row[j];
      if constexpr (!Accumulate) {
        d_row[j] = v;
      } else if constexpr (sizeof(V) == sizeof(float4)) {
        V d = d_row[j];
        d.x += v.x;
        d.y += v.y;
        d.z += v.z;
        d.w += v.w;
        d_row[j] = d;
      } else {
        d_row[j] += v;
      }
    }
  }
}

// Rows over grid.y (at most 65535, the hardware limit), columns over grid.x, capped so that the
// grid holds about 64 Ki blocks: enough to fill the GPU many times; larger tensors loop.
dim3 rows_grid(int64_t outer, int64_t cols) {
  const int64_t gy = outer < 65535 ? outer : 65535;
  int64_t gx = (cols + kThreads - 1) / kThreads;
  const int64_t cap = 65535 / gy + 1;  // about 64 Ki blocks in all
  if (gx > cap) gx = cap;
  if (gx < 1) gx = 1;
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// src rows of `cols` floats, src_cols apart; dst rows dst_cols apart (pointers already offset).
template <bool Accumulate>
void launch_rows(const float* src, int64_t src_cols, float* dst, int64_t dst_cols, int64_t outer, int64_t cols,
                 cudaStream_t s) {
  if (outer == 0 || cols == 0) return;
  if (cols % 4 == 0 && src_cols % 4 == 0 && dst_cols % 4 == 0 && aligned16(src) && aligned16(dst)) {
    concat_rows_kernel<float4, Accumulate>
        <<<rows_grid(outer, cols / 4), kThreads, 0, s>>>(reinterpret_cast<const float4*>(src), src_cols / 4,
                                                         reinterpret_cast<float4*>(dst), dst_cols / 4, outer, cols / 4);
  } else {
    concat_rows_kernel<float, Accumulate>
        <<<rows_grid(outer, cols), kThreads, 0, s>>>(src, src_cols, dst, dst_cols, outer, cols);
  }
  NN_LAUNCH_CHECK(s);
}

}  // namespace

void concat_fwd_cuda(const float* x, float* y, int64_t outer, int64_t x_cols, int64_t y_cols, int64_t y_offset,
                     cudaStream_t s) {
  launch_rows<false>(x, x_cols, y + y_offset, y_cols, outer, x_cols, s);
}

void concat_bwd_cuda(const float* dy, float* dx, int64_t outer, int64_t x_cols, int64_t y_cols, int64_t y_offset,
                     cudaStream_t s) {
  launch_rows<true>(dy + y_offset, y_cols, dx, x_cols, outer, x_cols, s);
}

}  // namespace nn
