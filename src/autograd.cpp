// autograd.cpp — the graph walk behind Tensor::backward() (see autograd.h for the rules).
#include "nn/autograd.h"

#include <unordered_set>

#include "nn/ops.h"

namespace nn {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record_op(Tensor& out, const char* name, std::vector<Tensor> inputs,
               std::function<void(const Tensor& grad_out)> backward) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  TensorImpl& o = out.impl();
  o.requires_grad = true;
  o.is_leaf = false;
  o.grad_fn = std::move(node);
}

// ------------------------------------------------------------------ Tensor's autograd methods

Tensor& Tensor::requires_grad_(bool on) {
  NN_CHECK(is_leaf() || !on, "requires_grad_: only leaf tensors can be marked (use detach() first)");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

Tensor Tensor::ensure_grad() const {
  TensorImpl& t = impl();
  if (!t.grad) t.grad = Tensor::zeros(t.shape, t.dtype, t.device).impl_ptr();
  return Tensor(t.grad);
}

void Tensor::set_grad(const Tensor& g) {
  if (!g.defined()) {
    impl().grad.reset();
    return;
  }
  NN_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(), "set_grad: gradient ", g.str(),
           " does not match tensor ", str());
  impl().grad = g.impl_ptr();
}

void Tensor::zero_grad() {
  if (impl().grad) Tensor(impl().grad).fill_(0.0);
}

Tensor Tensor::detach() const {
  auto v = std::make_shared<TensorImpl>();
  v->storage = impl().storage;
  v->offset = impl().offset;
  v->shape = shape();
  v->dtype = dtype();
  v->device = device();
  return Tensor(v);
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  const TensorImpl& root = impl();
  if (gradient.defined()) {
    NN_CHECK(gradient.shape() == shape() && gradient.dtype() == dtype() && gradient.device() == device(),
             "backward: gradient ", gradient.str(), " does not match the tensor ", str());
  } else {
    NN_CHECK(numel() == 1, "backward: needs a one-element (scalar) tensor, got ", shape_str(shape()),
             "; reduce it with sum() or mean() first, or pass the gradient");
  }
  NN_CHECK(root.requires_grad, "backward: the tensor does not require grad (no input had requires_grad)");
  NN_CHECK(root.is_leaf || root.grad_fn, "backward: the graph of this tensor was already released by an earlier "
                                         "backward(); run the forward again");

  // Topological order of the tensors that carry a grad_fn, by iterative depth-first search
  // (graphs can be deep; no recursion).
  // `order` holds owning pointers: releasing a node below drops the last other reference to
  // the tensors it saved, and they must live until the walk is over.
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> seen;
  struct Frame {
    std::shared_ptr<TensorImpl> t;
    size_t next_input;
  };
  std::vector<Frame> stack;
  if (root.grad_fn) {
    stack.push_back({impl_ptr(), 0});
    seen.insert(impl_ptr().get());
  }
  while (!stack.empty()) {
    Frame& f = stack.back();
    const auto& inputs = f.t->grad_fn->inputs;
    if (f.next_input < inputs.size()) {
      const Tensor& in = inputs[f.next_input++];
      const std::shared_ptr<TensorImpl>& p = in.impl_ptr();
      if (p && p->grad_fn && seen.insert(p.get()).second) stack.push_back({p, 0});
    } else {
      order.push_back(f.t);
      stack.pop_back();
    }
  }

  // Seed d root / d root = 1, or the given gradient (accumulating, so a leaf root behaves like
  // any leaf).
  accumulate_(ensure_grad(), gradient.defined() ? gradient : Tensor::ones(shape(), dtype(), device()));
  // `order` lists inputs before the tensors made from them; walk it backwards.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = it->get();
    std::shared_ptr<Node> node = t->grad_fn;
    if (t->grad) {
      NoGradGuard no_grad;  // backward closures compute with plain ops; never record them
      Tensor grad_out(t->grad);
      OpScope scope(node->name, {&grad_out}, " backward");
      node->backward(grad_out);
    }
    // Release: an intermediate's gradient (always: each sweep starts from zero) and, unless the
    // graph is retained for another sweep, its node (closure, saved tensors, edges).
    if (t != impl_ptr().get()) t->grad.reset();
    if (!retain_graph) t->grad_fn.reset();
  }
  // The root keeps its grad (d root / d root = 1) only if it is a leaf, as in PyTorch.
  if (!root.is_leaf) impl().grad.reset();
}

}  // namespace nn
