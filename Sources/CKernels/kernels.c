// The kernels of CKernels.h for two instruction sets, chosen once at run time: Swift code is
// built for baseline x86-64 (SSE2), which leaves half the vector width and FMA unused on the
// AVX2 machines these run on.
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

static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#define CK_DISPATCH(call) (has_avx2() ? call##_avx2 : call##_baseline)
#else
static int has_avx2(void) { return 0; }
#define CK_DISPATCH(call) call##_baseline
#endif

float ck_exponentiate(float *x, size_t n, float scale) {
    return CK_DISPATCH(exponentiate)(x, n, scale);
}

void ck_bias_activation(float *x, size_t rows, size_t cols, size_t stride, const float *bias, int activation) {
    CK_DISPATCH(bias_activation)(x, rows, cols, stride, bias, activation);
}

void ck_attention_scores(const float *q, size_t ldq, const float *k, size_t ldk, size_t m, size_t n,
                         size_t head_dim, float scale, float *s, size_t lds, float *pack) {
    CK_DISPATCH(attention_scores)(q, ldq, k, ldk, m, n, head_dim, scale, s, lds, pack);
}

void ck_attention_values(const float *p, size_t ldp, const float *v, size_t ldv, size_t m, size_t n,
                         size_t head_dim, const float *row_factor, float *o, size_t ldo, float *pack) {
    CK_DISPATCH(attention_values)(p, ldp, v, ldv, m, n, head_dim, row_factor, o, ldo, pack);
}

size_t ck_attention_pack_floats(size_t n, size_t head_dim) { return (n + 16) * (head_dim + 16); }

const char *ck_instruction_set(void) { return has_avx2() ? "avx2+fma" : "baseline"; }
