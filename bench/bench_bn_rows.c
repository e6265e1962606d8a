// bench_bn_rows.c: exercise 3's closed form parallelised over rows instead of columns,
// a strategy kept in bench/ beside the engine's bn_backward_fused (which forks over
// 16-column blocks: at H = 1024 every row of a block is 4 KB from the last, an access
// pattern the prefetchers do not follow).
//
// Two passes, each a sweep of contiguous rows: every thread sums its row range into
// private column sums, the sums are combined in thread order (fixed order, so the result
// depends only on the thread count), then every thread writes its rows of dhprebn.
#include <omp.h>

#include "bench.h"
#include "common.h"

typedef struct {
    float *dhprebn, *dbngain, *dbnbias;
    const float *din, *h, *bnraw, *bnvar_inv, *bngain;
    int B, H, bessel;
    float *partial;  // [threads][2][H]: column sums of d and of d * bnraw per thread
    float *scale;    // [H] bngain * bnvar_inv / B
} BnRows;

static inline float upstream(const BnRows *k, size_t i) {
    return k->h ? (1.0f - k->h[i] * k->h[i]) * k->din[i] : k->din[i];
}

static void sum_rows(const BnRows *k, float *sum_d, float *sum_draw, int r0, int r1) {
    for (int b = r0; b < r1; b++) {
        size_t o = (size_t)b * k->H;
        #pragma omp simd
        for (int j = 0; j < k->H; j++) {
            float d = upstream(k, o + j);
            sum_d[j] += d;
            sum_draw[j] += d * k->bnraw[o + j];
        }
    }
}

// Column j's sums over all threads, in thread order, into dbnbias / dbngain.
static void combine_column(BnRows *k, int j, int threads) {
    float sd = 0.0f, sr = 0.0f;
    for (int t = 0; t < threads; t++) {
        sd += k->partial[((size_t)t * 2) * k->H + j];
        sr += k->partial[((size_t)t * 2 + 1) * k->H + j];
    }
    k->dbnbias[j] = sd;
    k->dbngain[j] = sr;
    k->scale[j] = k->bngain[j] * k->bnvar_inv[j] / (float)k->B;
}

static void write_rows(const BnRows *k, int r0, int r1) {
    const float factor = k->bessel ? (float)k->B / (float)(k->B - 1) : 1.0f;
    for (int b = r0; b < r1; b++) {
        size_t o = (size_t)b * k->H;
        #pragma omp simd
        for (int j = 0; j < k->H; j++)
            k->dhprebn[o + j] = k->scale[j] * ((float)k->B * upstream(k, o + j) - k->dbnbias[j] -
                                               k->bnraw[o + j] * factor * k->dbngain[j]);
    }
}

static void run_rows(BnRows *k, int threads) {
    if (threads == 1) {
        sum_rows(k, k->partial, k->partial + k->H, 0, k->B);
        for (int j = 0; j < k->H; j++) combine_column(k, j, 1);
        write_rows(k, 0, k->B);
        return;
    }
    #pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int r0 = (int)((long)k->B * t / n), r1 = (int)((long)k->B * (t + 1) / n);
        float *mine = k->partial + (size_t)t * 2 * k->H;
        sum_rows(k, mine, mine + k->H, r0, r1);
        #pragma omp barrier
        #pragma omp for schedule(static)
        for (int j = 0; j < k->H; j++) combine_column(k, j, n);
        write_rows(k, r0, r1);
    }
}

// dhprebn, dbngain, dbnbias as bn_backward_fused (h == NULL: din is dhpreact) or
// bn_tanh_backward_fused (h != NULL: din is dh, dhpreact = (1 - h^2) * dh on the fly).
void bn_backward_rows(float *dhprebn, float *dbngain, float *dbnbias, const float *din,
                      const float *h, const float *bnraw, const float *bnvar_inv,
                      const float *bngain, int B, int H, int bessel) {
    int threads = par_worth((long)B * H) ? omp_get_max_threads() : 1;
    BnRows k = {dhprebn, dbngain, dbnbias, din, h, bnraw, bnvar_inv, bngain, B, H, bessel,
                xcalloc((size_t)threads * 2 * H, sizeof(float)), xcalloc((size_t)H, sizeof(float))};
    run_rows(&k, threads);
    xfree(k.partial);
    xfree(k.scale);
}
