#!/usr/bin/env bash
# The direct 3x3 kernel's AVX2 variant (old) against the run-time dispatch (new: AVX-512 where the
# output width allows), interleaved in one process (scripts/conv3x3_ab.c -DVARIANTS): prints new / old
# per ResNet-20 layer shape. Needs an AVX-512 CPU; run it on an otherwise idle machine.
#   bash scripts/conv3x3_variants.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cc=$(command -v clang || command -v cc)
out=$(mktemp -d)
"$cc" -O2 -DVARIANTS -ISources/CKernels/include -Iscripts -DBASE_CONV3X3_C="\"$PWD/Sources/CKernels/conv3x3.c\"" scripts/conv3x3_ab.c -o "$out/variants"
taskset -c 0 "$out/variants" 2>/dev/null || "$out/variants"
rm -rf "$out"
