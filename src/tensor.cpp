// tensor.cpp — storage, factories, copies between devices, fills and printing.
#include "nn/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <limits>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <vector>
#include <ostream>

#include "nn/autograd.h"
#include "nn/backend.h"
#include "nn/step_state.h"
#include "rng_math.h"

#if defined(NN_WITH_CUDA)
#include "cuda/context.h"
#include "kernels.h"
#endif

namespace nn {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::U8: return 1;
    case DType::I32: return 4;
    default: return 8;
  }
}
const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::U8: return "uint8";
    case DType::I32: return "int32";
    default: return "int64";
  }
}

// Calls f(T{}) for the C++ type of any dtype (the storage-only ones too).
template <class F>
static void dispatch_any(DType dtype, F&& f) {
  switch (dtype) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::U8: f(uint8_t{}); break;
    case DType::I32: f(int32_t{}); break;
    case DType::I64: f(int64_t{}); break;
  }
}

// The C++ type behind each dtype, for data<T>().
template <class T>
static constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::F32;
  else if constexpr (std::is_same_v<T, double>) return DType::F64;
  else if constexpr (std::is_same_v<T, uint8_t>) return DType::U8;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::I32;
  else return DType::I64;
}
const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// Checked: a shape from user input (a huge --noise-dim, say) must be an error, not a wrapped
// product that allocates a few bytes and is then written far past them.
int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    NN_CHECK(d >= 0, "negative dimension in shape ", shape_str(s));
    NN_CHECK(!__builtin_mul_overflow(n, d, &n), "shape ", shape_str(s), " has more than 2^63 elements");
  }
  return n;
}

[[noreturn]] static void no_cuda_build(const char* what) {
  throw_error(str_cat(what, ": this build has no CUDA backend (rebuild with the CUDA toolkit and cuDNN)"));
}

// ------------------------------------------------------------------ Storage

namespace {

// Freed host blocks of 256 KiB and more, kept for the next allocation of the same size.
// glibc hands every block over 128 KiB back to the kernel on free, so a CPU training step, which
// allocates the same activations every step, got them back as fresh pages and spent about 10%
// of its time in page faults zeroing them. A training step's sizes repeat exactly, so an exact-
// size free list serves them all; at most kMaxCachedBytes stay cached (the rest is freed). The
// GPU side needs none of this: the stream-ordered pool does it there.
class HostBlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{256} << 10;
  static constexpr size_t kMaxCachedBytes = size_t{2} << 30;

  void* take(size_t rounded) {
    if (rounded < kMinBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(rounded);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= rounded;
    return p;
  }
  // Keeps p (of `rounded` bytes) for reuse, or frees it.
  void give(void* p, size_t rounded) {
    if (rounded >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + rounded <= kMaxCachedBytes) {
        free_[rounded].push_back(p);
        cached_ += rounded;
        return;
      }
    }
    std::free(p);
  }
  // Frees every cached block: before reporting host memory as exhausted, try again without them.
  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

// Never destroyed: tensors in static objects may be freed after it would be.
HostBlockCache& host_cache() {
  static auto* cache = new HostBlockCache;
  return *cache;
}

// 64-byte aligned so CPU loops vectorise; aligned_alloc wants a multiple of the alignment.
size_t host_rounded(size_t nbytes) { return std::max<size_t>(64, (nbytes + 63) / 64 * 64); }

}  // namespace

Storage::Storage(size_t nbytes, Device dev) : bytes(nbytes), device(dev) {
  if (dev == Device::CPU) {
    const size_t rounded = host_rounded(nbytes);
    data = host_cache().take(rounded);
    if (data == nullptr) data = std::aligned_alloc(64, rounded);
    if (data == nullptr) {
      host_cache().release_all();
      data = std::aligned_alloc(64, rounded);
    }
    NN_CHECK(data != nullptr, "out of host memory: asked for ", nbytes, " bytes");
  } else {
#if defined(NN_WITH_CUDA)
    data = cuda::alloc(nbytes);
#else
    no_cuda_build("allocating a CUDA tensor");
#endif
  }
}

