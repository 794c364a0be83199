// DynaSlim's hand-vectorized kernels, in C so one source compiles for AVX2+FMA (selected at run
// time) and for any other target through clang's portable vector extensions (NEON on Apple
// silicon). Pure functions over flat buffers; their naive twin is Conv2D.forwardNaive (Swift).
#ifndef DS_KERNELS_H
#define DS_KERNELS_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Output channels per register tile of the direct 3x3 kernel: split rows across threads in
/// multiples of it.
#define DS_CONV3X3_TILE_ROWS 4

/// A spin-wait hint (x86 PAUSE, ARM YIELD): lets the core's sibling and the memory system breathe.
static inline void ds_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Row stride of a padded plane for width W: W rounded up to 8 lanes, plus the 2 border columns.
long ds_conv3x3_padded_width(long W);
/// Floats of the padded input for C channels of H x W: C * (H + 2) * padded_width(W).
long ds_conv3x3_padded_count(long C, long H, long W);

/// Copies channels [c0, c1) of x (channel c at x + c * ldx, rows W floats apart) into `pad`
/// (the layout above) with a one-pixel zero border; the lanes right of the border are zero too.
/// Only padded rows [r0, r1) are written (padded row r = input row r - 1; all: 0, H + 2):
/// output rows [oy0, oy1) of the stride-1 conv read padded rows [oy0, oy1 + 2).
void ds_conv3x3_pad_rows(long c0, long c1, long H, long W, const float *x, long ldx, float *pad, long r0, long r1);
/// The same from a source whose rows are ldxr floats apart (e.g. the interior of a padded plane).
void ds_conv3x3_pad_rows_strided(long c0, long c1, long H, long W, const float *x, long ldx, long ldxr, float *pad, long r0, long r1);

/// Direct 3x3 convolution, stride 1, padding 1, over the first C input channels held in `pad`:
///   y[m][oy][ox] = act( sum_{c < C, ky, kx} w[m * ldw + c * 9 + ky * 3 + kx] * x[c][oy + ky - 1][ox + kx - 1]
///                       + bias[m] + res[m * ldres + oy * W + ox] )
/// for output channels m in [m0, m1); y's channel m starts at y + m * ldy (H x W, rows W apart).
/// bias and res may be NULL; act is ReLU when relu != 0. `ldw` >= C * 9 lets a caller use the
/// first C input channels of a wider weight (dynamic slimming's prefixes) without copying.
/// Only output rows [oy0, oy1) are computed (all: 0, H): cores that split an image by rows each do
/// the same channels, so the split stays even whatever the number of active channels.
void ds_conv3x3s1_rows(long C, long H, long W, const float *pad, const float *w, long ldw,
                       const float *bias, const float *res, long ldres, int relu,
                       float *y, long ldy, long m0, long m1, long oy0, long oy1);

/// Stride 2, padding 1 (output (H - 1) / 2 + 1 x (W - 1) / 2 + 1): the input is split once into
/// four phase planes (even / odd rows x columns of the zero-bordered input), in which every tap is a
/// contiguous 8-pixel load, and run through the same register tile. Arguments as for
/// ds_conv3x3s1_rows with H, W the input's size, oy0 / oy1 output rows and y's channels Ho x Wo.
long ds_conv3x3s2_padded_count(long C, long H, long W);
/// Writes phase rows [i0, i1) (all: 0, Ho + 1): output rows [oy0, oy1) read phase rows [oy0, oy1 + 1).
void ds_conv3x3s2_pad_rows(long c0, long c1, long H, long W, const float *x, long ldx, float *pad, long i0, long i1);
void ds_conv3x3s2_pad_rows_strided(long c0, long c1, long H, long W, const float *x, long ldx, long ldxr, float *pad, long i0, long i1);
/// Scalar reference twin of ds_conv3x3s2_pad_rows_strided (the fast one deinterleaves with vectors).
void ds_conv3x3s2_pad_rows_naive(long c0, long c1, long H, long W, const float *x, long ldx, long ldxr, float *pad, long i0, long i1);
/// Option-A shortcut subsampling of a source W pixels wide: y[c * ldy + oy * ldyr + ox] = x[c * ldx + 2 * oy * ldxr + 2 * ox], c < C, oy < Ho, ox < Wo.
void ds_subsample2(long C, long W, long Ho, long Wo, const float *x, long ldx, long ldxr, float *y, long ldy, long ldyr);
void ds_conv3x3s2_rows(long C, long H, long W, const float *pad, const float *w, long ldw,
                       const float *bias, const float *res, long ldres, int relu,
                       float *y, long ldy, long m0, long m1, long oy0, long oy1);

