// cublas_gemm.cpp — row-major GEMM through column-major cuBLAS (see cublas_gemm.h).
//
// Row-major through column-major: a row-major (r,c) matrix with leading dimension ld is, byte for
// byte, its transpose as a column-major (c,r) matrix with the same ld. So instead of
//     C = op(A) op(B)          (row-major, what we want)
// we ask cuBLAS for the transposed product, which needs no data movement:
//     C^T = op(B)^T op(A)^T    (column-major, what cuBLAS computes)
// i.e. swap the operands (B first), swap M and N, and keep each operand's own transpose flag and
// leading dimension. The result lands in C's memory as C^T column-major = C row-major.
//
// Tests: CudaParity.matmul, CudaParity.linear (tests/test_linear.cpp).
#include "cuda/cublas_gemm.h"

#include <algorithm>

#include "cuda/context.h"

namespace nn::cuda {

void gemm_rowmajor(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
  NN_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_rowmajor: negative size M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;  // an empty C: nothing to write
  // cuBLAS wants every leading dimension >= 1 even when K == 0 (then C = beta C, which it handles).
  lda = std::max(lda, 1);
  ldb = std::max(ldb, 1);
  ldc = std::max(ldc, 1);
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  // Column-major call computing C^T (N,M) = op(B)^T (N,K) * op(A)^T (K,M).
  NN_CUBLAS_CHECK(cublasSgemm(cublas(), op_b, op_a, N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
}

}  // namespace nn::cuda
