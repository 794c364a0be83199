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

# dyn NAME OPTION...: dynamic slimming from the dense model into runs/NAME (ft epochs, lr 0.01
# cosine, rate ramp over the first half), evaluated with its static control, then measured.
dyn() {
  local name=$1; shift
  local d=runs/$name
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "dynamic $name"
    if [ -f $d/resume.safetensors ]; then $bin train --out $d --resume
    else $bin train --method dynamic --from $dense --dataset cifar10 --epochs $ft --lr 0.01 --schedule cosine --epoch-ratio 0.5 "$@" --out $d; fi
    $bin eval $d/model.safetensors --static-control --json > $d/eval.json
    measure $d/model.safetensors
  fi
}

# fbs NAME DENSITY: FBS from the dense model into runs/NAME (density lowered from 1 over the first
# half of the ft epochs), evaluated, measured.
fbs() {
  local d=runs/$1
  if [ ! -f $d/bench-infer-b64.json ]; then
    stamp "fbs density $2"
    if [ -f $d/resume.safetensors ]; then $bin train --out $d --resume
    else $bin train --method fbs --density $2 --from $dense --dataset cifar10 --epochs $ft --lr 0.01 --schedule cosine --epoch-ratio 0.5 --out $d; fi
    $bin eval $d/model.safetensors --json > $d/eval.json
    measure $d/model.safetensors
  fi
}

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
