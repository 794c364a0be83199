#!/usr/bin/env bash
# The main job on a fresh machine: set-up, release build, then a short but real demo of dynamic
# slimming on Fashion-MNIST (about 8 minutes on 2 cores):
#   1. train a dense ResNet-20 briefly,
#   2. train its dynamic version (threshold predictor + gated fine-tuning, target rate 0.5),
#   3. evaluate it (accuracy, pruning rates, FLOP speed-up, per-layer and per-class detail, static control),
#   4. measure real milliseconds with the engine, dynamic vs dense, at batch 1 and 64,
#   5. write the comparison report (runs/demo/report/report.md and SVG plots).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
bin=.build/release/dynaslim
dense=runs/demo/dense dyn=runs/demo/dynamic
rm -rf runs/demo
echo "== 1. dense ResNet-20 on Fashion-MNIST (2 epochs on 12,000 images)"
$bin train --model resnet20 --dataset fashion-mnist --epochs 2 --train-limit 12000 --lr 0.1 --out $dense
echo "== 2. dynamic slimming from it (target rate 0.5, 2 epochs)"
$bin train --method dynamic --from $dense/model.safetensors --dataset fashion-mnist --epochs 2 --train-limit 12000 \
  --lr 0.02 --target 0.5 --epoch-ratio 0.5 --out $dyn
echo "== 3. evaluation on the 10,000 test images"
$bin eval $dense/model.safetensors | head -2
$bin eval $dyn/model.safetensors --static-control
echo "== 4. measured latency, dynamic vs dense (inference engine)"
$bin bench infer $dyn/model.safetensors --batch 1 --repeats 100 --record
$bin bench infer $dyn/model.safetensors --batch 64 --repeats 10 --record
echo "== 5. report"
$bin report $dense $dyn --out runs/demo/report
