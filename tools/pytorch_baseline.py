#!/usr/bin/env python3
"""pytorch_baseline.py - the PyTorch baseline for gan_train's benchmarks.

The same two models and the same training step as gan_train (src/train/models.cpp,
src/train/trainer.cpp), written in PyTorch the way a careful user would, timed the way
tools/gpu_bench.sh times ours, in eager mode and with torch.compile. It prints one Markdown
table (preset | batch | mode | ms/step (median) | images/s | peak MiB | device) and, with
--json PATH, writes the raw numbers for tools/gpu_bench.sh to merge.

    python3 tools/pytorch_baseline.py                          # GPU: every preset, batch 64 and 256, eager and compiled
    python3 tools/pytorch_baseline.py --device cpu --steps 3 --warmup 1
    python3 tools/pytorch_baseline.py --presets keras --batch-sizes 256 --modes compiled --compile-mode max-autotune

What is the same as gan_train (so that the comparison is fair):
  * Models: layer for layer as models.cpp, each wrapped in nn.Sequential under the attribute
    `main`, so the state_dict names (main.<i>.weight) are those of our checkpoints; float32,
    NCHW; DCGAN initialisation (weights N(0, 0.02), batchnorm weights N(1, 0.02), biases 0).
    The header prints the parameter counts (without batchnorm running statistics, like ours).
  * Schedules: dcgan as pytorch/examples (D on real, target 1, and on G(z).detach(), target 0,
    one backward of the sum, D steps; then G through the updated D, D frozen, G steps); keras as
    the TF tutorial (one G forward, one D forward on real and on fake, both losses from it, G's
    gradient from L_G and D's from L_D with the same weights, both step). Losses: BCELoss on
    D's probability (dcgan), hinge (keras). sngan (--presets sngan; not in the default list) as
    Mimicry: 5 D steps, each on a fresh batch and fresh noise, G(z) under no_grad, then one G step
    through the frozen D; hinge loss; torch.nn.utils.spectral_norm; linear lr decay.
    Adam with each preset's lr and betas, eps 1e-8, zero_grad(set_to_none=True).
  * Data: a uint8 image set (synthetic, or CIFAR-100 train.bin with --data-real) already on the
    device; every timed step gathers its batch through a random permutation and scales it to
    [-1, 1] (x/127.5 - 1), and draws its noise, as gan_train's step does. Losses and D scores
    stay on the device (no .item() per step), as in gan_train.

What makes it a well-tuned baseline rather than a naive one:
  * torch.backends.cudnn.benchmark = True (cuDNN picks the fastest algorithms by timing);
  * Adam(fused=True) where this PyTorch has it (one kernel per optimizer step, like ours);
  * D's weight gradients are not computed where they are not used (dcgan: D frozen for G's
    backward; keras: backward(inputs=...)), as gan_train does;
  * TF32 is stated and matched: --tf32 off (the default, as gan_train's default) turns TF32 off
    for cuBLAS and cuDNN both (note PyTorch's own default leaves it ON for cuDNN convolutions);
    --tf32 on allows it for both, to compare with gan_train built/run with allow_tf32;
  * compiled mode: torch.compile of G and D (--compile-mode, default "default"); the
    compiled rows get extra warm-up steps (--compile-warmup) so compilation and the
    recompiles for the frozen-D variant are out of the timings.

Timing: --warmup untimed steps, then --steps timed steps; on CUDA each step is bracketed by
torch.cuda.Event pairs (one synchronize at the end), on the CPU by time.perf_counter. The
table gives the median ms/step, batch / median as images/s, and the peak of
torch.cuda.max_memory_allocated over the whole run (data set included, as ours counts its
uploaded data set; "n/a" on the CPU). A row whose run fails (a compile error, out of memory)
says why in its ms/step cell instead of stopping the script.

Needs only torch (and the standard library). Importing this file has no side effects.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Each preset's defaults, as src/train/config.cpp.
PRESETS = {
    "dcgan": dict(width=128, nz=100, lr=2e-4, betas=(0.5, 0.999), slope=0.2, dropout=0.0, loss="bce"),
    "keras": dict(width=256, nz=100, lr=1e-4, betas=(0.9, 0.999), slope=0.3, dropout=0.3, loss="hinge"),
    # The ResNet SNGAN (src/train/sngan.h): G width channels, D width / 2, 5 D steps per G step.
    "sngan": dict(width=256, nz=128, lr=2e-4, betas=(0.0, 0.9), slope=0.0, dropout=0.0, loss="hinge", d_steps=5),
}

# gan_train's parameter counts at the default widths (`build/gan_train --device cpu --preset P`
# prints them; batchnorm running statistics excluded): checked against the models below.
ENGINE_PARAMETER_COUNTS = {
    "dcgan": {"G": 3448576, "D": 2637312},
    "keras": {"G": 2700352, "D": 217985},
    "sngan": {"G": 4276739, "D": 1053825},
}

CIFAR_IMAGE_BYTES = 3 * 32 * 32
CIFAR_RECORD_BYTES = 2 + CIFAR_IMAGE_BYTES  # coarse label, fine label, image


# ------------------------------------------------------------------ models


class Net(nn.Module):
    """A network as nn.Sequential under `main`, so parameter names are main.<i>.*, like ours."""

    def __init__(self, *layers):
        super().__init__()
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x)


def build_dcgan(width, nz, slope):
    w = width
    g = Net(
        nn.ConvTranspose2d(nz, 4 * w, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(True),
        nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True),
        nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
        nn.ConvTranspose2d(w, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )
    d = Net(
        nn.Conv2d(3, w, 4, 2, 1, bias=False), nn.LeakyReLU(slope, inplace=True),
        nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(slope, inplace=True),
        nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(slope, inplace=True),
        nn.Conv2d(4 * w, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
    )
    return g, d


def build_keras(width, nz, slope, dropout):
    w = width
    if w < 4 or w % 4:
        raise ValueError(f"keras width must be a positive multiple of 4, got {w}")
    g = Net(
        nn.Linear(nz, 8 * 8 * w, bias=False), nn.BatchNorm1d(8 * 8 * w), nn.LeakyReLU(slope),
        nn.Unflatten(1, (w, 8, 8)),
        nn.ConvTranspose2d(w, w // 2, 5, 1, 2, bias=False), nn.BatchNorm2d(w // 2), nn.LeakyReLU(slope),
        nn.ConvTranspose2d(w // 2, w // 4, 5, 2, 2, output_padding=1, bias=False), nn.BatchNorm2d(w // 4),
        nn.LeakyReLU(slope),
        nn.ConvTranspose2d(w // 4, 3, 5, 2, 2, output_padding=1, bias=False), nn.Tanh(),
    )
    d = Net(
        nn.Conv2d(3, w // 4, 5, 2, 2), nn.LeakyReLU(slope), nn.Dropout(dropout),
        nn.Conv2d(w // 4, w // 2, 5, 2, 2), nn.LeakyReLU(slope), nn.Dropout(dropout),
        nn.Flatten(), nn.Linear(w // 2 * 8 * 8, 1),
    )
    return g, d


class SnganGBlock(nn.Module):
    """b1 BN ReLU, bilinear x2, c1 3x3, b2 BN ReLU, c2 3x3; shortcut bilinear x2, c_sc 1x1."""

    def __init__(self, ch):
        super().__init__()
        self.b1, self.c1 = nn.BatchNorm2d(ch), nn.Conv2d(ch, ch, 3, 1, 1)
        self.b2, self.c2 = nn.BatchNorm2d(ch), nn.Conv2d(ch, ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(ch, ch, 1, 1, 0)

    def forward(self, x):
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # Mimicry's
        h = self.c2(F.relu(self.b2(self.c1(up(F.relu(self.b1(x)))))))
        return h + self.c_sc(up(x))


class SnganDBlock(nn.Module):
    """Spectrally normalised; optimized: c1 ReLU c2 pool + pool c_sc; else r = ReLU(x), c1 ReLU c2
    [pool] of r + c_sc [pool] of r (when it downsamples) or r."""

    def __init__(self, cin, cout, down, optimized):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.down, self.optimized = down or optimized, optimized
        self.c1, self.c2 = sn(nn.Conv2d(cin, cout, 3, 1, 1)), sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.c_sc = sn(nn.Conv2d(cin, cout, 1, 1, 0)) if (self.down or cin != cout) else None

    def forward(self, x):
        if self.optimized:
            return F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2) + self.c_sc(F.avg_pool2d(x, 2))
        xr = F.relu(x)  # Mimicry's first ReLU is in place: its shortcut reads relu(x) too
        h = self.c2(F.relu(self.c1(xr)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.c_sc is None:
            return h + xr
        sc = self.c_sc(xr)
        return h + (F.avg_pool2d(sc, 2) if self.down else sc)


class SnganG(nn.Module):
    def __init__(self, g, nz):
        super().__init__()
        self.g = g
        self.l1 = nn.Linear(nz, 16 * g)
        self.block2, self.block3, self.block4 = SnganGBlock(g), SnganGBlock(g), SnganGBlock(g)
        self.b5, self.c5 = nn.BatchNorm2d(g), nn.Conv2d(g, 3, 3, 1, 1)

    def forward(self, z):
        h = self.block4(self.block3(self.block2(self.l1(z).view(-1, self.g, 4, 4))))
        return torch.tanh(self.c5(F.relu(self.b5(h))))


class SnganD(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.block1, self.block2 = SnganDBlock(3, d, True, True), SnganDBlock(d, d, True, False)
        self.block3, self.block4 = SnganDBlock(d, d, False, False), SnganDBlock(d, d, False, False)
        self.l5 = nn.utils.spectral_norm(nn.Linear(d, 1))

    def forward(self, x):
        h = self.block4(self.block3(self.block2(self.block1(x))))
        return self.l5(torch.sum(F.relu(h), dim=(2, 3)))


def init_sngan_(module):
    """gan_train's init_sngan: Xavier-uniform (gain sqrt 2 for the blocks' 3x3 convolutions, 1
    elsewhere), biases 0, batchnorm weights 1."""
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            gain = 2 ** 0.5 if name.endswith((".c1", ".c2")) else 1.0
            nn.init.xavier_uniform_(w, gain)
            nn.init.zeros_(m.bias)


def init_dcgan_(module):
    """pytorch/examples' weights_init, as gan_train's init_dcgan (linear layers too)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_models(preset, width, nz):
    p = PRESETS[preset]
    if preset == "sngan":
        g, d = SnganG(width, nz), SnganD(width // 2)
        init_sngan_(g)
        init_sngan_(d)
        return g, d
    if preset == "dcgan":
        g, d = build_dcgan(width, nz, p["slope"])
    else:
        g, d = build_keras(width, nz, p["slope"], p["dropout"])
    init_dcgan_(g)
    init_dcgan_(d)
    return g, d


def noise_shape(preset, batch, nz):
    return (batch, nz, 1, 1) if preset == "dcgan" else (batch, nz)


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())  # parameters only, no running statistics


