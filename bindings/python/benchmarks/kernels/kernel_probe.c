/*
 * kernel_probe: the CPU kernels libdtd could use, timed side by side on the products an LRP or
 * gradient pass issues (see README.md beside this file).
 *
 * Operations, per layer shape:
 *   dense  fwd  Y (B x out) = X (B x in) W^T          bwd  dX (B x in) = dY (B x out) W
 *   conv   fwd  Y = W * X (im2col + GEMM per sample)  bwd  dX = W^T dY, the transposed product
 *              (stride 1: a convolution of the flipped kernel over im2col of dY, as libdtd does;
 *               otherwise GEMM W^T dY + col2im)
 * Candidates:
 *   every BLAS given with --blas NAME=PATH[:PREFIX]: dlopen'ed, its cblas_sgemm/cblas_dgemm (with
 *     the symbol prefix, e.g. scipy_ for scipy-openblas32), set to one thread, and split over
 *     --threads POSIX threads exactly as libdtd splits (samples dealt to threads; a lone sample
 *     or a dense product split by columns); im2col/col2im are plain C loops, the same for every BLAS;
 *   oneDNN (when compiled in, Debian libdnnl-dev): convolution forward and backward-data and inner
 *     product forward and backward-data primitives, float32, its own OpenMP threads. Three ways:
 *     "plain" (activations in libdtd's NCHW layout, weights reordered once outside the timing),
 *     "blocked+reorder" (the primitive's preferred activation layout, with the two reorders from
 *     and to NCHW timed), and "blocked" (the reorders not timed: the bound for an engine that kept
 *     activations blocked). Plus oneDNN's own dnnl_sgemm as a GEMM for the dense layers.
 *
 * Timing: per case every candidate is warmed up, then --reps rounds, each timing every candidate
 * once (interleaved, so a load change hits all alike) for at least --min-ms; the median per
 * candidate is reported. Each result is checked against the first candidate's (max rel. error).
 * With --cpu-time (one thread only) the clock is the calling thread's CPU time, which a busy
 * machine disturbs far less than wall time (a descheduled thread's clock stops).
 * Output: a table on stdout and, with --json PATH, one JSON object per line.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(WITH_DNNL)
#include <oneapi/dnnl/dnnl.h>
void omp_set_num_threads(int);
#if DNNL_VERSION_MAJOR == 2
/* Sources/DTDCore/Kernels/OneDNN.swift copies descriptors of this size and uses these values. */
_Static_assert(sizeof(dnnl_memory_desc_t) == 696, "OneDNN.swift's C.memoryDescSize");
_Static_assert(sizeof(dnnl_convolution_desc_t) <= 16384, "OneDNN.swift's C.operationDescBytes");
_Static_assert(dnnl_f32 == 3 && dnnl_format_tag_any == 1 && dnnl_nchw == 5 && dnnl_oihw == 5, "OneDNN.swift's C");
_Static_assert(dnnl_forward_inference == 96 && dnnl_forward_training == 64 && dnnl_convolution_direct == 1, "C");
_Static_assert(dnnl_query_src_md == 129 && dnnl_query_diff_src_md == 130 && dnnl_query_weights_md == 131 &&
               dnnl_query_dst_md == 133 && dnnl_query_diff_dst_md == 134 && dnnl_query_scratchpad_md == 136, "C");
_Static_assert(DNNL_ARG_SRC == 1 && DNNL_ARG_DST == 17 && DNNL_ARG_WEIGHTS == 33 && DNNL_ARG_DIFF_SRC == 129 &&
               DNNL_ARG_DIFF_DST == 145 && DNNL_ARG_SCRATCHPAD == 80 && dnnl_scratchpad_mode_user == 1, "C");
_Static_assert(dnnl_cpu_isa_avx512_core == 39 && sizeof(dnnl_exec_arg_t) == 16, "C");
#endif
#endif

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int, double, double *, int);

/* ------------------------------------------------------------------------------------------ */
/* Shapes                                                                                      */

typedef struct {
    const char *group, *name;
    int dense;            /* 1: dense layer in -> out */
    int cin, h, w, cout, k, stride, pad;
    int batches[2];
} Shape;

