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
    vu exponent = (((vu)t - (vu)magic) + 127u) << 23; // 2^n as a float bit pattern
    return p * (vf)exponent;
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

static float CK_NAME(exponentiate)(float *x, size_t n, float scale) {
    const size_t w = CK_WIDTH, end = n - n % w, tail = n - end;
    vf mx = (vf)(-__FLT_MAX__);
    for (size_t c = 0; c < end; c += w) mx = CK_NAME(vmax)(mx, CK_NAME(load)(x + c));
    if (tail) mx = CK_NAME(vmax)(mx, CK_NAME(load_partial)(x + end, tail, -__FLT_MAX__));
    float m = mx[0];
    for (size_t i = 1; i < w; i++) m = mx[i] > m ? mx[i] : m;
    const vf shift = (vf)(m * scale), s = (vf)(scale);
    vf acc = (vf)(0.0f);
    #pragma clang loop unroll_count(4)
    for (size_t c = 0; c < end; c += w) {
        vf e = CK_NAME(vexp)(CK_NAME(load)(x + c) * s - shift);
        CK_NAME(store)(e, x + c);
        acc += e;
    }
    if (tail) {
        vf e = CK_NAME(vexp)(CK_NAME(load_partial)(x + end, tail, 0.0f) * s - shift);
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

#undef vf
#undef vu
