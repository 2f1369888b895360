// context.cpp — stream, allocator pool, cuBLAS and cuDNN handles (see context.h).
#include "cuda/context.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "nn/backend.h"
#include "nn/tensor.h"

namespace nn {

bool cuda_sync_launches() {
  static const bool on = [] {
    const char* v = std::getenv("NN_SYNC_LAUNCHES");
    return v != nullptr && std::string(v) != "0" && std::string(v) != "";
  }();
  return on;
}

namespace cuda {
namespace {

struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

Context& context() {
  static Context ctx;
  return ctx;
}

std::once_flag stream_once, cublas_once, cudnn_once;

void init_stream() {
  NN_CHECK(cuda_available(), "CUDA: no usable GPU (", cuda_device_description(), ")");
  NN_CUDA_CHECK(cudaSetDevice(0));
  NN_CUDA_CHECK(cudaStreamCreateWithFlags(&context().stream, cudaStreamNonBlocking));
  // Keep freed blocks in the pool instead of returning them to the driver at each sync.
  cudaMemPool_t pool;
  NN_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
  uint64_t threshold = UINT64_MAX;
  NN_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

}  // namespace

cudaStream_t stream() {
  std::call_once(stream_once, init_stream);
  return context().stream;
}

cublasHandle_t cublas() {
  std::call_once(cublas_once, [] {
    cudaStream_t s = stream();
    NN_CUBLAS_CHECK(cublasCreate(&context().cublas));
    NN_CUBLAS_CHECK(cublasSetStream(context().cublas, s));
    // A workspace of our own, allocated once: cuBLAS then never allocates during a call, which a
    // CUDA graph capture (gan_train --cuda-graph) could not record. 32 MiB is NVIDIA's suggested
    // size for Hopper (cuBLAS docs, cublasSetWorkspace); it is never freed, like the handle.
    constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
    void* workspace = nullptr;
    NN_CUDA_CHECK(cudaMalloc(&workspace, kCublasWorkspaceBytes));
    NN_CUBLAS_CHECK(cublasSetWorkspace(context().cublas, workspace, kCublasWorkspaceBytes));
  });
  // TF32 is a process-wide setting that may change between calls.
  NN_CUBLAS_CHECK(cublasSetMathMode(context().cublas, backend_settings().allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                                     : CUBLAS_DEFAULT_MATH));
  return context().cublas;
}

cudnnHandle_t cudnn() {
  std::call_once(cudnn_once, [] {
    cudaStream_t s = stream();
    NN_CUDNN_CHECK(cudnnCreate(&context().cudnn));
    NN_CUDNN_CHECK(cudnnSetStream(context().cudnn, s));
  });
  return context().cudnn;
}

void* alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, bytes, stream());
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error state
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw_error(str_cat("CUDA out of memory: asked for ", bytes / (1024.0 * 1024.0), " MiB with ",
                        free_b / (1024.0 * 1024.0), " MiB free of ", total_b / (1024.0 * 1024.0),
                        " MiB (try a smaller batch size)"));
  }
  NN_CUDA_CHECK(err);
  return p;
}

void free(void* ptr) noexcept {
  if (ptr == nullptr) return;
  cudaError_t err = cudaFreeAsync(ptr, stream());
  if (err != cudaSuccess) {
    // A destructor cannot throw; a failed free means the context is already broken, and the next
    // checked call will report it with its location.
    std::fprintf(stderr, "warning: cudaFreeAsync failed: %s\n", cudaGetErrorString(err));
    cudaGetLastError();  // do not let a later, unrelated check report this one
  }
}

void release_cached_memory() {
  NN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  cudaMemPool_t pool;
  NN_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
  NN_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  NN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()));
  NN_CUDA_CHECK(cudaStreamSynchronize(stream()));  // src may be a temporary host buffer
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  NN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
  NN_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  NN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace cuda

// ---- backend.h functions that need the CUDA runtime

bool cuda_available() {
  static const bool available = [] {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return count > 0;
  }();
  return available;
}

void cuda_synchronize() {
  if (cuda_available()) NN_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

std::string cuda_device_description() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return str_cat("no GPU: ", cudaGetErrorString(err));
  }
  if (count == 0) return "no GPU: no CUDA device found";
  cudaDeviceProp prop{};
  NN_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  int runtime = 0, driver = 0, cublas_major = 0, cublas_minor = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  cublasGetProperty(MAJOR_VERSION, &cublas_major);
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  return str_cat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount, " SMs, ",
                 prop.totalGlobalMem / (1024 * 1024), " MiB), CUDA runtime ", runtime / 1000, ".",
                 (runtime % 1000) / 10, ", driver ", driver / 1000, ".", (driver % 1000) / 10, ", cuDNN ",
                 cudnnGetVersion(), ", cuBLAS ", cublas_major, ".", cublas_minor);
}

namespace {

// The file the loader took for an already loaded library (by its soname, e.g. libcudnn.so.9),
// or "" when it is not loaded or the loader does not say. Asking by soname, not through the
// address of one of its functions, also works in a non-PIE executable, where that address is the
// executable's own PLT stub.
std::string loaded_file_of(const std::string& soname) {
  void* handle = dlopen(soname.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return "";
  std::string path;
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr) path = map->l_name;
  dlclose(handle);
  return path;
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

}  // namespace

std::string cuda_library_description() {
  // cuDNN 9 encodes its version as major * 10000 + minor * 100 + patch.
  const size_t cudnn = cudnnGetVersion();
  const std::string cudnn_file = loaded_file_of(str_cat("libcudnn.so.", CUDNN_MAJOR));
  int cublas_major = 0, cublas_minor = 0, cublas_patch = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas_major);
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &cublas_patch);
  const std::string cublas_file = loaded_file_of(str_cat("libcublas.so.", CUBLAS_VER_MAJOR));
  std::string out = str_cat("cuDNN ", cudnn / 10000, ".", (cudnn / 100) % 100, ".", cudnn % 100, " (",
                            cudnn_file.empty() ? "file unknown" : cudnn_file, "), cuBLAS ", cublas_major, ".",
                            cublas_minor, ".", cublas_patch, " (", cublas_file.empty() ? "file unknown" : cublas_file,
                            ")");
  // Two cuDNN copies on the library path (a toolkit's lib64 and PyTorch's wheel, say): the one the
  // loader found first wins, whatever the build linked. Say so, since algorithm lists, speed and
  // even correctness fixes differ between versions.
  if (cudnn / 10000 != CUDNN_MAJOR || cudnn < static_cast<size_t>(CUDNN_VERSION)) {
    out += str_cat("; warning: built against cuDNN headers ", CUDNN_MAJOR, ".", CUDNN_MINOR, ".", CUDNN_PATCHLEVEL);
  }
#if defined(NN_CUDNN_LINKED_LIBRARY)
  if (!cudnn_file.empty() && real_path(cudnn_file) != real_path(NN_CUDNN_LINKED_LIBRARY)) {
    out += str_cat("; warning: the build linked ", NN_CUDNN_LINKED_LIBRARY,
                   " but another cuDNN was loaded first (check LD_LIBRARY_PATH)");
  }
#endif
  return out;
}

}  // namespace nn
