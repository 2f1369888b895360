#!/usr/bin/env python3
"""make_inception_fixtures.py - the golden file for tests/test_inception.cpp.

Runs pytorch-fid's own FID Inception-v3 (pytorch_fid.inception.fid_inception_v3 inside
pytorch_fid.inception.InceptionV3, resize_input=True, normalize_input=True) with FORMULA weights
(nothing is downloaded: the URL loader is stubbed out for the construction), in float64, on two
fixed 32x32 images, and writes tests/golden/inception_blocks.safetensors: for every block output a
compact summary that the C++ test recomputes from its own forward pass.

    /tmp/torchvenv/bin/python tools/make_inception_fixtures.py      # needs torch, torchvision,
                                                                    # pytorch-fid, safetensors

The formula weights (tests/test_inception.cpp, formula_tensor(), computes the same numbers).
The network's tensors are numbered k = 0, 1, 2, ... in pytorch-fid's state_dict order, leaving out
the integer bn.num_batches_tracked. Element i (row-major) of tensor k is

    h = splitmix64(k * 2^32 + i)                       (the 64-bit finaliser, mod 2^64)
    v = 2 * (h >> 11) * 2^-53 - 1                      (exactly representable, in [-1, 1))

scaled by what the tensor is:
    conv.weight        v * sqrt(6 / fan_in)            fan_in = C * kh * kw: He-uniform, so
                                                       activations stay O(1) through 94 ReLU layers
    bn.weight (gamma)  1 + 0.25 v
    bn.bias (beta)     0.2 v
    bn.running_mean    0.1 v
    bn.running_var     1 + 0.5 v                       (in [0.5, 1.5): positive)
    fc.weight          v * sqrt(3 / 2048)              logits O(1)
    fc.bias            0.1 v                           (not used: the IS logits have no bias)

An integer hash rather than sin(): the weights are then bit-identical in both languages (no libm
in the loop), and neighbouring output channels are not phase-shifted copies of one another (a
sin(a i + b) filter bank has rank 2, which would make the test blind to channel mix-ups).

The input: two 32x32 RGB images, byte j (of the flattened (2,3,32,32) uint8 array) =
splitmix64(0xF1D0 * 2^32 + j) >> 56, stored in the file as `input_u8`. The pipeline is the one the
engine uses: x = u8 / 255, bilinear resize to 299x299 (align_corners=False), 2x - 1.

What the file holds (float64 unless said), for every block B in BLOCKS:
    B.channel_mean   (C,)   the mean over (N, H, W) of each channel
    B.samples        (256,) elements at flat indices floor(j * numel / 256), j = 0..255
    B.shape          int64 (4,) or (2,)
and `input_u8` (uint8 (2,3,32,32)). Metadata: "parameters" (JSON list of [name, shape] in
state_dict order, so the C++ side can check it numbers the tensors the same way), "blocks", the
versions of torch / torchvision / pytorch-fid, and the formula in words.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

import pytorch_fid
import pytorch_fid.inception as pfi
import torchvision
from safetensors.numpy import save_file

M64 = (1 << 64) - 1
SAMPLES = 256
INPUT_STREAM = 0xF1D0

# Block outputs, in forward order. "input_299" is the network input after resize and 2x - 1.
BLOCKS = [
    "input_299",
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
    "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2",
    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
    "Mixed_7a", "Mixed_7b", "Mixed_7c",
    "pool3", "logits",
]


def splitmix64(x):
    """splitmix64's finaliser on a uint64 numpy array (arithmetic wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def unit_values(k, n):
    """v in [-1, 1) for elements 0..n-1 of tensor k (exact in float64)."""
    x = (np.uint64(k) << np.uint64(32)) + np.arange(n, dtype=np.uint64)
    h = splitmix64(x) >> np.uint64(11)
    return 2.0 * (h.astype(np.float64) * 2.0 ** -53) - 1.0


def formula_tensor(k, name, shape):
    v = unit_values(k, int(np.prod(shape))).reshape(shape)
    if name.endswith("conv.weight"):
        fan_in = shape[1] * shape[2] * shape[3]
        return v * math.sqrt(6.0 / fan_in)
    if name.endswith("bn.weight"):
        return 1.0 + 0.25 * v
    if name.endswith("bn.bias"):
        return 0.2 * v
    if name.endswith("bn.running_mean"):
        return 0.1 * v
    if name.endswith("bn.running_var"):
        return 1.0 + 0.5 * v
    if name == "fc.weight":
        return v * math.sqrt(3.0 / shape[1])
    if name == "fc.bias":
        return 0.1 * v
    raise SystemExit(f"make_inception_fixtures.py: error: no formula for tensor {name}")


