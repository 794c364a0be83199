// A compute-only workload for `dynaslim bench fork` (ForkBenchmark.swift): twelve independent
// chains of vector multiply-adds on registers, no memory traffic, in the instruction set the conv
// kernels use (the Swift side is compiled for baseline x86-64, so its SIMD types would time SSE).
// Twelve chains keep both FMA ports of a core busy, as the kernels' register tiles do.
#include "ds_kernels.h"

typedef float v8f __attribute__((ext_vector_type(8)));
typedef float v16f __attribute__((ext_vector_type(16)));

#define DS_FMA_CHAINS(V, n, seed)                                                  \
    V acc[12];                                                                     \
    const V b = 0.999f, c = 1e-3f;                                                 \
    for (int i = 0; i < 12; i++) acc[i] = (V)(seed + (float)i);                    \
    for (long k = 0; k < n; k++)                                                   \
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) acc[i] = acc[i] * b + c; \
    float s = 0;                                                                   \
    for (int i = 0; i < 12; i++) s += acc[i][0];                                   \
    return s;

static float fma_portable(long n, float seed) { DS_FMA_CHAINS(v8f, n, seed) }
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static float fma_avx2(long n, float seed) { DS_FMA_CHAINS(v8f, n, seed) }
__attribute__((target("avx512f,avx2,fma"))) static float fma_avx512(long n, float seed) { DS_FMA_CHAINS(v16f, n, seed) }
#endif

float ds_fma_work(long iterations, int lanes, float seed) {
#if defined(__x86_64__) || defined(__i386__)
    if (lanes == 16 && ds_conv3x3_uses_avx512()) return fma_avx512(iterations, seed);
    if (ds_conv3x3_uses_avx2()) return fma_avx2(iterations, seed);
#endif
    (void)lanes;
    return fma_portable(iterations, seed);
}
