#!/usr/bin/env python3
"""Do two gan_train runs hold the same bits? The GPU check's graph stage (#13) asks it of a run with
--cuda-graph off and one with --cuda-graph on, both --deterministic.

    python3 tools/compare_runs.py RUN_A RUN_B

Compares RUN_*/checkpoint_latest.safetensors tensor by tensor, byte for byte (weights, batchnorm
statistics and counters, both Adam states: every tensor of the checkpoint), its metadata entry by
entry (the step, both Adam step counts, the random streams' offsets, ...) except "config" and
the checksums of the header (they record the runs' different options), and RUN_*/metrics.csv
line by line.
Prints one line per difference (at most 10) and a summary; exits 0 when identical, 1 when not, 2
when a file is missing or unreadable. Standard library only (the GPU machine has no internet).
"""
import json
import struct
import sys

# The entries that differ between a --cuda-graph off and an on run by construction: the options
# themselves, and the header checksum computed over them.
IGNORED_METADATA = {"config", "nn.checksum.header"}


def tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end")
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    meta = header.get("__metadata__") or {}
    for key, value in meta.items():
        if key in IGNORED_METADATA:
            continue
        out["__metadata__." + key] = ("str", (), str(value).encode())
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        out[name] = (info["dtype"], tuple(info["shape"]), data[base + lo:base + hi])
    return out


def main():
    if len(sys.argv) != 3:
        print("usage: compare_runs.py RUN_A RUN_B", file=sys.stderr)
        return 2
    a_dir, b_dir = sys.argv[1:]
    try:
        a = tensors(f"{a_dir}/checkpoint_latest.safetensors")
        b = tensors(f"{b_dir}/checkpoint_latest.safetensors")
        with open(f"{a_dir}/metrics.csv") as f:
            ma = f.read().splitlines()
        with open(f"{b_dir}/metrics.csv") as f:
            mb = f.read().splitlines()
    except (OSError, ValueError, KeyError) as e:
        print(f"compare_runs: {e}", file=sys.stderr)
        return 2
    diffs = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            diffs.append(f"{name}: only in {'the first' if name in a else 'the second'} run")
        elif a[name][:2] != b[name][:2]:
            diffs.append(f"{name}: {a[name][:2]} vs {b[name][:2]}")
        elif a[name][2] != b[name][2]:
            k = next((i for i, (x, y) in enumerate(zip(a[name][2], b[name][2])) if x != y),
                     min(len(a[name][2]), len(b[name][2])))
            diffs.append(f"{name}: bytes differ from byte {k} of {len(a[name][2])}")
    tensor_diffs = len(diffs)
    if len(ma) != len(mb):
        diffs.append(f"metrics.csv: {len(ma)} lines vs {len(mb)}")
    for i, (x, y) in enumerate(zip(ma, mb)):
        if x != y:
            diffs.append(f"metrics.csv line {i + 1}: {x!r} vs {y!r}")
    for d in diffs[:10]:
        print("differs: " + d)
    if diffs:
        print(f"compare_runs: DIFFERENT: {tensor_diffs} of {len(set(a) | set(b))} tensors and metadata entries, "
              f"{len(diffs) - tensor_diffs} metrics.csv differences")
        return 1
    n_meta = sum(1 for k in a if k.startswith("__metadata__."))
    print(f"compare_runs: identical: {len(a) - n_meta} tensors, {n_meta} metadata entries and {len(ma) - 1} "
          f"metrics.csv rows, bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
