/* The per-row inner loops of genrt.ext, in C so that they can be compiled for
 * several instruction sets in one binary.
 *
 * On x86-64 Linux with GCC, each function is cloned for AVX2, x86-64-v2 (SSE4.2)
 * and the SSE2 baseline, and the loader picks the best clone the CPU supports
 * (GCC target_clones / ifunc). Without the byte shuffles of SSSE3 and later,
 * GCC cannot vectorize the 3-channel interleave, so the clones matter.
 *
 * The arithmetic is written exactly as in reference.py, in float32, and the
 * extension is built with -ffp-contract=off: no fused multiply-add, so every
 * clone gives the same bytes as numpy.
 */
#ifndef GENRT_ROWS_H
#define GENRT_ROWS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GENRT_CLONES __attribute__((target_clones("avx2", "arch=x86-64-v2", "default")))
#else
#define GENRT_CLONES
#endif

#if defined(_MSC_VER)
#define GENRT_RESTRICT __restrict
#else
#define GENRT_RESTRICT __restrict__
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* Keep GCC from turning the byte loop below back into a memset call. */
#define GENRT_NO_MEMSET_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define GENRT_NO_MEMSET_IDIOM
#endif

/* Fill a few bytes (grid padding gaps) without the cost of a library call. */
GENRT_NO_MEMSET_IDIOM
static inline void genrt_fill(uint8_t* dst, ptrdiff_t n, int value) {
    ptrdiff_t i;
    if (n > 64) {
        memset(dst, value, (size_t)n);
        return;
    }
    for (i = 0; i < n; i++) dst[i] = (uint8_t)value;
}

/* floor((x - lo) / span * 255 + 0.5) clamped to [0, 255]; NaN -> 0. */
static inline uint8_t genrt_quantize(float x, float lo, float span) {
    float t = (x - lo) / span * 255.0f + 0.5f;
    t = t >= 0.0f ? t : 0.0f; /* also maps NaN to 0 */
    t = t < 255.0f ? t : 255.0f;
    return (uint8_t)(int)t; /* truncation == floor for t >= 0 */
}

/* One image row: C planes of W floats, `plane` floats apart -> W*C interleaved bytes. */
GENRT_CLONES
static void genrt_quantize_row(const float* GENRT_RESTRICT src, ptrdiff_t plane, ptrdiff_t C,
                               ptrdiff_t W, uint8_t* GENRT_RESTRICT dst, float lo, float span) {
    const float* GENRT_RESTRICT s0 = src;
    const float* GENRT_RESTRICT s1 = src + plane;
    const float* GENRT_RESTRICT s2 = src + 2 * plane;
    const float* GENRT_RESTRICT s3 = src + 3 * plane;
    ptrdiff_t x;
    if (C == 1) {
        for (x = 0; x < W; x++) dst[x] = genrt_quantize(s0[x], lo, span);
    } else if (C == 3) {
        for (x = 0; x < W; x++) {
            dst[3 * x] = genrt_quantize(s0[x], lo, span);
            dst[3 * x + 1] = genrt_quantize(s1[x], lo, span);
            dst[3 * x + 2] = genrt_quantize(s2[x], lo, span);
        }
    } else {
        for (x = 0; x < W; x++) {
            dst[4 * x] = genrt_quantize(s0[x], lo, span);
            dst[4 * x + 1] = genrt_quantize(s1[x], lo, span);
            dst[4 * x + 2] = genrt_quantize(s2[x], lo, span);
            dst[4 * x + 3] = genrt_quantize(s3[x], lo, span);
        }
    }
}

/* One image row back: W*C interleaved bytes -> C planes of W floats, x = u / 255 * span + lo. */
GENRT_CLONES
static void genrt_dequantize_row(const uint8_t* GENRT_RESTRICT src, ptrdiff_t C, ptrdiff_t W,
                                 float* GENRT_RESTRICT dst, ptrdiff_t plane, float lo, float span) {
    float* GENRT_RESTRICT d0 = dst;
    float* GENRT_RESTRICT d1 = dst + plane;
    float* GENRT_RESTRICT d2 = dst + 2 * plane;
    float* GENRT_RESTRICT d3 = dst + 3 * plane;
    ptrdiff_t x;
    if (C == 1) {
        for (x = 0; x < W; x++) d0[x] = (float)src[x] / 255.0f * span + lo;
    } else if (C == 3) {
        for (x = 0; x < W; x++) {
            d0[x] = (float)src[3 * x] / 255.0f * span + lo;
            d1[x] = (float)src[3 * x + 1] / 255.0f * span + lo;
            d2[x] = (float)src[3 * x + 2] / 255.0f * span + lo;
        }
    } else {
        for (x = 0; x < W; x++) {
            d0[x] = (float)src[4 * x] / 255.0f * span + lo;
            d1[x] = (float)src[4 * x + 1] / 255.0f * span + lo;
            d2[x] = (float)src[4 * x + 2] / 255.0f * span + lo;
            d3[x] = (float)src[4 * x + 3] / 255.0f * span + lo;
        }
    }
}

#endif
