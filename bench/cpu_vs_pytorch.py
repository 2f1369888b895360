#!/usr/bin/env python3
"""bench/cpu_vs_pytorch.py - gan_train's CPU training step against PyTorch's, in one run.

    python3 bench/cpu_vs_pytorch.py                       # both presets, batch 64 and 256, 3 rounds
    python3 bench/cpu_vs_pytorch.py --presets keras --batch-sizes 256 --rounds 5 --compiled

For every round and every (preset, batch) row it times our step (build/gan_bench_cpu, a
subprocess: the real Trainer on the CPU, the batch gathered from uint8 images and scaled, as
gan_train runs it) and then PyTorch's eager step (tools/pytorch_baseline.py's Trainer, in this
process: the same models, initialisation, schedule, losses and Adam, its batch gathered from
uint8 images the same way), one right after the other, so both see the same machine state; with
--compiled also torch.compile's. Both sides use the same thread count (--threads, default: all
cores): OMP_NUM_THREADS for ours, torch.set_num_threads for PyTorch. Each side's ms/step is the
median over rounds of each round's median over --steps steps (after --warmup).

The table: ms/step and images/s of each side, the ratio ours / PyTorch in images/s (> 1: we are
faster), our GFLOP/s (the step's convolution and linear FLOPs, bench/gan_layers.h) and that as a
percentage of the machine's float32 GEMM peak, which gan_bench_cpu measures in the same run (a
2048^3 product through the engine's OpenBLAS). Speed is never asserted anywhere: this prints.
Needs torch (a virtual environment is fine: run this file with its python).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", default="dcgan,keras")
    ap.add_argument("--batch-sizes", default="64,256")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per side per round (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--compiled", action="store_true", help="also time torch.compile (slow to compile)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "gan_bench_cpu"), help="our benchmark binary")
    ap.add_argument("--json", default="", help="also write every measurement as JSON")
    a = ap.parse_args()
    a.presets = [p for p in a.presets.split(",") if p]
    a.batch_sizes = [int(b) for b in a.batch_sizes.split(",") if b]
    if a.rounds < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1:
        ap.error("--rounds, --steps, --threads >= 1 and --warmup >= 0")
    if not os.access(a.bin, os.X_OK):
        ap.error(f"{a.bin} is not built (tools/build.sh)")
    return a


def ours(a, preset, batch):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        # The same environment as this process's PyTorch (OMP_WAIT_POLICY included, if set).
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        subprocess.run([a.bin, "--presets", preset, "--batch-sizes", str(batch), "--warmup", str(a.warmup),
                        "--steps", str(a.steps), "--threads", str(a.threads), "--json", f.name],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        doc = json.load(open(f.name))
    r = doc["results"][0]
    return {"ms": r["ms_median"], "gflop": r["step_gflop"], "peak": doc["gemm_peak_gflops"], "blas": doc["blas"]}


def main():
    a = parse_args()
    import torch
    import pytorch_baseline as pb

    torch.set_num_threads(a.threads)
    device = torch.device("cpu")
    images = pb.make_dataset(device, 50000, "", 999)
    base = SimpleNamespace(width={}, nz=100, seed=999, warmup=a.warmup, steps=a.steps, compile_warmup=3,
                           compile_mode="default")
    modes = ["eager"] + (["compiled"] if a.compiled else [])
    rows = [(p, b) for p in a.presets for b in a.batch_sizes]
    runs = {row: {"ours": [], **{m: [] for m in modes}} for row in rows}
    meta, peaks = {}, []
    t0 = time.time()
    print(f"cpu_vs_pytorch: torch {torch.__version__}, {a.threads} threads each, {a.rounds} rounds x "
          f"({a.warmup} warm-up + {a.steps} timed steps) per side and row", flush=True)
    for rnd in range(a.rounds):
        for row in rows:
            o = ours(a, *row)
            runs[row]["ours"].append(o["ms"])
            meta[row] = o
            peaks.append(o["peak"])
            for m in modes:
                r = pb.run_one(base, device, row[0], row[1], m, images)
                if r["error"]:
                    sys.exit(f"cpu_vs_pytorch: PyTorch {m} {row}: {r['error']}")
                runs[row][m].append(r["ms_median"])
            print(f"  round {rnd + 1}: {row[0]} batch {row[1]}: ours {o['ms']:.1f} ms, "
                  + ", ".join(f"{m} {runs[row][m][-1]:.1f} ms" for m in modes), flush=True)

    peak = statistics.median(peaks)
    head = ("| preset | batch | ours ms/step | ours images/s | PyTorch eager ms/step | PyTorch eager images/s "
            "| ours / eager |" + (" PyTorch compiled ms/step | ours / compiled |" if a.compiled else "")
            + " ours GFLOP/s | % of GEMM peak |")
    print()
    print(f"threads {a.threads}; float32 GEMM peak {peak:.1f} GFLOP/s (2048^3 sgemm, median of the runs); "
          f"{time.time() - t0:.0f} s in all")
    print()
    print(head)
    print("|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|")
    out = []
    for row in rows:
        mine = statistics.median(runs[row]["ours"])
        eager = statistics.median(runs[row]["eager"])
        gflops = meta[row]["gflop"] / (mine * 1e-3)
        cells = [row[0], str(row[1]), f"{mine:.1f}", f"{row[1] / mine * 1e3:.1f}", f"{eager:.1f}",
                 f"{row[1] / eager * 1e3:.1f}", f"{eager / mine:.2f}"]
        rec = {"preset": row[0], "batch": row[1], "ours_ms": mine, "eager_ms": eager, "ratio_eager": eager / mine,
               "gflops": gflops, "gemm_peak_gflops": peak, "rounds": runs[row]}
        if a.compiled:
            comp = statistics.median(runs[row]["compiled"])
            cells += [f"{comp:.1f}", f"{comp / mine:.2f}"]
            rec.update(compiled_ms=comp, ratio_compiled=comp / mine)
        cells += [f"{gflops:.1f}", f"{100 * gflops / peak:.1f}"]
        print("| " + " | ".join(cells) + " |")
        out.append(rec)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "torch": torch.__version__, "rows": out}, f, indent=1)


if __name__ == "__main__":
    main()
