// The kernels' bodies, included by kernels.c once per instruction set with CK_SUFFIX (the name
// suffix) and CK_WIDTH (floats per vector) defined. Plain C with clang vector extensions; the
// compiler contracts a * b + c into FMA where the instruction set has it.

#define CK_CAT2(a, b) a##b
#define CK_CAT(a, b) CK_CAT2(a, b)
#define CK_NAME(name) CK_CAT(name, CK_SUFFIX)
#define vf CK_NAME(vf)
#define vu CK_NAME(vu)
#define CK_INLINE static inline __attribute__((always_inline))

typedef float vf __attribute__((ext_vector_type(CK_WIDTH)));
typedef unsigned int vu __attribute__((ext_vector_type(CK_WIDTH)));

CK_INLINE vf CK_NAME(load)(const float *p) { vf v; __builtin_memcpy(&v, p, sizeof v); return v; }
CK_INLINE void CK_NAME(store)(vf v, float *p) { __builtin_memcpy(p, &v, sizeof v); }
CK_INLINE vf CK_NAME(vmax)(vf a, vf b) { return a < b ? b : a; }
CK_INLINE vf CK_NAME(vmin)(vf a, vf b) { return b < a ? b : a; }

/// p x 2^n for integer-valued n, `t` = n + 1.5 x 2^23 (the rounding's intermediate, whose low
/// bits are n; unused on AVX-512, which scales in one instruction: the same product, exactly).
CK_INLINE vf CK_NAME(times_power_of_two)(vf p, vf n, vf t) {
#if CK_WIDTH == 16
    (void)t;
    return (vf)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
    (void)n;
    const vf magic = (vf)(12582912.0f);
    vu exponent = (((vu)t - (vu)magic) + 127u) << 23; // 2^n as a float bit pattern
    return p * (vf)exponent;
#endif
}

/// exp(x): Cephes `expf` polynomial after Cody-Waite reduction, within 2 ulp for |x| < 87.
CK_INLINE vf CK_NAME(vexp)(vf x) {
    x = CK_NAME(vmin)(CK_NAME(vmax)(x, (vf)(-87.3f)), (vf)(88.3f));
    const vf magic = (vf)(12582912.0f); // 1.5 * 2^23: adding it rounds to an integer
    vf t = x * 1.44269504f + magic;
    vf n = t - magic;
    vf r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vf p = (vf)(1.98756915e-4f);
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.33345190e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 1.66666655e-1f;
    p = p * r + 5.00000012e-1f;
    p = p * (r * r) + r + 1.0f;
    return CK_NAME(times_power_of_two)(p, n, t);
}

/// erf(x), Abramowitz-Stegun 7.1.26 (absolute error below 1.5e-7).
CK_INLINE vf CK_NAME(verf)(vf x) {
    vf ax = x < 0 ? -x : x;
    vf t = 1.0f / (1.0f + 0.3275911f * ax);
    vf p = (vf)(1.061405429f);
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    vf y = 1.0f - p * t * CK_NAME(vexp)(-ax * ax);
    return x < 0 ? -y : y;
}

CK_INLINE vf CK_NAME(activate)(vf x, int activation) {
    if (activation == CK_GELU) return 0.5f * x * (1.0f + CK_NAME(verf)(x * 0.70710678118654752f));
    if (activation == CK_RELU) return CK_NAME(vmax)(x, (vf)(0.0f));
    return x / (1.0f + CK_NAME(vexp)(x * -1.702f));
}

/// A partial vector of n < CK_WIDTH floats, padded with `fill`.
CK_INLINE vf CK_NAME(load_partial)(const float *p, size_t n, float fill) {
    vf v = (vf)(fill);
    for (size_t i = 0; i < n; i++) v[i] = p[i];
    return v;
}

CK_INLINE void CK_NAME(store_partial)(vf v, float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = v[i];
}

/// 2^y for y <= 0 (a softmax numerator's range; y is clamped at -126 so that 2^n stays a normal
/// float): y = n + f with n = round(y) and |f| <= 1/2, 2^f by a degree-5 polynomial fitted for
/// relative error (at most 1.6 ulp in float arithmetic), times 2^n. Ten vector operations per
/// value on AVX-512 against fifteen for `vexp`: softmax is a fifth of attention's time.
CK_INLINE vf CK_NAME(vexp2_nonpositive)(vf y) {
    y = CK_NAME(vmax)(y, (vf)(-126.0f));
#if CK_WIDTH == 16
    const vf n = (vf)_mm512_roundscale_ps((__m512)y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), t = n;
#else
    const vf magic = (vf)(12582912.0f); // 1.5 * 2^23: adding it rounds to an integer (nearest, even)
    const vf t = y + magic;
    const vf n = t - magic;
#endif
    const vf f = y - n;
    vf p = (vf)(1.32647192e-3f);
    p = p * f + 9.67151392e-3f;
    p = p * f + 5.55073395e-2f;
    p = p * f + 2.40222424e-1f;
    p = p * f + 6.93147004e-1f;
    p = p * f + 1.0f;
    return CK_NAME(times_power_of_two)(p, n, t);
}

