// trainer_steps.cpp — one training step of each preset's schedule (see trainer.h, and the
// schedules at the top of trainer.cpp), the losses, the learning-rate decay and the EMA generator.
#include <algorithm>
#include <cmath>

#include "train/trainer.h"

#include "step_state_math.h"

namespace nn::train {

// ------------------------------------------------------------------ losses

// With --fuse, dcgan's D gives logits and its Sigmoid runs inside the loss (bce_sigmoid: the bits
// of bce(sigmoid(.)), the layers' composition).
Tensor Trainer::d_loss(const Tensor& out_real, const Tensor& out_fake) const {
  if (config_.loss == "hinge") return hinge_d_loss(out_real, out_fake);
  if (gan_->d_sigmoid_in_loss) return add(bce_sigmoid(out_real, ones_), bce_sigmoid(out_fake, zeros_));
  if (gan_->d_outputs_probability) return add(bce(out_real, ones_), bce(out_fake, zeros_));
  return add(bce_with_logits(out_real, ones_), bce_with_logits(out_fake, zeros_));
}

Tensor Trainer::g_loss(const Tensor& out_fake) const {
  if (config_.loss == "hinge") return hinge_g_loss(out_fake);
  if (gan_->d_sigmoid_in_loss) return bce_sigmoid(out_fake, ones_);
  return gan_->d_outputs_probability ? bce(out_fake, ones_) : bce_with_logits(out_fake, ones_);
}

Tensor Trainer::d_score(const Tensor& out) const {
  NoGradGuard no_grad;
  Tensor o = out.detach();
  if (config_.loss == "bce" && (!gan_->d_outputs_probability || gan_->d_sigmoid_in_loss)) o = sigmoid(o);
  return mean(o);
}

// ------------------------------------------------------------------ one step

namespace {
// D frozen for G's backward, and unfrozen however the scope ends: a step that throws (a CUDA graph
// capture that fails half-way, Trainer::run_step) must not leave D without gradients.
class FrozenWhileInScope {
 public:
  explicit FrozenWhileInScope(ParameterArena& arena) : arena_(arena) { arena_.set_requires_grad(false); }
  ~FrozenWhileInScope() { arena_.set_requires_grad(true); }
  FrozenWhileInScope(const FrozenWhileInScope&) = delete;
  FrozenWhileInScope& operator=(const FrozenWhileInScope&) = delete;

