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
echo "## engine vs onnxruntime (resnet20)"; bash scripts/bench_vs_onnxruntime.sh resnet20
echo "## engine vs onnxruntime (resnet56)"; bash scripts/bench_vs_onnxruntime.sh resnet56
