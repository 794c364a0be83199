#!/usr/bin/env python3
"""Issue 5's dynamic-slimming table from run directories (markdown on stdout).

    python3 scripts/dynamic_table.py --dense runs/c10-resnet20-restart runs/c10r-dyn-var-t50 runs/c10r-ns50 ...

One row per run: accuracy, drop vs the dense run, MACs per image (predictor included), FLOP speed-up, the
per-sample pruning rate (mean [min, max], std), the static control's accuracy (dynamic runs evaluated with
`dynaslim eval --static-control --json > eval.json`), per-class mean rate range, layers cut to one channel for
every input, and the measured batch-1 / batch-64 speed-ups with their ratio to the FLOP speed-up (from
`bench infer --record` files). Static runs (no rate) show '-' in the dynamic columns.

With --seeds, the runs are groups LABEL=RUN,RUN,... (one group per recipe and rule, one run per seed) and it
prints each group's mean (sample std) [min, max] of accuracy, FLOP speed-up and the gap to static NS at each run's
own FLOP speed-up (interpolated as below, from the --versus-static runs), and the mean of static control - model.

With --versus-static NS_RUN... alone it prints instead a compact comparison: each run's accuracy and FLOP speed-up, its
static control, and the static Network Slimming runs' accuracy interpolated linearly to the same FLOP speed-up
(between the two nearest NS runs, the dense model counting as NS at 1.00x; '-' outside their range) with the
difference.
"""
import argparse, os
from run_files import load, load_dense

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dense", required=True)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--versus-static", nargs="+", metavar="NS_RUN", help="static NS runs to interpolate against")
    ap.add_argument("--seeds", action="store_true", help="runs are LABEL=RUN,RUN,... seed groups: summary statistics")
    a = ap.parse_args()
    dense = load_dense(a.dense)
    if a.seeds:
        seed_summary(dense, a.runs, a.versus_static or [])
        return
    if a.versus_static:
        versus_static(dense, a.runs, a.versus_static)
        return
    print("| run | accuracy | drop vs dense | MACs/image | FLOP speed-up | rate mean [min, max] (std) | static control "
          "| per-class rate | one-channel layers | measured b1 (/ FLOP) | measured b64 (/ FLOP) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {os.path.basename(a.dense)} (dense) | {dense['accuracy']*100:.2f}% | - | {dense['macs_per_image']/1e6:.2f}M | 1.00x "
          "| - | - | - | - | - | - |")
    for run in a.runs:
        e = load(os.path.join(run, "eval.json"))
        name = os.path.basename(run.rstrip("/"))
        if e is None:
            print(f"| {name} | not run | | | | | | | | | |"); continue
        macs = e["macs_per_image"]  # dynamic runs: backbone + predictor already
        flop = dense["macs_per_image"] / macs
        drop = (dense["accuracy"] - e["accuracy"]) * 100
        if "rate_mean" in e:
            rate = f"{e['rate_mean']:.3f} [{e['rate_min']:.3f}, {e['rate_max']:.3f}] ({e['rate_std']:.3f})"
            sc = e.get("static_control")
            control = f"{sc['accuracy']*100:.2f}% at {sc['flop_speedup']:.2f}x" if sc else "-"
            pcr = e.get("per_class_rate") or []
            per_class = f"{min(pcr):.3f}-{max(pcr):.3f}" if pcr else "-"
            ones = sum(1 for l in e.get("layers", []) if l.get("one_channel_for_all"))
            one = str(ones)
        else:
            rate = control = per_class = one = "-"
        cells = []
        for b in (1, 64):
            j = load(os.path.join(run, f"bench-infer-b{b}.json"))
            cells.append(f"{j['measured_speedup']:.2f}x ({j['measured_speedup']/j['flop_speedup']:.2f})" if j else "-")
        print(f"| {name} | {e['accuracy']*100:.2f}% | {drop:+.2f} pp | {macs/1e6:.2f}M | {flop:.2f}x | {rate} | {control} "
              f"| {per_class} | {one} | {cells[0]} | {cells[1]} |")

def interpolate(points, x):
    """Linear interpolation of y at x through the (x, y) points sorted by x; None outside their range."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y0
    return None


def static_points(dense, static_runs):
    """(FLOP speed-up, accuracy %) of the static NS runs, sorted, the dense model counting as NS at 1.00x."""
    points = [(1.0, dense["accuracy"] * 100)]
    for run in static_runs:
        e = load(os.path.join(run, "eval.json"))
        if e is not None:
            points.append((dense["macs_per_image"] / e["macs_per_image"], e["accuracy"] * 100))
    return sorted(points)


def stats(values):
    """'mean (sample std) [min, max]' of a list (std '-' for one value)."""
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else None
    return mean, std, min(values), max(values)


def seed_summary(dense, groups, static_runs):
    points = static_points(dense, static_runs)
    print("| group | seeds | accuracy | FLOP speed-up | dynamic - static NS at the same FLOPs | static control - dynamic |")
    print("|---|---|---|---|---|---|")
    for group in groups:
        label, _, runs = group.partition("=")
        acc, flop, gap, control = [], [], [], []
        for run in runs.split(","):
            e = load(os.path.join(run, "eval.json"))
            if e is None:
                continue
            f, a = dense["macs_per_image"] / e["macs_per_image"], e["accuracy"] * 100
            acc.append(a); flop.append(f)
            ns = interpolate(points, f)
            if ns is not None:
                gap.append(a - ns)
            if e.get("static_control"):
                control.append(e["static_control"]["accuracy"] * 100 - a)
        if not acc:
            print(f"| {label} | 0 | not run | | | |"); continue
        def cell(values, unit, digits=2):
            if not values:
                return "-"
            m, sd, lo, hi = stats(values)
            spread = f" ({sd:.{digits}f})" if sd is not None else ""
            return f"{m:.{digits}f}{unit}{spread} [{lo:.{digits}f}, {hi:.{digits}f}]"
        ctl = f"{sum(control) / len(control):+.2f} pp" if control else "-"
        print(f"| {label} | {len(acc)} | {cell(acc, '%')} | {cell(flop, 'x')} | {cell(gap, ' pp')} | {ctl} |")


def versus_static(dense, runs, static_runs):
    points = static_points(dense, static_runs)
    print("| run | accuracy | FLOP speed-up | static control | static NS at the same FLOP speed-up (interpolated) | dynamic - static NS |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        e = load(os.path.join(run, "eval.json"))
        name = os.path.basename(run.rstrip("/"))
        if e is None:
            print(f"| {name} | not run | | | | |"); continue
        flop, acc = dense["macs_per_image"] / e["macs_per_image"], e["accuracy"] * 100
        sc = e.get("static_control")
        control = f"{sc['accuracy']*100:.2f}%" if sc else "-"
        ns = interpolate(points, flop)
        ns_cell, gap = (f"{ns:.2f}%", f"{acc - ns:+.2f} pp") if ns is not None else ("-", "-")
        print(f"| {name} | {acc:.2f}% | {flop:.2f}x | {control} | {ns_cell} | {gap} |")


if __name__ == "__main__":
    main()