 private:
  ParameterArena& arena_;
};
}  // namespace

void Trainer::step_dcgan(const Tensor& real, const Tensor& noise) {
  Sequential& G = gan_->generator.net;
  Sequential& D = gan_->discriminator.net;
  ParameterArena& d_params = gan_->discriminator.arena;

  // (1) D: maximise log D(x) + log(1 - D(G(z))).
  adam_d_->zero_grad();
  Tensor out_real = D.forward(real);
  Tensor fake = G.forward(noise);
  Tensor out_fake = D.forward(fake.detach());
  Tensor err_d = d_loss(out_real, out_fake);
  err_d.backward();
  adam_d_->step();

  // (2) G: maximise log D(G(z)), through the updated D (frozen: its weights get no gradient).
  adam_g_->zero_grad();
  Tensor out_fake_g = D.forward(fake);
  Tensor err_g = g_loss(out_fake_g);
  {
    FrozenWhileInScope frozen(d_params);
    err_g.backward();
  }
  adam_g_->step();

  record_metrics(err_d, err_g, d_score(out_real), d_score(out_fake), d_score(out_fake_g));
}

void Trainer::step_keras(const Tensor& real, const Tensor& noise) {
  Sequential& G = gan_->generator.net;
  Sequential& D = gan_->discriminator.net;
  ParameterArena& d_params = gan_->discriminator.arena;

  Tensor fake = G.forward(noise);
  // D's input is a leaf so that dL_G/dfake can be taken through D without D's graph being
  // shared with G's: one D forward serves both losses, as in the TF tutorial.
  Tensor fake_in = fake.detach().requires_grad_();
  Tensor out_real = D.forward(real);
  Tensor out_fake = D.forward(fake_in);
  Tensor err_d = d_loss(out_real, out_fake);
  Tensor err_g = g_loss(out_fake);

  adam_g_->zero_grad();
  adam_d_->zero_grad();
  // G's gradient: dL_G/dfake through a frozen D (graph kept for D's own sweep), then into G.
  {
    FrozenWhileInScope frozen(d_params);
    err_g.backward(Tensor(), /*retain_graph=*/true);
  }
  fake.backward(fake_in.grad());
  // D's gradient, with the same weights the G gradient saw.
  err_d.backward();
  adam_d_->step();
  adam_g_->step();

  record_metrics(err_d, err_g, d_score(out_real), d_score(out_fake), d_score(out_fake));
}

// One D step on its own (--d-steps N > 1: the first N - 1 of each step; every D step of sngan):
// D on the real batch, then on G(z) made without a graph (G in training mode, so its batchnorm
// statistics move as in the PyTorch loops), D's loss, D's Adam step. Returns the loss and the
// two outputs for the metrics.
Trainer::DStepResult Trainer::d_step(const Tensor& real, const Tensor& noise) {
  Sequential& G = gan_->generator.net;
  Sequential& D = gan_->discriminator.net;
  adam_d_->zero_grad();
  Tensor out_real = D.forward(real);
  Tensor fake;
  {
    NoGradGuard no_grad;
    fake = G.forward(noise);
  }
  Tensor out_fake = D.forward(fake);
  Tensor err_d = d_loss(out_real, out_fake);
  err_d.backward();
  adam_d_->step();
  return {err_d, out_real, out_fake};
}

// sngan (Mimicry's loop): d_steps D steps, each on a fresh real batch and fresh noise, then one G
// step on fresh noise through the updated D (frozen; in training mode, so its spectral norms take
// their power iteration as PyTorch's do).
void Trainer::step_sngan(const std::vector<Tensor>& reals, const std::vector<Tensor>& noises) {
  DStepResult last;
  for (size_t k = 0; k < reals.size(); ++k) last = d_step(reals[k], noises[k]);
  ParameterArena& d_params = gan_->discriminator.arena;
  adam_g_->zero_grad();
  Tensor out_fake_g = gan_->discriminator.net.forward(gan_->generator.net.forward(noises.back()));
  Tensor err_g = g_loss(out_fake_g);
  {
    FrozenWhileInScope frozen(d_params);
    err_g.backward();
  }
  adam_g_->step();
  record_metrics(last.loss, err_g, d_score(last.out_real), d_score(last.out_fake), d_score(out_fake_g));
}

// --lr-decay linear: during step s (0-based) of a run of T steps, lr (1 - s / T) for every Adam
// step it takes (D's and G's), as Mimicry's linear schedule; T is the run's epochs times its
// steps per epoch (a trainer without data counts one step per epoch).
double Trainer::lr_decay_total_steps() const {
  return static_cast<double>(config_.epochs) * static_cast<double>(sampler_ ? steps_per_epoch() : 1);
}

double Trainer::learning_rate_now() const {
  if (config_.lr_decay != "linear") return config_.lr;
  return linear_decay_lr(step_, config_.lr, lr_decay_total_steps());  // the device's formula, on the host
}

// --ema: after G's step s (1-based), ema = g for s <= ema_start, else ema + (1 - decay) (g - ema)
// (torch.lerp's formula), over the whole parameter arena at once; buffers (batchnorm statistics)
// and batchnorm counters are copied.
void Trainer::update_ema() {
  if (!ema_) return;
  // The copy-or-average choice is made on the device from G's step count (step_state_math.h's
  // ema_value), so the same launch serves every step of a replayed graph.
  ema_update_(ema_->generator.arena.values(), gan_->generator.arena.values(), step_device_, config_.ema_start,
              config_.ema);
  copy_generator_to_ema(/*with_parameters=*/false);
}

// G's batchnorm statistics and counters into the EMA copy, and its parameters too when asked.
void Trainer::copy_generator_to_ema(bool with_parameters) {
  ParameterArena& g = gan_->generator.arena;
  ParameterArena& e = ema_->generator.arena;
  if (with_parameters) e.values().copy_(g.values());
  e.buffer_values().copy_(g.buffer_values());
  for (size_t i = 0; i < gan_->generator.batchnorms.size(); ++i)
    ema_->generator.batchnorms[i]->num_batches_tracked = gan_->generator.batchnorms[i]->num_batches_tracked;
}

std::vector<Tensor> Trainer::draw_noises(int64_t count) {
  std::vector<Tensor> noises;
  for (int64_t k = 0; k < count; ++k) {
    Tensor noise = Tensor::empty(gan_->noise_shape(config_.batch_size), dtype_, device_);
    noise.normal_(noise_rng_);
    noises.push_back(noise);
  }
  return noises;
}

int64_t Trainer::noises_per_step() const { return config_.d_steps + (config_.preset == "sngan" ? 1 : 0); }

void Trainer::train_step(const Tensor& real) { train_step(std::vector<Tensor>{real}); }

void Trainer::train_step(const std::vector<Tensor>& reals) {
  // The noise of every D step, then (sngan) G's, drawn in the order they are used.
  std::vector<Tensor> noises = draw_noises(noises_per_step());
  std::vector<Tensor> widened;
  // A float64 run trains on the float32 batches widened (exactly) to float64.
  for (const Tensor& r : reals) widened.push_back(r.dtype() == dtype_ ? r : r.to(dtype_));
  train_step(widened, noises);
}

void Trainer::train_step(const Tensor& real, const Tensor& noise) {
  train_step(std::vector<Tensor>{real}, std::vector<Tensor>{noise});
}

void Trainer::train_step(const std::vector<Tensor>& reals, const std::vector<Tensor>& noises) {
  NN_CHECK(static_cast<int64_t>(reals.size()) == config_.d_steps &&
               static_cast<int64_t>(noises.size()) == noises_per_step(),
           "train_step: a step of ", config_.preset, " with --d-steps ", config_.d_steps, " takes ", config_.d_steps,
           " real batches and ", noises_per_step(), " noise batches, got ", reals.size(), " and ", noises.size());
  for (const Tensor& real : reals)
    NN_CHECK(real.shape() == Shape({config_.batch_size, 3, 32, 32}) && real.dtype() == dtype_ &&
                 real.device() == device_,
             "train_step: the real batch must be ", shape_str({config_.batch_size, 3, 32, 32}), " ",
             dtype_name(dtype_), " on the trainer's device, got ", real.str());
  for (const Tensor& noise : noises)
    NN_CHECK(noise.shape() == gan_->noise_shape(config_.batch_size) && noise.dtype() == dtype_ &&
                 noise.device() == device_,
             "train_step: the noise must be ", shape_str(gan_->noise_shape(config_.batch_size)), " ",
             dtype_name(dtype_), " on the trainer's device, got ", noise.str());
  gan_->generator.train(true);
  gan_->discriminator.train(true);
  // --lr-decay linear: this step's learning rate, computed on the device from its step counter
  // into both optimizers' lr tensors (without a schedule they keep the constructor's).
  if (config_.lr_decay == "linear")
    linear_decay_lr_(step_device_, config_.lr, lr_decay_total_steps(), adam_g_->lr_tensor(), adam_d_->lr_tensor());
  if (config_.preset == "sngan") {
    step_sngan(reals, noises);
  } else {
    // --d-steps N: N - 1 D steps on their own first, then the preset's own step on the last batch.
    for (int64_t k = 0; k + 1 < config_.d_steps; ++k) d_step(reals[static_cast<size_t>(k)], noises[static_cast<size_t>(k)]);
    if (config_.preset == "dcgan") {
      step_dcgan(reals.back(), noises.back());
    } else {
      step_keras(reals.back(), noises.back());
    }
  }
  ++step_;
  counter_take_(step_device_, 1, /*want_start=*/false);
  update_ema();
}

}  // namespace nn::train
