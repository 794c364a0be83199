#!/usr/bin/env bash
# The main job on a fresh machine: set-up, release build, then a short real-data demo:
# train ResNet-20 briefly on Fashion-MNIST, evaluate it, show its layers, and measure the kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
bin=.build/release/dynaslim
run=runs/demo-fmnist-resnet20
rm -rf "$run"
$bin train --model resnet20 --dataset fashion-mnist --epochs 2 --train-limit 12000 --lr 0.1 --schedule cosine --out "$run"
$bin eval "$run/model.safetensors"
$bin info "$run/model.safetensors" | tail -4
$bin bench kernels --repeats 7
