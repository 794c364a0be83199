// Direct 3x3 stride-1 convolution (see include/ds_kernels.h): no im2col matrix, the input is read
// in place from a zero-bordered copy. Compiled from conv3x3_body.inc with AVX2+FMA enabled per
// function (no global compiler flags, so the package still builds for any x86-64 CPU), portably,
// and with AVX-512 (16-lane vectors: twice AVX2's work per FMA) for the output widths that allow it
// (see the 16-lane section below); the best variant the CPU has is chosen at run time, per call.
#include "ds_kernels.h"
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

typedef float v8f __attribute__((ext_vector_type(8)));
typedef float v8f_unaligned __attribute__((ext_vector_type(8), aligned(4)));
typedef float v16f __attribute__((ext_vector_type(16)));
typedef float v16f_unaligned __attribute__((ext_vector_type(16), aligned(4)));

// The body's vector type (DS_V, DS_VL lanes; DS_VU unaligned), set per variant below.
#define ds_loadu(p) (*(const DS_VU *)(p))
#define ds_storeu(p, v) (*(DS_VU *)(p) = (v))
#define DS_NCO DS_CONV3X3_TILE_ROWS  /* output channels per register tile */
#define DS_NCOMAX 4  /* most output channels per tile (6 in the AVX-512 variant: 32 registers) */
#define DS_NPMAX 8   /* most output vectors (DS_VL pixels each) per register tile (1 channel x 8) */
#define ds_max0(v) ((v) > (DS_V)0.0f ? (v) : (DS_V)0.0f)

long ds_conv3x3_padded_width(long W) { return (W + 7) / 8 * 8 + 2; }
long ds_conv3x3_padded_count(long C, long H, long W) { return C * (H + 2) * ds_conv3x3_padded_width(W); }

void ds_conv3x3_pad_rows(long c0, long c1, long H, long W, const float *x, long ldx, float *pad, long r0, long r1) {
    ds_conv3x3_pad_rows_strided(c0, c1, H, W, x, ldx, W, pad, r0, r1);
}

void ds_conv3x3_pad_rows_strided(long c0, long c1, long H, long W, const float *x, long ldx, long ldxr, float *pad, long r0, long r1) {
    const long Wp = ds_conv3x3_padded_width(W), plane = (H + 2) * Wp;
    if (r0 < 0) r0 = 0;
    if (r1 > H + 2) r1 = H + 2;
    for (long c = c0; c < c1; c++) {
        for (long r = r0; r < r1; r++) {
            // Padded row r holds input row r - 1 at columns 1..W; zeros elsewhere. Plain loops:
            // for rows of 8-32 floats they beat memset / memcpy calls.
            float *row = pad + c * plane + r * Wp;
            if (r == 0 || r == H + 1) {
                for (long i = 0; i < Wp; i++) row[i] = 0.0f;
                continue;
            }
            const float *src = x + c * ldx + (r - 1) * ldxr;
            row[0] = 0.0f;
            for (long i = 0; i < W; i++) row[i + 1] = src[i];
            for (long i = W + 1; i < Wp; i++) row[i] = 0.0f;
        }
    }
}

long ds_conv3x3s2_padded_count(long C, long H, long W) {
    const long Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    return C * 4 * (Ho + 1) * ds_conv3x3_padded_width(Wo);
}

void ds_conv3x3s2_pad_rows(long c0, long c1, long H, long W, const float *x, long ldx, float *pad, long i0, long i1) {
    ds_conv3x3s2_pad_rows_strided(c0, c1, H, W, x, ldx, W, pad, i0, i1);
}

// The scalar reference twin of ds_conv3x3s2_pad_rows_strided (tests compare them).
void ds_conv3x3s2_pad_rows_naive(long c0, long c1, long H, long W, const float *x, long ldx, long ldxr, float *pad, long i0, long i1) {
    const long Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1, Wq = ds_conv3x3_padded_width(Wo), Hq = Ho + 1;
    const long phase = Hq * Wq;
    if (i0 < 0) i0 = 0;
    if (i1 > Hq) i1 = Hq;
    for (long c = c0; c < c1; c++) {
        const float *xc = x + c * ldx;
        for (long a = 0; a < 2; a++) {
            for (long b = 0; b < 2; b++) {
                // Phase (a, b) holds the zero-bordered input's pixels (2i + a, 2j + b), i.e. the
                // input's (2i + a - 1, 2j + b - 1). Columns j in [jlo, jhi) are inside the input.
                float *p = pad + c * 4 * phase + (a * 2 + b) * phase;
                const long jlo = 1 - b, jhi = (W - b) / 2 + 1 < Wq ? (W - b) / 2 + 1 : Wq;
                for (long i = i0; i < i1; i++) {
                    const long r = 2 * i + a - 1;
                    float *row = p + i * Wq;
                    if (r < 0 || r >= H) { for (long j = 0; j < Wq; j++) row[j] = 0.0f; continue; }
                    const float *src = xc + r * ldxr + b - 1;
                    for (long j = 0; j < jlo; j++) row[j] = 0.0f;
                    for (long j = jlo; j < jhi; j++) row[j] = src[2 * j];
                    for (long j = jhi; j < Wq; j++) row[j] = 0.0f;
                }
            }
        }
    }
}

