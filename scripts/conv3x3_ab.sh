#!/usr/bin/env bash
# The direct 3x3 kernel of the working tree against a git revision's (default HEAD), interleaved in
# one process (scripts/conv3x3_ab.c): prints new / old per ResNet-20 layer shape. Run it on an
# otherwise idle machine.
#   bash scripts/conv3x3_ab.sh [REV=HEAD]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD}
cc=$(command -v clang || command -v cc)
base=$(mktemp -d)
mkdir -p "$base/include"
for f in conv3x3.c conv3x3_body.inc conv3x3_wgrad_body.inc; do git show "$rev:Sources/CKernels/$f" > "$base/$f"; done
git show "$rev:Sources/CKernels/include/ds_kernels.h" > "$base/include/ds_kernels.h"
"$cc" -O2 -I"$base/include" -DBASE_CONV3X3_C="\"$base/conv3x3.c\"" -DNEWBODY="\"$PWD/Sources/CKernels/conv3x3_body.inc\"" \
  scripts/conv3x3_ab.c -o "$base/conv3x3_ab"
"$base/conv3x3_ab"
rm -rf "$base"