def check_shapes(preset, width, nz):
    """Runs both models once on the CPU: G gives (2,3,32,32), D one score per image."""
    g, d = build_models(preset, width, nz)
    with torch.no_grad():
        img = g(torch.randn(noise_shape(preset, 2, nz)))
        out = d(img)
    want_out = (2, 1, 1, 1) if preset == "dcgan" else (2, 1)
    if tuple(img.shape) != (2, 3, 32, 32) or tuple(out.shape) != want_out:
        raise RuntimeError(f"{preset}: shapes G {tuple(img.shape)}, D {tuple(out.shape)}; expected (2, 3, 32, 32), {want_out}")
    return parameter_count(g), parameter_count(d), tuple(img.shape), tuple(out.shape)


# ------------------------------------------------------------------ data


def make_dataset(device, count, real_dir, seed):
    """The uint8 image set (count, 3, 32, 32) on `device`: CIFAR-100 train.bin or random bytes."""
    if real_dir:
        path = os.path.join(real_dir, "train.bin")
        with open(path, "rb") as f:
            raw = bytearray(f.read())
        if len(raw) % CIFAR_RECORD_BYTES:
            raise RuntimeError(f"{path}: size {len(raw)} is not a multiple of {CIFAR_RECORD_BYTES}")
        records = torch.frombuffer(raw, dtype=torch.uint8).view(-1, CIFAR_RECORD_BYTES)
        images = records[:count, 2:].reshape(-1, 3, 32, 32).clone()
        return images.to(device)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=gen)
    return images.to(device)