Storage::~Storage() {
  if (device == Device::CPU) {
    host_cache().give(data, host_rounded(bytes));
  } else {
#if defined(NN_WITH_CUDA)
    cuda::free(data);
#endif
  }
}

// ------------------------------------------------------------------ factories

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) NN_CHECK(d >= 0, "Tensor::empty: negative dimension in shape ", shape_str(shape));
  // CUDA tensors are float32 for the ops (check_cuda_f32); the other dtypes are storage there:
  // uint8 images, int32 orders, int64 counters, and the float64 scalars of the step state (an
  // Adam learning rate and its bias corrections: nn/step_state.h), which kernels read as double.
  if (device == Device::CUDA) {
    NN_CHECK(cuda_built(), "Tensor::empty: this build has no CUDA backend");
    NN_CHECK(cuda_available(), "Tensor::empty: no usable GPU (", cuda_device_description(), ")");
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->device = device;
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  Tensor t(impl);
  if (backend_settings().poison_new_tensors && is_floating(dtype) && !(device == Device::CUDA && dtype == DType::F64))
    t.fill_(std::numeric_limits<double>::quiet_NaN());
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values, DType dtype, Device device) {
  NN_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "Tensor::from_vector: ", values.size(),
           " values for shape ", shape_str(shape));
  Tensor cpu = empty(shape, dtype, Device::CPU);
  dispatch_any(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* p = cpu.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return cpu.to(device);
}

// ------------------------------------------------------------------ properties and data

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  NN_CHECK(d >= 0 && d < n, "Tensor::size: dimension ", d, " out of range for shape ", shape_str(shape()));
  return shape()[d];
}

std::string Tensor::str() const {
  return str_cat(dtype_name(dtype()), " ", device_name(device()), " ", shape_str(shape()));
}

void* Tensor::raw() const {
  const TensorImpl& t = impl();
  NN_CHECK(t.storage != nullptr, "tensor has no storage yet (a parameter arena that was not built?)");
  return static_cast<char*>(t.storage->data) + t.offset * dtype_size(t.dtype);
}