#define DS_V v8f
#define DS_VU v8f_unaligned
#define DS_VL 8
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

// 16 lanes: the forward conv only (stride 1 and 2, and the phase-plane writer; the copies stay
// 8-lane), for output widths that are multiples of 16, where every vector is whole and every tap's
// load stays inside its padded row (the last one ends at column W + 1 of the W + 2 wide row), or
// 9-15 past one (the same bound; the last vector's store is masked), and for outputs 8 pixels wide
// or less in row pairs (conv3x3_drive_pairs).
#undef DS_V
#undef DS_VU
#undef DS_VL
#define DS_V v16f
#define DS_VU v16f_unaligned
#define DS_VL 16
#undef DS_NCOMAX
#define DS_NCOMAX 6
#define DS_FN(name) name##_avx512
#define DS_TARGET __attribute__((target("avx512f,avx512vl,avx2,fma")))
#include "conv3x3_body.inc"
#undef DS_FN
#undef DS_TARGET
#define DS_HAVE_AVX512_VARIANT 1

// 16 lanes: the stride-1 weight gradient. The tile is 6 output channels x the 3 kx taps of one ky: 18
// accumulators, 6 dy vectors and 3 shifted input vectors of AVX-512's 32 registers; per output vector 9 loads
// feed 18 FMAs (the 8-lane tile: 6 loads, 9 FMAs). A row of W pixels is ceil(W / 16) vectors; the last one's dy
// lanes past the row are masked to zero (so its input lanes there, finite padding or the next row, add nothing);
// its input loads end at column (ceil(W / 16) - 1) * 16 + 17, which ds_conv3x3s1_wgrad16_applies keeps inside
// the padded row. Lanes are summed in a fixed tree, once per tile. Offsets and masks come from tables built
// once per call, as in wgrad_flat.
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static inline __attribute__((always_inline)) float ds_sum16(v16f a) {
    const v8f h = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    return ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7]));
}

__attribute__((target("avx512f,avx512vl,avx2,fma"))) static inline __attribute__((always_inline)) void wgrad16_flat(
    const long nm, long count, const float *xbase, const float *dy, long P, long c, long ky,
    float *dw, long ldw, const long *xt, const long *dt, const unsigned short *mt) {
    v16f acc[6][3];
    for (long j = 0; j < 6; j++) for (long k = 0; k < 3; k++) acc[j][k] = (v16f)0.0f;
    for (long i = 0; i < count; i++) {
        const float *xr = xbase + xt[i], *dr = dy + dt[i];
        const __mmask16 m = (__mmask16)mt[i];
        const v16f x0 = *(const v16f_unaligned *)xr, x1 = *(const v16f_unaligned *)(xr + 1), x2 = *(const v16f_unaligned *)(xr + 2);
        for (long j = 0; j < nm; j++) {
            const v16f d = (v16f)_mm512_maskz_loadu_ps(m, dr + j * P);
            acc[j][0] += d * x0;
            acc[j][1] += d * x1;
            acc[j][2] += d * x2;
        }
    }
    for (long j = 0; j < nm; j++)
        for (long kx = 0; kx < 3; kx++) dw[j * ldw + c * 9 + ky * 3 + kx] += ds_sum16(acc[j][kx]);
}

long ds_conv3x3s1_wgrad16_applies(long H, long W, long S) {
    const long nv = (W + 15) / 16;
    return (nv - 1) * 16 + 18 <= ds_conv3x3_padded_width(W) && S * H * nv <= 1024;
}

