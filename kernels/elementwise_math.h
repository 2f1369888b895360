// elementwise_math.h — point-wise formulas shared by the CPU loops (src/ops/*.cpp) and the CUDA
// kernels (kernels/elementwise.cu). Templated on the scalar so the CPU reference runs in double.
//
//   relu(x)          = max(x, 0)                      relu'(x)       = [x > 0]
//   leaky_relu(x; a) = x if x > 0 else a x            leaky_relu'(x) = 1 if x > 0 else a
//   tanh(x)                                           tanh'          = 1 - y^2      (y = tanh x)
//   sigmoid(x)       = 1 / (1 + e^-x)                 sigmoid'       = y (1 - y)    (y = sigmoid x)
//
// The derivative at the kink x = 0 is taken as 0 (relu) and a (leaky relu), as PyTorch does.
#pragma once
#include "hd.h"

namespace nn {

enum class ActKind : int { Relu = 0, LeakyRelu = 1, Tanh = 2, Sigmoid = 3 };
enum class BinaryKind : int { Add = 0, Sub = 1, Mul = 2 };

// True when the backward of `kind` needs the output y rather than the input x.
NN_HD bool act_backward_uses_output(ActKind kind) { return kind == ActKind::Tanh || kind == ActKind::Sigmoid; }

template <class T>
NN_HD T sigmoid_value(T x) {
  // Evaluated so that exp() never overflows: for x < 0 use e^x / (1 + e^x).
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}

template <class T>
NN_HD T act_forward(ActKind kind, T x, T slope) {
  switch (kind) {
    case ActKind::Relu: return x > T(0) ? x : T(0);
    case ActKind::LeakyRelu: return x > T(0) ? x : slope * x;
    case ActKind::Tanh: return tanh(x);
    default: return sigmoid_value(x);
  }
}

// d f / d x expressed through x (relu, leaky relu) or through y = f(x) (tanh, sigmoid).
template <class T>
NN_HD T act_derivative(ActKind kind, T xy, T slope) {
  switch (kind) {
    case ActKind::Relu: return xy > T(0) ? T(1) : T(0);
    case ActKind::LeakyRelu: return xy > T(0) ? T(1) : slope;
    case ActKind::Tanh: return T(1) - xy * xy;
    default: return xy * (T(1) - xy);
  }
}

template <class T>
NN_HD T binary_forward(BinaryKind kind, T a, T b) {
  switch (kind) {
    case BinaryKind::Add: return a + b;
    case BinaryKind::Sub: return a - b;
    default: return a * b;
  }
}

}  // namespace nn
