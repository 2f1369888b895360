// tensor.h — the Tensor: a shape, a dtype, a device, and a view into shared storage.
//
// Storage is always contiguous (row-major, NCHW for images). A Tensor is a cheap handle
// (shared_ptr to TensorImpl); copies of the handle alias the same data. reshape() makes a new
// TensorImpl over the same storage (no copy). Autograd state (requires_grad, grad, grad_fn) lives
// in the TensorImpl; see autograd.h for how the graph is built and walked.
//
// dtypes: float32 everywhere, float64 on the CPU (gradchecks run in double).
// devices: CPU, or CUDA when the engine was built with it (NN_WITH_CUDA). CUDA memory comes from
// the stream-ordered allocator pool (src/cuda/context.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "nn/check.h"
#include "nn/rng.h"

namespace nn {

class DeviceGenerator;  // nn/step_state.h

// F32 and F64 are the computing dtypes. U8, I32 and I64 are storage-only: the dataset's bytes,
// index lists, checkpoint counters. Ops reject them; data<T>(), copies, to_vector() work.
enum class DType { F32, F64, U8, I32, I64 };
inline bool is_floating(DType t) { return t == DType::F32 || t == DType::F64; }
enum class Device { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);
using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);

// True when this build has the CUDA backend and a usable GPU is present (cached).
bool cuda_available();
// True when this build has the CUDA backend at all.
bool cuda_built();

// A block of memory on one device. Freed (stream-ordered on CUDA) when the last view goes.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;  // may be null only before a ParameterArena is built
  size_t offset = 0;                 // in elements
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  // autograd
  bool requires_grad = false;
  bool is_leaf = true;           // false for op outputs recorded in a graph
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;  // the op that made this tensor (null for leaves)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor from_vector(const Shape& shape, const std::vector<double>& values, DType dtype = DType::F32,
                            Device device = Device::CPU);
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }

  // ---- properties
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().device; }
  bool is_cuda() const { return impl().device == Device::CUDA; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  std::string str() const;  // "float32 cpu (2,3)"

  // ---- raw data (contiguous). data<T>() checks that T matches the dtype.
  void* raw() const;
  template <class T>
  T* data() const;

  // ---- views and copies
  Tensor reshape_view(const Shape& shape) const;  // no autograd; ops.h reshape() records it
  // A view of `shape` starting `offset` elements into this tensor's data (no autograd, no copy);
  // must fit inside it. Used for per-parameter views of flat arenas and rows of a buffer.
  Tensor view_at(int64_t offset, const Shape& shape) const;
  Tensor to(Device device) const;                  // copy (or self when already there)
  Tensor to(DType dtype) const;                    // converting copy on the CPU
  Tensor clone() const;
  void copy_(const Tensor& src) const;  // same shape and dtype, any devices (writes the data, not the handle)
  std::vector<double> to_vector() const;  // values as double, from any device
  double item() const;                    // the single value of a one-element tensor

  // ---- in-place fills (no autograd)
  Tensor& fill_(double value);
  Tensor& uniform_(Generator& gen, double lo = 0.0, double hi = 1.0);
  Tensor& normal_(Generator& gen, double mean = 0.0, double std = 1.0);
  // The same values from a stream whose counter lives on the device (nn/step_state.h): the
  // kernel reads where its counters start from there, so a replayed CUDA graph draws fresh ones.
  Tensor& normal_(const DeviceGenerator& gen, double mean = 0.0, double std = 1.0);

  // ---- autograd (autograd.cpp)
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return impl().is_leaf; }
  Tensor grad() const;         // undefined until a backward reached this tensor
  Tensor ensure_grad() const;  // the gradient buffer, created as zeros when missing
  void set_grad(const Tensor& g);  // adopt g (same shape/dtype/device) as the gradient buffer
  void zero_grad();                // fills the gradient with zeros, if any
  // Reverse-mode sweep from this tensor. With no `gradient`, the tensor must have one element and
  // the seed is 1; otherwise `gradient` (same shape) seeds it, as PyTorch's tensor.backward(g).
  // retain_graph keeps the recorded graph for another backward through it.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;           // same storage, no history
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }

  TensorImpl& impl() const {
    NN_CHECK(impl_ != nullptr, "use of an undefined (empty) Tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Marks "this thread is running op `name` on these tensors" for the lifetime of the scope, so a
// failing CUDA, cuBLAS or cuDNN call deep inside can say which op and shapes it belonged to
// (current_op_context()). Costs two pointer stores; shapes are formatted only on an error.
// The tensors must outlive the scope (they are the op's arguments).
class OpScope {
 public:
  // `suffix` (e.g. " backward") is appended to the name, so no string is built per call.
  OpScope(const char* name, std::initializer_list<const Tensor*> tensors, const char* suffix = "");
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  std::string describe() const;

 private:
  static constexpr int kMaxTensors = 5;
  const char* name_;
  const char* suffix_;
  const Tensor* tensors_[kMaxTensors] = {};
  int count_ = 0;
  const OpScope* outer_;
};

// Argument checks shared by the ops; each throws nn::Error naming the op.
void check_defined(const char* op, const Tensor& t, const char* what);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_dim(const char* op, const Tensor& t, int64_t dim, const char* what);
void check_cuda_f32(const char* op, const Tensor& t);  // CUDA kernels are float32 only

// Calls f(T{}) with T = float or double to match dtype: the CPU ops are templates on T.
template <class F>
void dispatch_float(DType dtype, F&& f) {
  NN_CHECK(is_floating(dtype), "this operation needs float32 or float64 data, got a storage-only dtype");
  if (dtype == DType::F32) {
    f(float{});
  } else {
    f(double{});
  }
}

}  // namespace nn