__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void conv3x3s1_wgrad_avx512(
    long C, long H, long W, long S, const float *pad, long padStride, const float *dy, long dyStride,
    float *dw, long ldw, long m0, long m1) {
    const long Wp = ds_conv3x3_padded_width(W), plane = (H + 2) * Wp, P = H * W, nv = (W + 15) / 16;
    const long tail = W - (nv - 1) * 16;
    long xt[1024], dt[1024];
    unsigned short mt[1024];
    const long count = S * H * nv;
    for (long i = 0; i < count; i++) {
        const long sIdx = i / (H * nv), p = i % (H * nv), row = p / nv, v = p % nv;
        xt[i] = sIdx * padStride + row * Wp + v * 16;
        dt[i] = sIdx * dyStride + row * W + v * 16;
        mt[i] = (unsigned short)(v == nv - 1 ? (1u << tail) - 1 : 0xFFFFu);
    }
    for (long m = m0; m < m1; m += 6) {
        const long nm = (m1 - m) < 6 ? (m1 - m) : 6;
        for (long c = 0; c < C; c++) {
            for (long ky = 0; ky < 3; ky++) {
                const float *xb = pad + c * plane + ky * Wp, *dyt = dy + m * P;
                float *dwt = dw + m * ldw;
                switch (nm) {
                case 6: wgrad16_flat(6, count, xb, dyt, P, c, ky, dwt, ldw, xt, dt, mt); break;
                case 5: wgrad16_flat(5, count, xb, dyt, P, c, ky, dwt, ldw, xt, dt, mt); break;
                case 4: wgrad16_flat(4, count, xb, dyt, P, c, ky, dwt, ldw, xt, dt, mt); break;
                case 3: wgrad16_flat(3, count, xb, dyt, P, c, ky, dwt, ldw, xt, dt, mt); break;
                case 2: wgrad16_flat(2, count, xb, dyt, P, c, ky, dwt, ldw, xt, dt, mt); break;
                default: wgrad16_flat(1, count, xb, dyt, P, c, ky, dwt, ldw, xt, dt, mt); break;
                }
            }
        }
    }
}
#undef DS_NCOMAX
#define DS_NCOMAX 4
#undef DS_V
#undef DS_VU
#undef DS_VL
#define DS_V v8f
#define DS_VU v8f_unaligned
#define DS_VL 8
#endif

// Per thread: a test forcing the portable variant must not change what other threads (other test
// suites running concurrently, training runs) compute.
static _Thread_local int force_portable = 0;

int ds_conv3x3_force_portable(int on) { int old = force_portable; force_portable = on; return old; }

// Per thread, like force_portable: 1 keeps 16-lane AVX-512 convs off (tests of the AVX2 variant on
// an AVX-512 CPU). The process-wide switch (A/B runs) is set by the caller, never read from the
// environment here: the CLI maps $DYNASLIM_AVX512=0 onto ds_conv3x3_allow_avx512(0).
static _Thread_local int force_no_avx512 = 0;
static int avx512_disallowed = 0;

void ds_conv3x3_allow_avx512(int on) { avx512_disallowed = !on; }

int ds_conv3x3_force_no_avx512(int on) { int old = force_no_avx512; force_no_avx512 = on; return old; }

int ds_conv3x3_uses_avx512(void) {
#ifdef DS_HAVE_AVX512_VARIANT
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
                 __builtin_cpu_supports("fma");
    }
    return cached && !force_portable && !force_no_avx512 && !avx512_disallowed;
#else
    return 0;
#endif
}

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

// Clamps the output rows to the output height and runs the variant for this CPU and stride.
void ds_conv3x3_rows_strided(int stride, long C, long H, long W, const float *pad, const float *w, long ldw,
                             const float *bias, const float *res, long ldres, long ldresr, int relu,
                             float *y, long ldy, long ldyr, long m0, long m1, long oy0, long oy1) {
    const long Ho = stride == 1 ? H : (H - 1) / 2 + 1;
    if (oy0 < 0) oy0 = 0;
    if (oy1 > Ho) oy1 = Ho;
    if (m0 >= m1 || oy0 >= oy1) return;
    void (*run)(long, long, long, const float *, const float *, long, const float *, const float *, long, long, int,
                float *, long, long, long, long, long, long) = stride == 1 ? conv3x3s1_portable : conv3x3s2_portable;
#ifdef DS_HAVE_AVX2_VARIANT
    if (ds_conv3x3_uses_avx2()) run = stride == 1 ? conv3x3s1_avx2 : conv3x3s2_avx2;
#endif
#ifdef DS_HAVE_AVX512_VARIANT
    // 16 lanes where every tap's load stays inside its padded row: widths that are multiples of 16 or
    // 9-15 past one (the row, rounded up to 8 lanes, then ends where the last vector does; that
    // vector's store is masked), and rows of 8 pixels or fewer taken in pairs (an odd last row runs
    // 8-lane).
    const long Wo = stride == 1 ? W : (W - 1) / 2 + 1;
    if (ds_conv3x3_uses_avx512()) {
        if (Wo % 16 == 0 || Wo % 16 > 8) {
            run = stride == 1 ? conv3x3s1_avx512 : conv3x3s2_avx512;
        } else if (Wo <= 8 && oy1 - oy0 >= 2) {
            const long even = oy0 + ((oy1 - oy0) & ~1L);
            (stride == 1 ? conv3x3s1_avx512 : conv3x3s2_avx512)(C, H, W, pad, w, ldw, bias, res, ldres, ldresr, relu, y, ldy, ldyr,
                                                                m0, m1, oy0, even);
            if (even == oy1) return;
            oy0 = even;
        }
    }
#endif
    run(C, H, W, pad, w, ldw, bias, res, ldres, ldresr, relu, y, ldy, ldyr, m0, m1, oy0, oy1);
}