/// Either stride (1 or 2) with explicit row strides: output pixel (oy, ox) of channel m is written
/// to y[m * ldy + oy * ldyr + ox] and its residual read from res[m * ldres + oy * ldresr + ox]. With
/// ldyr = padded_width(Wo) and y pointing at row 1, column 1 of a zero-bordered plane, a conv
/// writes straight into the layout the next stride-1 conv reads, so that conv needs no padding
/// copy (the inference engine's activations). Only interior pixels are written; borders stay as
/// they are.
void ds_conv3x3_rows_strided(int stride, long C, long H, long W, const float *pad, const float *w, long ldw,
                             const float *bias, const float *res, long ldres, long ldresr, int relu,
                             float *y, long ldy, long ldyr, long m0, long m1, long oy0, long oy1);

/// Stride 1, padded input as ds_conv3x3_rows_strided (residual rows ldresr apart), with the H x W
/// output written as the stride-2 phase planes that ds_conv3x3s2_pad_rows would build from it
/// (channel m's four planes at y + m * ldy, ldy >= 4 * (Ho + 1) * padded_width(Wo) for
/// Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1): a stride-2 conv then reads this output without a
/// phase copy. Any H, W and channel range. Writes the planes' interior only: their borders (zero) stay as they are.
void ds_conv3x3s1_rows_phase_out(long C, long H, long W, const float *pad, const float *w, long ldw,
                                 const float *bias, const float *res, long ldres, long ldresr, int relu,
                                 float *y, long ldy, long m0, long m1, long oy0, long oy1);

// Whether the 16-lane weight gradient takes H x W planes in groups of S samples (with AVX-512).
long ds_conv3x3s1_wgrad16_applies(long H, long W, long S);
/// Weight gradient of ds_conv3x3s1_rows, summed over S samples and added to dw:
///   dw[m * ldw + c * 9 + ky * 3 + kx] += sum_s sum_{oy, ox} dy[s][m][oy][ox] * x[s][c][oy + ky - 1][ox + kx - 1]
/// for m in [m0, m1), c < C. Sample s's padded input (ds_conv3x3_pad_rows layout) starts at
/// pad + s * padStride, its output gradient [M][H][W] at dy + s * dyStride.
void ds_conv3x3s1_wgrad(long C, long H, long W, long S, const float *pad, long padStride, const float *dy, long dyStride,
                        float *dw, long ldw, long m0, long m1);

/// 1 when the AVX2+FMA version runs on this CPU, 0 for the portable one.
int ds_conv3x3_uses_avx2(void);
/// Forces the portable version on the calling thread (tests compare both); returns the previous setting.
int ds_conv3x3_force_portable(int on);
/// 1 when the 16-lane AVX-512 variant runs (for output widths that are multiples of 16).
int ds_conv3x3_uses_avx512(void);
/// Keeps the AVX-512 variant off on the calling thread while on != 0 (tests); returns the previous
/// setting.
int ds_conv3x3_force_no_avx512(int on);
/// Process-wide: 0 keeps the AVX-512 variant off on every thread (A/B runs; the CLI's $DYNASLIM_AVX512=0).
void ds_conv3x3_allow_avx512(int on);

/// A compute-only workload (`dynaslim bench fork`): `iterations` rounds of twelve independent vector
/// multiply-add chains of `lanes` (16: AVX-512 when the CPU has it; else 8 lanes, AVX2 where
/// available). Returns a value that depends on every chain (so the work is not optimized away).
float ds_fma_work(long iterations, int lanes, float seed);

#ifdef __cplusplus
}
#endif
#endif
