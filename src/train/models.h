// models.h — the two founding models, in PyTorch notation and with PyTorch state_dict names
// ("main.<index>.weight"), scaled by Config::width.
//
// dcgan (pytorch/examples, 32x32): z (N,nz,1,1) -> (N,3,32,32)
//   G: ConvT(nz,4w,4,1,0) BN ReLU  ConvT(4w,2w,4,2,1) BN ReLU  ConvT(2w,w,4,2,1) BN ReLU  ConvT(w,3,4,2,1) Tanh
//   D: Conv(3,w,4,2,1) LReLU  Conv(w,2w,4,2,1) BN LReLU  Conv(2w,4w,4,2,1) BN LReLU  Conv(4w,1,4,1,0) [Sigmoid]
//   (all bias=False; Sigmoid only with the BCE loss, which then works on probabilities as
//   BCELoss does; with the hinge loss D gives a raw score)
// keras (TF DCGAN tutorial adapted to 32x32x3): z (N,nz) -> (N,3,32,32)
//   G: Linear(nz,8*8*w) BN1d LReLU Unflatten(w,8,8)  ConvT(w,w/2,5,1,2) BN LReLU
//      ConvT(w/2,w/4,5,2,2,op=1) BN LReLU  ConvT(w/4,3,5,2,2,op=1) Tanh          (bias=False)
//   D: Conv(3,w/4,5,2,2) LReLU Dropout  Conv(w/4,w/2,5,2,2) LReLU Dropout  Flatten Linear(w/2*8*8,1)
//   (a raw score; the BCE loss then works on logits)
#pragma once
#include <memory>
#include <vector>

#include "nn/nn.h"
#include "train/config.h"

namespace nn::train {

struct Network {
  ParameterArena arena;
  Sequential net;
  std::vector<std::shared_ptr<BatchNorm>> batchnorms;  // for num_batches_tracked in checkpoints
  void train(bool on) { net.train(on); }
};

struct Gan {
  Network generator, discriminator;
  DeviceGenerator dropout_rng;  // D's dropout masks (keras); its offset is saved in checkpoints
  bool d_outputs_probability = false;  // dcgan + bce: D ends in Sigmoid
  // --fuse with d_outputs_probability: D's Sigmoid passes its input through and the loss applies
  // it (bce_sigmoid), so D's forward gives logits; d_score applies it for the metrics.
  bool d_sigmoid_in_loss = false;
  Shape noise_per_sample;              // (nz,1,1) for dcgan, (nz) for keras
  Shape noise_shape(int64_t batch) const {
    Shape s{batch};
    s.insert(s.end(), noise_per_sample.begin(), noise_per_sample.end());
    return s;
  }
};

// Builds both networks for `config`, allocates their arenas on `device` in config.dtype and
// draws the DCGAN initialisation from Generator(config.seed): G's parameters first, then D's.
std::unique_ptr<Gan> build_gan(const Config& config, Device device);

// The networks of a gan_train checkpoint (a safetensors file with a "config" in its metadata and
// the generator.* tensors) in float32 on `device`, the generator's weights and batchnorm
// statistics loaded (a --dtype float64 run's are rounded) and in eval mode: what gan_sample and
// gan_eval draw from. One-line nn::Error for a file that is not such a checkpoint.
std::unique_ptr<Gan> load_generator(const std::string& checkpoint, Device device);

}  // namespace nn::train