void ds_conv3x3s1_rows_phase_out(long C, long H, long W, const float *pad, const float *w, long ldw,
                                 const float *bias, const float *res, long ldres, long ldresr, int relu,
                                 float *y, long ldy, long m0, long m1, long oy0, long oy1) {
    if (oy0 < 0) oy0 = 0;
    if (oy1 > H) oy1 = H;
    if (m0 >= m1 || oy0 >= oy1) return;
#ifdef DS_HAVE_AVX512_VARIANT
    if (W % 16 == 0 && ds_conv3x3_uses_avx512()) {
        conv3x3s1_phase_out_avx512(C, H, W, pad, w, ldw, bias, res, ldres, ldresr, relu, y, ldy, m0, m1, oy0, oy1);
        return;
    }
#endif
#ifdef DS_HAVE_AVX2_VARIANT
    if (ds_conv3x3_uses_avx2()) { conv3x3s1_phase_out_avx2(C, H, W, pad, w, ldw, bias, res, ldres, ldresr, relu, y, ldy, m0, m1, oy0, oy1); return; }
#endif
    conv3x3s1_phase_out_portable(C, H, W, pad, w, ldw, bias, res, ldres, ldresr, relu, y, ldy, m0, m1, oy0, oy1);
}

void ds_conv3x3s1_rows(long C, long H, long W, const float *pad, const float *w, long ldw,
                       const float *bias, const float *res, long ldres, int relu,
                       float *y, long ldy, long m0, long m1, long oy0, long oy1) {
    ds_conv3x3_rows_strided(1, C, H, W, pad, w, ldw, bias, res, ldres, W, relu, y, ldy, W, m0, m1, oy0, oy1);
}

void ds_conv3x3s2_pad_rows_strided(long c0, long c1, long H, long W, const float *x, long ldx, long ldxr, float *pad, long i0, long i1) {
#ifdef DS_HAVE_AVX2_VARIANT
    if (ds_conv3x3_uses_avx2()) { conv3x3s2_pad_avx2(c0, c1, H, W, x, ldx, ldxr, pad, i0, i1); return; }
#endif
    conv3x3s2_pad_portable(c0, c1, H, W, x, ldx, ldxr, pad, i0, i1);
}

void ds_subsample2(long C, long W, long Ho, long Wo, const float *x, long ldx, long ldxr, float *y, long ldy, long ldyr) {
#ifdef DS_HAVE_AVX2_VARIANT
    if (ds_conv3x3_uses_avx2()) { subsample2_avx2(C, W, Ho, Wo, x, ldx, ldxr, y, ldy, ldyr); return; }
#endif
    subsample2_portable(C, W, Ho, Wo, x, ldx, ldxr, y, ldy, ldyr);
}

void ds_conv3x3s1_wgrad(long C, long H, long W, long S, const float *pad, long padStride, const float *dy, long dyStride,
                        float *dw, long ldw, long m0, long m1) {
#ifdef DS_HAVE_AVX512_VARIANT
    // Rows whose last vector's input loads stay inside the padded row, and offset tables that fit.
    if (ds_conv3x3_uses_avx512() && ds_conv3x3s1_wgrad16_applies(H, W, S)) {
        conv3x3s1_wgrad_avx512(C, H, W, S, pad, padStride, dy, dyStride, dw, ldw, m0, m1);
        return;
    }
#endif
#ifdef DS_HAVE_AVX2_VARIANT
    if (ds_conv3x3_uses_avx2()) {
        conv3x3s1_wgrad_avx2(C, H, W, S, pad, padStride, dy, dyStride, dw, ldw, m0, m1);
        return;
    }
#endif
    conv3x3s1_wgrad_portable(C, H, W, S, pad, padStride, dy, dyStride, dw, ldw, m0, m1);
}

void ds_conv3x3s2_rows(long C, long H, long W, const float *pad, const float *w, long ldw,
                       const float *bias, const float *res, long ldres, int relu,
                       float *y, long ldy, long m0, long m1, long oy0, long oy1) {
    const long Wo = (W - 1) / 2 + 1;
    ds_conv3x3_rows_strided(2, C, H, W, pad, w, ldw, bias, res, ldres, Wo, relu, y, ldy, Wo, m0, m1, oy0, oy1);
}
