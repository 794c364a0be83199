#!/usr/bin/env bash
# Heap allocations per inference: runs `dynaslim bench infer MODEL --batch B` at two repeat counts
# with malloc counted (an LD_PRELOAD shim, Linux/glibc) and prints the difference per extra timed
# pair (model + dense reference). The engine's contract is zero at batch 1. At batch B > 1 the count
# includes the benchmark's own per-batch records (kept counts) and Dispatch's fork (~1-2 per batch).
#   bash scripts/alloc_check.sh MODEL [BATCH] [DYNASLIM]
set -euo pipefail
model=$1; batch=${2:-1}; bin=${3:-.build/release/dynaslim}
shim=$(mktemp -d)/malloc_count.so
cat > ${shim%.so}.c <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdatomic.h>
static atomic_long count;
static void *(*real_malloc)(unsigned long);
void *malloc(unsigned long n) {
  if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc");
  atomic_fetch_add(&count, 1);
  return real_malloc(n);
}
__attribute__((destructor)) static void report(void) { fprintf(stderr, "MALLOC_COUNT %ld\n", atomic_load(&count)); }
C
cc -O2 -shared -fPIC ${shim%.so}.c -o $shim -ldl
if [ "$batch" = 1 ]; then lo=100; hi=300; else lo=3; hi=9; fi
count() { LD_PRELOAD=$shim $bin bench infer $model --batch $batch --repeats $1 2>&1 | sed -n 's/^MALLOC_COUNT //p'; }
a=$(count $lo); b=$(count $hi)
awk -v a=$a -v b=$b -v n=$((hi - lo)) -v m=$model -v bt=$batch \
  'BEGIN { printf "%s batch %d: %d allocations at %d repeats, %d at %d: %.2f per timed pair\n", m, bt, a, '$lo', b, '$hi', (b - a) / n }'
