// autograd.h — define-by-run reverse-mode automatic differentiation (as in micrograd/PyTorch).
//
// Every differentiable op, when grad mode is on and an input requires grad, attaches a Node to
// its output: the inputs (the graph's edges) and a backward closure. Tensor::backward() sorts the
// graph topologically from the root and calls each closure once, in reverse order, with the
// gradient of that node's output. The rule of the engine:
//
//     backward ACCUMULATES:  input.grad += (d output / d input)^T grad_out
//
// so a tensor used twice gets both contributions, and calling backward twice doubles leaf
// gradients (tests/test_autograd.cpp checks this). zero_grad() clears. Gradients of intermediate
// tensors are freed as soon as their node has run, and the whole graph (closures, saved tensors)
// is released after backward: a second backward through it is an error, as in PyTorch.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace nn {

struct Node {
  const char* name = "";                 // the op, for error messages
  std::vector<Tensor> inputs;            // tensors the gradient flows to
  std::function<void(const Tensor& grad_out)> backward;  // accumulates into inputs' grads
};

// Grad mode is on by default; NoGradGuard turns it off in a scope (evaluation, sampling,
// optimizer steps, running-statistics updates).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op with these inputs must record a node (grad mode on and one input requires grad).
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Records `out` as the result of op `name` over `inputs`, if any_requires_grad(inputs).
// The closure must not capture `out` itself (that would be a reference cycle); capture
// out.detach() when the backward needs the output's values.
void record_op(Tensor& out, const char* name, std::vector<Tensor> inputs,
               std::function<void(const Tensor& grad_out)> backward);

// True when the gradient should flow into t (defined and requires grad).
inline bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

}  // namespace nn
