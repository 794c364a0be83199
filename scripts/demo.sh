#!/usr/bin/env bash
# The main job on a fresh machine: set-up, release build, then the whole comparison on real data
# (Fashion-MNIST, ResNet-20), about 10 minutes on 2 cores:
#   1. train a dense ResNet-20 briefly (2 epochs on 12,000 images),
#   2. static Network Slimming: prune 50% of the gated channels by |gamma|, fine-tune 2 epochs,
#   3. FBS: per-input top-k channels at density 0.5, 2 epochs,
#   4. dynamic slimming (the thesis's variance rule, target rate 0.5), 2 epochs,
#      -- each slimmed model at about 2x fewer FLOPs, from the same dense model, with the same budget --
#   5. evaluate all four on the 10,000 test images (dynamic: rates, per-layer detail, static control),
#   6. measure real milliseconds with the engine against the dense model, batch 1 and 64,
#   7. write one report with the four side by side (runs/demo/report/report.md and SVG plots).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
bin=.build/release/dynaslim
root=runs/demo
dense=$root/dense ns=$root/static-ns fbs=$root/fbs dyn=$root/dynamic
rm -rf $root
data=(--dataset fashion-mnist --train-limit 12000)
echo "== 1. dense ResNet-20 on Fashion-MNIST (2 epochs on 12,000 images)"
$bin train --model resnet20 "${data[@]}" --epochs 2 --lr 0.1 --out $dense
echo "== 2. static Network Slimming: prune 50% of gated channels, fine-tune 2 epochs"
mkdir -p $root/ns-thin
$bin prune $dense/model.safetensors --ratio 0.5 --out $root/ns-thin/model.safetensors
$bin train --from $root/ns-thin/model.safetensors "${data[@]}" --epochs 2 --lr 0.02 --out $ns
echo "== 3. FBS: top half of the channels per input (density 0.5), 2 epochs"
$bin train --method fbs --from $dense/model.safetensors "${data[@]}" --epochs 2 --lr 0.02 --density 0.5 --epoch-ratio 0.5 --out $fbs
echo "== 4. dynamic slimming (variance rule, target rate 0.5), 2 epochs"
$bin train --method dynamic --from $dense/model.safetensors "${data[@]}" --epochs 2 --lr 0.02 --target 0.5 --epoch-ratio 0.5 --out $dyn
echo "== 5. evaluation on the 10,000 test images"
for d in $dense $ns $fbs; do $bin eval $d/model.safetensors --json > $d/eval.json; done
$bin eval $dyn/model.safetensors --static-control
echo "== 6. measured latency against the dense model (inference engine), batch 1 and 64"
for d in $ns $fbs $dyn; do
  echo "-- $(basename $d)"
  $bin bench infer $d/model.safetensors --reference $dense/model.safetensors --batch 1 --repeats 100 --record | tail -2
  $bin bench infer $d/model.safetensors --reference $dense/model.safetensors --batch 64 --repeats 10 --record | tail -2
done
echo "== 7. report"
$bin report $dense $ns $fbs $dyn --out $root/report
echo
sed -n '/^| method/,/^$/p' $root/report/report.md
echo "report: $root/report/report.md (plots beside it)"