template <class T>
T* Tensor::data() const {
  constexpr DType want = dtype_of<T>();
  NN_CHECK(dtype() == want, "Tensor::data: tensor is ", dtype_name(dtype()), ", asked for ", dtype_name(want));
  return static_cast<T*>(raw());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template uint8_t* Tensor::data<uint8_t>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;

// ------------------------------------------------------------------ views and copies

Tensor Tensor::reshape_view(const Shape& new_shape) const {
  NN_CHECK(shape_numel(new_shape) == numel(), "reshape: cannot view ", shape_str(shape()), " (", numel(),
           " elements) as ", shape_str(new_shape));
  auto v = std::make_shared<TensorImpl>();
  v->storage = impl().storage;
  v->offset = impl().offset;
  v->shape = new_shape;
  v->dtype = dtype();
  v->device = device();
  return Tensor(v);
}

Tensor Tensor::view_at(int64_t offset, const Shape& new_shape) const {
  NN_CHECK(offset >= 0 && offset + shape_numel(new_shape) <= numel(), "view_at: ", shape_str(new_shape), " at offset ",
           offset, " does not fit in ", shape_str(shape()));
  auto v = std::make_shared<TensorImpl>();
  v->storage = impl().storage;
  v->offset = impl().offset + static_cast<size_t>(offset);
  v->shape = new_shape;
  v->dtype = dtype();
  v->device = device();
  return Tensor(v);
}

void Tensor::copy_(const Tensor& src) const {
  NN_CHECK(src.shape() == shape(), "copy_: shape ", shape_str(src.shape()), " into ", shape_str(shape()));
  NN_CHECK(src.dtype() == dtype(), "copy_: dtype ", dtype_name(src.dtype()), " into ", dtype_name(dtype()));
  size_t bytes = nbytes();
  if (device() == Device::CPU && src.device() == Device::CPU) {
    if (raw() != src.raw()) std::memmove(raw(), src.raw(), bytes);
    return;
  }
#if defined(NN_WITH_CUDA)
  if (device() == Device::CUDA && src.device() == Device::CUDA) {
    cuda::copy_device_to_device(raw(), src.raw(), bytes);
  } else if (device() == Device::CUDA) {
    cuda::copy_to_device(raw(), src.raw(), bytes);
  } else {
    cuda::copy_to_host(raw(), src.raw(), bytes);
  }
#else
  no_cuda_build("copy_");
#endif
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor out = empty(shape(), dtype(), target);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  NN_CHECK(device() == Device::CPU, "to(", dtype_name(target), "): dtype conversion is CPU-only; tensor is ", str());
  Tensor out = empty(shape(), target, Device::CPU);
  const int64_t n = numel();
  dispatch_any(dtype(), [&](auto from_zero) {
    using From = decltype(from_zero);
    const From* s = data<From>();
    dispatch_any(target, [&](auto to_zero) {
      using To = decltype(to_zero);
      To* d = out.data<To>();
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<To>(s[i]);
    });
  });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

std::vector<double> Tensor::to_vector() const {
  Tensor cpu = to(Device::CPU);
  std::vector<double> v(static_cast<size_t>(numel()));
  dispatch_any(dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* p = cpu.data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(p[i]);
  });
  return v;
}

double Tensor::item() const {
  NN_CHECK(numel() == 1, "item: tensor ", shape_str(shape()), " has ", numel(), " elements, not 1");
  return to_vector()[0];
}

// ------------------------------------------------------------------ fills

Tensor& Tensor::fill_(double value) {
  int64_t n = numel();
  if (is_cuda()) {
#if defined(NN_WITH_CUDA)
    if (dtype() == DType::F32) {
      fill_cuda(data<float>(), n, static_cast<float>(value), cuda::stream());
    } else {
      NN_CHECK(value == 0.0, "fill_: CUDA ", dtype_name(dtype()), " tensors can only be zero-filled");
      NN_CUDA_CHECK(cudaMemsetAsync(raw(), 0, nbytes(), cuda::stream()));
    }
#endif
    return *this;
  }
  dispatch_any(dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* p = data<T>();
    std::fill(p, p + n, static_cast<T>(value));
  });
  return *this;
}

// Random fills: element i takes counter c0 + i/4 of the shared Philox stream, on either device,
// so a CPU and a CUDA tensor filled from equal generators hold the same float values.
Tensor& Tensor::uniform_(Generator& gen, double lo, double hi) {
  int64_t n = numel();
  uint64_t c0 = gen.take(static_cast<uint64_t>(n));
  const float flo = static_cast<float>(lo), fspan = static_cast<float>(hi - lo);
  if (is_cuda()) {
#if defined(NN_WITH_CUDA)
    uniform_fill_cuda(data<float>(), n, gen.seed, c0, flo, fspan, cuda::stream());
#endif
    return *this;
  }
  dispatch_float(dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* p = data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(fma_rn(rng_uniform(gen.seed, c0, i), fspan, flo));
  });
  return *this;
}

