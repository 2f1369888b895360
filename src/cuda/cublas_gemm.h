// cublas_gemm.h — a row-major GEMM on the engine's cuBLAS handle (internal to src/).
//
// The engine stores matrices row-major (C order, like its CPU loops and PyTorch); cuBLAS is
// column-major. This wrapper hides the difference so that src/ops/linear.cpp can write the same
// product on both backends. Used by matmul and linear (src/ops/linear.cpp); covered by
// CudaParity.matmul and CudaParity.linear (tests/test_linear.cpp).
//
// No CUDA types appear here, so the header is plain C++; it is only compiled into CUDA builds.
#pragma once

namespace nn::cuda {

// C = alpha op(A) op(B) + beta C, all float32 row-major on the device, on the engine's stream.
//   op(A): (M,K) — A is stored (M,K) with leading dimension lda, or (K,M) when trans_a;
//   op(B): (K,N) — B is stored (K,N) with leading dimension ldb, or (N,K) when trans_b;
//   C:     (M,N) with leading dimension ldc.
// A row-major leading dimension is the distance between rows: the stored column count for a
// contiguous matrix. beta = 1 accumulates into C (how the backward passes add into gradients).
// Math mode (FP32 or TF32 tensor cores) follows backend_settings().allow_tf32 via cuda::cublas().
void gemm_rowmajor(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace nn::cuda
