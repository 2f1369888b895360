// linear.cpp — matmul and linear (fully connected), on the CPU and through cuBLAS.
//
//   matmul:  C = A B            A (M,K), B (K,N), C (M,N)
//            dA += dC B^T       dB += A^T dC
//
//   linear:  y = x W^T + b      x (N,in), W (out,in) as PyTorch's Linear, b (out) or none
//            dx += dy W         dW += dy^T x        db += sum_n dy[n,:]
//
// Both are three products of the same kind, C (+)= op(A) op(B), with op = identity or
// transpose. The CPU reference has one readable loop nest per combination the two ops need
// (gemm_nn_cpu, gemm_nt_cpu, gemm_tn_cpu), each ordered so the innermost loop walks contiguous
// memory; the CUDA path makes the same three calls to cuBLAS through gemm_rowmajor
// (src/cuda/cublas_gemm.cpp), with beta = 1 where a backward accumulates into a gradient.
// The bias uses kernels/bias.cu with HW = 1.
//
// Tests (tests/test_linear.cpp): Gradcheck.matmul, Gradcheck.linear, CudaParity.matmul,
// CudaParity.linear, Matmul.KnownValues, Linear.KnownValues, Linear.EqualsMatmulWithTransposedWeight,
// Linear.BackwardAccumulates, Linear.ShapeErrors.
#include <vector>

#include "cpu_gemm.h"
#include "op_util.h"

#if defined(NN_WITH_CUDA)
#include "cuda/cublas_gemm.h"
#endif

namespace nn {

namespace {

// The CPU reference products (gemm_nn_cpu, gemm_nt_cpu, gemm_tn_cpu) are in cpu_gemm.h.

// ---------------------------------------------------------------- one product, either device

// C = op(A) op(B) (accumulate == false) or C += op(A) op(B) (accumulate == true), where C is
// (M,N) and op(A) is (M,K). Tensors are contiguous row-major 2-D, all on one device.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const Tensor& A, const Tensor& B,
          const Tensor& C, bool accumulate) {
  NN_CHECK(!(trans_a && trans_b), "internal: gemm with both operands transposed is not needed");
  if (C.is_cuda()) {
    // Leading dimensions of contiguous row-major storage are the stored column counts:
    // A is stored (K,M) when transposed, else (M,K); B is stored (N,K) when transposed, else (K,N).
    NN_CUDA_ONLY(cuda::gemm_rowmajor(trans_a, trans_b, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
                                     1.0f, A.data<float>(), static_cast<int>(trans_a ? M : K), B.data<float>(),
                                     static_cast<int>(trans_b ? K : N), accumulate ? 1.0f : 0.0f, C.data<float>(),
                                     static_cast<int>(N)));
    return;
  }
  if (!accumulate) Tensor(C).fill_(0.0);  // a handle copy: fill_ is not const, the data is shared
  dispatch_float(C.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* a = A.data<T>();
    const T* b = B.data<T>();
    T* c = C.data<T>();
    gemm_cpu(trans_a, trans_b, M, N, K, a, b, c);
  });
}

// y[n,o] += b[o]; y (N,out), b (out).
void bias_add(const Tensor& y, const Tensor& b) {
  const int64_t rows = y.size(0), cols = y.size(1);
  if (y.is_cuda()) {
    NN_CUDA_ONLY(bias_add_cuda(y.data<float>(), b.data<float>(), static_cast<int>(rows), static_cast<int>(cols), 1,
                               op_stream()));
    return;
  }
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* yp = y.data<T>();
    const T* bp = b.data<T>();
    for (int64_t n = 0; n < rows; ++n)
      for (int64_t o = 0; o < cols; ++o) yp[n * cols + o] += bp[o];
  });
}

// db[o] += sum_n dy[n,o]; dy (N,out), db (out). Summed in double, as conv's bias gradient (and
// bias_act's, which fuses it): a bias in front of a batchnorm (sngan's l1) has a gradient that is
// zero up to rounding, best rounded once.
void bias_grad(const Tensor& dy, const Tensor& db) {
  const int64_t rows = dy.size(0), cols = dy.size(1);
  if (dy.is_cuda()) {
    NN_CUDA_ONLY(bias_grad_cuda(dy.data<float>(), db.data<float>(), static_cast<int>(rows), static_cast<int>(cols), 1,
                                op_stream()));
    return;
  }
  dispatch_float(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* g = dy.data<T>();
    T* d = db.data<T>();
    std::vector<double> acc(static_cast<size_t>(cols), 0.0);
    for (int64_t n = 0; n < rows; ++n)
      for (int64_t o = 0; o < cols; ++o) acc[static_cast<size_t>(o)] += static_cast<double>(g[n * cols + o]);
    for (int64_t o = 0; o < cols; ++o) d[o] += static_cast<T>(acc[static_cast<size_t>(o)]);
  });
}

