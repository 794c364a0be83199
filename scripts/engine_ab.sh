#!/usr/bin/env bash
# A/B of the engine's padded activation layout (EnginePadded.swift) on slimmed models: for each
# MODEL[:REFERENCE] argument, alternates ROUNDS runs (env ROUNDS, default 3) of `bench infer` with
# DYNASLIM_PADDED_ACTIVATIONS=1 and =0 at batch 1 and 64, and prints the median over rounds of the
# model's and the reference's ms and of the measured / FLOP speed-up ratio for each setting.
#   bash scripts/engine_ab.sh runs/c10-ns50-thin/model.safetensors:runs/c10-resnet20/model.safetensors \
#                             runs/c10-dyn-var-t50/model.safetensors
# Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
rounds=${ROUNDS:-3}
for spec in "$@"; do
  model=${spec%%:*}; ref=""
  [ "$spec" != "$model" ] && ref="--reference ${spec#*:}"
  for b in 1 64; do
    reps=$([ $b = 1 ] && echo 300 || echo 10)
    out=""
    for r in $(seq $rounds); do
      for p in 1 0; do
        j=$(DYNASLIM_PADDED_ACTIVATIONS=$p $bin bench infer $model $ref --batch $b --repeats $reps --json |
            python3 -c "import sys, json; print(json.dumps(json.load(sys.stdin)))")
        out+="$p $j"$'\n'
      done
    done
    python3 - "$model" "$b" "$out" <<'PY'
import sys, json, statistics as st
model, b, lines = sys.argv[1], sys.argv[2], [l for l in sys.argv[3].splitlines() if l.strip()]
runs = {"1": [], "0": []}
for l in lines:
    p, j = l.split(" ", 1)
    runs[p].append(json.loads(j))
for p, name in (("1", "padded layout"), ("0", "padding copies")):
    r = runs[p]
    m = st.median(x["model_ms"] for x in r); d = st.median(x["dense_ms"] for x in r)
    ratio = st.median(x["measured_speedup"] / x["flop_speedup"] for x in r)
    print(f"{model} b{b} {name}: model {m:.3f} ms, dense {d:.3f} ms, measured/flop {ratio:.2f} (median of {len(r)})")
PY
  done
done