// Both normal_ overloads: element i = fma(z_i, std, mean), z_i from counter c0 + i/4, where c0 is
// c0_host, or (c0_device defined) the value a DeviceGenerator's take left there, which the CUDA
// kernel reads on the device and the CPU loop reads here.
static void normal_fill(const Tensor& t, uint64_t seed, uint64_t c0_host, const Tensor& c0_device, double mean,
                        double std) {
  const int64_t n = t.numel();
  const float fmean = static_cast<float>(mean), fstd = static_cast<float>(std);
  if (t.is_cuda()) {
#if defined(NN_WITH_CUDA)
    if (c0_device.defined()) {
      normal_fill_cuda(t.data<float>(), n, seed, c0_device.data<int64_t>(), fmean, fstd, cuda::stream());
    } else {
      normal_fill_cuda(t.data<float>(), n, seed, c0_host, fmean, fstd, cuda::stream());
    }
#endif
    return;
  }
  const uint64_t c0 = c0_device.defined() ? static_cast<uint64_t>(c0_device.data<int64_t>()[0]) : c0_host;
  dispatch_float(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(fma_rn(rng_normal(seed, c0, i), fstd, fmean));
  });
}

Tensor& Tensor::normal_(Generator& gen, double mean, double std) {
  normal_fill(*this, gen.seed, gen.take(static_cast<uint64_t>(numel())), Tensor(), mean, std);
  return *this;
}

Tensor& Tensor::normal_(const DeviceGenerator& gen, double mean, double std) {
  NN_CHECK(gen.device() == device(), "normal_: the generator's counter is on ", device_name(gen.device()),
           " but the tensor on ", device_name(device()));
  normal_fill(*this, gen.seed(), 0, gen.take(numel()), mean, std);
  return *this;
}

// ------------------------------------------------------------------ printing

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor(" << t.str();
  if (t.requires_grad()) os << ", requires_grad";
  os << ")";
  std::vector<double> v = t.to_vector();
  const size_t limit = 64;
  os << " [";
  for (size_t i = 0; i < std::min(v.size(), limit); ++i) os << (i ? ", " : "") << std::setprecision(6) << v[i];
  if (v.size() > limit) os << ", ... (" << v.size() - limit << " more)";
  return os << "]";
}

// ------------------------------------------------------------------ op context for errors

namespace {
thread_local const OpScope* g_innermost_scope = nullptr;
}

OpScope::OpScope(const char* name, std::initializer_list<const Tensor*> tensors, const char* suffix)
    : name_(name), suffix_(suffix), outer_(g_innermost_scope) {
  for (const Tensor* t : tensors)
    if (count_ < kMaxTensors) tensors_[count_++] = t;
  g_innermost_scope = this;
}

OpScope::~OpScope() { g_innermost_scope = outer_; }

std::string OpScope::describe() const {
  std::string s = str_cat(" (in ", name_, suffix_);
  bool first = true;
  for (int i = 0; i < count_; ++i) {
    if (!tensors_[i]->defined()) continue;
    s += (first ? " on " : ", ") + shape_str(tensors_[i]->shape());
    first = false;
  }
  return s + ")";
}

std::string current_op_context() { return g_innermost_scope ? g_innermost_scope->describe() : std::string(); }

// ------------------------------------------------------------------ argument checks

void check_defined(const char* op, const Tensor& t, const char* what) {
  NN_CHECK(t.defined(), op, ": ", what, " is an undefined tensor");
}
void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  NN_CHECK(a.device() == b.device(), op, ": tensors on different devices: ", a.str(), " and ", b.str(),
           " (move one with .to())");
}
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  NN_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch: ", a.str(), " and ", b.str());
}
void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  NN_CHECK(a.shape() == b.shape(), op, ": shape mismatch: ", shape_str(a.shape()), " and ", shape_str(b.shape()));
}
void check_dim(const char* op, const Tensor& t, int64_t dim, const char* what) {
  NN_CHECK(t.dim() == dim, op, ": ", what, " must be ", dim, "-D, got ", shape_str(t.shape()));
}
void check_cuda_f32(const char* op, const Tensor& t) {
  if (t.is_cuda()) {
    NN_CHECK(t.dtype() == DType::F32, op, ": CUDA kernels are float32 only, got ", t.str());
#if !defined(NN_WITH_CUDA)
    no_cuda_build(op);
#endif
  }
}

}  // namespace nn
