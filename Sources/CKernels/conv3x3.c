// Direct 3x3 stride-1 convolution (see include/ds_kernels.h): no im2col matrix, the input is read
// in place from a zero-bordered copy. Compiled twice from conv3x3_body.inc: with AVX2+FMA enabled
// per function (no global compiler flags, so the package still builds for any x86-64 CPU) and
// portably; the AVX2 variant is chosen at run time when the CPU has it.
#include "ds_kernels.h"
#include <string.h>

typedef float v8f __attribute__((ext_vector_type(8)));
typedef float v8f_unaligned __attribute__((ext_vector_type(8), aligned(4)));

#define ds_loadu(p) (*(const v8f_unaligned *)(p))
#define ds_storeu(p, v) (*(v8f_unaligned *)(p) = (v))
#define DS_NCO DS_CONV3X3_TILE_ROWS  /* output channels per register tile */
#define DS_NP 2   /* 8-pixel output vectors per register tile */
#define ds_max0(v) ((v) > (v8f)0.0f ? (v) : (v8f)0.0f)

long ds_conv3x3_padded_width(long W) { return (W + 7) / 8 * 8 + 2; }
long ds_conv3x3_padded_count(long C, long H, long W) { return C * (H + 2) * ds_conv3x3_padded_width(W); }

void ds_conv3x3_pad(long c0, long c1, long H, long W, const float *x, long ldx, float *pad) {
    const long Wp = ds_conv3x3_padded_width(W), plane = (H + 2) * Wp;
    for (long c = c0; c < c1; c++) {
        float *p = pad + c * plane;
        memset(p, 0, sizeof(float) * Wp);
        for (long r = 0; r < H; r++) {
            float *row = p + (r + 1) * Wp;
            row[0] = 0.0f;
            memcpy(row + 1, x + c * ldx + r * W, sizeof(float) * W);
            for (long i = W + 1; i < Wp; i++) row[i] = 0.0f;
        }
        memset(p + (H + 1) * Wp, 0, sizeof(float) * Wp);
    }
}

#define DS_FN(name) name##_portable
#define DS_TARGET
#include "conv3x3_body.inc"
#include "conv3x3_wgrad_body.inc"
#undef DS_FN
#undef DS_TARGET

#if defined(__x86_64__) || defined(__i386__)
#define DS_FN(name) name##_avx2
#define DS_TARGET __attribute__((target("avx2,fma")))
#include "conv3x3_body.inc"
#include "conv3x3_wgrad_body.inc"
#undef DS_FN
#undef DS_TARGET
#define DS_HAVE_AVX2_VARIANT 1
#endif

static int force_portable = 0;

int ds_conv3x3_force_portable(int on) { int old = force_portable; force_portable = on; return old; }

int ds_conv3x3_uses_avx2(void) {
#ifdef DS_HAVE_AVX2_VARIANT
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached && !force_portable;
#else
    return 0;
#endif
}

void ds_conv3x3s1_rows(long C, long H, long W, const float *pad, const float *w, long ldw,
                       const float *bias, const float *res, long ldres, int relu,
                       float *y, long ldy, long m0, long m1, long oy0, long oy1) {
    if (oy0 < 0) oy0 = 0;
    if (oy1 > H) oy1 = H;
    if (m0 >= m1 || oy0 >= oy1) return;
#ifdef DS_HAVE_AVX2_VARIANT
    if (ds_conv3x3_uses_avx2()) {
        conv3x3s1_avx2(C, H, W, pad, w, ldw, bias, res, ldres, relu, y, ldy, m0, m1, oy0, oy1);
        return;
    }
#endif
    conv3x3s1_portable(C, H, W, pad, w, ldw, bias, res, ldres, relu, y, ldy, m0, m1, oy0, oy1);
}

void ds_conv3x3s1(long C, long H, long W, const float *pad, const float *w, long ldw,
                  const float *bias, const float *res, long ldres, int relu,
                  float *y, long ldy, long m0, long m1) {
    ds_conv3x3s1_rows(C, H, W, pad, w, ldw, bias, res, ldres, relu, y, ldy, m0, m1, 0, H);
}

void ds_conv3x3s1_wgrad(long C, long H, long W, long S, const float *pad, long padStride, const float *dy, long dyStride,
                        float *dw, long ldw, long m0, long m1) {
#ifdef DS_HAVE_AVX2_VARIANT
    if (ds_conv3x3_uses_avx2()) {
        conv3x3s1_wgrad_avx2(C, H, W, S, pad, padStride, dy, dyStride, dw, ldw, m0, m1);
        return;
    }
#endif
    conv3x3s1_wgrad_portable(C, H, W, S, pad, padStride, dy, dyStride, dw, ldw, m0, m1);
}
