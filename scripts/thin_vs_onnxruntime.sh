#!/usr/bin/env bash
# How much of a thinned ResNet's FLOP reduction each engine turns into measured speed: DynaSlim's
# engine and onnxruntime (scripts/onnx_reference.py: the same graph built from the checkpoint, ORT's
# graph optimizations on) on the same thin checkpoints and their dense reference, same machine.
#   THREADS=2 BATCH=1 ROUNDS=5 bash scripts/thin_vs_onnxruntime.sh DENSE THIN...
#   bash scripts/thin_vs_onnxruntime.sh runs/c10-resnet20-restart/model.safetensors runs/c10r-ns{30,50,70}-thin/model.safetensors
# Each round runs, in turn: our bench (thin model and dense reference, alternated inside the run),
# then onnxruntime on the dense and on the thin model. Printed per thin model: the median over
# rounds of each side's ms, measured speed-up and measured / FLOP speed-up (the FLOP speed-up is
# the checkpoints' MAC ratio, the same for both engines). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
threads=${THREADS:-2}; batch=${BATCH:-1}; rounds=${ROUNDS:-5}
reps=$([ "$batch" = 1 ] && echo 300 || echo 8)
python3 -c "import onnx, onnxruntime, safetensors" 2>/dev/null || python3 -m pip install -q onnx onnxruntime safetensors numpy
dense=$1; shift
ort() { python3 scripts/onnx_reference.py "$1" --input 3x32x32 --batch "$batch" --threads "$threads" --repeats "$reps" |
        python3 -c "import sys, json; print(json.load(sys.stdin)['ms_per_batch'])"; }
for thin in "$@"; do
  lines=""
  for r in $(seq "$rounds"); do
    ours=$("$bin" bench infer "$thin" --reference "$dense" --batch "$batch" --threads "$threads" --repeats "$reps" --json |
           python3 -c "import sys, json; j = json.load(sys.stdin); print(j['model_ms'], j['dense_ms'], j['flop_speedup'])")
    lines+="$ours $(ort "$dense") $(ort "$thin")"$'\n'
  done
  python3 - "$thin" "$batch" "$threads" "$lines" <<'PY'
import sys, statistics as st
thin, batch, threads, text = sys.argv[1:5]
rows = [[float(v) for v in l.split()] for l in text.splitlines() if l.strip()]
med = lambda f: st.median(f(r) for r in rows)
flop = rows[0][2]
print(f"{thin}: batch {batch}, {threads} threads, FLOP speed-up {flop:.2f}x, median of {len(rows)} rounds")
for name, m, d in (("dynaslim", 0, 1), ("onnxruntime", 4, 3)):
    print(f"  {name:12s} thin {med(lambda r: r[m]):.3f} ms, dense {med(lambda r: r[d]):.3f} ms, "
          f"measured speed-up {med(lambda r: r[d] / r[m]):.2f}x, measured/flop {med(lambda r: r[d] / r[m] / flop):.2f}")
PY
done
