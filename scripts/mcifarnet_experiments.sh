#!/usr/bin/env bash
# Issue 7's comparison on real CIFAR-10 with M-CifarNet (the thesis's FBS comparison model): dense,
# dynamic slimming (variance and uniform rules), FBS and static Network Slimming, the last two at the
# variance-rule dynamic model's FLOP speed-up; each slimmed model gets FT_EPOCHS (default 2) epochs
# of training after the dense model (lr 0.01, cosine); every model is evaluated and measured at
# batch 1 and 64 against the dense model; then the report.
#
# The dense model: runs/$DENSE_RUN (default c10-mcifarnet-torch), made by
#   python3 scripts/torch_train_dense.py --data ../shared/data/cifar-10-batches-bin --epochs 60 \
#     --out runs/c10-mcifarnet-torch                           (on a GPU: ~3 min; see that script)
# or by DynaSlim alone (~12 min/epoch on 2 cores):
#   dynaslim train --model mcifarnet --dataset cifar10 --epochs 20 --lr 0.1 --schedule cosine --out runs/c10-mcifarnet
# Stages are skipped when their output exists, so the script can be stopped and started again.
# TARGET (default 0.5) is the dynamic runs' expected pruning rate.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
ft=${FT_EPOCHS:-2}
D=${DENSE_RUN:-c10-mcifarnet-torch}
P=${PREFIX:-mc}
T=${TARGET:-0.5}
t=$(python3 -c "print(round($T * 100))")
report=${REPORT:-docs/report-mcifarnet}
dense=runs/$D/model.safetensors
[ -f $dense ] || { echo "missing $dense: train the dense model first (see the top of this script)" >&2; exit 1; }
b1_repeats=100; b64_repeats=5
source scripts/experiment_lib.sh   # stamp, measure, dyn, fbs, fine_tune, prune_thin
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }

# 1. The dense model, evaluated by DynaSlim (also checks the PyTorch-trained file loads and agrees).
[ -f runs/$D/eval.json ] || { stamp "eval dense"; $bin eval $dense --json > runs/$D/eval.json; }

# 2. Dynamic slimming from the dense model, the variance rule (the uniform rule: stage 5).
dyn $P-dyn-var-t$t --target $T
S=$(json_field runs/$P-dyn-var-t$t/eval.json flop_speedup)
stamp "dynamic (variance rule) FLOP speed-up: $S"

# 3. FBS at about the same FLOPs: in M-CifarNet every conv's input and output are gated, so MACs
# scale with density^2 and d = 1/sqrt(S) matches (the first conv's 3 input channels and the saliency
# predictors make it inexact; the report gives each model's own FLOPs).
dd=$(python3 -c "print(f'{min(0.95, max(0.2, round(($S) ** -0.5 * 20) / 20)):.2f}')")
fbs $P-fbs-d${dd#0.} $dd

# 4. Static Network Slimming at the same FLOPs: the global pruning ratio (steps of 0.05) whose thin
# model's MACs come closest to the dense MACs / S, then fine-tuned. From the dense model, and (stage 6)
# from the model trained with Network Slimming's L1 on the gammas, when SPARSE_RUN names it.
macs_of() { $bin info $1 | sed -n 's/^total: .*, \([0-9]*\) MACs per image/\1/p'; }   # MACs per image
dense_macs=$(macs_of $dense)
static_ns() {  # source checkpoint, run-name prefix
  local src=$1 name=$2 best="" bestgap="" r m gap
  for r in 0.30 0.35 0.40 0.45 0.50 0.55 0.60 0.65 0.70 0.75 0.80 0.85; do
    $bin prune $src --ratio $r --out /tmp/mc-prune-probe.safetensors > /dev/null
    m=$(macs_of /tmp/mc-prune-probe.safetensors)
    gap=$(python3 -c "print(abs($dense_macs / $m - $S))")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $gap < $bestgap else 1)"; then best=$r; bestgap=$gap; fi
  done
  rm -f /tmp/mc-prune-probe.safetensors
  stamp "static NS from $src: ratio $best (FLOP speed-up within $bestgap of $S)"
  prune_thin $src $best $name${best#0.}-thin
  fine_tune $name${best#0.}-thin $name${best#0.}
}
static_ns $dense $P-ns

# 5. The uniform rule (the ablation) at the same target.
dyn $P-dyn-uni-t$t --target $T --rate-target uniform

# 6. Network Slimming's own recipe: the dense model trained with the L1 penalty from the start
# (SPARSE_RUN, e.g. c10-mcifarnet-torch-l1: scripts/torch_train_dense.py ... --sparsity 1e-4), pruned
# and fine-tuned the same way.
if [ -n "${SPARSE_RUN:-}" ]; then
  [ -f runs/$SPARSE_RUN/eval.json ] || $bin eval runs/$SPARSE_RUN/model.safetensors --json > runs/$SPARSE_RUN/eval.json
  static_ns runs/$SPARSE_RUN/model.safetensors $P-l1ns
fi

stamp "report"
runs=(); for r in runs/$D runs/$P-ns*[0-9] runs/$P-l1ns*[0-9] runs/$P-fbs-d* runs/$P-dyn-var-t$t runs/$P-dyn-uni-t$t; do
  if [ -f $r/metrics.jsonl ] && [ -f $r/eval.json ]; then runs+=($r); fi
done
$bin report "${runs[@]}" --out $report
