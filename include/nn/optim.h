// optim.h — Adam over a whole ParameterArena, with PyTorch's update rule (kernels/adam_math.h).
//
// The first and second moments are flat buffers with the arena's layout, so one step is one
// loop on the CPU and one fused kernel launch on CUDA, whatever the number of parameters.
// The step count t and the learning rate live in tensors on the arena's device, and so do the
// bias-corrected scalars computed from them (kernels/step_state_math.h): a step launches a
// one-thread kernel that advances t and writes the scalars, then the update, whose arguments are
// the same at every step, so a captured training step replays as a CUDA graph. The CPU path does
// the same on CPU tensors.
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
  int64_t step_count() const;       // reads t back from the device (between steps)
  void set_step_count(int64_t t);   // for checkpoint restore (between steps)
  const AdamOptions& options() const { return options_; }  // lr: the constructor's
  void set_lr(double lr);           // writes the learning rate tensor (between steps)
  double lr() const;                // reads it back
  // The float64 (1) learning rate the next steps use, for a schedule computed on the device
  // (linear_decay_lr_ in nn/step_state.h).
  const Tensor& lr_tensor() const { return lr_; }
  Tensor exp_avg() const { return m_; }        // PyTorch's state names
  Tensor exp_avg_sq() const { return v_; }
  void to(Device device);                      // follows the arena after ParameterArena::build

 private:
  ParameterArena* arena_;
  AdamOptions options_;
  Tensor m_, v_;
  Tensor t_;        // int64 (1): steps taken
  Tensor lr_;       // float64 (1)
  Tensor scalars_;  // float64 (7): the AdamScalars of the step in progress
};

}  // namespace nn
