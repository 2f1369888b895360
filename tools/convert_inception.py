#!/usr/bin/env python3
"""convert_inception.py - pytorch-fid's FID Inception weights (.pth) -> a safetensors file for the engine.

    python3 tools/convert_inception.py pt_inception-2015-12-05-6726825d.pth \\
        data/inception/pt_inception-2015-12-05-6726825d.safetensors

The input is the file pytorch-fid downloads (the TensorFlow inception-2015-12-05 graph ported to
PyTorch by pytorch-fid's author):
    https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
Its name carries the first 8 hex digits of its SHA-256 (torch.hub's convention: 6726825d), which
this script checks before anything else, so a truncated or different file is refused in one line.

The output keeps pytorch-fid's state_dict names (Conv2d_1a_3x3.conv.weight, ..., Mixed_7c....,
fc.weight, fc.bias) as float32; the integer bn.num_batches_tracked counters are left out (the
network runs in eval mode and never reads them). The metadata records where it came from, so every
number the engine prints can name its weights:
    format          "nn-fid-inception-v3/1"
    source          the .pth file name
    source_sha256   the full SHA-256 of the .pth (the engine prints its first 8 digits)
    tensors         how many tensors

Only needs torch and safetensors (pip install torch safetensors); nothing is downloaded here.
tools/fetch_inception.sh does the download and this conversion in one command.
Exit codes: 0 done, 1 an error (one line on stderr), 2 bad arguments.
"""
import argparse
import hashlib
import os
import sys

EXPECTED_SHA256_PREFIX = "6726825d"  # from pytorch-fid's FID_WEIGHTS_URL file name
FORMAT = "nn-fid-inception-v3/1"


def fail(message, code=1):
    print(f"convert_inception.py: error: {message}", file=sys.stderr)
    sys.exit(code)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser(description="Convert pytorch-fid's Inception .pth to safetensors.")
    parser.add_argument("pth", help="pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("out", help="the .safetensors file to write")
    try:
        args = parser.parse_args()
    except SystemExit as e:
        sys.exit(2 if e.code else 0)

    if not os.path.isfile(args.pth):
        fail(f"{args.pth} not found (download it from "
             f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth)")
    digest = sha256_of(args.pth)
    if not digest.startswith(EXPECTED_SHA256_PREFIX):
        fail(f"{args.pth} has SHA-256 {digest[:16]}..., expected one beginning with {EXPECTED_SHA256_PREFIX} "
             f"(pytorch-fid's pt_inception-2015-12-05-6726825d.pth): a partial download or another file")

    # Imported only now, so the checks above work (and are testable) without them.
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as e:
        fail(f"needs torch and safetensors ({e}); pip install torch safetensors")

    try:
        state = torch.load(args.pth, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure is reported in one line
        fail(f"cannot read {args.pth} as a PyTorch state_dict: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    tensors = {}
    for name, value in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        if not torch.is_floating_point(value):
            fail(f"{args.pth}: tensor {name} is {value.dtype}, expected floating point")
        tensors[name] = value.detach().to(torch.float32).contiguous()
    for required in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.bn.running_var", "fc.weight"):
        if required not in tensors:
            fail(f"{args.pth} has no tensor {required}: not pytorch-fid's FID Inception weights")

    metadata = {
        "format": FORMAT,
        "source": os.path.basename(args.pth),
        "source_sha256": digest,
        "tensors": str(len(tensors)),
    }
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.out + ".tmp"
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, args.out)  # never a half-written file under the real name
    except OSError as e:
        fail(f"cannot write {args.out}: {e.strerror or e}")
    print(f"wrote {args.out}: {len(tensors)} tensors, float32, weights {digest[:8]} (SHA-256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