/// x[i] = exp(scale * (x[i] - max x)) in place; returns the sum. As 2^(x log2(e) scale - max
/// log2(e) scale): one multiply-add gives the exponent.
static float CK_NAME(exponentiate)(float *x, size_t n, float scale) {
    const size_t w = CK_WIDTH, end = n - n % w, tail = n - end;
    vf mx = (vf)(-__FLT_MAX__);
    for (size_t c = 0; c < end; c += w) mx = CK_NAME(vmax)(mx, CK_NAME(load)(x + c));
    if (tail) mx = CK_NAME(vmax)(mx, CK_NAME(load_partial)(x + end, tail, -__FLT_MAX__));
    float m = mx[0];
    for (size_t i = 1; i < w; i++) m = mx[i] > m ? mx[i] : m;
    const float factor = scale * 1.44269504088896341f;
    const vf shift = (vf)(m * factor), s = (vf)(factor);
    vf acc = (vf)(0.0f);
    #pragma clang loop unroll_count(4)
    for (size_t c = 0; c < end; c += w) {
        vf e = CK_NAME(vexp2_nonpositive)(CK_NAME(load)(x + c) * s - shift);
        CK_NAME(store)(e, x + c);
        acc += e;
    }
    if (tail) {
        vf e = CK_NAME(vexp2_nonpositive)(CK_NAME(load_partial)(x + end, tail, 0.0f) * s - shift);
        for (size_t i = tail; i < w; i++) e[i] = 0.0f;
        CK_NAME(store_partial)(e, x + end, tail);
        acc += e;
    }
    float sum = 0.0f;
    for (size_t i = 0; i < w; i++) sum += acc[i];
    return sum;
}

static void CK_NAME(bias_activation)(float *x, size_t rows, size_t cols, size_t stride,
                                     const float *bias, int activation) {
    const size_t w = CK_WIDTH, end = cols - cols % w, tail = cols - end;
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * stride;
        #pragma clang loop unroll_count(2)
        for (size_t c = 0; c < end; c += w) {
            vf v = CK_NAME(load)(row + c);
            if (bias) v += CK_NAME(load)(bias + c);
            CK_NAME(store)(CK_NAME(activate)(v, activation), row + c);
        }
        if (tail) {
            vf v = CK_NAME(load_partial)(row + end, tail, 0.0f);
            if (bias) v += CK_NAME(load_partial)(bias + end, tail, 0.0f);
            CK_NAME(store_partial)(CK_NAME(activate)(v, activation), row + end, tail);
        }
    }
}

// Attention products for one head, without BLAS: the keys (or values) are packed once per call
// into panels of CK_TILE columns and every product runs in CK_ROWS x CK_TILE register tiles, so a
// block of query rows never has to be packed (BLAS packs the whole score block for P V, a third
// of the work at head_dim 64).
#if CK_WIDTH == 16
#define CK_ROWS 14 // AVX-512's 32 registers: 28 accumulators and the two panel vectors
#else
#define CK_ROWS 6  // 16 registers: 12 accumulators
#endif
#define CK_TILE (2 * CK_WIDTH)
enum { CK_NAME(tile_rows) = CK_ROWS }; // the kernel table's `tile_rows`

/// Packs `count` vectors of `depth` floats (rows of a strided matrix, stride `ld`) transposed
/// into panels [panel][depth][CK_TILE], zero-padded to a whole panel.
static void CK_NAME(pack_columns)(const float *src, size_t ld, size_t count, size_t depth, float *dst) {
    for (size_t p0 = 0; p0 < count; p0 += CK_TILE) {
        const size_t cols = count - p0 < CK_TILE ? count - p0 : CK_TILE;
        for (size_t d = 0; d < depth; d++) {
            float *out = dst + d * CK_TILE;
            for (size_t c = 0; c < cols; c++) out[c] = src[(p0 + c) * ld + d];
            for (size_t c = cols; c < CK_TILE; c++) out[c] = 0.0f;
        }
        dst += depth * CK_TILE;
    }
}

/// Packs `depth` rows of `count` floats (stride `ld`) into panels [panel][depth][CK_TILE].
static void CK_NAME(pack_rows)(const float *src, size_t ld, size_t count, size_t depth, float *dst) {
    for (size_t p0 = 0; p0 < count; p0 += CK_TILE) {
        const size_t cols = count - p0 < CK_TILE ? count - p0 : CK_TILE;
        for (size_t d = 0; d < depth; d++) {
            float *out = dst + d * CK_TILE;
            const float *in = src + d * ld + p0;
            for (size_t c = 0; c < cols; c++) out[c] = in[c];
            for (size_t c = cols; c < CK_TILE; c++) out[c] = 0.0f;
        }
        dst += depth * CK_TILE;
    }
}

