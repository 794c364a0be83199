#!/usr/bin/env bash
# Fashion-MNIST ResNet-20 experiments of docs/results.md, after the dense run finished:
#   dense:    dynaslim train --model resnet20 --dataset fashion-mnist --epochs 15 --lr 0.1 --schedule cosine --out runs/fmnist-resnet20
# Each slimmed model gets the same 2 epochs of training after the dense model (lr 0.02 cosine).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
dense=runs/fmnist-resnet20/model.safetensors
# Dynamic slimming, variance rule (the thesis), target 0.5.
$bin train --method dynamic --from $dense --dataset fashion-mnist --epochs 2 --lr 0.02 --target 0.5 --epoch-ratio 0.5 --out runs/fmnist-dyn-var-t50
$bin eval runs/fmnist-dyn-var-t50/model.safetensors --static-control --json > runs/fmnist-dyn-var-t50/eval.json
# Static Network Slimming at matched FLOPs: prune 50% of gated channels (~2x), fine-tune 2 epochs.
$bin prune $dense --ratio 0.5 --out runs/fmnist-ns50-thin.safetensors
$bin train --from runs/fmnist-ns50-thin.safetensors --dataset fashion-mnist --epochs 2 --lr 0.02 --out runs/fmnist-ns50
# Dynamic slimming, uniform rule (ablation).
$bin train --method dynamic --from $dense --dataset fashion-mnist --epochs 2 --lr 0.02 --target 0.5 --epoch-ratio 0.5 --rate-target uniform --out runs/fmnist-dyn-uni-t50
$bin eval runs/fmnist-dyn-uni-t50/model.safetensors --static-control --json > runs/fmnist-dyn-uni-t50/eval.json
[ "${SKIP_BENCH:-0}" = 1 ] && exit 0
for r in fmnist-dyn-var-t50 fmnist-ns50 fmnist-dyn-uni-t50; do
  ref=""; [ $r = fmnist-ns50 ] && ref="--reference $dense"
  $bin bench infer runs/$r/model.safetensors $ref --batch 1 --repeats 200 --record
  $bin bench infer runs/$r/model.safetensors $ref --batch 64 --repeats 10 --record
done
$bin report runs/fmnist-resnet20 runs/fmnist-ns50 runs/fmnist-dyn-var-t50 runs/fmnist-dyn-uni-t50 --out docs/report-fmnist
