#!/usr/bin/env bash
# CIFAR-10 ResNet-20 experiments of docs/results.md, after the dense run finished:
#   dense: dynaslim train --model resnet20 --dataset cifar10 --epochs 40 --batch-size 128 --lr 0.1 \
#            --schedule cosine --out runs/c10-resnet20          (resumable: --resume)
# Stages run in order of priority and each is skipped when its output exists, so the script can be
# stopped and started again. FT_EPOCHS (default 2) epochs of training after the dense model for
# every slimmed model (lr 0.01, cosine), the same for static and dynamic slimming.
# DENSE_RUN (default c10-resnet20) names the dense run directory under runs/, PREFIX (default c10)
# the slimmed runs' names (runs/PREFIX-ns50, runs/PREFIX-dyn-var-t50, ...), REPORT the report folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
ft=${FT_EPOCHS:-2}
D=${DENSE_RUN:-c10-resnet20}
P=${PREFIX:-c10}
report=${REPORT:-docs/report-cifar10}
dense=runs/$D/model.safetensors
[ -f $dense ] || { echo "missing $dense: train the dense model first" >&2; exit 1; }
source scripts/experiment_lib.sh   # stamp, measure, dyn, fbs, fine_tune, prune_thin

# 1. The dense model.
[ -f runs/$D/eval.json ] || { stamp "eval dense"; $bin eval $dense --json > runs/$D/eval.json; }

# 2. Static Network Slimming, before fine-tuning: prune, evaluate, measure (batch 1 and 64 vs dense).
for r in 30 50 70; do prune_thin $dense 0.$r $P-ns$r-thin; done

# 3. Dynamic slimming, variance rule (the thesis), target 0.5, from the dense model.
dyn $P-dyn-var-t50 --target 0.5

# 4. Static Network Slimming, fine-tuned (the 50% model first: it is the ~2x comparison point).
for r in 50 30 70; do fine_tune $P-ns$r-thin $P-ns$r; done

# 5. Dynamic slimming, uniform rule (ablation).
dyn $P-dyn-uni-t50 --target 0.5 --rate-target uniform

# 6. Dynamic slimming at about 2x FLOP reduction (issue 6's engine check): T = 0.5 reaches a mean
# rate of ~0.38 in a short run, so a higher target.
dyn $P-dyn-var-t70 --target 0.7

# 7. Issue 5's seeds at T = 0.5 (both rules) and the lower target.
dyn $P-dyn-var-t50-s1 --target 0.5 --seed 1
dyn $P-dyn-var-t50-s2 --target 0.5 --seed 2
dyn $P-dyn-var-t30 --target 0.3
dyn $P-dyn-uni-t50-s1 --target 0.5 --rate-target uniform --seed 1
dyn $P-dyn-uni-t50-s2 --target 0.5 --rate-target uniform --seed 2

# 11. FBS (issue 7's baseline) on the same gated layers, from the same dense model, the same 2 epochs
# (density lowered from 1 to D over the first half; only when FBS=1): D = 0.6 (~1.6x, the dynamic
# T = 0.5 runs' FLOPs) and 0.5 (~1.9x).
if [ "${FBS:-0}" = 1 ]; then
  for dd in 60 50; do fbs $P-fbs-d$dd 0.$dd; done
fi

# 9. Issue 5's documented variants at T = 0.5, seed 0 (only when VARIANTS=1): kappa = 2, the loss on
# the hard rate, the two-stage recipe (1 epoch of slimmable stage 1 + 1 dynamic epoch: the same 2
# epochs) for both rules, kappa 2 with the hard rate together, and twice the fine-tuning (4 epochs).
two=(--recipe two-stage --stage1-epochs 1 --epochs 1)
if [ "${VARIANTS:-0}" = 1 ]; then
  dyn $P-dyn-var-t50-k2 --target 0.5 --kappa 2
  dyn $P-dyn-var-t50-hard --target 0.5 --hard-rate
  dyn $P-dyn-var-t50-2stage --target 0.5 "${two[@]}"
  dyn $P-dyn-uni-t50-2stage --target 0.5 --rate-target uniform "${two[@]}"
  dyn $P-dyn-var-t50-k2-hard --target 0.5 --kappa 2 --hard-rate
  dyn $P-dyn-var-t50-ft4 --target 0.5 --epochs 4
fi

