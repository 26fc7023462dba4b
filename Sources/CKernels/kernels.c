// The kernels of CKernels.h for three instruction sets, chosen once at run time: Swift code is
// built for baseline x86-64 (SSE2), which leaves most of the vector width and FMA unused on the
// AVX2 and AVX-512 machines these run on. `LANDSCRIBE_KERNELS` (avx512, avx2, baseline) pins
// the choice; the parsing and the warnings live in Swift (Tensor/Kernels.swift).
#include "CKernels.h"
#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#endif

#define CK_SUFFIX _baseline
#define CK_WIDTH 4
#include "kernels_body.h"
#undef CK_SUFFIX
#undef CK_WIDTH

#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define CK_SUFFIX _avx2
#define CK_WIDTH 8
#include "kernels_body.h"
#undef CK_SUFFIX
#undef CK_WIDTH
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#define CK_SUFFIX _avx512
#define CK_WIDTH 16
#include "kernels_body.h"
#undef CK_SUFFIX
#undef CK_WIDTH
#pragma clang attribute pop
#define CK_HAS_X86_SETS 1
#endif

#define CK_TABLE(suffix, label) \
    { label, tile_rows##suffix, exponentiate##suffix, bias_activation##suffix, attention_scores##suffix, attention_values##suffix, \
      attention_pack_head##suffix, attention_scores_packed##suffix, attention_values_packed##suffix }

static const ck_kernel_table ck_tables[] = {
    CK_TABLE(_baseline, "baseline"),
#ifdef CK_HAS_X86_SETS
    CK_TABLE(_avx2, "avx2+fma"),
    CK_TABLE(_avx512, "avx512"),
#endif
};

int ck_kernel_set_supported(int set) {
    switch (set) {
    case CK_SET_BASELINE: return 1;
#ifdef CK_HAS_X86_SETS
    case CK_SET_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CK_SET_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

const ck_kernel_table *ck_kernel_set(int set) {
    return ck_kernel_set_supported(set) ? &ck_tables[set] : 0;
}

int ck_best_kernel_set(void) {
    for (int set = CK_SET_AVX512; set > CK_SET_BASELINE; set--) {
        if (ck_kernel_set_supported(set)) return set;
    }
    return CK_SET_BASELINE;
}

// The set in use: `ck_best_kernel_set()` until `ck_select_kernel_set` says otherwise. Selected
// once at start-up (Kernels.selection in Swift), read on every call.
static const ck_kernel_table *ck_active = 0; // __atomic builtins only

static const ck_kernel_table *ck_current(void) {
    const ck_kernel_table *t = __atomic_load_n(&ck_active, __ATOMIC_ACQUIRE);
    if (t) return t;
    t = &ck_tables[ck_best_kernel_set()];
    __atomic_store_n(&ck_active, t, __ATOMIC_RELEASE);
    return t;
}

int ck_select_kernel_set(int set) {
    const ck_kernel_table *t = ck_kernel_set(set);
    if (!t) return 0;
    __atomic_store_n(&ck_active, t, __ATOMIC_RELEASE);
    return 1;
}

float ck_exponentiate(float *x, size_t n, float scale) {
    return ck_current()->exponentiate(x, n, scale);
}

void ck_bias_activation(float *x, size_t rows, size_t cols, size_t stride, const float *bias, int activation) {
    ck_current()->bias_activation(x, rows, cols, stride, bias, activation);
}

void ck_attention_scores(const float *q, size_t ldq, const float *k, size_t ldk, size_t m, size_t n,
                         size_t head_dim, float scale, float *s, size_t lds, float *pack) {
    ck_current()->attention_scores(q, ldq, k, ldk, m, n, head_dim, scale, s, lds, pack);
}

void ck_attention_values(const float *p, size_t ldp, const float *v, size_t ldv, size_t m, size_t n,
                         size_t head_dim, const float *row_factor, float *o, size_t ldo, float *pack) {
    ck_current()->attention_values(p, ldp, v, ldv, m, n, head_dim, row_factor, o, ldo, pack);
}

// Panels are CK_TILE = 2 * width columns wide, 32 at most (AVX-512): a product of `count`
// columns packs round_up(count, 32) <= count + 32 of them.
size_t ck_attention_pack_floats(size_t n, size_t head_dim) { return (n + 32) * (head_dim + 32); }

size_t ck_attention_packed_keys_floats(size_t n, size_t head_dim) { return (n + 31) / 32 * 32 * head_dim; }

size_t ck_attention_packed_head_floats(size_t n, size_t head_dim) {
    return ck_attention_packed_keys_floats(n, head_dim) + (head_dim + 31) / 32 * 32 * n;
}

const char *ck_instruction_set(void) { return ck_current()->name; }

// bfloat16 conversion (CKernels.h).
#include <stdlib.h>
#include <string.h>

static inline uint16_t ck_bf16_scalar(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); // NaN: keep it quiet NaN
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);          // subnormal: signed zero, as vcvtneps2bf16
    u += 0x7fffu + ((u >> 16) & 1u);                                            // round to nearest even
    return (uint16_t)(u >> 16);
}

static void ck_to_bf16_plain(const float *src, size_t rows, size_t cols, size_t stride, uint16_t *dst) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = src + r * stride;
        uint16_t *d = dst + r * cols;
        for (size_t c = 0; c < cols; c++) d[c] = ck_bf16_scalar(s[c]);
    }
}

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void ck_to_bf16_avx512(const float *src, size_t rows, size_t cols, size_t stride, uint16_t *dst) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = src + r * stride;
        uint16_t *d = dst + r * cols;
        size_t c = 0;
        for (; c + 16 <= cols; c += 16) {
            __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(s + c));
            _mm256_storeu_si256((__m256i *)(d + c), (__m256i)v);
        }
        if (c < cols) {
            __mmask16 m = (__mmask16)((1u << (cols - c)) - 1);
            __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s + c));
            _mm256_mask_storeu_epi16(d + c, m, (__m256i)v);
        }
    }
}
#endif

void ck_to_bf16(const float *src, size_t rows, size_t cols, size_t stride, uint16_t *dst) {
#if defined(__x86_64__) && defined(__clang__)
    static int has = -1; // benign race: every thread computes the same value
    if (has < 0) has = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (has) { ck_to_bf16_avx512(src, rows, cols, stride, dst); return; }
#endif
    ck_to_bf16_plain(src, rows, cols, stride, dst);
}

void *ck_thread_buffer(int slot, size_t bytes) {
    static _Thread_local void *buffers[4];
    static _Thread_local size_t sizes[4];
    if (slot < 0 || slot >= 4) return NULL;
    if (sizes[slot] < bytes || !buffers[slot]) {
        free(buffers[slot]);
        size_t size = (bytes + 63) / 64 * 64;
        if (size == 0) size = 64;
        buffers[slot] = aligned_alloc(64, size);
        sizes[slot] = buffers[slot] ? size : 0;
    }
    return buffers[slot];
}
