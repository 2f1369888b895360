// loss_math.h — per-element losses and their derivatives, shared by CPU and CUDA.
// Each loss op returns scale * sum_i loss(x_i, t_i) with scale = 1/n (the mean).
//
//   BceLogits:  l = max(x,0) - x t + log(1 + e^-|x|)        dl/dx = sigmoid(x) - t
//               (the stable form: never exponentiates a positive number)
//   Bce:        l = -(t max(log p, -100) + (1-t) max(log(1-p), -100))
//               dl/dp = (p - t) / max((1-p) p, 1e-12)        (PyTorch's BCELoss clamps the logs at
//               -100 and the gradient's denominator at eps = 1e-12)
//   HingeReal:  l = relu(1 - x)                               dl/dx = -[x < 1]
//   HingeFake:  l = relu(1 + x)                               dl/dx =  [x > -1]
//   Neg:        l = -x                                        dl/dx = -1
//   BceSigmoid: l = Bce(sigmoid(x), t)                        dl/dx = dBce/dp(p) p (1 - p),  p = sigmoid(x)
//               (bce_sigmoid: the composition bce(sigmoid(x)) in one op, every product in the
//               composition's order, so the same bits; see loss_grad)
//
// hinge_d_loss = mean(HingeReal(d_real)) + mean(HingeFake(d_fake)); hinge_g_loss = mean(Neg(d_fake)).
// At the hinge's kink the derivative is taken as 0 (PyTorch's relu'(0) = 0).
#pragma once
#include "elementwise_math.h"

namespace nn {

enum class LossKind : int { BceLogits = 0, Bce = 1, HingeReal = 2, HingeFake = 3, Neg = 4, BceSigmoid = 5 };

NN_HD bool loss_has_target(LossKind k) {
  return k == LossKind::BceLogits || k == LossKind::Bce || k == LossKind::BceSigmoid;
}

template <class T>
NN_HD T loss_value(LossKind kind, T x, T t) {
  switch (kind) {
    case LossKind::BceLogits: {
      T pos = x > T(0) ? x : T(0);
      return pos - x * t + log1p(exp(-fabs(x)));
    }
    case LossKind::Bce: {
      T lp = log(x), l1p = log(T(1) - x);
      lp = lp > T(-100) ? lp : T(-100);
      l1p = l1p > T(-100) ? l1p : T(-100);
      return -(t * lp + (T(1) - t) * l1p);
    }
    case LossKind::HingeReal: return (T(1) - x) > T(0) ? T(1) - x : T(0);
    case LossKind::HingeFake: return (T(1) + x) > T(0) ? T(1) + x : T(0);
    case LossKind::BceSigmoid: return loss_value(LossKind::Bce, sigmoid_value(x), t);
    default: return -x;
  }
}

template <class T>
NN_HD T loss_derivative(LossKind kind, T x, T t) {
  switch (kind) {
    case LossKind::BceLogits: return sigmoid_value(x) - t;
    case LossKind::Bce: {
      // PyTorch's EPSILON here is a float constant (1e-12f = 9.99999996e-13), in double too.
      const T eps = T(1e-12f);
      T denom = (T(1) - x) * x;
      denom = denom > eps ? denom : eps;
      return (x - t) / denom;
    }
    case LossKind::HingeReal: return x < T(1) ? T(-1) : T(0);
    case LossKind::HingeFake: return x > T(-1) ? T(1) : T(0);
    case LossKind::BceSigmoid: {
      const T p = sigmoid_value(x);
      return loss_derivative(LossKind::Bce, p, t) * act_derivative(ActKind::Sigmoid, p, T(0));
    }
    default: return T(-1);
  }
}

// What the backward adds to dx_i, with g = upstream gradient x scale: g dl/dx. For BceSigmoid the
// products are taken in the composition's order, (g dBce/dp) sigmoid'(p): bce's backward first,
// then sigmoid's, so the fused op's gradient has the composition's bits.
template <class T>
NN_HD T loss_grad(LossKind kind, T g, T x, T t) {
  if (kind == LossKind::BceSigmoid) {
    const T p = sigmoid_value(x);
    return (g * loss_derivative(LossKind::Bce, p, t)) * act_derivative(ActKind::Sigmoid, p, T(0));
  }
  return g * loss_derivative(kind, x, t);
}

}  // namespace nn