static const Shape SHAPES[] = {
    /* the MNIST MLP */
    {"mlp", "784->1000", 1, 784, 1, 1, 1000, 1, 1, 0, {1, 64}},
    {"mlp", "1000->1000", 1, 1000, 1, 1, 1000, 1, 1, 0, {1, 64}},
    /* VGG-16 classifier */
    {"vgg16", "fc 4096->4096", 1, 4096, 1, 1, 4096, 1, 1, 0, {1, 8}},
    /* the CIFAR VGG of the benchmark (3x3, pad 1) */
    {"cifar", "3->64 @32", 0, 3, 32, 32, 64, 3, 1, 1, {1, 16}},
    {"cifar", "64->64 @32", 0, 64, 32, 32, 64, 3, 1, 1, {1, 16}},
    {"cifar", "128->128 @16", 0, 128, 16, 16, 128, 3, 1, 1, {1, 16}},
    {"cifar", "256->256 @8", 0, 256, 8, 8, 256, 3, 1, 1, {1, 16}},
    /* VGG-16 at 224x224 */
    {"vgg16", "3->64 @224", 0, 3, 224, 224, 64, 3, 1, 1, {1, 8}},
    {"vgg16", "64->64 @224", 0, 64, 224, 224, 64, 3, 1, 1, {1, 8}},
    {"vgg16", "128->128 @112", 0, 128, 112, 112, 128, 3, 1, 1, {1, 8}},
    {"vgg16", "256->256 @56", 0, 256, 56, 56, 256, 3, 1, 1, {1, 8}},
    {"vgg16", "512->512 @28", 0, 512, 28, 28, 512, 3, 1, 1, {1, 8}},
    {"vgg16", "512->512 @14", 0, 512, 14, 14, 512, 3, 1, 1, {1, 8}},
    /* ResNet-18 at 224x224 */
    {"resnet18", "7x7/2 3->64 @224", 0, 3, 224, 224, 64, 7, 2, 3, {1, 8}},
    {"resnet18", "64->64 @56", 0, 64, 56, 56, 64, 3, 1, 1, {1, 8}},
    {"resnet18", "3x3/2 64->128 @56", 0, 64, 56, 56, 128, 3, 2, 1, {1, 8}},
    {"resnet18", "1x1/2 64->128 @56", 0, 64, 56, 56, 128, 1, 2, 0, {1, 8}},
    {"resnet18", "256->256 @14", 0, 256, 14, 14, 256, 3, 1, 1, {1, 8}},
    {"resnet18", "512->512 @7", 0, 512, 7, 7, 512, 3, 1, 1, {1, 8}},
};

static int out_h(const Shape *s) { return (s->h + 2 * s->pad - s->k) / s->stride + 1; }
static int out_w(const Shape *s) { return (s->w + 2 * s->pad - s->k) / s->stride + 1; }

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                     */

typedef struct {
    char name[32];
    void *handle;
    sgemm_fn sgemm;
    dgemm_fn dgemm;
    char file[512];
} Blas;

static Blas blas[8];
static int nblas;
static int reps = 5, use_dnnl = 1;
static double min_ms = 40;
static int thread_list[4] = {1, 2}, nthread_list = 2;
static int dtype_f64 = 1, dtype_f32 = 1;
static const char *groups = "mlp,cifar,vgg16,resnet18";
static FILE *json;

