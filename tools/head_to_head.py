#!/usr/bin/env python3
"""The GPU check's head-to-head table and #13's targets, from the JSON files of one run.

    python3 tools/head_to_head.py LOGS_DIR > head_to_head.md

Reads LOGS_DIR/h2h_*.json, written by tools/gpu_check.sh's head_to_head stage:
  h2h_ours_<preset>_tf32<on|off>[_graph][_fused].json   gan_bench (--cuda-graph, --fuse)
  h2h_torch_<preset>[_compiled]_tf32<on|off>.json      tools/pytorch_baseline.py (eager, compiled)
and prints one Markdown table (a row per preset, batch, precision and variant of ours, beside
PyTorch at the same precision), then the targets, each "met", "missed" or "not measured":
  * dcgan at batch 64: at least 5x the images/s of PyTorch eager and 2x of torch.compile
    (mode reduce-overhead, PyTorch's own CUDA graphs), at TF32 and at strict FP32;
  * keras at batch 256: within 2x of its roofline floor (the step's FLOPs over the peak);
  * launches per step: 1 for a replayed graph, the kernel count eagerly.
"ours" in a target is our fastest variant at that precision, named in the line. Standard
library only (the GPU machine has no internet). Missing or broken files are left out, never fatal.
"""
import glob
import json
import os
import sys

VARIANTS = ["plain", "fused", "graph", "graph+fused"]


def rows(doc):
    if isinstance(doc, dict):
        doc = doc.get("results") or doc.get("rows") or []
    return [r for r in doc if isinstance(r, dict)]


def variant_of(name):
    graph, fused = "_graph" in name, "_fused" in name
    return "graph+fused" if graph and fused else "graph" if graph else "fused" if fused else "plain"


def load(logs):
    """ours[(preset, batch, precision, variant)][mode] = row; torch[(preset, batch, precision)][mode] = (ms, note)."""
    ours, torch = {}, {}
    for path in sorted(glob.glob(os.path.join(logs, "h2h_*.json"))):
        name = os.path.basename(path)
        precision = "tf32" if "tf32on" in name else "fp32"
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        for r in rows(doc):
            batch = int(r.get("batch", r.get("batch_size", 0)) or 0)
            if name.startswith("h2h_ours"):
                ours.setdefault((r.get("preset"), batch, precision, variant_of(name)), {})[r.get("mode")] = r
            else:
                ms = next((r[k] for k in ("ms_median", "ms_per_step", "ms/step", "ms")
                           if isinstance(r.get(k), (int, float))), None)
                torch.setdefault((r.get("preset"), batch, precision), {})[r.get("mode")] = (ms, r.get("compile_mode"))
    return ours, torch


def ok(row):
    return isinstance(row, dict) and "error" not in row and isinstance(row.get("ms_per_step"), (int, float))


def f(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)


def table(ours, torch):
    out = ["| preset | batch | precision | ours | ms/step (synthetic) | ms/step (real) | images/s | kernels/step | "
           "launches/step | PyTorch eager ms | PyTorch compiled ms | eager / ours | compiled / ours | "
           "roofline floor ms | ours / floor |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = set(ours) | {k + (v,) for k in torch for v in ("plain",)}
    order = {v: i for i, v in enumerate(VARIANTS)}
    for key in sorted(keys, key=lambda k: (str(k[0]), k[1], k[2], order.get(k[3], 9))):
        preset, batch, precision, variant = key
        o = ours.get(key, {})
        syn, real = o.get("synthetic"), o.get("real")
        ms = syn["ms_per_step"] if ok(syn) else None
        ms_real = real["ms_per_step"] if ok(real) else None
        ips = syn.get("images_per_s") if ok(syn) else None
        kernels = syn.get("kernel_launches") if ok(syn) else None
        launches = syn.get("launches_per_step") if ok(syn) else None
        floor = (syn or {}).get("roofline_floor_ms") or (real or {}).get("roofline_floor_ms")
        t = torch.get((preset, batch, precision), {})
        eager = t.get("eager", (None, None))[0]
        comp, comp_mode = t.get("compiled", (None, None))
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            preset, batch, precision, variant, f(ms), f(ms_real), f(ips, ".0f"),
            "n/a" if kernels is None else kernels, "n/a" if launches is None else launches, f(eager),
            f(comp) + (" (%s)" % comp_mode if comp is not None and comp_mode else ""),
            f(eager / ms if eager and ms else None, ".2f"), f(comp / ms if comp and ms else None, ".2f"),
            f(floor), f(ms / floor if ms and floor else None, ".2f")))
    return out