# 10. The rest of issue 5's grid (only when GRID=1): the uniform rule at T = 0.3 / 0.7, and the
# two-stage recipe for both rules at T = 0.3 / 0.7, then its seeds 1 and 2 at T = 0.5.
# Stage 1 (slimmable training) depends only on the dense model and the seed, not on T or the rate
# rule, and training is deterministic (seed 0's stage-1 checkpoints of four runs were byte-identical),
# so runs with the same seed share one stage 1: share_stage1 FROM TO copies a finished one.
share_stage1() {
  if [ -f runs/$1/stage1/model.safetensors ] && [ ! -f runs/$2/stage1/model.safetensors ]; then
    mkdir -p runs/$2 && rm -rf runs/$2/stage1 && cp -r runs/$1/stage1 runs/$2/stage1
  fi
}
if [ "${GRID:-0}" = 1 ]; then
  dyn $P-dyn-uni-t30 --target 0.3 --rate-target uniform
  dyn $P-dyn-uni-t70 --target 0.7 --rate-target uniform
  for name in var-t30 var-t70 uni-t30 uni-t70; do share_stage1 $P-dyn-var-t50-2stage $P-dyn-$name-2stage; done
  dyn $P-dyn-var-t30-2stage --target 0.3 "${two[@]}"
  dyn $P-dyn-var-t70-2stage --target 0.7 "${two[@]}"
  dyn $P-dyn-uni-t30-2stage --target 0.3 --rate-target uniform "${two[@]}"
  dyn $P-dyn-uni-t70-2stage --target 0.7 --rate-target uniform "${two[@]}"
  for s in 1 2; do
    dyn $P-dyn-var-t50-2stage-s$s --target 0.5 --seed $s "${two[@]}"
    share_stage1 $P-dyn-var-t50-2stage-s$s $P-dyn-uni-t50-2stage-s$s
    dyn $P-dyn-uni-t50-2stage-s$s --target 0.5 --rate-target uniform --seed $s "${two[@]}"
  done
fi

# 8. Network Slimming with its sparsity-trained start (only when SPARSITY is set, e.g. 1e-2): the
# dense model trained S_EPOCHS (default 3) more epochs with SPARSITY * sign(gamma) on the gated BN
# gammas (lr 0.01 cosine), then pruned at 30 / 50 / 70% and fine-tuned FT_EPOCHS like stage 4, and
# dynamic slimming (variance rule, T = 0.5) trained from it like stage 3.
# (Network Slimming trains with the penalty from scratch at 1e-5 for 160 epochs; a short phase
# needs a larger penalty to move |gamma| as far.)
if [ -n "${SPARSITY:-}" ]; then
  s=runs/$P-sparse
  if [ ! -f $s/eval.json ]; then
    stamp "sparsity training $SPARSITY"
    if [ -f $s/resume.safetensors ]; then $bin train --out $s --resume
    else $bin train --from $dense --dataset cifar10 --epochs ${S_EPOCHS:-3} --lr 0.01 --schedule cosine --sparsity $SPARSITY --out $s; fi
    $bin eval $s/model.safetensors --json > $s/eval.json
  fi
  for r in 50 70 30; do
    prune_thin $s/model.safetensors 0.$r $P-sns$r-thin
    fine_tune $P-sns$r-thin $P-sns$r
  done
  python3 scripts/ns_table.py --dense runs/$D --prefix runs/$P-sns > $report/static_ns_sparsity_table.md
  # Dynamic slimming from the same sparsity-trained model (issue 5's variant), variance rule, T = 0.5.
  start=$s/model.safetensors dyn $P-dyn-var-t50-sparse --target 0.5
  start=$s/model.safetensors dyn $P-dyn-var-t50-sparse-s1 --target 0.5 --seed 1
  start=$s/model.safetensors dyn $P-dyn-var-t50-sparse-s2 --target 0.5 --seed 2
fi

# 12. A longer budget (only when LONGER=1): 4 epochs after the dense model for both methods. Static NS 50%
# fine-tuned 4 epochs is the reference for stage 9's joint run with 4 epochs (-ft4), and the two-stage
# recipe gets 2 + 2 epochs.
if [ "${LONGER:-0}" = 1 ]; then
  ft=4 fine_tune $P-ns50-thin $P-ns50-ft4
  dyn $P-dyn-var-t50-2stage-e4 --target 0.5 --recipe two-stage --stage1-epochs 2 --epochs 2
fi

stamp "report"
runs=(); for d in $D $P-ns30 $P-ns50 $P-ns70 $P-dyn-var-t50 $P-dyn-var-t50-s1 $P-dyn-var-t50-s2 $P-dyn-uni-t50 $P-dyn-uni-t50-s1 $P-dyn-uni-t50-s2 $P-dyn-var-t30 $P-dyn-var-t70 $P-dyn-var-t50-k2 $P-dyn-var-t50-hard $P-dyn-var-t50-2stage $P-dyn-var-t50-ft4 $P-dyn-var-t50-k2-hard $P-fbs-d60 $P-fbs-d50 $P-dyn-uni-t30 $P-dyn-uni-t70 $P-dyn-uni-t50-2stage $P-dyn-var-t30-2stage $P-dyn-var-t70-2stage $P-dyn-uni-t30-2stage $P-dyn-uni-t70-2stage $P-dyn-var-t50-2stage-s1 $P-dyn-uni-t50-2stage-s1 $P-dyn-var-t50-2stage-s2 $P-dyn-uni-t50-2stage-s2 $P-dyn-var-t50-2stage-e4 $P-dyn-var-t50-sparse $P-dyn-var-t50-sparse-s1 $P-dyn-var-t50-sparse-s2 $P-sns30 $P-sns50 $P-sns70 $P-ns50-ft4; do if [ -f runs/$d/metrics.jsonl ]; then runs+=(runs/$d); fi; done
$bin report "${runs[@]}" --out $report
python3 scripts/ns_table.py --dense runs/$D --prefix runs/$P-ns > $report/static_ns_table.md