static int cpu_clock; /* --cpu-time: the calling thread's CPU time (1 thread only; robust to load) */
static double now(void) {
    struct timespec t;
    clock_gettime(cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void *sym(void *h, const char *prefix, const char *name) {
    char full[128];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return dlsym(h, full);
}

static void add_blas(const char *spec) {
    Blas *b = &blas[nblas];
    const char *eq = strchr(spec, '=');
    if (!eq || nblas >= 8) { fprintf(stderr, "bad --blas %s\n", spec); exit(2); }
    snprintf(b->name, sizeof b->name, "%.*s", (int)(eq - spec), spec);
    char path[512], prefix[64] = "";
    snprintf(path, sizeof path, "%s", eq + 1);
    char *colon = strrchr(path, ':');
    if (colon) { snprintf(prefix, sizeof prefix, "%s", colon + 1); *colon = 0; }
    b->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!b->handle) { fprintf(stderr, "skip %s: %s\n", b->name, dlerror()); return; }
    b->sgemm = (sgemm_fn)sym(b->handle, prefix, "cblas_sgemm");
    b->dgemm = (dgemm_fn)sym(b->handle, prefix, "cblas_dgemm");
    if (!b->sgemm) { fprintf(stderr, "skip %s: no %scblas_sgemm\n", b->name, prefix); return; }
    Dl_info info;
    if (dladdr((void *)b->sgemm, &info) && info.dli_fname) realpath(info.dli_fname, b->file);
    /* One thread inside the BLAS: the probe splits like libdtd does. */
    void (*set)(int) = (void (*)(int))sym(b->handle, prefix, "openblas_set_num_threads");
    if (set) set(1);
    void (*mkl_layer)(int) = (void (*)(int))sym(b->handle, prefix, "MKL_Set_Threading_Layer");
    if (mkl_layer) mkl_layer(1 /* MKL_THREADING_SEQUENTIAL */);
    void (*mkl_set)(int) = (void (*)(int))sym(b->handle, prefix, "MKL_Set_Num_Threads");
    if (mkl_set) mkl_set(1);
    void (*bli_set)(long) = (void (*)(long))sym(b->handle, prefix, "bli_thread_set_num_threads");
    if (bli_set) bli_set(1);
    nblas++;
}

/* ------------------------------------------------------------------------------------------ */
/* Threads: run body(part) for part in 0..<parts on parts POSIX threads (the caller is part 0). */

typedef void (*part_fn)(void *ctx, int part, int parts);
typedef struct { part_fn fn; void *ctx; int part, parts; } PartArg;
static void *part_main(void *p) { PartArg *a = p; a->fn(a->ctx, a->part, a->parts); return NULL; }

static void run_parts(int parts, part_fn fn, void *ctx) {
    pthread_t t[16];
    PartArg a[16];
    for (int i = 1; i < parts; i++) {
        a[i] = (PartArg){fn, ctx, i, parts};
        pthread_create(&t[i], NULL, part_main, &a[i]);
    }
    fn(ctx, 0, parts);
    for (int i = 1; i < parts; i++) pthread_join(t[i], NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* im2col / col2im (NCHW, one sample; columns K x P with K = C*k*k rows)                       */

#define IM2COL(T)                                                                                  \
    static void im2col_##T(const T *x, int c, int h, int w, int k, int s, int p, int oh, int ow,  \
                           T *cols) {                                                             \
        for (int ci = 0; ci < c; ci++)                                                            \
            for (int ky = 0; ky < k; ky++)                                                        \
                for (int kx = 0; kx < k; kx++) {                                                  \
                    T *row = cols + ((size_t)(ci * k + ky) * k + kx) * oh * ow;                   \
                    for (int y = 0; y < oh; y++) {                                                \
                        int iy = y * s - p + ky;                                                  \
                        T *r = row + (size_t)y * ow;                                              \
                        if (iy < 0 || iy >= h) { memset(r, 0, sizeof(T) * ow); continue; }       \
                        const T *src = x + ((size_t)ci * h + iy) * w;                             \
                        for (int xo = 0; xo < ow; xo++) {                                         \
                            int ix = xo * s - p + kx;                                             \
                            r[xo] = (ix >= 0 && ix < w) ? src[ix] : 0;                            \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
    }                                                                                             \
    static void col2im_##T(const T *cols, int c, int h, int w, int k, int s, int p, int oh,       \
                           int ow, T *x) {                                                        \
        memset(x, 0, sizeof(T) * (size_t)c * h * w);                                              \
        for (int ci = 0; ci < c; ci++)                                                            \
            for (int ky = 0; ky < k; ky++)                                                        \
                for (int kx = 0; kx < k; kx++) {                                                  \
                    const T *row = cols + ((size_t)(ci * k + ky) * k + kx) * oh * ow;             \
                    for (int y = 0; y < oh; y++) {                                                \
                        int iy = y * s - p + ky;                                                  \
                        if (iy < 0 || iy >= h) continue;                                          \
                        T *dst = x + ((size_t)ci * h + iy) * w;                                   \
                        for (int xo = 0; xo < ow; xo++) {                                         \
                            int ix = xo * s - p + kx;                                             \
                            if (ix >= 0 && ix < w) dst[ix] += row[(size_t)y * ow + xo];          \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
    }
IM2COL(float)
IM2COL(double)

/* ------------------------------------------------------------------------------------------ */
/* A BLAS case: the products libdtd issues, split like libdtd                                  */

typedef struct {
    const Shape *s;
    int batch, f64, bwd, threads;
    Blas *b;
    void *x, *wt, *wflip, *y, *cols; /* cols: one K*P slice per thread */
} BlasCase;

static void gemm(BlasCase *c, int ta, int tb, int m, int n, int k, const void *a, int lda, const void *bb, int ldb,
                 void *cc, int ldc) {
    if (c->f64)
        c->b->dgemm(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, m, n, k, 1.0, a, lda, bb, ldb, 0.0, cc, ldc);
    else
        c->b->sgemm(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, m, n, k, 1.0f, a, lda, bb, ldb, 0.0f, cc, ldc);
}

/* Column range of part `part` of `parts` over n columns, blocks a multiple of 16 (libdtd's Gemm). */
static void column_block(int n, int part, int parts, int *first, int *count) {
    int width = ((n + parts - 1) / parts + 15) / 16 * 16;
    *first = part * width;
    *count = *first >= n ? 0 : (n - *first < width ? n - *first : width);
}

static void blas_dense_part(void *ctx, int part, int parts) {
    BlasCase *c = ctx;
    const Shape *s = c->s;
    size_t e = c->f64 ? 8 : 4;
    int in = s->cin, out = s->cout, first, count;
    if (!c->bwd) { /* Y (B x out) = X W^T, split over out */
        column_block(out, part, parts, &first, &count);
        if (count > 0)
            gemm(c, 0, 1, c->batch, count, in, c->x, in, (char *)c->wt + first * in * e, in, (char *)c->y + first * e, out);
    } else { /* dX (B x in) = dY W, split over in */
        column_block(in, part, parts, &first, &count);
        if (count > 0)
            gemm(c, 0, 0, c->batch, count, out, c->y, out, (char *)c->wt + first * e, in, (char *)c->x + first * e, in);
    }
}

/* One sample of a conv case on the thread owning `slice`; `first/count` a column block or all. */
static void conv_sample(BlasCase *c, int n, void *slice, int first, int count, int do_lower) {
    const Shape *s = c->s;
    size_t e = c->f64 ? 8 : 4;
    int oh = out_h(s), ow = out_w(s), p = oh * ow, kk = s->k * s->k;
    size_t in_count = (size_t)s->cin * s->h * s->w, out_count = (size_t)s->cout * p;
    char *x = (char *)c->x + n * in_count * e, *y = (char *)c->y + n * out_count * e;
    if (!c->bwd) {
        int K = s->cin * kk;
        if (do_lower) {
            if (c->f64) im2col_double((double *)x, s->cin, s->h, s->w, s->k, s->stride, s->pad, oh, ow, slice);
            else im2col_float((float *)x, s->cin, s->h, s->w, s->k, s->stride, s->pad, oh, ow, slice);
        }
        if (count > 0) gemm(c, 0, 0, s->cout, count, K, c->wt, K, (char *)slice + first * e, p, y + first * e, p);
    } else if (s->stride == 1 && s->pad <= s->k - 1) {
        /* transpose as a convolution of the flipped, channel-swapped kernel over dY */
        int tp = s->k - 1 - s->pad, P = s->h * s->w, K = s->cout * kk;
        if (do_lower) {
            if (c->f64) im2col_double((double *)y, s->cout, oh, ow, s->k, 1, tp, s->h, s->w, slice);
            else im2col_float((float *)y, s->cout, oh, ow, s->k, 1, tp, s->h, s->w, slice);
        }
        if (count > 0) gemm(c, 0, 0, s->cin, count, K, c->wflip, K, (char *)slice + first * e, P, x + first * e, P);
    } else {
        /* cols (K x P) = W^T dY, then col2im (one thread per sample here) */
        int K = s->cin * kk;
        gemm(c, 1, 0, K, p, s->cout, c->wt, K, y, p, slice, p);
        if (c->f64) col2im_double(slice, s->cin, s->h, s->w, s->k, s->stride, s->pad, oh, ow, (double *)x);
        else col2im_float(slice, s->cin, s->h, s->w, s->k, s->stride, s->pad, oh, ow, (float *)x);
    }
}

static size_t slice_elems(const Shape *s) {
    int oh = out_h(s), ow = out_w(s);
    size_t fwd = (size_t)s->cin * s->k * s->k * oh * ow;
    size_t bwd = (size_t)s->cout * s->k * s->k * s->h * s->w;
    return fwd > bwd ? fwd : bwd;
}

static void blas_conv_part(void *ctx, int part, int parts) {
    BlasCase *c = ctx;
    size_t e = c->f64 ? 8 : 4;
    void *slice = (char *)c->cols + part * slice_elems(c->s) * e;
    int cols = c->bwd ? c->s->h * c->s->w : out_h(c->s) * out_w(c->s);
    for (int n = part; n < c->batch; n += parts) conv_sample(c, n, slice, 0, cols, 1);
}

/* A lone sample: lower on the caller, then split the product's columns. */
typedef struct { BlasCase *c; } LoneCtx;
static void blas_conv_lone_part(void *ctx, int part, int parts) {
    BlasCase *c = ctx;
    const Shape *s = c->s;
    int cols = (!c->bwd) ? out_h(s) * out_w(s) : s->h * s->w;
    int first, count;
    column_block(cols, part, parts, &first, &count);
    conv_sample(c, 0, c->cols, first, count, 0);
}

static void run_blas_case(BlasCase *c) {
    const Shape *s = c->s;
    if (s->dense) {
        int cols = c->bwd ? s->cin : s->cout;
        int parts = c->threads;
        if ((long)c->batch * s->cin * s->cout < (1 << 18) || cols / 32 < parts) parts = 1;
        if (parts == 1) blas_dense_part(c, 0, 1); else run_parts(parts, blas_dense_part, c);
        return;
    }
    if (c->batch == 1 && c->threads > 1 && (c->bwd == 0 || (s->stride == 1 && s->pad <= s->k - 1))) {
        conv_sample(c, 0, c->cols, 0, 0, 1); /* lower only */
        run_parts(c->threads, blas_conv_lone_part, c);
        return;
    }
    int parts = c->threads < c->batch ? c->threads : c->batch;
    if (parts <= 1) blas_conv_part(c, 0, 1); else run_parts(parts, blas_conv_part, c);
}

/* ------------------------------------------------------------------------------------------ */
/* oneDNN                                                                                      */

#if defined(WITH_DNNL)
#define CHECK(x) do { dnnl_status_t st_ = (x); if (st_ != dnnl_success) { fprintf(stderr, "%s: %d\n", #x, (int)st_); return -1; } } while (0)

typedef struct {
    dnnl_primitive_t prim, to_blocked, from_blocked;
    dnnl_memory_t src_user, w_user, dst_user;  /* plain NCHW / OIHW, user buffers */
    dnnl_memory_t src_prim, w_prim, dst_prim;   /* the primitive's layouts */
    int src_reorder, dst_reorder;
    char impl[128];
    int in_arg, w_arg, out_arg;
} DnnlOp;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int dnnl_init(void) {
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    return 0;
}

static int make_memory(const dnnl_memory_desc_t *md, void *ptr, dnnl_memory_t *mem) {
    CHECK(dnnl_memory_create(mem, md, engine, ptr ? ptr : DNNL_MEMORY_ALLOCATE));
    return 0;
}

static int reorder(dnnl_memory_t from, dnnl_memory_t to) {
    const dnnl_memory_desc_t *a, *b;
    CHECK(dnnl_memory_get_memory_desc(from, &a));
    CHECK(dnnl_memory_get_memory_desc(to, &b));
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, a, engine, b, engine, NULL));
    CHECK(dnnl_primitive_create(&p, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(p, stream, 2, args));
    CHECK(dnnl_stream_wait(stream));
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    return 0;
}

static int reorder_prim(dnnl_memory_t from, dnnl_memory_t to, dnnl_primitive_t *p) {
    const dnnl_memory_desc_t *a, *b;
    CHECK(dnnl_memory_get_memory_desc(from, &a));
    CHECK(dnnl_memory_get_memory_desc(to, &b));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, a, engine, b, engine, NULL));
    CHECK(dnnl_primitive_create(p, pd));
    dnnl_primitive_desc_destroy(pd);
    return 0;
}

/*
 * Builds the forward (bwd = 0) or backward-data (bwd = 1) primitive of a conv or inner-product
 * layer. `plain`: activations in NCHW/NC; else the primitive picks (format any) and reorders
 * from/to the user's plain buffers are prepared. Weights: the primitive's layout, reordered once.
 * x: input (fwd) / diff_src output (bwd); y: dst (fwd) / diff_dst input (bwd).
 */
static int dnnl_build(const Shape *s, int batch, int bwd, int plain, float *x, float *w, float *y, DnnlOp *op) {
    memset(op, 0, sizeof *op);
    int oh = out_h(s), ow = out_w(s);
    dnnl_memory_desc_t xu, wu, yu, xa, wa, ya;
    dnnl_primitive_desc_t pd, hint = NULL;
    if (s->dense) {
        dnnl_dims_t xd = {batch, s->cin}, wd = {s->cout, s->cin}, yd = {batch, s->cout};
        CHECK(dnnl_memory_desc_init_by_tag(&xu, 2, xd, dnnl_f32, dnnl_nc));
        CHECK(dnnl_memory_desc_init_by_tag(&wu, 2, wd, dnnl_f32, dnnl_oi));
        CHECK(dnnl_memory_desc_init_by_tag(&yu, 2, yd, dnnl_f32, dnnl_nc));
        CHECK(dnnl_memory_desc_init_by_tag(&xa, 2, xd, dnnl_f32, plain ? dnnl_nc : dnnl_format_tag_any));
        CHECK(dnnl_memory_desc_init_by_tag(&wa, 2, wd, dnnl_f32, dnnl_format_tag_any));
        CHECK(dnnl_memory_desc_init_by_tag(&ya, 2, yd, dnnl_f32, plain ? dnnl_nc : dnnl_format_tag_any));
        dnnl_inner_product_desc_t fd, bd;
        CHECK(dnnl_inner_product_forward_desc_init(&fd, bwd ? dnnl_forward_training : dnnl_forward_inference, &xa, &wa, NULL, &ya));
        CHECK(dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL));
        if (bwd) {
            CHECK(dnnl_inner_product_backward_data_desc_init(&bd, &xa, &wa, &ya));
            CHECK(dnnl_primitive_desc_create(&pd, &bd, NULL, engine, hint));
        } else pd = hint;
    } else {
        dnnl_dims_t xd = {batch, s->cin, s->h, s->w}, wd = {s->cout, s->cin, s->k, s->k}, yd = {batch, s->cout, oh, ow};
        dnnl_dims_t st = {s->stride, s->stride}, dl = {0, 0}, pl = {s->pad, s->pad};
        /* right padding so that the output size matches (PyTorch's floor) */
        dnnl_dims_t pr = {(oh - 1) * s->stride + s->k - s->h - s->pad, (ow - 1) * s->stride + s->k - s->w - s->pad};
        CHECK(dnnl_memory_desc_init_by_tag(&xu, 4, xd, dnnl_f32, dnnl_nchw));
        CHECK(dnnl_memory_desc_init_by_tag(&wu, 4, wd, dnnl_f32, dnnl_oihw));
        CHECK(dnnl_memory_desc_init_by_tag(&yu, 4, yd, dnnl_f32, dnnl_nchw));
        CHECK(dnnl_memory_desc_init_by_tag(&xa, 4, xd, dnnl_f32, plain ? dnnl_nchw : dnnl_format_tag_any));
        CHECK(dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32, dnnl_format_tag_any));
        CHECK(dnnl_memory_desc_init_by_tag(&ya, 4, yd, dnnl_f32, plain ? dnnl_nchw : dnnl_format_tag_any));
        dnnl_convolution_desc_t fd, bd;
        CHECK(dnnl_dilated_convolution_forward_desc_init(&fd, bwd ? dnnl_forward_training : dnnl_forward_inference,
                                                         dnnl_convolution_direct, &xa, &wa, NULL, &ya, st, dl, pl, pr));
        CHECK(dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL));
        if (bwd) {
            CHECK(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &xa, &wa, &ya, st, dl, pl, pr));
            CHECK(dnnl_primitive_desc_create(&pd, &bd, NULL, engine, hint));
        } else pd = hint;
    }
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(op->impl, sizeof op->impl, "%s", impl ? impl : "?");
    const dnnl_memory_desc_t *xp = dnnl_primitive_desc_query_md(pd, bwd ? dnnl_query_diff_src_md : dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wp = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *yp = dnnl_primitive_desc_query_md(pd, bwd ? dnnl_query_diff_dst_md : dnnl_query_dst_md, 0);
    if (make_memory(&xu, x, &op->src_user) || make_memory(&wu, w, &op->w_user) || make_memory(&yu, y, &op->dst_user)) return -1;
    if (make_memory(wp, NULL, &op->w_prim) || reorder(op->w_user, op->w_prim)) return -1;
    op->src_reorder = !dnnl_memory_desc_equal(xp, &xu);
    op->dst_reorder = !dnnl_memory_desc_equal(yp, &yu);
    if (op->src_reorder) { if (make_memory(xp, NULL, &op->src_prim)) return -1; } else op->src_prim = op->src_user;
    if (op->dst_reorder) { if (make_memory(yp, NULL, &op->dst_prim)) return -1; } else op->dst_prim = op->dst_user;
    /* fwd: user x -> prim x, run, prim y -> user y. bwd: user y -> prim y, run, prim x -> user x. */
    if (!bwd) {
        if (op->src_reorder && reorder_prim(op->src_user, op->src_prim, &op->to_blocked)) return -1;
        if (op->dst_reorder && reorder_prim(op->dst_prim, op->dst_user, &op->from_blocked)) return -1;
    } else {
        if (op->dst_reorder && reorder_prim(op->dst_user, op->dst_prim, &op->to_blocked)) return -1;
        if (op->src_reorder && reorder_prim(op->src_prim, op->src_user, &op->from_blocked)) return -1;
    }
    CHECK(dnnl_primitive_create(&op->prim, pd));
    op->in_arg = bwd ? DNNL_ARG_DIFF_DST : DNNL_ARG_SRC;
    op->out_arg = bwd ? DNNL_ARG_DIFF_SRC : DNNL_ARG_DST;
    return 0;
}

/* mode 0: with reorders (or none needed), 1: the primitive alone */
static int dnnl_run(DnnlOp *op, int bwd, int mode) {
    dnnl_memory_t in = bwd ? op->dst_prim : op->src_prim, out = bwd ? op->src_prim : op->dst_prim;
    if (mode == 0 && op->to_blocked) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, bwd ? op->dst_user : op->src_user}, {DNNL_ARG_TO, in}};
        CHECK(dnnl_primitive_execute(op->to_blocked, stream, 2, a));
    }
    dnnl_exec_arg_t args[3] = {{op->in_arg, in}, {DNNL_ARG_WEIGHTS, op->w_prim}, {op->out_arg, out}};
    CHECK(dnnl_primitive_execute(op->prim, stream, 3, args));
    if (mode == 0 && op->from_blocked) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, out}, {DNNL_ARG_TO, bwd ? op->src_user : op->dst_user}};
        CHECK(dnnl_primitive_execute(op->from_blocked, stream, 2, a));
    }
    CHECK(dnnl_stream_wait(stream));
    return 0;
}

