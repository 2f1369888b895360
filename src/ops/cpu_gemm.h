// cpu_gemm.h — the CPU reference's matrix products (row-major, contiguous), shared by linear.cpp
// and conv.cpp (convolutions run as im2col + these products).
//
//   gemm_nn_cpu:  C (M,N) += A (M,K)   B (K,N)
//   gemm_nt_cpu:  C (M,N) += A (M,K)   B^T, B stored (N,K)
//   gemm_tn_cpu:  C (M,N) += A^T B,    A stored (K,M), B (K,N)
//
// Every loop nest keeps m outermost, so each row of C is owned by one thread (OpenMP, when the
// compiler has it): the sums are taken in the same order whatever the thread count, and results
// are bit-reproducible. The innermost loop walks contiguous memory so the compiler vectorises it.
#pragma once
#include <cstdint>

namespace nn {

// Parallelise only products big enough to pay for waking threads.
inline bool gemm_worth_threads(int64_t M, int64_t N, int64_t K) { return M > 1 && M * N * K >= (int64_t{1} << 16); }

template <class T>
void gemm_nn_cpu(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
#pragma omp parallel for schedule(static) if (gemm_worth_threads(M, N, K))
  for (int64_t m = 0; m < M; ++m) {
    T* c_row = C + m * N;
    for (int64_t k = 0; k < K; ++k) {
      const T a = A[m * K + k];
      const T* b_row = B + k * N;
      for (int64_t n = 0; n < N; ++n) c_row[n] += a * b_row[n];  // an axpy over rows of B and C
    }
  }
}

template <class T>
void gemm_nt_cpu(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
#pragma omp parallel for schedule(static) if (gemm_worth_threads(M, N, K))
  for (int64_t m = 0; m < M; ++m) {
    const T* a_row = A + m * K;
    for (int64_t n = 0; n < N; ++n) {
      const T* b_row = B + n * K;
      T dot = 0;
      for (int64_t k = 0; k < K; ++k) dot += a_row[k] * b_row[k];  // two contiguous rows
      C[m * N + n] += dot;
    }
  }
}

template <class T>
void gemm_tn_cpu(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
#pragma omp parallel for schedule(static) if (gemm_worth_threads(M, N, K))
  for (int64_t m = 0; m < M; ++m) {
    T* c_row = C + m * N;
    for (int64_t k = 0; k < K; ++k) {
      const T a = A[k * M + m];
      const T* b_row = B + k * N;
      for (int64_t n = 0; n < N; ++n) c_row[n] += a * b_row[n];
    }
  }
}

}  // namespace nn
