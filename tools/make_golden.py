#!/usr/bin/env python3
"""make_golden.py: PyTorch reference fixtures for the golden parity tests (tests/test_golden.cpp).

    python3 tools/make_golden.py                      # regenerate tests/golden/{dcgan,keras}_*.safetensors
    python3 tools/make_golden.py --gan-train build/gan_train --out tests/golden

Needs PyTorch, safetensors and numpy for the CPU (`pip install torch safetensors numpy`) and a
built gan_train. For each preset, at a small width and batch:

  1. `gan_train --write-init` writes our own initialiser's weights as a step-0 checkpoint; they
     are loaded into the PyTorch models below with load_state_dict(strict=True), which is also
     the checkpoint interoperability check in this direction.
  2. PyTorch draws the inputs: three noise batches, three real batches (8-bit pixel values
     scaled to [-1, 1]) and, for keras, every dropout mask. All are float32 values, so the
     float32 and float64 runs of both engines start from exactly the same numbers.
  3. Three full training steps run in float64 with the preset's schedule and Adam, recording
     every layer's output (forward hooks; Flatten/Unflatten are views and are skipped), both
     losses, D(x), D(G(z)) before and after D's step, every parameter gradient, and every
     parameter, batchnorm statistic and Adam moment after the step.
  4. The same three steps run in float32. How far PyTorch's own float32 lands from its float64
     is written next to each tensor (metadata "f32_error"): the envelope the float32 tests
     allow our engine (tests/test_golden.cpp explains the rule).

Files: <preset>_inputs.safetensors (config, initial weights, inputs) and
<preset>_step<k>.safetensors (everything step k touches, float64), each well under 1 MB.

The same models serve `interop` (a gan_train checkpoint into PyTorch: the generator's output)
and `export` (PyTorch weights as a safetensors state dict for gan_train --init-from); the
interop tests (Interop.*) call these two when PyTorch is installed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

# Small models (each fixture well under 1 MB: the 3x32x32 outputs of G's last layers dominate)
# that still have every layer kind of the preset: dcgan width 2 has channels 8, 4, 2; keras width 8
# has 8, 4, 2 (and a 512-wide dense layer). Batch 2 is the smallest batchnorm allows.
PRESETS = {
    "dcgan": ["--preset", "dcgan", "--width", "2", "--noise-dim", "16", "--batch-size", "2"],
    "keras": ["--preset", "keras", "--width", "8", "--noise-dim", "8", "--batch-size", "2"],
    # sngan width 8: G 8 channels, D 4; 5 D steps per G step (15 D steps and 3 G steps in all);
    # --epochs 4 makes the linear lr decay (a trainer without data counts a step per epoch) give
    # lr x 1, 0.75, 0.5; the EMA copies G at step 1 and averages at steps 2 and 3.
    "sngan": ["--preset", "sngan", "--width", "8", "--noise-dim", "8", "--batch-size", "2", "--epochs", "4",
              "--ema", "0.9", "--ema-start", "1"],
}
STEPS = 3
INPUT_SEED = 2024  # PyTorch's generator for the noise, real batches and dropout masks


# ---------------------------------------------------------------- the models, as src/train/models.h

class MaskedDropout(nn.Module):
    """Dropout whose keep masks come from a list (the fixture's), so both engines drop the same
    elements: y = x * (keep * (1 / (1 - p))), the product our Dropout layer computes when given
    a mask."""

    def __init__(self, p, masks):
        super().__init__()
        self.p = p
        self.masks = masks  # shared list, consumed in call order

    def forward(self, x):
        if not self.training or self.p == 0:  # p = 0: the identity, as gan_train's Dropout
            return x
        keep = self.masks.pop(0)
        assert keep.shape == x.shape, (keep.shape, x.shape)
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - self.p)))


class Net(nn.Module):
    """PyTorch's DCGAN wraps its Sequential as self.main: the state_dict names are main.<i>.*"""

    def __init__(self, main):
        super().__init__()
        self.main = main

    def forward(self, x):
        return self.main(x)


def build_models(cfg, masks):
    w, nz, slope = cfg["width"], cfg["noise_dim"], cfg["leaky_slope"]
    if cfg["preset"] == "sngan":
        return SnganG(nz, w, cfg.get("upsample", "bilinear")), SnganD(w // 2)
    if cfg["preset"] == "dcgan":
        G = nn.Sequential(
            nn.ConvTranspose2d(nz, 4 * w, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(True),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
            nn.ConvTranspose2d(w, 3, 4, 2, 1, bias=False), nn.Tanh())
        # No dropout layer: gan_train refuses --dropout for dcgan (the naming contract).
        d = [nn.Conv2d(3, w, 4, 2, 1, bias=False), nn.LeakyReLU(slope, True)]
        d += [nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(slope, True),
              nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(slope, True),
              nn.Conv2d(4 * w, 1, 4, 1, 0, bias=False)]
        if cfg["loss"] == "bce":
            d.append(nn.Sigmoid())
        D = nn.Sequential(*d)
    else:
        G = nn.Sequential(
            nn.Linear(nz, 8 * 8 * w, bias=False), nn.BatchNorm1d(8 * 8 * w), nn.LeakyReLU(slope),
            nn.Unflatten(1, (w, 8, 8)),
            nn.ConvTranspose2d(w, w // 2, 5, 1, 2, bias=False), nn.BatchNorm2d(w // 2), nn.LeakyReLU(slope),
            nn.ConvTranspose2d(w // 2, w // 4, 5, 2, 2, output_padding=1, bias=False), nn.BatchNorm2d(w // 4),
            nn.LeakyReLU(slope),
            nn.ConvTranspose2d(w // 4, 3, 5, 2, 2, output_padding=1, bias=False), nn.Tanh())
        # Both Dropout modules whatever p (p = 0 is the identity): the names stay main.0/3/7.
        d = [nn.Conv2d(3, w // 4, 5, 2, 2), nn.LeakyReLU(slope), MaskedDropout(cfg["dropout"], masks)]
        d += [nn.Conv2d(w // 4, w // 2, 5, 2, 2), nn.LeakyReLU(slope), MaskedDropout(cfg["dropout"], masks)]
        d += [nn.Flatten(), nn.Linear(w // 2 * 8 * 8, 1)]
        D = nn.Sequential(*d)
    return Net(G), Net(D)


class GBlock(nn.Module):
    """SNGAN's generator block (src/train/sngan.h): b1 BN ReLU up c1 b2 BN ReLU c2, + up c_sc."""

    def __init__(self, cin, cout, upsample, mode):
        super().__init__()
        self.upsample, self.mode = upsample, mode
        self.b1, self.c1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.b2, self.c2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.c_sc = nn.Conv2d(cin, cout, 1, 1, 0) if (upsample or cin != cout) else None

    def up(self, x):
        if not self.upsample:
            return x
        if self.mode == "bilinear":  # Mimicry's
            return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    def forward(self, x):
        h = self.c2(torch.relu(self.b2(self.c1(self.up(torch.relu(self.b1(x)))))))
        sc = self.up(x)
        return h + (self.c_sc(sc) if self.c_sc is not None else sc)


class DBlock(nn.Module):
    """SNGAN's discriminator blocks: DBlockOptimized (optimized=True) and DBlock, every conv
    spectrally normalised with torch.nn.utils.spectral_norm (weight_orig, weight_u, weight_v)."""

    def __init__(self, cin, cout, downsample, optimized):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.optimized, self.downsample = optimized, downsample or optimized
        hidden = cout if optimized else cin
        self.c1, self.c2 = sn(nn.Conv2d(cin, hidden, 3, 1, 1)), sn(nn.Conv2d(hidden, cout, 3, 1, 1))
        self.c_sc = sn(nn.Conv2d(cin, cout, 1, 1, 0)) if (self.downsample or cin != cout) else None

    def forward(self, x):
        if self.optimized:
            h = nn.functional.avg_pool2d(self.c2(torch.relu(self.c1(x))), 2)
            return h + self.c_sc(nn.functional.avg_pool2d(x, 2))
        # Mimicry's in-place first ReLU: the shortcut reads relu(x) too.
        xr = torch.relu(x)
        h = self.c2(torch.relu(self.c1(xr)))
        if self.downsample:
            h = nn.functional.avg_pool2d(h, 2)
        sc = xr
        if self.c_sc is not None:
            sc = self.c_sc(xr)
            if self.downsample:
                sc = nn.functional.avg_pool2d(sc, 2)
        return h + sc


class SnganG(nn.Module):
    def __init__(self, nz, g, mode):
        super().__init__()
        self.g = g
        self.l1 = nn.Linear(nz, 4 * 4 * g)
        self.block2, self.block3, self.block4 = (GBlock(g, g, True, mode) for _ in range(3))
        self.b5, self.c5 = nn.BatchNorm2d(g), nn.Conv2d(g, 3, 3, 1, 1)

    def forward(self, z):
        h = self.l1(z).view(-1, self.g, 4, 4)
        h = self.block4(self.block3(self.block2(h)))
        return torch.tanh(self.c5(torch.relu(self.b5(h))))


class SnganD(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.block1 = DBlock(3, d, True, True)
        self.block2 = DBlock(d, d, True, False)
        self.block3, self.block4 = DBlock(d, d, False, False), DBlock(d, d, False, False)
        self.l5 = nn.utils.spectral_norm(nn.Linear(d, 1))

    def forward(self, x):
        h = self.block4(self.block3(self.block2(self.block1(x))))
        return self.l5(torch.sum(torch.relu(h), dim=(2, 3)))


def sub_state(flat, prefix):
    return {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}


def load_strict(module, flat, prefix, dtype):
    state = {k: (v if v.dtype == torch.int64 else v.to(dtype)) for k, v in sub_state(flat, prefix).items()}
    module.load_state_dict(state, strict=True)


def noise_shape(cfg, batch):
    return (batch, cfg["noise_dim"], 1, 1) if cfg["preset"] == "dcgan" else (batch, cfg["noise_dim"])


def dropout_shapes(cfg, batch):
    """The dropout inputs of one D forward, in layer order."""
    if cfg["dropout"] <= 0:
        return []
    w = cfg["width"]
    if cfg["preset"] == "dcgan":
        return [(batch, w, 16, 16)]
    return [(batch, w // 4, 16, 16), (batch, w // 2, 8, 8)]


def d_forwards_per_step(cfg):
    return 3 if cfg["preset"] == "dcgan" else 2


# ---------------------------------------------------------------- one run of three steps

def start_run(cfg, init, dtype, masks):
    """Both models in `dtype` from `init` (strictly), in training mode, with their Adam optimizers."""
    G, D = build_models(cfg, masks)
    G.to(dtype), D.to(dtype)
    load_strict(G, init, "generator.", dtype)
    load_strict(D, init, "discriminator.", dtype)
    G.train(), D.train()
    betas = (cfg["beta1"], cfg["beta2"])
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr"], betas=betas, eps=1e-8)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr"], betas=betas, eps=1e-8)
    return G, D, opt_g, opt_d


def record_state(out, G, D, opt_g, opt_d):
    """After a step: every state_dict entry of both networks and both Adam states, by checkpoint name."""
    for prefix, net, opt, opt_name in (("generator.", G, opt_g, "optimizer_g."),
                                       ("discriminator.", D, opt_d, "optimizer_d.")):
        for n, t in net.state_dict().items():
            out[prefix + n] = t.detach().clone()
        for n, p in net.named_parameters():
            st = opt.state[p]
            out[f"{opt_name}{n}.exp_avg"] = st["exp_avg"].clone()
            out[f"{opt_name}{n}.exp_avg_sq"] = st["exp_avg_sq"].clone()


def run_sngan_steps(cfg, init, inputs, dtype):
    """sngan: per step, d_steps D steps (D on real, on G(z) made without a graph, hinge loss, Adam)
    then one G step through the frozen, updated D; the lr of step s (0-based) is lr (1 - s / epochs);
    after G's step the EMA copy follows. No per-layer outputs (the networks are not Sequential):
    everything else, as for the other presets, plus generator_ema.*"""
    G, D, opt_g, opt_d = start_run(cfg, init, dtype, [])
    ema = {n: t.detach().clone() for n, t in G.state_dict().items()}
    param_names = {n for n, _ in G.named_parameters()}
    d_steps = cfg["d_steps"]
    steps = []
    for k in range(1, STEPS + 1):
        lr = cfg["lr"] * max(0.0, 1.0 - (k - 1) / cfg["epochs"])
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        for j in range(d_steps):
            opt_d.zero_grad()
            out_real = D(inputs[f"step{k}.real{j}"].to(dtype))
            with torch.no_grad():
                fake = G(inputs[f"step{k}.noise{j}"].to(dtype))
            out_fake = D(fake)
            err_d = torch.relu(1 - out_real).mean() + torch.relu(1 + out_fake).mean()
            err_d.backward()
            opt_d.step()
        opt_g.zero_grad()
        for p in D.parameters():
            p.requires_grad_(False)
        out_fake_g = D(G(inputs[f"step{k}.noise{d_steps}"].to(dtype)))
        err_g = -out_fake_g.mean()
        err_g.backward()
        for p in D.parameters():
            p.requires_grad_(True)
        opt_g.step()
        with torch.no_grad():
            for n, t in G.state_dict().items():
                if n in param_names and k > cfg["ema_start"]:
                    ema[n] = ema[n] + (1 - cfg["ema"]) * (t - ema[n])
                else:
                    ema[n] = t.detach().clone()
        out = {}
        out.update({f"grad.generator.{n}": p.grad.clone() for n, p in G.named_parameters()})
        out.update({f"grad.discriminator.{n}": p.grad.clone() for n, p in D.named_parameters()})
        out["loss_d"], out["loss_g"] = err_d.detach().reshape(()), err_g.detach().reshape(())
        out["d_x"], out["d_g_z1"] = out_real.detach().mean().reshape(()), out_fake.detach().mean().reshape(())
        out["d_g_z2"] = out_fake_g.detach().mean().reshape(())
        record_state(out, G, D, opt_g, opt_d)
        out.update({f"generator_ema.{n}": t.clone() for n, t in ema.items()})
        steps.append(out)
    return steps


def run_steps(cfg, init, inputs, dtype):
    """Three steps from `init` on `inputs`, in `dtype`; returns one dict of named tensors per step."""
    if cfg["preset"] == "sngan":
        return run_sngan_steps(cfg, init, inputs, dtype)
    masks = []
    G, D, opt_g, opt_d = start_run(cfg, init, dtype, masks)

    record = {}
    d_call = [0]

    def hook_all(net, tag):
        for i, layer in enumerate(net.main):
            if isinstance(layer, (nn.Flatten, nn.Unflatten)):
                continue  # views: the same numbers as the layer before

            def hook(_m, _inp, out, i=i):
                name = f"{tag}.main.{i}" if tag == "G" else f"D{d_call[0]}.main.{i}"
                record[name] = out.detach().clone()
                if tag == "D" and i == len(net.main) - 1:
                    d_call[0] += 1
            layer.register_forward_hook(hook)

    hook_all(G, "G")
    hook_all(D, "D")

    def d_loss(out_real, out_fake):
        if cfg["loss"] == "hinge":
            return torch.relu(1 - out_real).mean() + torch.relu(1 + out_fake).mean()
        if cfg["preset"] == "dcgan":
            return nn.functional.binary_cross_entropy(out_real, torch.ones_like(out_real)) + \
                nn.functional.binary_cross_entropy(out_fake, torch.zeros_like(out_fake))
        return nn.functional.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real)) + \
            nn.functional.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))

    def g_loss(out_fake):
        if cfg["loss"] == "hinge":
            return -out_fake.mean()
        if cfg["preset"] == "dcgan":
            return nn.functional.binary_cross_entropy(out_fake, torch.ones_like(out_fake))
        return nn.functional.binary_cross_entropy_with_logits(out_fake, torch.ones_like(out_fake))

    def score(out):  # what gan_train logs as D(x) and D(G(z)): a mean probability where BCE applies
        o = out.detach()
        if cfg["loss"] == "bce" and cfg["preset"] != "dcgan":
            o = torch.sigmoid(o)
        return o.mean()

    steps = []
    for k in range(1, STEPS + 1):
        record.clear()
        d_call[0] = 0
        masks.extend(inputs[f"step{k}.dropout{j}"] for j in range(len(dropout_shapes(cfg, 1)) * d_forwards_per_step(cfg)))
        real = inputs[f"step{k}.real"].to(dtype)
        noise = inputs[f"step{k}.noise"].to(dtype)
        grads = {}
        if cfg["preset"] == "dcgan":
            # pytorch/examples dcgan: D on real, G(z), D on the detached fake; D steps; then G
            # through the updated D.
            opt_d.zero_grad()
            out_real = D(real)
            fake = G(noise)
            out_fake = D(fake.detach())
            err_d = d_loss(out_real, out_fake)
            err_d.backward()
            grads.update({f"grad.discriminator.{n}": p.grad.clone() for n, p in D.named_parameters()})
            opt_d.step()
            opt_g.zero_grad()
            out_fake_g = D(fake)
            err_g = g_loss(out_fake_g)
            err_g.backward()
            grads.update({f"grad.generator.{n}": p.grad.clone() for n, p in G.named_parameters()})
            opt_g.step()
            scores = (score(out_real), score(out_fake), score(out_fake_g))
        else:
            # TF tutorial: one G forward, D on real and fake, both gradients from the same
            # (old) weights, then both networks step.
            fake = G(noise)
            out_real = D(real)
            out_fake = D(fake)
            err_d = d_loss(out_real, out_fake)
            err_g = g_loss(out_fake)
            g_params, d_params = list(G.parameters()), list(D.parameters())
            gg = torch.autograd.grad(err_g, g_params, retain_graph=True)
            gd = torch.autograd.grad(err_d, d_params)
            for p, g in zip(g_params, gg):
                p.grad = g
            for p, g in zip(d_params, gd):
                p.grad = g
            grads.update({f"grad.generator.{n}": p.grad.clone() for n, p in G.named_parameters()})
            grads.update({f"grad.discriminator.{n}": p.grad.clone() for n, p in D.named_parameters()})
            opt_d.step()
            opt_g.step()
            scores = (score(out_real), score(out_fake), score(out_fake))
        assert not masks, "every dropout mask must be used"

        out = dict(record)
        out.update(grads)
        out["loss_d"], out["loss_g"] = err_d.detach().reshape(()), err_g.detach().reshape(())
        out["d_x"], out["d_g_z1"], out["d_g_z2"] = (s.reshape(()) for s in scores)
        record_state(out, G, D, opt_g, opt_d)
        steps.append(out)
    return steps


# ---------------------------------------------------------------- commands

def read_checkpoint(path):
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    return tensors, meta


def write_init(gan_train, preset_args, folder):
    path = os.path.join(folder, "init.safetensors")
    subprocess.run([gan_train, *preset_args, "--device", "cpu", "--write-init", path], check=True,
                   stdout=subprocess.DEVNULL)
    return read_checkpoint(path)


def make_inputs(cfg):
    gen = torch.Generator().manual_seed(INPUT_SEED)
    b = cfg["batch_size"]
    inputs = {}
    if cfg["preset"] == "sngan":  # per step: d_steps real batches, d_steps + 1 noise batches (D's, then G's)
        for k in range(1, STEPS + 1):
            for j in range(cfg["d_steps"]):
                pixels = torch.randint(0, 256, (b, 3, 32, 32), generator=gen).to(torch.float32)
                inputs[f"step{k}.real{j}"] = pixels / 127.5 - 1.0
            for j in range(cfg["d_steps"] + 1):
                inputs[f"step{k}.noise{j}"] = torch.randn(noise_shape(cfg, b), generator=gen, dtype=torch.float32)
        return inputs
    for k in range(1, STEPS + 1):
        inputs[f"step{k}.noise"] = torch.randn(noise_shape(cfg, b), generator=gen, dtype=torch.float32)
        pixels = torch.randint(0, 256, (b, 3, 32, 32), generator=gen).to(torch.float32)
        inputs[f"step{k}.real"] = pixels / 127.5 - 1.0  # float32 values, as gan_train's data kernel makes them
        j = 0
        for _ in range(d_forwards_per_step(cfg)):
            for shape in dropout_shapes(cfg, b):
                keep = torch.rand(shape, generator=gen) >= cfg["dropout"]
                inputs[f"step{k}.dropout{j}"] = keep.to(torch.uint8)
                j += 1
    return inputs


def golden(args):
    os.makedirs(args.out, exist_ok=True)
    for preset, preset_args in PRESETS.items():
        with tempfile.TemporaryDirectory() as tmp:
            ckpt, meta = write_init(args.gan_train, preset_args, tmp)
        cfg = json.loads(meta["config"])
        init = {k: v for k, v in ckpt.items() if k.startswith(("generator.", "discriminator."))}
        inputs = make_inputs(cfg)
        ref = run_steps(cfg, init, inputs, torch.float64)
        f32 = run_steps(cfg, init, inputs, torch.float32)

        tensors = dict(init)
        tensors.update(inputs)
        path = os.path.join(args.out, f"{preset}_inputs.safetensors")
        save_file({k: v.contiguous() for k, v in tensors.items()}, path,
                  metadata={"config": meta["config"], "steps": str(STEPS), "torch": torch.__version__,
                            "made_by": "tools/make_golden.py"})
        print(f"{path}: {os.path.getsize(path)} bytes")
        for k, (r, s) in enumerate(zip(ref, f32), start=1):
            # PyTorch float32's distance from PyTorch float64, per tensor: max |f32 - f64|.
            f32_error = {n: float((s[n].double() - t.double()).abs().max()) if t.numel() else 0.0
                         for n, t in r.items() if t.is_floating_point()}
            path = os.path.join(args.out, f"{preset}_step{k}.safetensors")
            save_file({n: t.contiguous() for n, t in r.items()}, path,
                      metadata={"f32_error": json.dumps(f32_error), "step": str(k), "torch": torch.__version__})
            print(f"{path}: {os.path.getsize(path)} bytes, {len(r)} tensors")


def interop(args):
    """A gan_train checkpoint into PyTorch (strict), then G(noise) in eval mode."""
    ckpt, meta = read_checkpoint(args.checkpoint)
    cfg = json.loads(meta["config"])
    G, D = build_models(cfg, [])
    G.double(), D.double()
    load_strict(G, ckpt, "generator.", torch.float64)
    load_strict(D, ckpt, "discriminator.", torch.float64)
    G.eval(), D.eval()
    noise = load_file(args.noise)["noise"].double()
    with torch.no_grad():
        images = G(noise)
        scores = D(images)
    out = {"images": images.contiguous(), "scores": scores.contiguous()}
    if any(k.startswith("generator_ema.") for k in ckpt):  # --ema: a state_dict for G as well
        G_ema = build_models(cfg, [])[0].double()
        load_strict(G_ema, ckpt, "generator_ema.", torch.float64)
        G_ema.eval()
        with torch.no_grad():
            out["ema_images"] = G_ema(noise).contiguous()
    save_file(out, args.out)


def export(args):
    """PyTorch-initialised weights (its own default init, then a few random batchnorm statistics
    so eval mode is not the identity) as one safetensors state dict, plus G(noise) in eval mode."""
    cfg = json.loads(args.config)
    torch.manual_seed(args.seed)
    G, D = build_models(cfg, [])
    G.double(), D.double()
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
                m.num_batches_tracked.fill_(7)
    G.eval(), D.eval()
    noise = torch.randn(noise_shape(cfg, 5), dtype=torch.float64)
    state = {"generator." + k: v for k, v in G.state_dict().items()}
    state.update({"discriminator." + k: v for k, v in D.state_dict().items()})
    # float32, as a PyTorch user would save; the reference output is from the same rounded weights.
    state = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    G32 = build_models(cfg, [])[0].double()
    load_strict(G32, state, "generator.", torch.float64)
    G32.eval()
    with torch.no_grad():
        images = G32(noise)
    save_file(state, args.out)
    save_file({"noise": noise.contiguous(), "images": images.contiguous()}, args.reference)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command")
    g = sub.add_parser("golden", help="write the fixtures (the default command)")
    for parser in (p, g):
        parser.add_argument("--gan-train", default=os.path.join(root, "build", "gan_train"))
        parser.add_argument("--out", default=os.path.join(root, "tests", "golden"))
    i = sub.add_parser("interop", help="load a gan_train checkpoint into PyTorch; write G(noise), D(G(noise))")
    i.add_argument("--checkpoint", required=True)
    i.add_argument("--noise", required=True, help="safetensors file with a 'noise' tensor")
    i.add_argument("--out", required=True)
    e = sub.add_parser("export", help="write PyTorch weights as a state dict for gan_train --init-from")
    e.add_argument("--config", required=True, help="gan_train's config JSON (preset, width, noise_dim, ...)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True)
    e.add_argument("--reference", required=True, help="where to write the noise and G(noise) in eval mode")
    args = p.parse_args()
    torch.set_num_threads(1)  # fixed reduction order: the fixtures regenerate bit for bit
    if args.command == "interop":
        interop(args)
    elif args.command == "export":
        export(args)
    else:
        if not os.access(args.gan_train, os.X_OK):
            sys.exit(f"make_golden.py: error: {args.gan_train} is not built (run tools/build.sh or pass --gan-train)")
        golden(args)


if __name__ == "__main__":
    main()