def build_pytorch_fid_model():
    """pytorch-fid's InceptionV3 wrapper and the Inception3 inside it, built by pytorch-fid's own
    fid_inception_v3() with the weight download and the state-dict load stubbed out."""
    captured = {}
    original_builder = pfi.fid_inception_v3
    original_loader = pfi.load_state_dict_from_url
    original_load = torchvision.models.inception.Inception3.load_state_dict

    def capturing_builder():
        net = original_builder()
        captured["net"] = net
        return net

    pfi.fid_inception_v3 = capturing_builder
    pfi.load_state_dict_from_url = lambda *args, **kwargs: None  # no download
    torchvision.models.inception.Inception3.load_state_dict = lambda self, *args, **kwargs: None
    try:
        wrapper = pfi.InceptionV3(output_blocks=[0, 1, 2, 3], resize_input=True, normalize_input=True)
    finally:
        pfi.fid_inception_v3 = original_builder
        pfi.load_state_dict_from_url = original_loader
        torchvision.models.inception.Inception3.load_state_dict = original_load
    return wrapper, captured["net"]


def summary(t):
    """Per-channel mean over (N, H, W) and SAMPLES strided elements, in float64."""
    a = t.detach().to(torch.float64).cpu().numpy()
    if a.ndim == 4:
        channel_mean = a.mean(axis=(0, 2, 3))
    else:
        channel_mean = a.mean(axis=0)
    flat = a.reshape(-1)
    n = flat.size
    index = [(j * n) // SAMPLES for j in range(SAMPLES)]
    return channel_mean, flat[index], np.array(a.shape, dtype=np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "inception_blocks.safetensors"))
    args = parser.parse_args()

    torch.manual_seed(0)  # nothing random is used; this only pins anything that might be
    wrapper, net = build_pytorch_fid_model()

    # float64 BEFORE the load: load_state_dict copies into the existing parameters, so a float32
    # model would round the formula weights to float32.
    wrapper = wrapper.double().eval()
    net = net.double().eval()
    # Formula weights in state_dict order (num_batches_tracked left out).
    state = net.state_dict()
    names = [n for n in state if not n.endswith("num_batches_tracked")]
    new_state = {}
    for k, name in enumerate(names):
        new_state[name] = torch.from_numpy(formula_tensor(k, name, tuple(state[name].shape)))
    missing, unexpected = net.load_state_dict(new_state, strict=False)
    assert not unexpected and all(m.endswith("num_batches_tracked") for m in missing), (missing, unexpected)
    assert all(net.state_dict()[n].dtype == torch.float64 and torch.equal(net.state_dict()[n], new_state[n]) for n in names)

    # The input images.
    j = np.arange(2 * 3 * 32 * 32, dtype=np.uint64)
    u8 = (splitmix64((np.uint64(INPUT_STREAM) << np.uint64(32)) + j) >> np.uint64(56)).astype(np.uint8)
    u8 = u8.reshape(2, 3, 32, 32)
    x01 = torch.from_numpy(u8.astype(np.float64) / 255.0)

    outputs = {}

    def hook(name):
        def fn(module, inputs, output):
            outputs[name] = output.detach().clone()
        return fn

    for name in BLOCKS:
        if hasattr(net, name) and name.startswith(("Conv2d", "Mixed")):
            getattr(net, name).register_forward_hook(hook(name))
    wrapper.blocks[0][3].register_forward_hook(hook("maxpool1"))
    wrapper.blocks[1][2].register_forward_hook(hook("maxpool2"))
    net.Conv2d_1a_3x3.register_forward_pre_hook(lambda m, inp: outputs.__setitem__("input_299", inp[0].detach().clone()))

    with torch.no_grad():
        feats = wrapper(x01)
        pool3 = feats[3].reshape(2, 2048)
        outputs["pool3"] = pool3
        outputs["logits"] = F.linear(pool3, net.fc.weight)  # no bias: the IS logits of the TF graph

    # Sanity: the wrapper's block outputs are the hooked ones.
    assert torch.equal(feats[0], outputs["maxpool1"]) and torch.equal(feats[1], outputs["maxpool2"])
    assert torch.equal(feats[2], outputs["Mixed_6e"])

    tensors = {"input_u8": u8}
    for name in BLOCKS:
        mean, samples, shape = summary(outputs[name])
        tensors[name + ".channel_mean"] = np.ascontiguousarray(mean)
        tensors[name + ".samples"] = np.ascontiguousarray(samples)
        tensors[name + ".shape"] = shape
        rms = float(outputs[name].pow(2).mean().sqrt())
        print(f"{name:14s} {str(tuple(outputs[name].shape)):22s} rms {rms:.4f}")

    metadata = {
        "parameters": json.dumps([[n, list(state[n].shape)] for n in names]),
        "blocks": json.dumps(BLOCKS),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pytorch_fid": pytorch_fid.__version__,
        "formula": "v = 2*(splitmix64(k*2^32+i)>>11)*2^-53 - 1; conv.weight v*sqrt(6/fan_in), bn.weight 1+0.25v, "
                   "bn.bias 0.2v, bn.running_mean 0.1v, bn.running_var 1+0.5v, fc.weight v*sqrt(3/2048), fc.bias 0.1v",
        "made_by": "tools/make_inception_fixtures.py",
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(tensors, args.out, metadata=metadata)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {len(names)} formula tensors)")


if __name__ == "__main__":
    sys.exit(main())
