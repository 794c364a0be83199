// Buffers for the direct 3x3 kernel's micro-benchmarks (conv3x3_shapes.c, conv3x3_ab.c): a padded
// input of C channels of H x W (and its stride-2 phase planes), M x C x 9 weights, zero biases, and
// padded output and residual planes of M channels of the output size. Include after conv3x3.c.
#include <stdlib.h>

typedef struct {
    long Ho, Wo, Wp, plane, Wq, oplane;
    float *x, *phases, *w, *b, *y, *r;
} ConvBuffers;

static ConvBuffers conv_buffers(long stride, long C, long M, long H, long W) {
    ConvBuffers k;
    k.Ho = (H - 1) / stride + 1; k.Wo = (W - 1) / stride + 1;
    k.Wp = ds_conv3x3_padded_width(W); k.plane = (H + 2) * k.Wp; k.Wq = ds_conv3x3_padded_width(k.Wo); k.oplane = (k.Ho + 2) * k.Wq;
    k.x = calloc(C * k.plane + 64, 4); k.phases = calloc(ds_conv3x3s2_padded_count(C, H, W) + 64, 4);
    k.w = malloc(M * C * 9 * 4); k.b = calloc(M, 4); k.y = calloc(M * k.oplane + 64, 4); k.r = calloc(M * k.oplane + 64, 4);
    for (long i = 0; i < C * k.plane; i++) k.x[i] = (i % 7) * 0.1f;
    for (long i = 0; i < M * C * 9; i++) k.w[i] = (i % 5) * 0.01f;
    return k;
}

static void conv_buffers_free(ConvBuffers *k) { free(k->x); free(k->phases); free(k->w); free(k->b); free(k->y); free(k->r); }
