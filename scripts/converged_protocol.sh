#!/usr/bin/env bash
# The converged comparison (CIFAR-10, ResNet-20): every arm gets 30 epochs after the same 100-epoch dense
# model (checkpoints/c10-resnet20-restart3, 91.43%), in two stages, each a cosine schedule from --lr 0.02 to
# zero, batch 128, SGD momentum 0.9, weight decay 5e-4, crop + flip, and the same distillation from the
# dense model (alpha 0.9, T 4) in every stage of every arm.
#
#   bash scripts/converged_protocol.sh ns SEED [RATIO]   static NS: 5 epochs of L1 sparsity (lambda 5e-3), prune
#                                                   RATIO (default 0.5) of gated channels by |gamma|, 25 epochs of
#                                                   fine-tuning (0.5 gave 2.45x FLOPs after the L1 stage)
#   bash scripts/converged_protocol.sh slim SEED    the dynamic arms' backbone: 20 epochs of slimmable training
#                                                   (sandwich rule, in-place distillation), stage 1 of 2
#   bash scripts/converged_protocol.sh dyn SEED RULE [TARGET]   stage 2 from that backbone: 10 epochs of predictor
#                                                   + gated training, RULE variance | uniform | oracle, TARGET rate
#                                                   (default 0.55: about 2x FLOPs with the predictor counted)
#   bash scripts/converged_protocol.sh fbs SEED [DENSITY]       FBS from the dense model, 30 epochs, DENSITY 0.5
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
arm=${1:?arm: ns, slim, dyn, fbs or save}
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
    ratio=${3:-0.5}
    p=runs/p30-ns$(python3 -c "print(round($ratio * 100))")-s$seed
    # The L1 stage is the same for every ratio: it is shared with the 50% arm's.
    l1=runs/p30-ns50-s$seed-l1
    train_step $l1 --from $dense --epochs 5 --sparsity 5e-3 "${common[@]}"
    restore $p-thin
    if [ ! -f $p-thin/model.safetensors ]; then
      mkdir -p $p-thin
      $bin prune $l1/model.safetensors --ratio $ratio --out $p-thin/model.safetensors
    fi
    train_step $p --from $p-thin/model.safetensors --epochs 25 "${common[@]}"
    ;;
  slim)
    train_step runs/p30-slim20-s$seed --method slimmable --from $dense --epochs 20 "${common[@]}"
    ;;
  dyn)
    rule=${3:?rule: variance, uniform or oracle}
    target=${4:-0.55}
    backbone=runs/p30-slim20-s$seed
    restore $backbone
    [ -f $backbone/eval.json ] || { echo "the backbone $backbone has not finished (bash $0 slim $seed)" >&2; exit 1; }
    train_step runs/p30-dyn-$rule-t${target#0.}-s$seed --method dynamic --from $backbone/model.safetensors --epochs 10 \
      --target "$target" --rate-target "$rule" --epoch-ratio 0.5 "${common[@]}"
    ;;
  fbs)
    density=${3:-0.5}
    train_step runs/p30-fbs-d${density#0.}-s$seed --method fbs --from $dense --epochs 30 --density "$density" --epoch-ratio 0.5 "${common[@]}"
    ;;
  save)
    # The small state a later session needs: config, metrics, model and resume state (~3 MB a run).
    mkdir -p $saved
    for d in runs/p30-*/; do
      d=${d%/}; name=$(basename "$d")
      [ -f "$d/config.json" ] || [ -f "$d/model.safetensors" ] || continue
      mkdir -p "$saved/$name"
      for f in config.json metrics.jsonl model.safetensors resume.safetensors eval.json oracle.json oracle.txt \
               oracle-bn-as-trained.json oracle-rates.safetensors; do
        if [ -f "$d/$f" ]; then cp "$d/$f" "$saved/$name/$f"; fi
      done
      stamp "saved $d"
    done
    ;;
  *) echo "unknown arm '$arm' (ns, slim, dyn, fbs or save)" >&2; exit 2 ;;
esac
stamp "done: $arm ${2:-}"
