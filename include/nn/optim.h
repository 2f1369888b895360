// optim.h — Adam over a whole ParameterArena, with PyTorch's update rule (kernels/adam_math.h).
//
// The first and second moments are flat buffers with the arena's layout, so one step is one
// loop on the CPU and one fused kernel launch on CUDA, whatever the number of parameters.
#pragma once
#include <cstdint>

#include "nn/nn.h"

namespace nn {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

class Adam {
 public:
  Adam(ParameterArena& arena, AdamOptions options);
  void step();                                 // uses the arena's gradients; does not zero them
  void zero_grad() { arena_->zero_grad(); }
  int64_t step_count() const { return step_; }
  void set_step_count(int64_t t) { step_ = t; }  // for checkpoint restore
  const AdamOptions& options() const { return options_; }
  void set_lr(double lr) { options_.lr = lr; }  // a schedule's learning rate for the next steps
  Tensor exp_avg() const { return m_; }        // PyTorch's state names
  Tensor exp_avg_sq() const { return v_; }
  void to(Device device);                      // follows the arena after ParameterArena::build

 private:
  ParameterArena* arena_;
  AdamOptions options_;
  int64_t step_ = 0;
  Tensor m_, v_;
};

}  // namespace nn
