// hd.h — NN_HD marks the shared point-wise math: `__host__ __device__` under nvcc, plain
// `inline` under g++. A CPU loop and a CUDA kernel call the very same functor, so the two
// backends cannot drift apart (CUTLASS uses the same trick with CUTLASS_HOST_DEVICE).
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define NN_HD __host__ __device__ __forceinline__
#else
#define NN_HD inline
#endif

namespace nn {

// The shared functors call exp/log/tanh/... unqualified on a template scalar T. These bring the
// float overloads of <cmath> into scope on the host (otherwise g++ would pick the C double
// functions); nvcc maps the same std:: names to its device math library.
using std::exp;
using std::fabs;
using std::log;
using std::log1p;
using std::sqrt;
using std::tanh;

// Arithmetic that the compiler may NOT fuse or relax. nvcc contracts a*b+c into one fma by
// default, and --use_fast_math would approximate division and square root; the device
// intrinsics below are immune to both. On the host, CMakeLists.txt compiles with
// -ffp-contract=off, so g++ never fuses either (it would on aarch64 or with -march=native).
// Code that must give the same bits on both sides (the random number transforms) uses these
// and explicit fma_rn() instead of *, +, / and sqrt.
NN_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
NN_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
NN_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);  // IEEE division even under -prec-div=false / --use_fast_math
#else
  return a / b;
#endif
}
NN_HD float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
// The same two in double, for functors templated on the scalar (the CPU tests run them in double).
NN_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
NN_HD double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
NN_HD float fma_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);  // correctly rounded, like the device instruction
#endif
}

}  // namespace nn
