// cuda_graph.cpp — capture and replay of the engine's stream (see nn/cuda_graph.h).
#include "nn/cuda_graph.h"

#include <exception>
#include <vector>

#include "nn/backend.h"
#include "nn/check.h"
#include "nn/tensor.h"

#if defined(NN_WITH_CUDA)
#include <cuda_runtime_api.h>

#include "cuda/context.h"
#endif

namespace nn {

CudaGraph::~CudaGraph() { reset(); }

bool CudaGraph::supported() {
#if defined(NN_WITH_CUDA)
  return cuda_available();
#else
  return false;
#endif
}

void CudaGraph::reset() {
#if defined(NN_WITH_CUDA)
  if (exec_) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) (void)cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
#endif
  exec_ = nullptr;
  graph_ = nullptr;
  kernel_nodes_ = other_nodes_ = 0;
}

std::string CudaGraph::capture(const std::function<void()>& work) {
  reset();
#if defined(NN_WITH_CUDA)
  if (!cuda_available()) return "no GPU";
  cudaStream_t s = cuda::stream();
  // Whatever is queued finishes first: the capture records only `work`.
  if (cudaStreamSynchronize(s) != cudaSuccess) return str_cat("the stream had an error: ", cudaGetErrorString(cudaGetLastError()));
  // Thread-local mode: a call from this thread that cannot be captured (cudaMalloc, a
  // synchronisation) fails at once with an error, which `work`'s checks turn into an exception.
  cudaError_t begin = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (begin != cudaSuccess) {
    (void)cudaGetLastError();
    return str_cat("cudaStreamBeginCapture: ", cudaGetErrorString(begin));
  }
  std::string why;
  try {
    work();
  } catch (const std::exception& e) {
    why = e.what();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s, &graph);
  if (why.empty() && end != cudaSuccess) why = str_cat("cudaStreamEndCapture: ", cudaGetErrorString(end));
  if (why.empty() && graph == nullptr) why = "the capture recorded nothing";
  if (!why.empty()) {
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // a failed capture leaves an error behind; the stream stays usable
    return why;
  }
  size_t n = 0;
  (void)cudaGraphGetNodes(graph, nullptr, &n);
  std::vector<cudaGraphNode_t> nodes(n);
  (void)cudaGraphGetNodes(graph, nodes.data(), &n);
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType t;
    (void)cudaGraphNodeGetType(node, &t);
    if (t == cudaGraphNodeTypeKernel) ++kernel_nodes_;
    else ++other_nodes_;
  }
  // Auto-free on launch: should an allocation of the captured work outlive it, the next launch
  // frees it instead of failing (the graph's own temporaries are freed inside it).
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
  if (inst != cudaSuccess) {
    (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    kernel_nodes_ = other_nodes_ = 0;
    return str_cat("cudaGraphInstantiate: ", cudaGetErrorString(inst));
  }
  graph_ = graph;
  exec_ = exec;
  return "";
#else
  (void)work;
  return "a CPU-only build (no CUDA backend)";
#endif
}

void CudaGraph::replay() const {
  NN_CHECK(ready(), "CudaGraph::replay: nothing captured");
#if defined(NN_WITH_CUDA)
  NN_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), cuda::stream()));
  if (cuda_sync_launches()) NN_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
#endif
}

}  // namespace nn
