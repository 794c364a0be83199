#!/usr/bin/env bash
# The benchmark set recorded in BENCHMARKS.md; run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/dynaslim
echo "## bench kernels"; $bin bench kernels --repeats 15
echo "## bench train resnet20"; $bin bench train --model resnet20 --input 3x32x32 --batch-size 128 --steps 10
echo "## bench train resnet56"; $bin bench train --model resnet56 --input 3x32x32 --batch-size 128 --steps 5
echo "## engine vs onnxruntime (resnet20)"; bash scripts/bench_vs_onnxruntime.sh resnet20
echo "## engine vs onnxruntime (resnet56)"; bash scripts/bench_vs_onnxruntime.sh resnet56
