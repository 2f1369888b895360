// sngan.h — the ResNet SNGAN of Miyato et al. (2018) for 32x32 images, as the Mimicry library
// reproduces it (Lee & Town, 2020), with PyTorch state_dict names. g = width (256), d = width / 2 (128).
//
//   G: z (N,nz) -> l1 Linear(nz, 4*4*g) -> (g,4,4) -> block2, block3, block4: GBlock(g, g, up)
//      -> b5 BatchNorm(g) -> ReLU -> c5 Conv3x3(g, 3, pad 1) -> Tanh
//      GBlock(in, out, up): b1 BN ReLU [x2] c1 Conv3x3 b2 BN ReLU c2 Conv3x3, plus the
//      shortcut [x2] c_sc Conv1x1 (when up or in != out; the identity otherwise). x2 is bilinear
//      (align_corners=False), as Mimicry's code (torch_mimicry/modules/resblocks.py) has it, or
//      nearest with --upsample nearest, as the original Chainer SNGAN.
//   D: block1 DBlockOptimized(3, d), block2 DBlock(d, d, down), block3, block4 DBlock(d, d)
//      -> ReLU -> sum over H, W -> l5 Linear(d, 1); every convolution and linear spectrally
//      normalised (weight_orig, weight_u, weight_v).
//      DBlockOptimized(in, out): c1 Conv3x3 ReLU c2 Conv3x3 AvgPool2, plus AvgPool2 c_sc Conv1x1.
//      DBlock(in, out, down): r = ReLU(x); c1 Conv3x3 ReLU c2 Conv3x3 [AvgPool2] of r, plus
//      c_sc Conv1x1 [AvgPool2] of r when down or in != out (r itself otherwise). The shortcut
//      reading ReLU(x), not x, is Mimicry's: its DBlock's first ReLU is in place on x.
//   All convolutions and linears have biases. Initialisation (ours; init_sngan): Xavier-uniform,
//   gain sqrt(2) for the blocks' 3x3 convolutions and 1 for the shortcuts, l1, c5 and l5; biases
//   zero; batchnorm weights one; then u, v of every spectral norm as normalize(normal(0, 1)).
#pragma once
#include "train/config.h"
#include "train/models.h"

namespace nn::train {

void build_sngan(const Config& c, Gan& gan);

}  // namespace nn::train
