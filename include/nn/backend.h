// backend.h — process-wide settings and facts about the compute backends.
#pragma once
#include <string>

namespace nn {

struct BackendSettings {
  // TF32 tensor-core math in cuBLAS GEMMs and cuDNN convolutions. Off by default: float32 means
  // float32 until a benchmark says otherwise (PyTorch's default for matmul is also off).
  bool allow_tf32 = false;
  // Pin cuDNN to deterministic algorithms (bit-reproducible runs on the GPU).
  bool deterministic = false;
  // Debugging aid used by the CUDA-vs-CPU tests: every new tensor from Tensor::empty is filled
  // with NaN, so an output element that a kernel forgets to write shows up as NaN.
  bool poison_new_tensors = false;
};
BackendSettings& backend_settings();

// Waits for all queued GPU work (no-op in a CPU-only build).
void cuda_synchronize();
// One line: GPU name, compute capability, memory, CUDA runtime/driver, cuDNN and cuBLAS
// versions; or why there is no GPU.
std::string cuda_device_description();

}  // namespace nn
