// cpu_gemm.h — the CPU path's matrix products (row-major, contiguous), shared by linear.cpp,
// conv.cpp (convolutions run as im2col + these products) and the FID (metrics/fid.cpp).
//
//   gemm_nn_cpu:  C (M,N) += A (M,K)   B (K,N)
//   gemm_nt_cpu:  C (M,N) += A (M,K)   B^T, B stored (N,K)
//   gemm_tn_cpu:  C (M,N) += A^T B,    A stored (K,M), B (K,N)
//
// Two implementations of the same three products:
//   * OpenBLAS (cblas_sgemm / cblas_dgemm), when the build found it (NN_WITH_OPENBLAS): what users
//     train with. Blocked, vectorised, on the OpenMP build of OpenBLAS, so its threads are the
//     engine's own OpenMP pool (no second pool spinning against the first). Results depend on the
//     thread count (the blocking does), never on timing: a run is reproducible for a given count.
//   * gemm_*_reference: plain loops, the readable definition, and what the engine falls back to
//     without OpenBLAS (the GPU machine's build, which has no Debian packages). Every loop nest
//     keeps m outermost, so each row of C is owned by one thread: the sums are taken in the same
//     order whatever the thread count. The innermost loop walks contiguous memory so the compiler
//     vectorises it. CpuGemm.* (tests/test_linear.cpp) checks the two agree.
#pragma once
#include <cstdint>
#include <type_traits>

#if defined(NN_WITH_OPENBLAS)
#include <cblas.h>
#endif

namespace nn {

// Parallelise only products big enough to pay for waking threads.
inline bool gemm_worth_threads(int64_t M, int64_t N, int64_t K) { return M > 1 && M * N * K >= (int64_t{1} << 16); }

template <class T>
void gemm_nn_reference(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
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
void gemm_nt_reference(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
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
void gemm_tn_reference(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
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

// Whether the fast products run through OpenBLAS in this build.
constexpr bool cpu_gemm_uses_blas() {
#if defined(NN_WITH_OPENBLAS)
  return true;
#else
  return false;
#endif
}

#if defined(NN_WITH_OPENBLAS)
// C (M,N) += op(A) op(B), row-major, through CBLAS: lda/ldb are the stored column counts.
template <class T>
void gemm_blas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  if (M == 0 || N == 0 || K == 0) return;
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto lda = static_cast<blasint>(trans_a ? M : K), ldb = static_cast<blasint>(trans_b ? K : N);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K),
                1.0f, A, lda, B, ldb, 1.0f, C, static_cast<blasint>(N));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K),
                1.0, A, lda, B, ldb, 1.0, C, static_cast<blasint>(N));
  }
}
#endif

// C (M,N) += op(A) op(B) with at most one operand transposed: the layouts below, through OpenBLAS
// when the build has it, else the reference loops.
template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
#if defined(NN_WITH_OPENBLAS)
  gemm_blas(trans_a, trans_b, M, N, K, A, B, C);
#else
  if (trans_a) {
    gemm_tn_reference(M, N, K, A, B, C);
  } else if (trans_b) {
    gemm_nt_reference(M, N, K, A, B, C);
  } else {
    gemm_nn_reference(M, N, K, A, B, C);
  }
#endif
}

template <class T>
void gemm_nn_cpu(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  gemm_cpu(false, false, M, N, K, A, B, C);
}
template <class T>
void gemm_nt_cpu(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  gemm_cpu(false, true, M, N, K, A, B, C);
}
template <class T>
void gemm_tn_cpu(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  gemm_cpu(true, false, M, N, K, A, B, C);
}

}  // namespace nn
