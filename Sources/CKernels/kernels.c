// The kernels of CKernels.h for three instruction sets, chosen once at run time: Swift code is
// built for baseline x86-64 (SSE2), which leaves most of the vector width and FMA unused on the
// AVX2 and AVX-512 machines these run on. `LANDSCRIBE_KERNELS` (avx512, avx2, baseline) pins
// the choice; the parsing and the warnings live in Swift (Tensor/Kernels.swift).
#include "CKernels.h"

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
    { label, exponentiate##suffix, bias_activation##suffix, attention_scores##suffix, attention_values##suffix }

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

const char *ck_instruction_set(void) { return ck_current()->name; }
