# Shared steps of the experiment scripts (cifar_experiments.sh, mcifarnet_experiments.sh), sourced by
# them. The caller sets: bin (the dynaslim binary), dense (the dense checkpoint), ft (epochs of
# training after the dense model), and optionally b1_repeats / b64_repeats for the benchmarks.
# Every step is skipped when its output exists, and a stopped training run resumes.

stamp() { echo "== $(date +%H:%M:%S) $*"; }

# measure CHECKPOINT: batch-1 and batch-64 speed-up against the dense model, recorded beside it
# (bench-infer-b1.json, bench-infer-b64.json).
measure() {
  $bin bench infer $1 --reference $dense --batch 1 --repeats ${b1_repeats:-200} --record
  $bin bench infer $1 --reference $dense --batch 64 --repeats ${b64_repeats:-10} --record
}

# from_dense NAME EVAL_OPTIONS TRAIN_OPTION...: a slimmed model trained from the dense model (or from
# $start when set) into runs/NAME (ft epochs, lr 0.01 cosine, its schedule ramped over the first half),
# evaluated, measured against the dense model.
from_dense() {
  local d=runs/$1 eval_options=$2; shift 2
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "$(basename $d): $*"
    if [ -f $d/resume.safetensors ]; then $bin train --out $d --resume
    else $bin train --from ${start:-$dense} --dataset cifar10 --epochs $ft --lr 0.01 --schedule cosine --epoch-ratio 0.5 "$@" --out $d; fi
    $bin eval $d/model.safetensors $eval_options --json > $d/eval.json
    measure $d/model.safetensors
  fi
}

# dyn NAME OPTION...: dynamic slimming (evaluated with its static control as well).
dyn() { local name=$1; shift; from_dense $name --static-control --method dynamic "$@"; }

# fbs NAME DENSITY: FBS, the density lowered from 1 over the first half.
fbs() { from_dense $1 "" --method fbs --density $2; }

# fine_tune THIN_RUN NAME: trains the pruned model runs/THIN_RUN/model.safetensors for ft epochs into
# runs/NAME, evaluated, measured.
fine_tune() {
  local d=runs/$2
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "fine-tune $2"
    if [ -f $d/resume.safetensors ]; then $bin train --out $d --resume
    else $bin train --from runs/$1/model.safetensors --dataset cifar10 --epochs $ft --lr 0.01 --schedule cosine --out $d; fi
    $bin eval $d/model.safetensors --json > $d/eval.json
    measure $d/model.safetensors
  fi
}

# prune_thin SOURCE RATIO NAME: static Network Slimming's pruned (not yet fine-tuned) model in
# runs/NAME, evaluated, measured.
prune_thin() {
  local d=runs/$3
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "prune $1 at $2"
    mkdir -p $d
    $bin prune $1 --ratio $2 --out $d/model.safetensors
    $bin eval $d/model.safetensors --json > $d/eval.json
    measure $d/model.safetensors
  fi
}
