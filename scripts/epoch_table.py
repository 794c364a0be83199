#!/usr/bin/env python3
"""Per-epoch markdown table of a run directory's metrics.jsonl (docs/results.md's dense-model tables).

    python3 scripts/epoch_table.py runs/c10-resnet20
"""
import json, sys

if len(sys.argv) != 2:
    raise SystemExit(__doc__)
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl") if l.strip()]
print("| epoch | test accuracy | train accuracy | lr at epoch end | seconds |")
print("|---|---|---|---|---|")
for d in rows:
    print(f"| {d['epoch']} | {d['test_accuracy']*100:.2f}% | {d['train_accuracy']*100:.2f}% | {d['lr']:.4f} | {d['seconds']:.0f} |")