/// c[r][0..<cols] = factor[r * factor_stride] * sum_d a[r][d] * panel[d][..] for r < rows (rows <= CK_ROWS):
/// rows of `a` with stride `lda`, `depth` terms, output rows with stride `ldc`. Rows past `rows`
/// read row 0 again (computed, never stored), so the loop has no branch.
CK_INLINE void CK_NAME(tile)(const float *a, size_t lda, const float *panel, size_t depth,
                             size_t rows, size_t cols, const float *factor, size_t factor_stride,
                             float *c, size_t ldc) {
    const float *r[CK_ROWS];
    vf acc0[CK_ROWS], acc1[CK_ROWS];
    #pragma clang loop unroll(full)
    for (size_t i = 0; i < CK_ROWS; i++) {
        r[i] = a + (i < rows ? i : 0) * lda;
        acc0[i] = (vf)(0.0f);
        acc1[i] = (vf)(0.0f);
    }
    for (size_t d = 0; d < depth; d++) {
        const vf b0 = CK_NAME(load)(panel + d * CK_TILE), b1 = CK_NAME(load)(panel + d * CK_TILE + CK_WIDTH);
        #pragma clang loop unroll(full)
        for (size_t i = 0; i < CK_ROWS; i++) {
            const vf x = (vf)(r[i][d]);
            acc0[i] += x * b0;
            acc1[i] += x * b1;
        }
    }
    for (size_t i = 0; i < rows; i++) {
        const vf f = (vf)(factor[i * factor_stride]);
        float *out = c + i * ldc;
        if (cols == CK_TILE) {
            CK_NAME(store)(acc0[i] * f, out);
            CK_NAME(store)(acc1[i] * f, out + CK_WIDTH);
        } else {
            float tmp[CK_TILE];
            CK_NAME(store)(acc0[i] * f, tmp);
            CK_NAME(store)(acc1[i] * f, tmp + CK_WIDTH);
            for (size_t j = 0; j < cols; j++) out[j] = tmp[j];
        }
    }
}

/// out[i][j] = factor[i * factor_stride] * sum_d a[i][d] * b[d][j] for i < m, j < n, with b given as panels of
/// `pack_*` packed with depth `panel_depth` >= `depth` (the first `depth` rows of each panel are used), `n` columns.
static void CK_NAME(panels_product)(const float *a, size_t lda, const float *panels, size_t panel_depth, size_t m, size_t n,
                                    size_t depth, const float *factor, size_t factor_stride, float *out, size_t ldo) {
    for (size_t i = 0; i < m; i += CK_ROWS) {
        const size_t rows = m - i < CK_ROWS ? m - i : CK_ROWS;
        for (size_t j = 0; j < n; j += CK_TILE) {
            const size_t cols = n - j < CK_TILE ? n - j : CK_TILE;
            CK_NAME(tile)(a + i * lda, lda, panels + (j / CK_TILE) * panel_depth * CK_TILE, depth, rows, cols,
                          factor + i * factor_stride, factor_stride, out + i * ldo + j, ldo);
        }
    }
}

static void CK_NAME(attention_scores)(const float *q, size_t ldq, const float *k, size_t ldk, size_t m, size_t n,
                                      size_t depth, float scale, float *s, size_t lds, float *pack) {
    CK_NAME(pack_columns)(k, ldk, n, depth, pack);
    CK_NAME(panels_product)(q, ldq, pack, depth, m, n, depth, &scale, 0, s, lds);
}

static void CK_NAME(attention_values)(const float *p, size_t ldp, const float *v, size_t ldv, size_t m, size_t n,
                                      size_t depth, const float *row_factor, float *o, size_t ldo, float *pack) {
    const float one = 1.0f;
    CK_NAME(pack_rows)(v, ldv, depth, n, pack);
    CK_NAME(panels_product)(p, ldp, pack, n, m, depth, n, row_factor ? row_factor : &one, row_factor ? 1 : 0, o, ldo);
}

// One head's keys and values packed once for all its query blocks (ck_attention_pack_head).
static void CK_NAME(attention_pack_head)(const float *k, const float *v, size_t ld, size_t n, size_t depth,
                                         float *keys, float *values) {
    CK_NAME(pack_columns)(k, ld, n, depth, keys);
    CK_NAME(pack_rows)(v, ld, depth, n, values);
}

static void CK_NAME(attention_scores_packed)(const float *q, size_t ldq, const float *keys, size_t m, size_t n,
                                             size_t depth, float scale, float *s, size_t lds) {
    CK_NAME(panels_product)(q, ldq, keys, depth, m, n, depth, &scale, 0, s, lds);
}

static void CK_NAME(attention_values_packed)(const float *p, size_t ldp, const float *values, size_t packed_keys,
                                             size_t m, size_t n, size_t depth, const float *row_factor, float *o, size_t ldo) {
    const float one = 1.0f;
    CK_NAME(panels_product)(p, ldp, values, packed_keys, m, depth, n, row_factor ? row_factor : &one, row_factor ? 1 : 0, o, ldo);
}

#undef vf
#undef vu
#undef CK_ROWS
#undef CK_TILE