class BatchSampler:
    """Gathers batches through a random permutation per epoch (the partial last batch dropped)."""

    def __init__(self, images, batch):
        self.images, self.batch = images, batch
        self.per_epoch = images.shape[0] // batch
        if self.per_epoch == 0:
            raise ValueError(f"batch {batch} is larger than the data set ({images.shape[0]} images)")
        self.index = self.per_epoch  # a permutation is drawn on the first call

    def next_batch(self):
        if self.index == self.per_epoch:
            self.order = torch.randperm(self.images.shape[0], device=self.images.device)
            self.index = 0
        idx = self.order[self.index * self.batch:(self.index + 1) * self.batch]
        self.index += 1
        return self.images.index_select(0, idx).float().sub_(127.5).div_(127.5)  # [0, 255] -> [-1, 1]


# ------------------------------------------------------------------ training steps


def make_adam(params, lr, betas, device):
    """Adam as gan_train's (eps 1e-8, no weight decay), fused where this PyTorch supports it."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=1e-8, fused=True), "fused"
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=1e-8), "default"


class Trainer:
    """One preset's models, optimizers and data; step() is one gan_train training step."""

    def __init__(self, preset, batch, width, nz, device, images, compiled, compile_mode):
        p = PRESETS[preset]
        self.preset, self.batch, self.nz, self.device = preset, batch, nz, device
        self.g, self.d = build_models(preset, width, nz)
        self.g.to(device).train()
        self.d.to(device).train()
        self.d_params = list(self.d.parameters())
        self.g_params = list(self.g.parameters())
        self.opt_g, self.adam_impl = make_adam(self.g_params, p["lr"], p["betas"], device)
        self.opt_d, _ = make_adam(self.d_params, p["lr"], p["betas"], device)
        self.sampler = BatchSampler(images, batch)
        self.bce = nn.BCELoss()
        out_shape = (batch, 1, 1, 1) if preset == "dcgan" else (batch, 1)
        self.ones = torch.ones(out_shape, device=device)
        self.zeros = torch.zeros(out_shape, device=device)
        self.metrics = torch.zeros(5, device=device)  # loss_d, loss_g, D(x), D(G(z)) x2, kept on the device
        # The callables the step uses: the modules themselves, or their compiled versions.
        self.G = torch.compile(self.g, mode=compile_mode) if compiled else self.g
        self.D = torch.compile(self.d, mode=compile_mode) if compiled else self.d
        self.step = {"dcgan": self.step_dcgan, "keras": self.step_keras, "sngan": self.step_sngan}[preset]
        self.d_steps = p.get("d_steps", 1)
        self.lr0, self.steps_done, self.decay_steps = p["lr"], 0, 100_000

    def noise(self):
        return torch.randn(noise_shape(self.preset, self.batch, self.nz), device=self.device)

    def set_d_frozen(self, frozen):
        for p in self.d_params:
            p.requires_grad_(not frozen)

    def record_metrics(self, err_d, err_g, out_real, out_fake, out_fake_g):
        with torch.no_grad():
            self.metrics.copy_(torch.stack([err_d, err_g, out_real.mean(), out_fake.mean(), out_fake_g.mean()]))

    def step_dcgan(self):
        real = self.sampler.next_batch()
        noise = self.noise()
        # (1) D: maximise log D(x) + log(1 - D(G(z))).
        self.opt_d.zero_grad(set_to_none=True)
        out_real = self.D(real)
        fake = self.G(noise)
        out_fake = self.D(fake.detach())
        err_d = self.bce(out_real, self.ones) + self.bce(out_fake, self.zeros)
        err_d.backward()
        self.opt_d.step()
        # (2) G: maximise log D(G(z)) through the updated D, frozen (no weight gradients for D).
        self.opt_g.zero_grad(set_to_none=True)
        self.set_d_frozen(True)
        out_fake_g = self.D(fake)
        err_g = self.bce(out_fake_g, self.ones)
        err_g.backward()
        self.set_d_frozen(False)
        self.opt_g.step()
        self.record_metrics(err_d, err_g, out_real, out_fake, out_fake_g)

    def step_sngan(self):
        # Linear lr decay over the preset's 100k G steps (a host scalar per step, as gan_train's).
        lr = self.lr0 * max(0.0, 1.0 - self.steps_done / self.decay_steps)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        for _ in range(self.d_steps):  # D steps, each on a fresh real batch and fresh noise
            real = self.sampler.next_batch()
            self.opt_d.zero_grad(set_to_none=True)
            out_real = self.D(real)
            with torch.no_grad():
                fake = self.G(self.noise())
            out_fake = self.D(fake)
            err_d = F.relu(1.0 - out_real).mean() + F.relu(1.0 + out_fake).mean()
            err_d.backward()
            self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        self.set_d_frozen(True)
        out_fake_g = self.D(self.G(self.noise()))
        err_g = -out_fake_g.mean()
        err_g.backward()
        self.set_d_frozen(False)
        self.opt_g.step()
        self.steps_done += 1
        self.record_metrics(err_d, err_g, out_real, out_fake, out_fake_g)

    def step_keras(self):
        real = self.sampler.next_batch()
        noise = self.noise()
        fake = self.G(noise)
        out_real = self.D(real)
        out_fake = self.D(fake)
        err_d = F.relu(1.0 - out_real).mean() + F.relu(1.0 + out_fake).mean()  # hinge
        err_g = -out_fake.mean()
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        # Both gradients with the same (old) weights: L_G into G only, L_D into D only.
        err_g.backward(inputs=self.g_params, retain_graph=True)
        err_d.backward(inputs=self.d_params)
        self.opt_d.step()
        self.opt_g.step()
        self.record_metrics(err_d, err_g, out_real, out_fake, out_fake)


