#!/usr/bin/env bash
# CIFAR-10 ResNet-20 experiments of docs/results.md, after the dense run finished:
#   dense: dynaslim train --model resnet20 --dataset cifar10 --epochs 40 --batch-size 128 --lr 0.1 \
#            --schedule cosine --out runs/c10-resnet20          (resumable: --resume)
# Stages run in order of priority and each is skipped when its output exists, so the script can be
# stopped and started again. FT_EPOCHS (default 2) epochs of training after the dense model for
# every slimmed model (lr 0.01, cosine), the same for static and dynamic slimming.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DYNASLIM:-.build/release/dynaslim}
ft=${FT_EPOCHS:-2}
dense=runs/c10-resnet20/model.safetensors
[ -f $dense ] || { echo "missing $dense: train the dense model first" >&2; exit 1; }
stamp() { echo "== $(date +%H:%M:%S) $*"; }

# 1. The dense model.
[ -f runs/c10-resnet20/eval.json ] || { stamp "eval dense"; $bin eval $dense --json > runs/c10-resnet20/eval.json; }

# 2. Static Network Slimming, before fine-tuning: prune, evaluate, measure (batch 1 and 64 vs dense).
for r in 30 50 70; do
  d=runs/c10-ns$r-thin
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "prune $r%"
    mkdir -p $d
    $bin prune $dense --ratio 0.$r --out $d/model.safetensors
    $bin eval $d/model.safetensors --json > $d/eval.json
    $bin bench infer $d/model.safetensors --reference $dense --batch 1 --repeats 200 --record
    $bin bench infer $d/model.safetensors --reference $dense --batch 64 --repeats 10 --record
  fi
done

# 3. Dynamic slimming, variance rule (the thesis), target 0.5, from the dense model.
dyn() {  # name, extra options
  local name=$1; shift
  local d=runs/$name
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "dynamic $name"
    if [ -f $d/resume.safetensors ]; then $bin train --out $d --resume
    else $bin train --method dynamic --from $dense --dataset cifar10 --epochs $ft --lr 0.01 --schedule cosine --target 0.5 --epoch-ratio 0.5 "$@" --out $d; fi
    $bin eval $d/model.safetensors --static-control --json > $d/eval.json
    $bin bench infer $d/model.safetensors --batch 1 --repeats 200 --record
    $bin bench infer $d/model.safetensors --batch 64 --repeats 10 --record
  fi
}
dyn c10-dyn-var-t50

# 4. Static Network Slimming, fine-tuned (the 50% model first: it is the ~2x comparison point).
for r in 50 30 70; do
  d=runs/c10-ns$r
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "fine-tune ns $r%"
    if [ -f $d/resume.safetensors ]; then $bin train --out $d --resume
    else $bin train --from runs/c10-ns$r-thin/model.safetensors --dataset cifar10 --epochs $ft --lr 0.01 --schedule cosine --out $d; fi
    $bin eval $d/model.safetensors --json > $d/eval.json
    $bin bench infer $d/model.safetensors --reference $dense --batch 1 --repeats 200 --record
    $bin bench infer $d/model.safetensors --reference $dense --batch 64 --repeats 10 --record
  fi
done

# 5. Dynamic slimming, uniform rule (ablation).
dyn c10-dyn-uni-t50 --rate-target uniform

stamp "report"
runs=(); for d in c10-resnet20 c10-ns30 c10-ns50 c10-ns70 c10-dyn-var-t50 c10-dyn-uni-t50; do if [ -f runs/$d/metrics.jsonl ]; then runs+=(runs/$d); fi; done
$bin report "${runs[@]}" --out docs/report-cifar10
python3 scripts/ns_table.py > docs/report-cifar10/static_ns_table.md
