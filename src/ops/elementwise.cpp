// elementwise.cpp — add, sub, mul, add_scalar, mul_scalar, sum, mean, and accumulate_ (the
// dst += scale src that every backward pass and Tensor::backward() use).
//
//   add:  y = a + b        da += dy,      db += dy
//   sub:  y = a - b        da += dy,      db -= dy
//   mul:  y = a b          da += dy b,    db += dy a
//   add_scalar: y = a + s  da += dy;      mul_scalar: y = s a    da += s dy
//   sum:  y = sum_i x_i    dx_i += dy     mean: y = sum_i x_i / n    dx_i += dy / n
//
// Shapes must match exactly (no broadcasting: the models never need it, and an implicit
// broadcast hides shape bugs). sum/mean return 0-dim tensors whose gradient stays on the device.
// Tests: tests/test_elementwise.cpp.
#include "cpu_parallel.h"
#include "op_util.h"

namespace nn {

void accumulate_(const Tensor& dst, const Tensor& src, double scale) {
  check_same_shape("accumulate_", dst, src);
  check_op_tensors("accumulate_", {&dst, &src});
  if (dst.is_cuda()) {
    NN_CUDA_ONLY(axpy_cuda(static_cast<float>(scale), src.data<float>(), dst.data<float>(), dst.numel(), op_stream()));
    return;
  }
  dispatch_float(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const T a = static_cast<T>(scale);
    const int64_t n = dst.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
    for (int64_t i = 0; i < n; ++i) d[i] += a * s[i];
  });
}

namespace {

// dst += scale * a * b (the product rule's two halves).
void mul_accumulate(const Tensor& dst, const Tensor& a, const Tensor& b, double scale) {
  if (dst.is_cuda()) {
    NN_CUDA_ONLY(mul_accumulate_cuda(static_cast<float>(scale), a.data<float>(), b.data<float>(), dst.data<float>(),
                                     dst.numel(), op_stream()));
    return;
  }
  dispatch_float(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* d = dst.data<T>();
    const T *pa = a.data<T>(), *pb = b.data<T>();
    const T s = static_cast<T>(scale);
    for (int64_t i = 0, n = dst.numel(); i < n; ++i) d[i] += s * pa[i] * pb[i];
  });
}

// dst_i += scale * g, with g the single value of a one-element tensor on dst's device.
void scalar_accumulate(const Tensor& dst, const Tensor& g, double scale) {
  if (dst.is_cuda()) {
    NN_CUDA_ONLY(scalar_accumulate_cuda(static_cast<float>(scale), g.data<float>(), dst.data<float>(), dst.numel(),
                                        op_stream()));
    return;
  }
  dispatch_float(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* d = dst.data<T>();
    const T v = static_cast<T>(scale) * g.data<T>()[0];
    for (int64_t i = 0, n = dst.numel(); i < n; ++i) d[i] += v;
  });
}

Tensor binary(const char* name, BinaryKind kind, const Tensor& a, const Tensor& b) {
  OpScope scope(name, {&a, &b});
  check_defined(name, a, "first operand");
  check_defined(name, b, "second operand");
  check_op_tensors(name, {&a, &b});
  check_same_shape(name, a, b);
  Tensor y = Tensor::empty_like(a);
  if (a.is_cuda()) {
    NN_CUDA_ONLY(binary_fwd_cuda(kind, a.data<float>(), b.data<float>(), y.data<float>(), a.numel(), op_stream()));
  } else {
    dispatch_float(a.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T *pa = a.data<T>(), *pb = b.data<T>();
      T* py = y.data<T>();
      const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelElems)
      for (int64_t i = 0; i < n; ++i) py[i] = binary_forward<T>(kind, pa[i], pb[i]);
    });
  }
  record_op(y, name, {a, b}, [a, b, kind](const Tensor& gy) {
    switch (kind) {
      case BinaryKind::Add:
      case BinaryKind::Sub:
        if (wants_grad(a)) accumulate_(a.ensure_grad(), gy, 1.0);
        if (wants_grad(b)) accumulate_(b.ensure_grad(), gy, kind == BinaryKind::Add ? 1.0 : -1.0);
        break;
      case BinaryKind::Mul:
        if (wants_grad(a)) mul_accumulate(a.ensure_grad(), gy, b.detach(), 1.0);
        if (wants_grad(b)) mul_accumulate(b.ensure_grad(), gy, a.detach(), 1.0);
        break;
    }
  });
  return y;
}

// y = scale x + shift
Tensor affine(const char* name, const Tensor& x, double scale, double shift) {
  OpScope scope(name, {&x});
  check_defined(name, x, "input");
  check_op_tensors(name, {&x});
  Tensor y = Tensor::empty_like(x);
  if (x.is_cuda()) {
    NN_CUDA_ONLY(affine_fwd_cuda(x.data<float>(), y.data<float>(), x.numel(), static_cast<float>(scale),
                                 static_cast<float>(shift), op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const T s = static_cast<T>(scale), t = static_cast<T>(shift);
      for (int64_t i = 0, n = x.numel(); i < n; ++i) py[i] = s * px[i] + t;
    });
  }
  record_op(y, name, {x}, [x, scale](const Tensor& gy) { accumulate_(x.ensure_grad(), gy, scale); });
  return y;
}

Tensor reduce_sum(const char* name, const Tensor& x, double scale) {
  OpScope scope(name, {&x});
  check_defined(name, x, "input");
  check_op_tensors(name, {&x});
  Tensor y = Tensor::empty({}, x.dtype(), x.device());
  if (x.is_cuda()) {
    NN_CUDA_ONLY(sum_cuda(x.data<float>(), x.numel(), static_cast<float>(scale), y.data<float>(), op_stream()));
  } else {
    dispatch_float(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T* px = x.data<T>();
      T acc = 0;
      for (int64_t i = 0, n = x.numel(); i < n; ++i) acc += px[i];
      y.data<T>()[0] = static_cast<T>(scale) * acc;
    });
  }
  record_op(y, name, {x}, [x, scale](const Tensor& gy) { scalar_accumulate(x.ensure_grad(), gy, scale); });
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary("add", BinaryKind::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary("sub", BinaryKind::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", BinaryKind::Mul, a, b); }
Tensor add_scalar(const Tensor& a, double s) { return affine("add_scalar", a, 1.0, s); }
Tensor mul_scalar(const Tensor& a, double s) { return affine("mul_scalar", a, s, 0.0); }
Tensor sum(const Tensor& x) { return reduce_sum("sum", x, 1.0); }
Tensor mean(const Tensor& x) {
  check_defined("mean", x, "input");
  NN_CHECK(x.numel() > 0, "mean: empty tensor ", shape_str(x.shape()));
  return reduce_sum("mean", x, 1.0 / static_cast<double>(x.numel()));
}

}  // namespace nn
