#!/usr/bin/env bash
# Batch-1 `bench infer` runs back to back for a while, then the measured / FLOP speed-up grouped by how
# fast the dense reference ran in the same run: this VM's host switches, every few seconds, between
# regimes in which the same binary's dense ResNet-20 takes ~0.6, ~0.72 or ~1.1 ms at 2 threads, and a
# thinned model's ratio depends on the regime (BENCHMARKS.md, "Eighth session").
#   bash scripts/bench_timeseries.sh MODEL REFERENCE [SECONDS=120] [THREADS=2]
#   bash scripts/bench_timeseries.sh runs/c10r-ns70-thin/model.safetensors runs/c10-resnet20-restart/model.safetensors 150 2
# Prints one line per run (seconds since start, model ms, dense ms, FLOP speed-up), then per regime
# (dense-ms band, cut at the given thresholds) the number of runs and median model ms, dense ms and
# measured / FLOP speed-up. Run it on an otherwise idle machine.
# With AB="VAR=a VAR=b" (environment assignments), each round runs once per assignment, in turn,
# and every band is reported per assignment: an A/B of an engine switch inside one binary, e.g.
#   AB="DYNASLIM_PHASE_OUTPUT=0 DYNASLIM_PHASE_OUTPUT=1" bash scripts/bench_timeseries.sh MODEL REF 90 2
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
model=$1; ref=$2; seconds=${3:-120}; threads=${4:-2}
bands=${BANDS:-$([ "$threads" = 1 ] && echo "1.2 1.6" || echo "0.65 0.8 0.95")}
runs=$(mktemp)
start=$(date +%s)
variants=${AB:-DYNASLIM_AB=-}
while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
  for v in $variants; do
    env "$v" "$bin" bench infer "$model" --reference "$ref" --batch 1 --repeats 300 --threads "$threads" --json |
      python3 -c "import sys, json; j = json.load(sys.stdin); print($(( $(date +%s) - start )), j['model_ms'], j['dense_ms'], j['flop_speedup'], '$v')" >> "$runs"
  done
done
cat "$runs"
python3 - "$runs" $bands <<'PY'
import sys, statistics as st
rows = [[float(v) for v in l.split()[:4]] + [l.split()[4]] for l in open(sys.argv[1]) if l.strip()]
cuts = [0.0] + [float(c) for c in sys.argv[2:]] + [float("inf")]
flop = rows[0][3]
labels = list(dict.fromkeys(r[4] for r in rows))
print(f"{len(rows)} runs, FLOP speed-up {flop:.2f}x; measured / FLOP by the dense model's ms in the same run:")
for lo, hi in zip(cuts, cuts[1:]):
    for label in labels:
        band = [r for r in rows if lo <= r[2] < hi and r[4] == label]
        if band:
            tag = "" if label == "DYNASLIM_AB=-" else f" [{label}]"
            print(f"  dense {lo:.2f}-{hi:.2f} ms{tag}: {len(band):3d} runs, model {st.median(r[1] for r in band):.3f} ms, "
                  f"dense {st.median(r[2] for r in band):.3f} ms, measured/flop {st.median(r[2] / r[1] / flop for r in band):.2f}")
for label in labels:
    tag = "" if label == "DYNASLIM_AB=-" else f" [{label}]"
    print(f"  all{tag}: measured/flop {st.median(r[2] / r[1] / flop for r in rows if r[4] == label):.2f}")
PY
rm -f "$runs"
