// sngan.cpp — the SNGAN networks' residual blocks (see sngan.h for the architecture).
#include "train/sngan.h"

#include <cmath>

namespace nn::train {

namespace {

const Pool2dArgs kPool2 = Pool2dArgs::make(2, 2);

// Sum over H and W: (N,C,H,W) -> (N,C), as torch.sum(h, dim=(2, 3)); the mean times H W.
class SpatialSum : public Layer {
 public:
  Tensor forward(const Tensor& x) override {
    return mul_scalar(flatten(global_avg_pool2d(x)), static_cast<double>(x.size(2) * x.size(3)));
  }
  std::string describe() const override { return "SpatialSum()"; }
};

class GBlock : public Layer {
 public:
  GBlock(ParameterArena& arena, Network& net, const std::string& name, int64_t in, int64_t out, bool upsample,
         bool bilinear, bool fuse)
      : upsample_(upsample),
        bilinear_(bilinear),
        fuse_(fuse),
        b1_(std::make_shared<BatchNorm>(arena, name + ".b1", in)),
        c1_(arena, name + ".c1", in, out, 3, 1, 1),
        b2_(std::make_shared<BatchNorm>(arena, name + ".b2", out)),
        c2_(arena, name + ".c2", out, out, 3, 1, 1) {
    net.batchnorms.push_back(b1_);
    net.batchnorms.push_back(b2_);
    arena.set_init(c1_.weight, ParamInit::XavierUniform, std::sqrt(2.0));
    arena.set_init(c2_.weight, ParamInit::XavierUniform, std::sqrt(2.0));
    if (upsample || in != out) {
      shortcut_ = std::make_unique<Conv2d>(arena, name + ".c_sc", in, out, 1, 1, 0);
      arena.set_init(shortcut_->weight, ParamInit::XavierUniform, 1.0);
    }
  }
  Tensor forward(const Tensor& x) override {
    // --fuse: each BN + ReLU as one batch_norm_act (the same values).
    auto bn_relu = [&](BatchNorm& bn, const Tensor& t) {
      return fuse_ ? bn.forward_fused(t, FusedActivation::Relu, 0.0) : relu(bn.forward(t));
    };
    Tensor h = up(bn_relu(*b1_, x));
    h = c2_.forward(bn_relu(*b2_, c1_.forward(h)));
    Tensor sc = up(x);
    if (shortcut_) sc = shortcut_->forward(sc);
    return add(h, sc);
  }
  // x2: bilinear (align_corners=False: resize_bilinear to twice the size is exactly that) or nearest.
  Tensor up(const Tensor& t) const {
    if (!upsample_) return t;
    return bilinear_ ? resize_bilinear(t, 2 * t.size(2), 2 * t.size(3)) : upsample_nearest2d(t, 2);
  }
  void set_training(bool on) override {
    training_ = on;
    for (Layer* l : std::initializer_list<Layer*>{b1_.get(), &c1_, b2_.get(), &c2_, shortcut_.get()})
      if (l) l->set_training(on);
  }
  std::string describe() const override { return "GBlock(" + c1_.describe() + ")"; }