// cuBLAS takes int sizes; the engine's tensors are far smaller, but say so instead of wrapping.
void check_fits_int(const char* op, const Tensor& t) {
  if (!t.is_cuda()) return;
  for (int64_t d : t.shape())
    NN_CHECK(d <= INT32_MAX, op, ": dimension of ", shape_str(t.shape()), " exceeds cuBLAS's int range");
}

}  // namespace

// ---------------------------------------------------------------- matmul

Tensor matmul(const Tensor& a, const Tensor& b) {
  OpScope scope("matmul", {&a, &b});
  check_defined("matmul", a, "first operand");
  check_defined("matmul", b, "second operand");
  check_op_tensors("matmul", {&a, &b});
  NN_CHECK(a.dim() == 2, "matmul: first operand must be 2-D (M,K), got ", shape_str(a.shape()));
  NN_CHECK(b.dim() == 2, "matmul: second operand must be 2-D (K,N), got ", shape_str(b.shape()));
  NN_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: ", shape_str(a.shape()), " x ",
           shape_str(b.shape()), " (", a.size(1), " != ", b.size(0), ")");
  check_fits_int("matmul", a);
  check_fits_int("matmul", b);
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);

  Tensor c = Tensor::empty({M, N}, a.dtype(), a.device());  // c: (M,N)
  gemm(false, false, M, N, K, a, b, c, /*accumulate=*/false);

  record_op(c, "matmul", {a, b}, [a, b, M, N, K](const Tensor& dc) {
    // dA (M,K) += dC (M,N) B^T, with B stored (K,N): an "NT" product of sizes M, K, inner N.
    if (wants_grad(a)) gemm(false, true, M, K, N, dc, b, a.ensure_grad(), true);
    // dB (K,N) += A^T dC, with A stored (M,K): a "TN" product of sizes K, N, inner M.
    if (wants_grad(b)) gemm(true, false, K, N, M, a, dc, b.ensure_grad(), true);
  });
  return c;
}

// ---------------------------------------------------------------- linear

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  OpScope scope("linear", {&x, &weight, &bias});
  check_defined("linear", x, "input");
  check_defined("linear", weight, "weight");
  check_op_tensors("linear", {&x, &weight, &bias});
  NN_CHECK(x.dim() == 2, "linear: input must be 2-D (N,in), got ", shape_str(x.shape()));
  NN_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out,in), got ", shape_str(weight.shape()));
  NN_CHECK(x.size(1) == weight.size(1), "linear: input ", shape_str(x.shape()), " has ", x.size(1),
           " features but weight ", shape_str(weight.shape()), " expects ", weight.size(1));
  if (bias.defined()) {
    NN_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias ", shape_str(bias.shape()), " must be (",
             weight.size(0), ") to match weight ", shape_str(weight.shape()));
  }
  check_fits_int("linear", x);
  check_fits_int("linear", weight);
  const int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);

  // y (N,out) = x (N,in) W^T, with W stored (out,in): an "NT" product.
  Tensor y = Tensor::empty({batch, out}, x.dtype(), x.device());
  gemm(false, true, batch, out, in, x, weight, y, /*accumulate=*/false);
  if (bias.defined()) bias_add(y, bias);

  record_op(y, "linear", {x, weight, bias}, [x, weight, bias, batch, in, out](const Tensor& dy) {
    // dx (N,in) += dy (N,out) W (out,in): an "NN" product.
    if (wants_grad(x)) gemm(false, false, batch, in, out, dy, weight, x.ensure_grad(), true);
    // dW (out,in) += dy^T x, with dy stored (N,out): a "TN" product, inner size N.
    if (wants_grad(weight)) gemm(true, false, out, in, batch, dy, x, weight.ensure_grad(), true);
    if (wants_grad(bias)) bias_grad(dy, bias.ensure_grad());
  });
  return y;
}

}  // namespace nn
