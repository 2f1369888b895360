// backend.cpp — settings shared by all backends, and the CPU-only stand-ins for the CUDA
// queries (the real ones live in src/cuda/context.cpp).
#include "nn/backend.h"

#include <cstdlib>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(NN_WITH_OPENBLAS)
#include <cblas.h>
#endif
#if defined(NN_WITH_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#endif

#include "nn/tensor.h"

namespace nn {

bool env_heuristic_conv_algorithms() {
  const char* v = std::getenv("NN_CUDNN_ALGO");
  if (v == nullptr || std::string(v).empty() || std::string(v) == "timed") return false;
  if (std::string(v) == "heuristic") return true;
  throw_error(str_cat("NN_CUDNN_ALGO must be 'timed' or 'heuristic', got '", v, "'"));
}

void set_cpu_threads(int n) {
  NN_CHECK(n >= 1, "the CPU thread count must be at least 1, got ", n);
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
#if defined(NN_WITH_OPENBLAS)
  openblas_set_num_threads(n);
#endif
}

int cpu_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

std::string cpu_description() {
  std::string s = str_cat("cpu (", cpu_threads(), cpu_threads() == 1 ? " thread" : " threads", "; matrix products: ");
#if defined(NN_WITH_OPENBLAS)
  // openblas_get_config(): e.g. "OpenBLAS 0.3.21 NO_AFFINITY USE_OPENMP Cooperlake MAX_THREADS=64".
  const std::string config = openblas_get_config();
  // openblas_get_parallel(): 0 sequential, 1 pthreads, 2 OpenMP: the build the loader found.
  const int parallel = openblas_get_parallel();
  s += config.substr(0, config.find(' ', config.find(' ') + 1)) +
       (parallel == 2 ? " (OpenMP build)" : parallel == 1 ? " (pthreads build: a second thread pool)" : " (serial build)");
#else
  s += "the reference loops (no OpenBLAS in this build)";
#endif
  s += "; convolutions: ";
#if defined(NN_WITH_ONEDNN)
  const dnnl_version_t* v = dnnl_version();
  s += str_cat("oneDNN ", v->major, ".", v->minor, ".", v->patch, ")");
#else
  s += "im2col + GEMM)";
#endif
  return s;
}

BackendSettings& backend_settings() {
  static BackendSettings settings;
  return settings;
}

#if defined(NN_WITH_CUDA)
bool cuda_built() { return true; }
#else
bool cuda_built() { return false; }
bool cuda_available() { return false; }
void cuda_synchronize() {}
std::string cuda_device_description() { return "no GPU: this build has no CUDA backend"; }
std::string cuda_library_description() { return "none: this build has no CUDA backend"; }
#endif

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

void throw_error(const std::string& msg) { throw Error(msg); }

}  // namespace nn