static void dnnl_free(DnnlOp *op) {
    if (op->prim) dnnl_primitive_destroy(op->prim);
    if (op->to_blocked) dnnl_primitive_destroy(op->to_blocked);
    if (op->from_blocked) dnnl_primitive_destroy(op->from_blocked);
    if (op->src_reorder) dnnl_memory_destroy(op->src_prim);
    if (op->dst_reorder) dnnl_memory_destroy(op->dst_prim);
    dnnl_memory_destroy(op->w_prim);
    dnnl_memory_destroy(op->src_user);
    dnnl_memory_destroy(op->w_user);
    dnnl_memory_destroy(op->dst_user);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* The driver                                                                                  */

typedef struct {
    char name[48];
    char impl[128];
    int kind;      /* 0 BLAS, 1 dnnl plain, 2 dnnl blocked+reorder, 3 dnnl blocked only, 4 dnnl_sgemm */
    BlasCase bc;
#if defined(WITH_DNNL)
    DnnlOp op;
#endif
    void *out;     /* the result buffer to check */
    double times[64];
    int ntimes;
} Candidate;

static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int call(Candidate *c, int bwd) {
    switch (c->kind) {
    case 0: run_blas_case(&c->bc); return 0;
#if defined(WITH_DNNL)
    case 1: case 2: return dnnl_run(&c->op, bwd, 0);
    case 3: return dnnl_run(&c->op, bwd, 1);
    case 4: {
        const Shape *s = c->bc.s;
        if (!bwd) return dnnl_sgemm('N', 'T', c->bc.batch, s->cout, s->cin, 1.0f, c->bc.x, s->cin, c->bc.wt, s->cin, 0.0f, c->bc.y, s->cout);
        return dnnl_sgemm('N', 'N', c->bc.batch, s->cin, s->cout, 1.0f, c->bc.y, s->cout, c->bc.wt, s->cin, 0.0f, c->bc.x, s->cin);
    }
#endif
    }
    return -1;
}

static void *alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) { perror("alloc"); exit(1); }
    return p;
}

