// cpu_parallel.h — when a CPU loop is worth OpenMP threads.
//
// The point-wise loops (activations, dropout, Adam, axpy) and the per-channel batchnorm loops run
// on all OpenMP threads once they touch at least kParallelElems elements; below that, waking the
// threads costs more than the work. Every such loop either writes each element independently or
// gives each channel to one thread, so its results never depend on the thread count.
// Threads: OMP_NUM_THREADS, or gan_train --threads (omp_set_num_threads).
#pragma once
#include <cstdint>

namespace nn {

constexpr int64_t kParallelElems = int64_t{1} << 15;

}  // namespace nn
