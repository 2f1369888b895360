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

// Multiply and add that the compiler may NOT fuse into an FMA. nvcc contracts a*b+c into one
// fma by default while g++ on x86-64 does not, so code that must give the same bits on both
// sides (the random number transforms) uses these and explicit fma_rn() instead of * and +.
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
NN_HD float fma_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);  // correctly rounded, like the device instruction
#endif
}

}  // namespace nn