static void fill(void *p, size_t n, int f64, unsigned seed, double scale) {
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        double v = scale * ((double)rand() / RAND_MAX - 0.5);
        if (f64) ((double *)p)[i] = v; else ((float *)p)[i] = (float)v;
    }
}

static int in_groups(const char *g) {
    const char *p = strstr(groups, g);
    return p && (p == groups || p[-1] == ',') && (p[strlen(g)] == 0 || p[strlen(g)] == ',');
}

static void run_case(const Shape *s, int batch, int f64, int bwd, int threads) {
    size_t e = f64 ? 8 : 4;
    int oh = s->dense ? 1 : out_h(s), ow = s->dense ? 1 : out_w(s), kk = s->k * s->k;
    size_t xn = (size_t)batch * s->cin * s->h * s->w, yn = (size_t)batch * s->cout * oh * ow;
    size_t wn = (size_t)s->cout * s->cin * kk;
    double macs = (double)batch * s->cout * oh * ow * s->cin * kk;
    void *w = alloc(wn * e), *wflip = alloc(wn * e), *xin = alloc(xn * e), *yin = alloc(yn * e);
    fill(w, wn, f64, 1, 2.0 / sqrt((double)s->cin * kk));
    fill(xin, xn, f64, 2, 2.0);
    fill(yin, yn, f64, 3, 2.0);
    /* flipped, channel-swapped kernel: wflip[ci][co][ky][kx] = w[co][ci][k-1-ky][k-1-kx] */
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int t = 0; t < kk; t++) {
                size_t from = ((size_t)co * s->cin + ci) * kk + t, to = ((size_t)ci * s->cout + co) * kk + (kk - 1 - t);
                memcpy((char *)wflip + to * e, (char *)w + from * e, e);
            }
    Candidate cands[16];
    int nc = 0;
    for (int i = 0; i < nblas; i++) {
        if (f64 && !blas[i].dgemm) continue;
        Candidate *c = &cands[nc++];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", blas[i].name);
        snprintf(c->impl, sizeof c->impl, "%s", s->dense ? "gemm" : "im2col+gemm");
        c->bc = (BlasCase){s, batch, f64, bwd, threads, &blas[i], alloc(xn * e), w, wflip, alloc(yn * e), NULL};
        c->bc.cols = s->dense ? NULL : alloc(slice_elems(s) * e * threads);
        memcpy(c->bc.x, xin, xn * e);
        memcpy(c->bc.y, yin, yn * e);
        c->out = bwd ? c->bc.x : c->bc.y;
    }
