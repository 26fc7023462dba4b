// Elementwise kernels of the tensor core that need the CPU's full vector width: exponentials
// (softmax numerators) and activations. Each is compiled twice, for AVX2 + FMA and for baseline
// x86-64 / any other CPU, and picks one at run time (see kernels.c).
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>

/// Activation codes for `ck_bias_activation`.
enum { CK_QUICK_GELU = 0, CK_GELU = 1 };

/// x[i] = exp(scale * (x[i] - max(x))) for i < n; returns the sum of the new values.
float ck_exponentiate(float *x, size_t n, float scale);

/// x[r * stride + c] = act(x[r * stride + c] + bias[c]) for r < rows, c < cols; `bias` may be NULL.
/// quick_gelu: x * sigmoid(1.702 x); gelu: 0.5 x (1 + erf(x / sqrt 2)).
void ck_bias_activation(float *x, size_t rows, size_t cols, size_t stride, const float *bias, int activation);

/// The instruction set the kernels run with here: "avx2+fma" or "baseline".
const char *ck_instruction_set(void);

#endif
