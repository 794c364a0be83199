// A/B of two versions of the direct 3x3 kernel in one process, called alternately on the same
// buffers, so the host's slow and fast spells hit both alike (separate runs of
// scripts/conv3x3_shapes.sh differed by up to 30% from one run to the next). Per shape: median and
// 2nd-percentile microseconds of each, and new / old.
// - Default (scripts/conv3x3_ab.sh): the baseline's conv3x3_body.inc (compiled through its
//   conv3x3.c, AVX2 variant) against NEWBODY (the working tree's). An A/A run (the same body twice)
//   reads within ~1.5% of 1.000.
// - With -DVARIANTS (scripts/conv3x3_variants.sh): the working tree's AVX2 variant against its
//   run-time dispatch (the 16-lane AVX-512 variant where the output width allows).
#include BASE_CONV3X3_C
#include "conv3x3_bench.h"
#ifndef VARIANTS
// Baselines from before the AVX-512 variant define no vector-width macros; the body needs them.
#ifndef DS_V
#define DS_V v8f
#define DS_VU v8f_unaligned
#define DS_VL 8
#endif
#ifndef DS_NCOMAX
#define DS_NCOMAX 4
#endif
#define DS_FN(name) name##_new
#define DS_TARGET __attribute__((target("avx2,fma")))
#include NEWBODY
#undef DS_FN
#undef DS_TARGET
#endif
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*conv_fn)(long, long, long, const float *, const float *, long, const float *, const float *, long, long, int,
                        float *, long, long, long, long, long, long);

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { const double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

// Stride 1 with residual + ReLU (a block's conv2), stride 2 without (a block's conv1), as the engine calls them.
static void ab(long stride, long C, long M, long H, long W) {
    ConvBuffers k = conv_buffers(stride, C, M, H, W);
    const long Ho = k.Ho, Wo = k.Wo, Wp = k.Wp, plane = k.plane, Wq = k.Wq, oplane = k.oplane;
    float *x = k.x, *phases = k.phases, *w = k.w, *b = k.b, *y = k.y, *r = k.r;
    const float *in = x;
    if (stride == 2) { ds_conv3x3s2_pad_rows_strided(0, C, H, W, x + Wp + 1, plane, Wp, phases, 0, 1 << 20); in = phases; }
#ifdef VARIANTS
    const conv_fn fns[2] = { stride == 1 ? conv3x3s1_avx2 : conv3x3s2_avx2, 0 };  // 0: the dispatch
#else
    const conv_fn fns[2] = { stride == 1 ? conv3x3s1_avx2 : conv3x3s2_avx2, stride == 1 ? conv3x3s1_new : conv3x3s2_new };
#endif
    const float *res = stride == 1 ? r + Wq + 1 : 0;
    enum { R = 400, K = 10 };
    static double t[2][R];
    for (int i = 0; i < R; i++) {
        for (int v = 0; v < 2; v++) {
            const int which = (i & 1) ? 1 - v : v;  // alternate which goes first
            const double t0 = now();
            for (int k = 0; k < K; k++) {
                if (fns[which]) fns[which](C, H, W, in, w, C * 9, b, res, oplane, Wq, 1, y + Wq + 1, oplane, Wq, 0, M, 0, Ho);
                else ds_conv3x3_rows_strided((int)stride, C, H, W, in, w, C * 9, b, res, oplane, Wq, 1, y + Wq + 1, oplane, Wq, 0, M, 0, Ho);
            }
            t[which][i] = (now() - t0) / K;
        }
    }
    double med[2], low[2];
    for (int v = 0; v < 2; v++) { qsort(t[v], R, sizeof(double), cmp); med[v] = t[v][R / 2]; low[v] = t[v][R / 50]; }
    const double gflop = 2.0 * C * 9 * M * Ho * Wo * 1e-9;
    printf("stride %ld %2ld -> %2ld, %2ldx%-2ld: old %6.2f us (%5.1f GFLOP/s)  new %6.2f us (%5.1f GFLOP/s)  new/old median %.3f, p2 %.3f\n",
           stride, C, M, H, W, med[0] * 1e6, gflop / med[0], med[1] * 1e6, gflop / med[1], med[1] / med[0], low[1] / low[0]);
    conv_buffers_free(&k);
}

int main(void) {
#ifdef VARIANTS
    if (!ds_conv3x3_uses_avx512()) { printf("no AVX-512 on this CPU (or DYNASLIM_AVX512=0): nothing to compare\n"); return 0; }
    printf("old: the AVX2 variant; new: the run-time dispatch\n");
#else
    if (!ds_conv3x3_uses_avx2()) { printf("no AVX2+FMA on this CPU: nothing to compare\n"); return 0; }
#endif
    const long shapes[][5] = {  // stride, in, out, H, W: ResNet-20's dense and thinned layers
        {2, 16, 32, 32, 32}, {2, 32, 64, 16, 16}, {1, 16, 16, 32, 32}, {1, 3, 16, 32, 32}, {1, 16, 3, 32, 32}, {1, 6, 16, 32, 32},
        {1, 32, 32, 16, 16}, {1, 8, 32, 16, 16}, {1, 64, 64, 8, 8}, {1, 8, 64, 8, 8}, {1, 64, 8, 8, 8}, {1, 16, 5, 32, 32},
        {1, 64, 45, 8, 8}, {1, 32, 9, 16, 16}, {1, 32, 32, 28, 28}, {1, 64, 64, 7, 7}, {2, 32, 64, 14, 14},
    };
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) ab(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4]);
    return 0;
}
