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

const char *ck_instruction_set(void) { return has_avx2() ? "avx2+fma" : "baseline"; }
