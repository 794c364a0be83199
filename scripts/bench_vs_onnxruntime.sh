#!/usr/bin/env bash
# Dense engine vs onnxruntime on the same CIFAR ResNet, same machine, back to back, 2 threads.
#   bash scripts/bench_vs_onnxruntime.sh [MODEL=resnet20]
# Builds a checkpoint of MODEL (one tiny epoch on CIFAR-10: latency does not depend on the weights),
# then prints, for batch 1 and 256: our ms/batch, onnxruntime's, and the ratio (target <= 1.2).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet20}
bin=.build/release/dynaslim
python3 -c "import onnx, onnxruntime" 2>/dev/null || python3 -m pip install -q onnx onnxruntime
dir=runs/ort-ref-$model
[ -f $dir/model.safetensors ] || $bin train --model $model --dataset cifar10 --epochs 1 --train-limit 256 --test-limit 256 --out $dir >/dev/null
for b in 1 256; do
  reps=$([ $b = 1 ] && echo 300 || echo 8)
  ours=$($bin bench infer $dir/model.safetensors --batch $b --repeats $reps --json | python3 -c "import sys,json; print(json.load(sys.stdin)['dense_ms'])")
  ref=$(python3 scripts/onnx_reference.py $dir/model.safetensors --input 3x32x32 --batch $b --threads 2 --repeats $reps | python3 -c "import sys,json; print(json.load(sys.stdin)['ms_per_batch'])")
  python3 -c "o,r=$ours,$ref; print(f'batch $b: dynaslim {o:.3f} ms ({$b/o*1e3:.0f} img/s), onnxruntime {r:.3f} ms ({$b/r*1e3:.0f} img/s), ratio {o/r:.2f}')"
done
