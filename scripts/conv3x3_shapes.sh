#!/usr/bin/env bash
# Direct 3x3 kernel micro-benchmark on thinned-layer shapes (scripts/conv3x3_shapes.c); run it on an
# idle machine. Compiles with the C compiler Swift uses (clang) or cc.
set -euo pipefail
cd "$(dirname "$0")/.."
cc=$(command -v clang || command -v cc)
out=$(mktemp -d)/conv3x3_shapes
"$cc" -O2 -ISources/CKernels/include -ISources/CKernels scripts/conv3x3_shapes.c -o "$out"
"$out"