 private:
  bool upsample_, bilinear_, fuse_;
  std::shared_ptr<BatchNorm> b1_;
  Conv2d c1_;
  std::shared_ptr<BatchNorm> b2_;
  Conv2d c2_;
  std::unique_ptr<Conv2d> shortcut_;
};

class DBlock : public Layer {
 public:
  // optimized: the first block (DBlockOptimized), which sees the image itself: no ReLU first,
  // always downsampling, its shortcut pooling before the 1x1 convolution.
  DBlock(ParameterArena& arena, const std::string& name, int64_t in, int64_t out, bool downsample, bool optimized,
         bool fuse)
      : downsample_(downsample || optimized),
        optimized_(optimized),
        fuse_(fuse),
        c1_(arena, name + ".c1", in, optimized ? out : in, 3, 1, 1, true, /*spectral_norm=*/true),
        c2_(arena, name + ".c2", optimized ? out : in, out, 3, 1, 1, true, true) {
    arena.set_init(c1_.weight, ParamInit::XavierUniform, std::sqrt(2.0));
    arena.set_init(c2_.weight, ParamInit::XavierUniform, std::sqrt(2.0));
    if (downsample_ || in != out) {
      shortcut_ = std::make_unique<Conv2d>(arena, name + ".c_sc", in, out, 1, 1, 0, true, true);
      arena.set_init(shortcut_->weight, ParamInit::XavierUniform, 1.0);
    }
    if (fuse) c1_.epilogue = BiasEpilogue{true, BiasActivation::Relu, 0.0};  // --fuse: c1's bias + ReLU as one bias_act
  }
  // The ReLU after c1: already applied by its epilogue under --fuse.
  Tensor relu_after_c1(const Tensor& t) const { return fuse_ ? t : relu(t); }
  Tensor forward(const Tensor& x) override {
    if (optimized_) {
      Tensor h = avg_pool2d(c2_.forward(relu_after_c1(c1_.forward(x))), kPool2, true);
      return add(h, shortcut_->forward(avg_pool2d(x, kPool2, true)));
    }
    // Mimicry's DBlock applies its first ReLU in place (nn.ReLU(inplace=True) on h = x, before
    // the shortcut reads x), so its shortcut sees relu(x): so does this one, written out.
    const Tensor xr = relu(x);
    Tensor h = c2_.forward(relu_after_c1(c1_.forward(xr)));
    if (downsample_) h = avg_pool2d(h, kPool2, true);
    Tensor sc = xr;
    if (shortcut_) {
      sc = shortcut_->forward(xr);
      if (downsample_) sc = avg_pool2d(sc, kPool2, true);
    }
    return add(h, sc);
  }
  void set_training(bool on) override {
    training_ = on;
    c1_.set_training(on);
    c2_.set_training(on);
    if (shortcut_) shortcut_->set_training(on);
  }
  std::string describe() const override { return std::string(optimized_ ? "DBlockOptimized(" : "DBlock(") + c1_.describe() + ")"; }

 private:
  bool downsample_, optimized_, fuse_;
  Conv2d c1_, c2_;
  std::unique_ptr<Conv2d> shortcut_;
};

}  // namespace

void build_sngan(const Config& c, Gan& gan) {
  const int64_t g = c.width, d = c.width / 2, nz = c.noise_dim;
  Network& G = gan.generator;
  auto l1 = std::make_shared<Linear>(G.arena, "l1", nz, 4 * 4 * g, true);
  G.arena.set_init(l1->weight, ParamInit::XavierUniform, 1.0);
  G.net.add(l1).add(std::make_shared<Unflatten>(Shape{g, 4, 4}));
  for (const char* name : {"block2", "block3", "block4"})
    G.net.add(std::make_shared<GBlock>(G.arena, G, name, g, g, /*upsample=*/true, c.upsample == "bilinear",
                                       c.fuse));
  auto b5 = std::make_shared<BatchNorm>(G.arena, "b5", g);
  G.batchnorms.push_back(b5);
  auto c5 = std::make_shared<Conv2d>(G.arena, "c5", g, 3, 3, 1, 1, true);
  G.arena.set_init(c5->weight, ParamInit::XavierUniform, 1.0);
  G.net.add(b5).add(std::make_shared<Activation>(Activation::Kind::ReLU)).add(c5);
  G.net.add(std::make_shared<Activation>(Activation::Kind::Tanh));

  Network& D = gan.discriminator;
  D.net.add(std::make_shared<DBlock>(D.arena, "block1", 3, d, true, /*optimized=*/true, c.fuse));
  D.net.add(std::make_shared<DBlock>(D.arena, "block2", d, d, /*downsample=*/true, false, c.fuse));
  D.net.add(std::make_shared<DBlock>(D.arena, "block3", d, d, false, false, c.fuse));
  D.net.add(std::make_shared<DBlock>(D.arena, "block4", d, d, false, false, c.fuse));
  auto l5 = std::make_shared<Linear>(D.arena, "l5", d, 1, true, /*spectral_norm=*/true);
  D.arena.set_init(l5->weight, ParamInit::XavierUniform, 1.0);
  D.net.add(std::make_shared<Activation>(Activation::Kind::ReLU)).add(std::make_shared<SpatialSum>()).add(l5);
  gan.d_outputs_probability = false;
  gan.noise_per_sample = {nz};
}

}  // namespace nn::train
