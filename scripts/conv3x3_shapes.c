// Micro-benchmark of the direct 3x3 kernel alone (hot caches, one thread) on the conv shapes of
// thinned ResNet-20 layers at batch 1: where a thin conv loses efficiency against a dense one.
// Build and run with scripts/conv3x3_shapes.sh (it compiles this file against Sources/CKernels).
// Prints, per shape, the best of 5 timings of `reps` calls: microseconds per conv and GFLOP/s, and
// the GFLOP/s as a fraction of the 16 -> 16 channel conv's (the dense layer1 conv) in the same run.
#include "conv3x3.c"
#include "conv3x3_bench.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

// Stride 1 (padded layout in and out, residual + ReLU as a block's conv2) or stride 2 (phase planes
// built from the padded input each call, as the engine does). Returns GFLOP/s.
static double bench(long stride, long C, long M, long H, long W, int reps) {
    ConvBuffers k = conv_buffers(stride, C, M, H, W);
    const long Ho = k.Ho, Wo = k.Wo, Wp = k.Wp, plane = k.plane, Wq = k.Wq, oplane = k.oplane;
    float *x = k.x, *phases = k.phases, *w = k.w, *b = k.b, *y = k.y, *r = k.r;
    double best = 1e9;
    for (int k = 0; k < 5; k++) {
        const double t0 = now();
        for (int i = 0; i < reps; i++) {
            const float *in = x;
            if (stride == 2) { ds_conv3x3s2_pad_rows_strided(0, C, H, W, x + Wp + 1, plane, Wp, phases, 0, 1 << 20); in = phases; }
            ds_conv3x3_rows_strided((int)stride, C, H, W, in, w, C * 9, b, stride == 1 ? r + Wq + 1 : 0, oplane, Wq, 1,
                                    y + Wq + 1, oplane, Wq, 0, M, 0, Ho);
        }
        const double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    const double gflops = 2.0 * C * 9 * M * Ho * Wo / best * 1e-9;
    printf("stride %ld  %2ld -> %2ld channels, %2ldx%-2ld input: %7.2f us  %5.1f GFLOP/s", stride, C, M, H, W, best * 1e6, gflops);
    conv_buffers_free(&k);
    return gflops;
}

int main(void) {
    const long shapes[][5] = {  // stride, in, out, H, W
        {1, 16, 16, 32, 32}, {1, 3, 16, 32, 32}, {1, 16, 3, 32, 32}, {1, 6, 16, 32, 32}, {1, 32, 32, 16, 16}, {1, 8, 32, 16, 16},
        {1, 32, 8, 16, 16}, {1, 64, 64, 8, 8}, {1, 8, 64, 8, 8}, {1, 64, 8, 8, 8}, {2, 16, 32, 32, 32}, {2, 32, 64, 16, 16},
    };
    double ref = 0;
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const double g = bench(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4], 300);
        if (s == 0) ref = g;
        printf("  %.2f of 16->16\n", g / ref);
    }
    printf("kernel variant: %s\n", ds_conv3x3_uses_avx2() ? "avx2+fma" : "portable");
    return 0;
}