# ------------------------------------------------------------------ settings and timing


def apply_backend_settings(device, tf32):
    """cuDNN benchmark mode on; TF32 on or off for cuBLAS and cuDNN both. Returns a description."""
    torch.backends.cudnn.benchmark = True
    precision = "tf32" if tf32 else "ieee"
    if hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(torch.backends.cudnn, "conv"):
        # PyTorch >= 2.9: the fp32_precision API (mixing it with allow_tf32 is an error there).
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
        tf32_text = (f"matmul.fp32_precision={torch.backends.cuda.matmul.fp32_precision}, "
                     f"cudnn.conv.fp32_precision={torch.backends.cudnn.conv.fp32_precision}")
    else:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        tf32_text = (f"matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}, "
                     f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}")
    return f"cudnn.benchmark={torch.backends.cudnn.benchmark}, TF32 {'on' if tf32 else 'off'} ({tf32_text})"


def device_description(device):
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, device, warmup, steps):
    """Runs `warmup` untimed steps, then `steps` timed ones; returns each timed step's ms."""
    for _ in range(warmup):
        step()
    synchronize(device)
    if device.type == "cuda":
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(steps)]
        for start, end in events:
            start.record()
            step()
            end.record()
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in events]
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def prepare_compile(preset):
    """Fresh torch.compile state for each row: Net.forward is one code object for every model, so
    without a reset the rows' recompiles add up to Dynamo's recompile limit. keras backpropagates
    twice through one D graph (retain_graph=True), which AOTAutograd's donated buffers forbid."""
    torch._dynamo.reset()
    if preset == "keras" and hasattr(torch._functorch.config, "donated_buffer"):
        torch._functorch.config.donated_buffer = False


