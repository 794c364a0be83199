#!/usr/bin/env bash
# The benchmark set recorded in BENCHMARKS.md; run it on an otherwise idle machine.
# Training throughput is measured with the direct 3x3 kernel on and off (DYNASLIM_DIRECT_CONV=0:
# im2col + SGEMM everywhere), alternating, so the ratio comes from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/dynaslim
echo "## bench kernels"; $bin bench kernels --repeats 15
for i in 1 2; do
  echo "## bench train resnet20 (direct 3x3)"; $bin bench train --model resnet20 --input 3x32x32 --batch-size 128 --steps 10
  echo "## bench train resnet20 (im2col + sgemm only)"; DYNASLIM_DIRECT_CONV=0 $bin bench train --model resnet20 --input 3x32x32 --batch-size 128 --steps 10
done
echo "## bench train resnet56"; $bin bench train --model resnet56 --input 3x32x32 --batch-size 128 --steps 5
echo "## engine vs onnxruntime (resnet20)"; bash scripts/bench_vs_onnxruntime.sh resnet20 5
echo "## engine vs onnxruntime (resnet56)"; bash scripts/bench_vs_onnxruntime.sh resnet56 3
# Slimmed Fashion-MNIST models vs their dense backbone (needs the runs of scripts/fmnist_experiments.sh).
if [ -f runs/fmnist-dyn-var-t50/model.safetensors ]; then
  for r in fmnist-dyn-var-t50 fmnist-dyn-uni-t50; do
    for b in 1 64; do echo "## $r batch $b"; $bin bench infer runs/$r/model.safetensors --batch $b --repeats $([ $b = 1 ] && echo 300 || echo 10) | tail -3; done
  done
  for b in 1 64; do echo "## fmnist static NS 50% batch $b"; $bin bench infer runs/fmnist-ns50-thin.safetensors --reference runs/fmnist-resnet20/model.safetensors --batch $b --repeats $([ $b = 1 ] && echo 300 || echo 10) | tail -3; done
fi
