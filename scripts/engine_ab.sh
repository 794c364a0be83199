#!/usr/bin/env bash
# Engine A/B on slimmed models: for each MODEL[:REFERENCE] argument, alternates ROUNDS runs (env
# ROUNDS, default 3) of `bench infer` under setting A and setting B at batch 1 and 64 (BATCHES,
# default "1 64"; THREADS, default 2), and prints per setting the median over rounds of the model's and the reference's
# ms and of the measured / FLOP speed-up ratio.
#   Settings: by default the padded activation layout (DYNASLIM_PADDED_ACTIVATIONS=1 vs 0, with
#   $DYNASLIM or the release build); with BIN_A and BIN_B set, two builds of dynaslim (e.g. the
#   engine before and after a change: copy the old binary aside first).
#   bash scripts/engine_ab.sh runs/c10-ns50-thin/model.safetensors:runs/c10-resnet20/model.safetensors \
#                             runs/c10-dyn-var-t50/model.safetensors
#   BIN_A=/tmp/dynaslim-old BIN_B=.build/release/dynaslim bash scripts/engine_ab.sh MODEL...
# Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
rounds=${ROUNDS:-3}
if [ -n "${BIN_A:-}" ] && [ -n "${BIN_B:-}" ]; then
  names=("A $BIN_A" "B $BIN_B"); run() { local b=$BIN_A; [ "$1" = B ] && b=$BIN_B; shift; "$b" "$@"; }
else
  names=("A padded layout" "B padding copies")
  run() { local p=1; [ "$1" = B ] && p=0; shift; DYNASLIM_PADDED_ACTIVATIONS=$p "$bin" "$@"; }
fi
for spec in "$@"; do
  model=${spec%%:*}; ref=()
  [ "$spec" != "$model" ] && ref=(--reference "${spec#*:}")
  for b in ${BATCHES:-1 64}; do
    reps=$([ $b = 1 ] && echo 300 || echo 10)
    out=""
    for r in $(seq $rounds); do
      for p in A B; do
        j=$(run $p bench infer "$model" "${ref[@]}" --batch $b --repeats $reps --threads ${THREADS:-2} --json |
            python3 -c "import sys, json; print(json.dumps(json.load(sys.stdin)))")
        out+="$p $j"$'\n'
      done
    done
    python3 - "$model" "$b" "$out" "${names[@]}" <<'PY'
import sys, json, statistics as st
model, b, lines, names = sys.argv[1], sys.argv[2], [l for l in sys.argv[3].splitlines() if l.strip()], sys.argv[4:]
runs = {"A": [], "B": []}
for l in lines:
    p, j = l.split(" ", 1)
    runs[p].append(json.loads(j))
for label in names:
    p, name = label.split(" ", 1)
    r = runs[p]
    m = st.median(x["model_ms"] for x in r); d = st.median(x["dense_ms"] for x in r)
    ratio = st.median(x["measured_speedup"] / x["flop_speedup"] for x in r)
    print(f"{model} b{b} {name}: model {m:.3f} ms, dense {d:.3f} ms, measured/flop {ratio:.2f} (median of {len(r)})")
PY
  done
done