def run_one(args, device, preset, batch, mode, images):
    """One table row: builds a fresh Trainer, warms up, times; errors become the row's text."""
    width = args.width.get(preset, PRESETS[preset]["width"])
    nz = args.nz or PRESETS[preset]["nz"]
    row = dict(preset=preset, batch=batch, mode=mode, width=width, nz=nz, device=device_description(device),
               compile_mode=args.compile_mode if mode == "compiled" else None, error=None)
    compiled = mode == "compiled"
    warmup = args.warmup + (args.compile_warmup if compiled else 0)
    try:
        if compiled:
            prepare_compile(preset)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        torch.manual_seed(args.seed)
        trainer = Trainer(preset, batch, width, nz, device, images, compiled, args.compile_mode)
        times = time_steps(trainer.step, device, warmup, args.steps)
        median = statistics.median(times)
        row.update(adam=trainer.adam_impl, warmup_steps=warmup, steps=args.steps, step_ms=times, ms_median=median,
                   ms_mean=statistics.fmean(times), ms_min=min(times), images_per_s=batch * 1e3 / median,
                   peak_mib=(torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None),
                   loss_d=float(trainer.metrics[0]), loss_g=float(trainer.metrics[1]))
        del trainer
    except Exception as e:  # noqa: BLE001 - a failed row says why, the others still run
        reason = f"{type(e).__name__}: {e}".strip().replace("\n", " ").replace("|", "/")
        row["error"] = reason[:200]
    return row


