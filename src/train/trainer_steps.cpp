// trainer_steps.cpp — one training step of each preset's schedule (see trainer.h, and the
// schedules at the top of trainer.cpp), the losses, the learning-rate decay and the EMA generator.
#include <cmath>

#include "train/trainer.h"

namespace nn::train {

// ------------------------------------------------------------------ losses

Tensor Trainer::d_loss(const Tensor& out_real, const Tensor& out_fake) const {
  if (config_.loss == "hinge") return hinge_d_loss(out_real, out_fake);
  if (gan_->d_outputs_probability) return add(bce(out_real, ones_), bce(out_fake, zeros_));
  return add(bce_with_logits(out_real, ones_), bce_with_logits(out_fake, zeros_));
}

Tensor Trainer::g_loss(const Tensor& out_fake) const {
  if (config_.loss == "hinge") return hinge_g_loss(out_fake);
  return gan_->d_outputs_probability ? bce(out_fake, ones_) : bce_with_logits(out_fake, ones_);
}

Tensor Trainer::d_score(const Tensor& out) const {
  NoGradGuard no_grad;
  Tensor o = out.detach();
  if (config_.loss == "bce" && !gan_->d_outputs_probability) o = sigmoid(o);
  return mean(o);
}

// ------------------------------------------------------------------ one step

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
  d_params.set_requires_grad(false);
  err_g.backward();
  d_params.set_requires_grad(true);
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
  d_params.set_requires_grad(false);
  err_g.backward(Tensor(), /*retain_graph=*/true);
  d_params.set_requires_grad(true);
  fake.backward(fake_in.grad());
  // D's gradient, with the same weights the G gradient saw.
  err_d.backward();
  adam_d_->step();
  adam_g_->step();

  record_metrics(err_d, err_g, d_score(out_real), d_score(out_fake), d_score(out_fake));
}

void Trainer::train_step(const Tensor& real) {
  Tensor noise = Tensor::empty(gan_->noise_shape(real.size(0)), dtype_, device_);
  noise.normal_(noise_rng_);
  // A float64 run trains on the float32 batch widened (exactly) to float64.
  train_step(real.dtype() == dtype_ ? real : real.to(dtype_), noise);
}

void Trainer::train_step(const Tensor& real, const Tensor& noise) {
  NN_CHECK(real.shape() == Shape({config_.batch_size, 3, 32, 32}) && real.dtype() == dtype_ &&
               real.device() == device_,
           "train_step: the real batch must be ", shape_str({config_.batch_size, 3, 32, 32}), " ", dtype_name(dtype_),
           " on the trainer's device, got ", real.str());
  NN_CHECK(noise.shape() == gan_->noise_shape(config_.batch_size) && noise.dtype() == dtype_ &&
               noise.device() == device_,
           "train_step: the noise must be ", shape_str(gan_->noise_shape(config_.batch_size)), " ", dtype_name(dtype_),
           " on the trainer's device, got ", noise.str());
  gan_->generator.train(true);
  gan_->discriminator.train(true);
  if (config_.preset == "dcgan") {
    step_dcgan(real, noise);
  } else {
    step_keras(real, noise);
  }
  ++step_;
}


}  // namespace nn::train
