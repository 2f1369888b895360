// backend.h — process-wide settings and facts about the compute backends.
#pragma once
#include <string>

namespace nn {

// NN_CUDNN_ALGO from the environment: "heuristic" gives true, "timed" or unset false; any other
// value is an error when the settings are first used.
bool env_heuristic_conv_algorithms();

struct BackendSettings {
  // TF32 tensor-core math in cuBLAS GEMMs and cuDNN convolutions. Off by default: float32 means
  // float32 until a benchmark says otherwise (PyTorch's default for matmul is also off).
  bool allow_tf32 = false;
  // Pin cuDNN to deterministic algorithms (bit-reproducible runs on the GPU). Implies
  // heuristic algorithm choice: timing could pick a different algorithm on the next run.
  bool deterministic = false;
  // How cuDNN algorithms are chosen, once per convolution geometry: timed (cudnnFind*, every
  // algorithm run and measured, as PyTorch's cudnn.benchmark) or heuristic (cudnnGet*_v7, no
  // run). Heuristic when the environment has NN_CUDNN_ALGO=heuristic: under compute-sanitizer
  // every timed trial runs instrumented, 10-100x slower, so the GPU check's memcheck uses it.
  bool heuristic_conv_algorithms = env_heuristic_conv_algorithms();
  // Leave out FFT and Winograd convolution algorithms. They round differently from a direct or
  // GEMM-based convolution (errors of 1e-4 relative, not 1e-6), which breaks the tolerances of
  // the CUDA-vs-CPU tests; the test binary sets this for every test (tests/test_util.cpp).
  bool exact_conv_algorithms = false;
  // CPU float32 convolutions through im2col + GEMM even when the build has oneDNN: the
  // comparison of the two paths (Conv.OnednnMatchesIm2col) and benchmarks use it.
  bool cpu_conv_im2col = false;
  // Debugging aid used by the CUDA-vs-CPU tests: every new tensor from Tensor::empty is filled
  // with NaN, so an output element that a kernel forgets to write shows up as NaN.
  bool poison_new_tensors = false;
};
BackendSettings& backend_settings();

// Threads of the CPU path: OpenMP's pool, which the OpenMP build of OpenBLAS shares. The default
// is OMP_NUM_THREADS, else one per core; set_cpu_threads(n) (gan_train --threads) overrides it.
void set_cpu_threads(int n);
int cpu_threads();
// One line: the CPU thread count and the libraries the CPU path runs on, e.g.
// "cpu (2 threads; matrix products: OpenBLAS 0.3.21 (OpenMP build); convolutions: oneDNN 2.6.3)".
std::string cpu_description();

// Waits for all queued GPU work (no-op in a CPU-only build).
void cuda_synchronize();
// One line: GPU name, compute capability, memory, CUDA runtime/driver, cuDNN and cuBLAS
// versions; or why there is no GPU.
std::string cuda_device_description();
// The cuDNN and cuBLAS the process actually loaded, versions and files, e.g.
// "cuDNN 9.10.2 (/opt/.../libcudnn.so.9), cuBLAS 13.0.2 (/usr/local/cuda/lib64/libcublas.so.13)",
// with a warning appended when the loaded cuDNN is not the file the build linked (two copies
// on the library path: a toolkit's and a wheel's) or it is older than the headers it was built with.
std::string cuda_library_description();

}  // namespace nn
