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