#if defined(WITH_DNNL)
    if (use_dnnl && !f64) {
        static const char *names[] = {"", "onednn plain", "onednn blocked+reorder", "onednn blocked (no reorder)"};
        for (int kind = 1; kind <= 3; kind++) {
            Candidate *c = &cands[nc];
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "%s", names[kind]);
            c->kind = kind;
            float *x = alloc(xn * e), *y = alloc(yn * e);
            memcpy(x, xin, xn * e);
            memcpy(y, yin, yn * e);
            if (dnnl_build(s, batch, bwd, kind == 1, x, w, y, &c->op)) { fprintf(stderr, "  (%s unavailable)\n", c->name); continue; }
            if (kind >= 2 && !c->op.src_reorder && !c->op.dst_reorder) { dnnl_free(&c->op); continue; } /* same as plain */
            snprintf(c->impl, sizeof c->impl, "%s", c->op.impl);
            c->out = bwd ? (void *)x : (void *)y;
            nc++;
        }
        if (s->dense) {
            Candidate *c = &cands[nc++];
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "onednn dnnl_sgemm");
            snprintf(c->impl, sizeof c->impl, "dnnl_sgemm (own threads)");
            c->kind = 4;
            c->bc = (BlasCase){s, batch, 0, bwd, threads, NULL, alloc(xn * e), w, NULL, alloc(yn * e), NULL};
            memcpy(c->bc.x, xin, xn * e);
            memcpy(c->bc.y, yin, yn * e);
            c->out = bwd ? c->bc.x : c->bc.y;
        }
    }
