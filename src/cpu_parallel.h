// cpu_parallel.h — when a CPU loop is worth OpenMP threads.
//
// The point-wise loops (activations, dropout, Adam, axpy) and the per-channel batchnorm loops run
// on all OpenMP threads once they touch at least kParallelElems elements; below that, waking the
// threads costs more than the work. Every such loop either writes each element independently or
// gives each channel to one thread, so its results never depend on the thread count.
// Threads: OMP_NUM_THREADS, or gan_train --threads (omp_set_num_threads).
#pragma once
#include <cstdint>

// NN_CPU_CLONES: compile a hot non-template function for AVX-512, AVX2 and the baseline, the
// loader picking the best the CPU has (GCC's target_clones, an ifunc). The engine is built for
// the baseline x86-64 (SSE2) so its binaries run anywhere; this gives its few integer-heavy
// loops (the Philox counter RNG) the wide vectors anyway. Floating-point code never needs it:
// the heavy float work is OpenBLAS's and oneDNN's, which dispatch by CPU themselves.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define NN_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_CPU_CLONES
#endif

namespace nn {

constexpr int64_t kParallelElems = int64_t{1} << 15;

}  // namespace nn
