#!/usr/bin/env bash
# Dense engine vs onnxruntime on the same CIFAR ResNet, same machine, 2 threads.
#   bash scripts/bench_vs_onnxruntime.sh [MODEL=resnet20] [ROUNDS=5]
# Builds a checkpoint of MODEL (one tiny epoch on CIFAR-10: latency does not depend on the weights),
# then, for batch 1 and 256, alternates ROUNDS runs of ours and onnxruntime's (each run prints the
# median over its repeats) and prints the best and the median run of each side and their ratios
# (target <= 1.2). Alternating runs and taking the best of several makes the ratio robust to the
# shared machine's slow spells, which hit batch-1 latency hardest.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet20}
rounds=${2:-5}
bin=${DYNASLIM:-.build/release/dynaslim}
python3 -c "import onnx, onnxruntime" 2>/dev/null || python3 -m pip install -q onnx onnxruntime
dir=runs/ort-ref-$model
[ -f $dir/model.safetensors ] || $bin train --model $model --dataset cifar10 --epochs 1 --train-limit 256 --test-limit 256 --out $dir >/dev/null
for b in 1 256; do
  reps=$([ $b = 1 ] && echo 300 || echo 8)
  ours=(); refs=()
  for r in $(seq $rounds); do
    ours+=($($bin bench infer $dir/model.safetensors --batch $b --repeats $reps --json | python3 -c "import sys,json; print(json.load(sys.stdin)['dense_ms'])"))
    refs+=($(python3 scripts/onnx_reference.py $dir/model.safetensors --input 3x32x32 --batch $b --threads 2 --repeats $reps | python3 -c "import sys,json; print(json.load(sys.stdin)['ms_per_batch'])"))
  done
  python3 - "$b" "${ours[*]}" "${refs[*]}" <<'PY'
import sys, statistics as st
b = int(sys.argv[1]); o = [float(x) for x in sys.argv[2].split()]; r = [float(x) for x in sys.argv[3].split()]
for name, f in (("best", min), ("median", st.median)):
    ob, rb = f(o), f(r)
    print(f"batch {b} ({name} of {len(o)} runs): dynaslim {ob:.3f} ms ({b/ob*1e3:.0f} img/s), onnxruntime {rb:.3f} ms ({b/rb*1e3:.0f} img/s), ratio {ob/rb:.2f}")
PY
done