#endif
    if (nc == 0) return;
    /* warm-up and the inner count per candidate (>= min_ms / reps per sample, at least 1 call) */
    int inner[16];
    for (int i = 0; i < nc; i++) {
        double t = now();
        if (call(&cands[i], bwd)) { fprintf(stderr, "call failed: %s\n", cands[i].name); exit(1); }
        call(&cands[i], bwd);
        double one = (now() - t) / 2;
        inner[i] = (int)ceil(min_ms / 1e3 / reps / (one > 1e-7 ? one : 1e-7));
        if (inner[i] < 1) inner[i] = 1;
    }
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < nc; i++) {
            double t = now();
            for (int j = 0; j < inner[i]; j++) call(&cands[i], bwd);
            cands[i].times[cands[i].ntimes++] = (now() - t) / inner[i];
        }
    /* agreement with the first candidate */
    size_t on = bwd ? xn : yn;
    double scale = 0;
    for (size_t j = 0; j < on; j++) {
        double v = f64 ? ((double *)cands[0].out)[j] : ((float *)cands[0].out)[j];
        if (fabs(v) > scale) scale = fabs(v);
    }
    double best = 1e30;
    double med[16];
    for (int i = 0; i < nc; i++) { med[i] = median(cands[i].times, cands[i].ntimes); if (med[i] < best) best = med[i]; }
    for (int i = 0; i < nc; i++) {
        double err = 0;
        for (size_t j = 0; j < on; j++) {
            double a = f64 ? ((double *)cands[0].out)[j] : ((float *)cands[0].out)[j];
            double b = f64 ? ((double *)cands[i].out)[j] : ((float *)cands[i].out)[j];
            if (fabs(a - b) > err) err = fabs(a - b);
        }
        err /= scale > 0 ? scale : 1;
        if (cands[i].kind == 3) err = NAN; /* its result stays in the blocked buffer */
        double gf = 2 * macs / med[i] / 1e9;
        printf("%-8s %-18s b%-3d %-3s %s t%d  %-26s %9.3f ms %7.1f GFLOP/s %5.2fx%s  err %.1e  [%s]\n", s->group, s->name,
               batch, bwd ? "bwd" : "fwd", f64 ? "f64" : "f32", threads, cands[i].name, med[i] * 1e3, gf, med[i] / best,
               med[i] == best ? " *" : "  ", err, cands[i].impl);
        if (json)
            fprintf(json, "{\"group\":\"%s\",\"layer\":\"%s\",\"batch\":%d,\"op\":\"%s\",\"dtype\":\"%s\",\"threads\":%d,"
                          "\"candidate\":\"%s\",\"impl\":\"%s\",\"ms\":%.6f,\"gflops\":%.3f,\"vs_best\":%.4f,\"rel_error\":%.3e,"
                          "\"samples_ms\":[",
                    s->group, s->name, batch, bwd ? "bwd" : "fwd", f64 ? "float64" : "float32", threads, cands[i].name,
                    cands[i].impl, med[i] * 1e3, gf, med[i] / best, err);
        if (json) {
            for (int j = 0; j < cands[i].ntimes; j++) fprintf(json, "%s%.6f", j ? "," : "", cands[i].times[j] * 1e3);
            fprintf(json, "]}\n");
            fflush(json);
        }
    }
    fflush(stdout);
    for (int i = 0; i < nc; i++) {
        if (cands[i].kind == 0 || cands[i].kind == 4) { free(cands[i].bc.x); free(cands[i].bc.y); free(cands[i].bc.cols); }
#if defined(WITH_DNNL)
        else dnnl_free(&cands[i].op);  /* x/y of dnnl candidates leak; fine for a probe */
#endif
    }
    free(w); free(wflip); free(xin); free(yin);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--blas") && i + 1 < argc) add_blas(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--groups") && i + 1 < argc) groups = argv[++i];
        else if (!strcmp(argv[i], "--no-dnnl")) use_dnnl = 0;
        else if (!strcmp(argv[i], "--cpu-time")) cpu_clock = 1;
        else if (!strcmp(argv[i], "--f32")) dtype_f64 = 0;
        else if (!strcmp(argv[i], "--f64")) dtype_f32 = 0;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthread_list = 0;
            for (char *t = strtok(argv[++i], ","); t && nthread_list < 4; t = strtok(NULL, ",")) thread_list[nthread_list++] = atoi(t);
        } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
            json = fopen(argv[++i], "w");
            if (!json) { perror("json"); return 1; }
        } else { fprintf(stderr, "usage: kernel_probe [--blas NAME=PATH[:PREFIX]]... [--threads 1,2] [--reps N] [--min-ms MS] [--groups mlp,cifar,vgg16,resnet18] [--f32|--f64] [--no-dnnl] [--cpu-time] [--json PATH]\n"); return 2; }
    }
    if (reps > 64) reps = 64;
    for (int i = 0; i < nblas; i++) printf("blas %-10s %s\n", blas[i].name, blas[i].file);
#if defined(WITH_DNNL)
    if (use_dnnl) {
        if (dnnl_init()) use_dnnl = 0;
        const dnnl_version_t *v = dnnl_version();
        printf("onednn %d.%d.%d (cpu runtime %s), effective ISA %d\n", v->major, v->minor, v->patch,
               v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other", (int)dnnl_get_effective_cpu_isa());
    }
#endif
    for (int ti = 0; ti < nthread_list; ti++) {
        int threads = thread_list[ti];
        if (cpu_clock && threads != 1) { fprintf(stderr, "--cpu-time times one thread only; skipping %d threads\n", threads); continue; }
#if defined(WITH_DNNL)
        omp_set_num_threads(threads);
#endif
        for (int f = 0; f < 2; f++) {
            if ((f == 0 && !dtype_f32) || (f == 1 && !dtype_f64)) continue;
            for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) {
                const Shape *s = &SHAPES[si];
                if (!in_groups(s->group)) continue;
                for (int bi = 0; bi < 2; bi++)
                    for (int bwd = 0; bwd < 2; bwd++) run_case(s, s->batches[bi], f, bwd, threads);
            }
        }
    }
    if (json) fclose(json);
    return 0;
}
