#!/usr/bin/env bash
# The converged comparison (CIFAR-10, ResNet-20): every arm gets 30 epochs after the same 100-epoch dense
# model (checkpoints/c10-resnet20-restart3, 91.43%), in two stages, each a cosine schedule from --lr 0.02 to
# zero, batch 128, SGD momentum 0.9, weight decay 5e-4, crop + flip, and the same distillation from the
# dense model (alpha 0.9, T 4) in every stage of every arm.
#
#   bash scripts/converged_protocol.sh ns SEED      static NS: 5 epochs of L1 sparsity (lambda 5e-3), prune 50%
#                                                   of gated channels by |gamma|, 25 epochs of fine-tuning
#   bash scripts/converged_protocol.sh slim SEED    the dynamic arms' backbone: 20 epochs of slimmable training
#                                                   (sandwich rule, in-place distillation), stage 1 of 2
#   bash scripts/converged_protocol.sh save         copies each unfinished run's resume state (and each
#                                                   finished stage's model) from runs/ to checkpoints/p30/
#
# Every step resumes when its run directory holds a finished epoch and is skipped once its eval.json exists,
# so the same command continues a run that a session stop killed. A run missing from runs/ (a fresh clone)
# is first copied back from checkpoints/p30/, where `save` left it. DYNASLIM_THREADS=1 lets two arms share
# the 2 cores, one each.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
dense=checkpoints/c10-resnet20-restart3/model.safetensors
saved=checkpoints/p30
arm=${1:?arm: ns, slim or save}
seed=${2:-0}
common=(--dataset cifar10 --lr 0.02 --schedule cosine --batch-size 128 --seed "$seed"
        --teacher "$dense" --kd-alpha 0.9 --kd-temperature 4)
stamp() { echo "== $(date +%H:%M:%S) $*"; }

# restore DIR: brings a run saved under checkpoints/p30/ back into runs/ when runs/ lacks it.
restore() {
  local name; name=$(basename "$1")
  if [ ! -e "$1" ] && [ -d "$saved/$name" ]; then mkdir -p runs && cp -r "$saved/$name" "$1"; stamp "restored $1 from $saved"; fi
}

# train_step DIR OPTION...: trains into DIR (or resumes it), then writes DIR/eval.json.
train_step() {
  local d=$1; shift
  restore "$d"
  [ -f "$d/eval.json" ] && return 0
  if [ -f "$d/resume.safetensors" ]; then stamp "resume $d"; $bin train --out "$d" --resume
  else stamp "train $d: $*"; $bin train "$@" --out "$d"; fi
  $bin eval "$d/model.safetensors" --json > "$d/eval.json.tmp" && mv "$d/eval.json.tmp" "$d/eval.json"
}

case $arm in
  ns)
    p=runs/p30-ns50-s$seed
    train_step $p-l1 --from $dense --epochs 5 --sparsity 5e-3 "${common[@]}"
    restore $p-thin
    if [ ! -f $p-thin/model.safetensors ]; then
      mkdir -p $p-thin
      $bin prune $p-l1/model.safetensors --ratio 0.5 --out $p-thin/model.safetensors
    fi
    train_step $p --from $p-thin/model.safetensors --epochs 25 "${common[@]}"
    ;;
  slim)
    train_step runs/p30-slim20-s$seed --method slimmable --from $dense --epochs 20 "${common[@]}"
    ;;
  save)
    # The small state a later session needs: config, metrics, model and resume state (~3 MB a run).
    mkdir -p $saved
    for d in runs/p30-*/; do
      d=${d%/}; name=$(basename "$d")
      [ -f "$d/config.json" ] || [ -f "$d/model.safetensors" ] || continue
      mkdir -p "$saved/$name"
      for f in config.json metrics.jsonl model.safetensors resume.safetensors eval.json oracle.json oracle-rates.safetensors; do
        [ -f "$d/$f" ] && cp "$d/$f" "$saved/$name/$f"
      done
      stamp "saved $d"
    done
    ;;
  *) echo "unknown arm '$arm' (ns, slim or save)" >&2; exit 2 ;;
esac
stamp "done: $arm ${2:-}"
