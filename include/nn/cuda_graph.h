// cuda_graph.h — a piece of the engine's CUDA work captured once and replayed as a CUDA graph.
//
// capture(work) runs `work` with the engine's stream in capture mode: its host code runs once,
// and every kernel, copy and stream-ordered allocation it queues is recorded instead of run.
// replay() then launches the whole recording with one cudaGraphLaunch. A replay repeats the
// captured launches with the captured arguments and pointers, so `work` must keep everything
// that changes between runs in device memory (nn/step_state.h does that for a training step),
// and every tensor it allocates must be freed before it returns (the graph owns that memory; it
// is instantiated with auto-free-on-launch as a safety net). Host-side effects of `work` (counters
// kept on the host) happen once, at capture: the caller accounts for them per replay.
//
// In a CPU-only build, or without a GPU, supported() is false and capture() says why.
// Tests: tests/test_cuda_graph.cpp (skipped without a GPU), TrainerCuda.GraphReplay*.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace nn {

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  static bool supported();  // a CUDA build on a machine with a GPU
  // Records `work`; returns "" when the graph is ready to replay, else one line of why not (the
  // stream is left out of capture mode and usable either way; nothing of `work` ran on the GPU).
  std::string capture(const std::function<void()>& work);
  void replay() const;  // one graph launch on the engine's stream; throws when not ready()
  bool ready() const { return exec_ != nullptr; }
  void reset();         // drops the graph (a re-capture follows)
  int64_t kernel_nodes() const { return kernel_nodes_; }
  int64_t other_nodes() const { return other_nodes_; }  // memcpy, memset, allocation and free nodes

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  int64_t kernel_nodes_ = 0, other_nodes_ = 0;
};

}  // namespace nn