def best(ours, preset, batch, precision):
    """(ms, variant, row) of our fastest synthetic variant, or None."""
    found = [(r["synthetic"]["ms_per_step"], v, r["synthetic"])
             for (p, b, pr, v), r in ours.items()
             if p == preset and b == batch and pr == precision and ok(r.get("synthetic"))]
    return min(found, key=lambda x: x[0]) if found else None


def verdict(value, goal, at_least=True):
    if value is None:
        return "not measured"
    return "met" if (value >= goal if at_least else value <= goal) else "missed"


def targets(ours, torch):
    out = ["", "Targets (#13; 'ours' is our fastest variant at that precision):", ""]
    for precision in ("tf32", "fp32"):
        b = best(ours, "dcgan", 64, precision)
        t = torch.get(("dcgan", 64, precision), {})
        eager = t.get("eager", (None, None))[0]
        comp, comp_mode = t.get("compiled", (None, None))
        ms = b[0] if b else None
        who = "ours %s %.3f ms" % (b[1], ms) if b else "ours not measured"
        x_eager = eager / ms if eager and ms else None
        x_comp = comp / ms if comp and ms else None
        out.append("* dcgan batch 64, %s: >= 5x PyTorch eager's images/s: %s (%s vs eager %s ms: %sx)" % (
            precision, verdict(x_eager, 5), who, f(eager), f(x_eager, ".2f")))
        mode_ok = comp_mode in (None, "reduce-overhead")
        out.append("* dcgan batch 64, %s: >= 2x torch.compile(mode=\"reduce-overhead\"): %s (%s vs compiled%s %s ms: %sx)" % (
            precision, verdict(x_comp if mode_ok else None, 2), who,
            "" if comp_mode is None else " " + comp_mode, f(comp), f(x_comp, ".2f")))
    for precision in ("tf32", "fp32"):
        b = best(ours, "keras", 256, precision)
        floor = b[2].get("roofline_floor_ms") if b else None
        ratio = b[0] / floor if b and floor else None
        out.append("* keras batch 256, %s: within 2x of the roofline floor: %s (%s ms over a floor of %s ms: %sx)" % (
            precision, verdict(ratio, 2, at_least=False), f(b[0] if b else None), f(floor), f(ratio, ".2f")))
    for preset, batch in (("dcgan", 64), ("keras", 256)):
        eager = ours.get((preset, batch, "fp32", "plain"), {}).get("synthetic")
        graph = ours.get((preset, batch, "fp32", "graph"), {}).get("synthetic")
        def known(row, key):
            return "n/a" if not ok(row) or row.get(key) is None else row.get(key)
        out.append("* %s batch %d: launches per step: %s eagerly, %s replayed%s" % (
            preset, batch, known(eager, "kernel_launches"), known(graph, "launches_per_step"),
            "" if not ok(graph) or graph.get("replayed") else " (the capture failed: the timed steps ran eagerly)"))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: head_to_head.py LOGS_DIR")
    ours, torch = load(sys.argv[1])
    lines = table(ours, torch) + [
        "",
        "eager / ours > 1: the engine is faster. The floor is the step's FLOPs over the GPU's peak (FP32, or "
        "--peak-tflops for TF32). 'real' gathers each batch from the CIFAR-100 slice on the GPU. Variants: "
        "fused = --fuse, graph = --cuda-graph (every timed step one graph launch)."]
    lines += targets(ours, torch)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
