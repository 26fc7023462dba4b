// Elementwise kernels of the tensor core that need the CPU's full vector width: exponentials
// (softmax numerators), activations and the attention products. Each is compiled three times, for
// AVX-512, for AVX2 + FMA and for baseline x86-64 / any other CPU, and picks one at run time (see
// kernels.c).
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Activation codes for `ck_bias_activation`.
enum { CK_QUICK_GELU = 0, CK_GELU = 1, CK_RELU = 2 };

/// x[i] = exp(scale * (x[i] - max(x))) for i < n; returns the sum of the new values.
float ck_exponentiate(float *x, size_t n, float scale);

/// x[r * stride + c] = act(x[r * stride + c] + bias[c]) for r < rows, c < cols; `bias` may be NULL.
/// quick_gelu: x * sigmoid(1.702 x); gelu: 0.5 x (1 + erf(x / sqrt 2)); relu: max(0, x).
void ck_bias_activation(float *x, size_t rows, size_t cols, size_t stride, const float *bias, int activation);

/// Attention scores of one head: s[i * lds + j] = scale * sum_d q[i * ldq + d] * k[j * ldk + d]
/// for i < m query rows, j < n keys, d < head_dim. `pack` holds `ck_attention_pack_floats(n, head_dim)`.
void ck_attention_scores(const float *q, size_t ldq, const float *k, size_t ldk, size_t m, size_t n,
                         size_t head_dim, float scale, float *s, size_t lds, float *pack);

/// Attention output of one head: o[i * ldo + c] = row_factor[i] * sum_j p[i * ldp + j] * v[j * ldv + c]
/// for i < m rows, j < n keys, c < head_dim (a NULL `row_factor` is all ones). `pack` as for
/// `ck_attention_scores`.
void ck_attention_values(const float *p, size_t ldp, const float *v, size_t ldv, size_t m, size_t n,
                         size_t head_dim, const float *row_factor, float *o, size_t ldo, float *pack);

/// Floats of `pack` the attention kernels need for n keys of head_dim values.
size_t ck_attention_pack_floats(size_t n, size_t head_dim);

/// One head's keys and values packed once for all its blocks of query rows (the kernel table's
/// `attention_pack_head`, `attention_scores_packed` and `attention_values_packed`): keys first,
/// `ck_attention_packed_keys_floats(n, head_dim)` floats, then the values, in all
/// `ck_attention_packed_head_floats(n, head_dim)`.
size_t ck_attention_packed_head_floats(size_t n, size_t head_dim);
size_t ck_attention_packed_keys_floats(size_t n, size_t head_dim);

/// The instruction set the kernels run with here: "avx512", "avx2+fma" or "baseline".
const char *ck_instruction_set(void);

/// Kernel sets, in order of preference from the last.
enum { CK_SET_BASELINE = 0, CK_SET_AVX2 = 1, CK_SET_AVX512 = 2 };

/// One instruction set's kernels, with the signatures of the `ck_*` functions above.
typedef struct {
    const char *name;
    /// Query rows of the attention kernels' register tiles: a block of rows that is a multiple
    /// of it leaves no part-empty tile (14 with AVX-512's 32 registers, 6 otherwise).
    size_t tile_rows;
    float (*exponentiate)(float *x, size_t n, float scale);
    void (*bias_activation)(float *x, size_t rows, size_t cols, size_t stride, const float *bias, int activation);
    void (*attention_scores)(const float *q, size_t ldq, const float *k, size_t ldk, size_t m, size_t n,
                             size_t head_dim, float scale, float *s, size_t lds, float *pack);
    void (*attention_values)(const float *p, size_t ldp, const float *v, size_t ldv, size_t m, size_t n,
                             size_t head_dim, const float *row_factor, float *o, size_t ldo, float *pack);
    /// Packs n keys and values (rows of stride `ld`) into `keys` and `values`.
    void (*attention_pack_head)(const float *k, const float *v, size_t ld, size_t n, size_t head_dim,
                                float *keys, float *values);
    /// `attention_scores` over the first n keys of packed `keys`.
    void (*attention_scores_packed)(const float *q, size_t ldq, const float *keys, size_t m, size_t n,
                                    size_t head_dim, float scale, float *s, size_t lds);
    /// `attention_values` over the first n keys of `values` packed with `packed_keys` keys.
    void (*attention_values_packed)(const float *p, size_t ldp, const float *values, size_t packed_keys,
                                    size_t m, size_t n, size_t head_dim, const float *row_factor, float *o, size_t ldo);
} ck_kernel_table;

/// Whether this build and CPU can run kernel set `set` (CK_SET_*).
int ck_kernel_set_supported(int set);

/// The kernels of set `set`, or NULL when this build or CPU cannot run them (for tests and benchmarks).
const ck_kernel_table *ck_kernel_set(int set);

/// The widest set this CPU runs.
int ck_best_kernel_set(void);

/// Makes `set` the one the `ck_*` functions use, process-wide; 0 (and no change) when unsupported.
int ck_select_kernel_set(int set);

/// bfloat16 copies for `--precision bf16` (Tensor/PackedWeights.swift): dst[r * cols + c] = bf16(src[r * stride + c])
/// for r < rows, c < cols, rounded to nearest even, subnormals to signed zero (NaN stays NaN). AVX512_BF16's vcvtneps2bf16
/// where the CPU has it, else the same rounding in plain C: the same bits either way.
void ck_to_bf16(const float *src, size_t rows, size_t cols, size_t stride, uint16_t *dst);

/// A 64-byte-aligned buffer of at least `bytes` bytes owned by the calling thread, one per
/// `slot` (0 to 3), kept and grown between calls (the bf16 copy of a product's input and its
/// scratchpad: no allocation per product). NULL when memory runs out.
void *ck_thread_buffer(int slot, size_t bytes);

#endif