def format_table(rows):
    lines = ["| preset | batch | mode | ms/step (median) | images/s | peak MiB | device |",
             "|---|---:|---|---:|---:|---:|---|"]
    for r in rows:
        mode = r["mode"] + (f" ({r['compile_mode']})" if r["compile_mode"] else "")
        if r["error"]:
            cells = [f"failed: {r['error']}", "-", "-"]
        else:
            peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None else "n/a"
            cells = [f"{r['ms_median']:.2f}", f"{r['images_per_s']:.0f}", peak]
        lines.append(f"| {r['preset']} | {r['batch']} | {mode} | " + " | ".join(cells) + f" | {r['device']} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ command line


def parse_list(text, kind=str):
    return [kind(x) for x in text.split(",") if x.strip()]


def parse_widths(text):
    """--width 96 (every preset) or --width dcgan=64,keras=128."""
    if not text:
        return {}
    if "=" not in text:
        return {p: int(text) for p in PRESETS}
    return {k.strip(): int(v) for k, v in (item.split("=", 1) for item in text.split(","))}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch baseline for gan_train: the same models and training steps, "
                                             "timed in eager mode and with torch.compile.")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--presets", default="dcgan,keras", help="comma-separated (default: dcgan,keras)")
    ap.add_argument("--batch-sizes", default="64,256", help="comma-separated (default: 64,256)")
    ap.add_argument("--modes", default="eager,compiled", help="eager, compiled or both (default: eager,compiled)")
    ap.add_argument("--compile-mode", default="default",
                    help="torch.compile mode: default, reduce-overhead, max-autotune, max-autotune-no-cudagraphs")
    ap.add_argument("--steps", type=int, default=100, help="timed steps per row (default: 100)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps before timing (default: 10)")
    ap.add_argument("--compile-warmup", type=int, default=3,
                    help="extra untimed steps for compiled rows, for compilation and recompiles (default: 3)")
    ap.add_argument("--width", default="", help="override the width: N for every preset, or dcgan=N,keras=M")
    ap.add_argument("--nz", type=int, default=None, help="noise size (default: the preset's: 100, 100, 128)")
    ap.add_argument("--tf32", choices=["on", "off"], default="off",
                    help="TF32 for cuBLAS and cuDNN (default: off, as gan_train's default)")
    ap.add_argument("--data-images", type=int, default=50000,
                    help="images in the on-device data set (default: 50000, the size of CIFAR-100 train)")
    ap.add_argument("--data-real", default="", metavar="DIR",
                    help="read DIR/train.bin (CIFAR-100 binary) instead of random bytes")
    ap.add_argument("--seed", type=int, default=999)
    ap.add_argument("--json", default="", metavar="PATH", help="also write the raw numbers as JSON")
    args = ap.parse_args(argv)
    args.presets = parse_list(args.presets)
    args.batch_sizes = parse_list(args.batch_sizes, int)
    args.modes = parse_list(args.modes)
    args.width = parse_widths(args.width)
    for p in args.presets:
        if p not in PRESETS:
            ap.error(f"unknown preset '{p}' (choose dcgan or keras)")
    for m in args.modes:
        if m not in ("eager", "compiled"):
            ap.error(f"unknown mode '{m}' (choose eager or compiled)")
    if args.steps < 1 or args.warmup < 0 or args.compile_warmup < 0:
        ap.error("--steps must be >= 1, --warmup and --compile-warmup >= 0")
    if min(args.batch_sizes, default=0) < 2:
        ap.error("--batch-sizes must be at least 2 (batchnorm needs 2 samples)")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("pytorch_baseline: error: --device cuda but torch.cuda.is_available() is False")
    settings = apply_backend_settings(device, args.tf32 == "on")
    data_count = max(args.data_images, max(args.batch_sizes))

    print(f"pytorch_baseline: torch {torch.__version__}, python {platform.python_version()}")
    print(f"  device:   {device_description(device)}")
    print(f"  settings: {settings}; float32, NCHW; Adam fused where available")
    print(f"  timing:   {args.warmup} warm-up (+{args.compile_warmup} for compiled) and {args.steps} timed steps per row; "
          f"median; {'cuda.Event' if device.type == 'cuda' else 'perf_counter'}")
    print(f"  data:     {data_count} uint8 images on the device ({args.data_real or 'synthetic'}), "
          f"gathered and scaled to [-1, 1] in each step")
    counts = {}
    for preset in args.presets:
        width = args.width.get(preset, PRESETS[preset]["width"])
        nz = args.nz or PRESETS[preset]["nz"]
        n_g, n_d, g_shape, d_shape = check_shapes(preset, width, nz)
        counts[preset] = {"G": n_g, "D": n_d}
        engine = ENGINE_PARAMETER_COUNTS[preset]
        if width == PRESETS[preset]["width"] and nz == PRESETS[preset]["nz"]:
            same = "same as gan_train" if counts[preset] == engine else f"gan_train has G {engine['G']}, D {engine['D']}!"
        else:
            same = "non-default width or nz: compare with gan_train --width"
        print(f"  {preset} (width {width}, nz {nz}): G {n_g} parameters -> {g_shape}, "
              f"D {n_d} parameters -> {d_shape} ({same})")
    sys.stdout.flush()

    images = make_dataset(device, data_count, args.data_real, args.seed)
    rows = []
    for preset in args.presets:
        for batch in args.batch_sizes:
            for mode in args.modes:
                row = run_one(args, device, preset, batch, mode, images)
                rows.append(row)
                status = row["error"] or f"{row['ms_median']:.2f} ms/step"
                print(f"  ran {preset} batch {batch} {mode}: {status}", flush=True)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tool": "pytorch_baseline", "torch": torch.__version__, "settings": settings,
                       "tf32": args.tf32, "parameter_counts": counts, "rows": rows}, f, indent=1)
        print(f"  wrote {args.json}")
    print()
    print(format_table(rows))
    return 0 if all(r["error"] is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
