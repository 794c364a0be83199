#!/usr/bin/env python3
"""Issue 4's static Network Slimming table from run directories (markdown on stdout).

    python3 scripts/ns_table.py [--dense runs/c10-resnet20] [--prefix runs/c10-ns] [--ratios 30,50,70]

For each pruning ratio R: accuracy before fine-tuning (RUN_PREFIX{R}-thin/eval.json) and after
(RUN_PREFIX{R}/eval.json, '-' if not run yet), parameters, MACs per image, FLOP speed-up against the
dense run, and the measured batch-1 / batch-64 speed-ups from `bench infer --record` files (timing does
not depend on the weights, so the thin model's files stand in until the fine-tuned model has its own).
"""
import argparse, os
from run_files import load, load_dense

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dense", default="runs/c10-resnet20")
    ap.add_argument("--prefix", default="runs/c10-ns", help="run directories are PREFIX{R}-thin and PREFIX{R}")
    ap.add_argument("--ratios", default="30,50,70")
    a = ap.parse_args()
    dense = load_dense(a.dense)
    print("| pruning ratio | accuracy before fine-tuning | after fine-tuning | params | MACs/image | FLOP speed-up "
          "| measured speed-up b1 | measured / FLOP b1 | measured speed-up b64 |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| 0 (dense) | {dense['accuracy']*100:.2f}% | - | {dense['params']:,} | {dense['macs_per_image']/1e6:.2f}M | 1.00x | - | - | - |")
    for r in a.ratios.split(","):
        thin, ft = f"{a.prefix}{r}-thin", f"{a.prefix}{r}"
        e0, e1 = load(os.path.join(thin, "eval.json")), load(os.path.join(ft, "eval.json"))
        if e0 is None:
            print(f"| 0.{r} | not run | | | | | | | |"); continue
        flop = dense["macs_per_image"] / e0["macs_per_image"]
        bench = {}
        for b in (1, 64):
            j = load(os.path.join(ft, f"bench-infer-b{b}.json")) or load(os.path.join(thin, f"bench-infer-b{b}.json"))
            bench[b] = j["measured_speedup"] if j else None
        fmt = lambda x: f"{x:.2f}x" if x else "-"
        ratio = f"{bench[1]/flop:.2f}" if bench[1] else "-"
        after = f"{e1['accuracy']*100:.2f}%" if e1 else "not run yet"
        print(f"| 0.{r} | {e0['accuracy']*100:.2f}% | {after} | {e0['params']:,} | {e0['macs_per_image']/1e6:.2f}M | {flop:.2f}x "
              f"| {fmt(bench[1])} | {ratio} | {fmt(bench[64])} |")

if __name__ == "__main__":
    main()
