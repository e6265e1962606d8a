// test_rng.c: PyRandom against CPython's random module (values printed by
// /usr/bin/python3, Python 3.11.2), and xoshiro256** against an independent Python
// transcription of the published algorithm; statistics for below/uniform/normal.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "rng.h"

static void check_bits32(uint64_t seed, const uint32_t *want, int n) {
    PyRandom r;
    pyrandom_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        uint32_t got = pyrandom_getrandbits(&r, 32);
        CHECK(got == want[i], "seed %llu draw %d: got %u, python %u", (unsigned long long)seed, i,
              got, want[i]);
    }
}

static void test_pyrandom_getrandbits32(void) {
    // random.seed(42); [random.getrandbits(32) for _ in range(5)]
    check_bits32(42, (const uint32_t[]){2746317213u, 478163327u, 107420369u, 3184935163u, 1181241943u}, 5);
    // random.seed(0); [random.getrandbits(32) for _ in range(3)]   (key [0])
    check_bits32(0, (const uint32_t[]){3626764237u, 1654615998u, 3255389356u}, 3);
    // random.seed(2**32+5); ...   (two key words, little-endian: [5, 1])
    check_bits32((1ULL << 32) + 5, (const uint32_t[]){675479763u, 2085189291u, 1213270837u}, 3);
    // random.seed(2**64-1); ...
    check_bits32(UINT64_MAX, (const uint32_t[]){93740670u, 1068495656u, 1452108352u}, 3);
}

static void test_pyrandom_twist_boundary(void) {
    // random.seed(5); v=[random.getrandbits(32) for _ in range(1300)]; v[623:626], v[-1]
    PyRandom r;
    pyrandom_seed(&r, 5);
    uint32_t v[1300];
    for (int i = 0; i < 1300; i++) v[i] = pyrandom_getrandbits(&r, 32);
    CHECK(v[623] == 2959306914u, "v[623] = %u", v[623]);
    CHECK(v[624] == 3041615143u, "v[624] = %u", v[624]);
    CHECK(v[625] == 4094254167u, "v[625] = %u", v[625]);
    CHECK(v[1299] == 1638843205u, "v[1299] = %u", v[1299]);
}

static void test_pyrandom_getrandbits_k(void) {
    // random.seed(7); [random.getrandbits(k) for k in (1,5,17,31,32,2)]
    const int ks[] = {1, 5, 17, 31, 32, 2};
    const uint32_t want[] = {0, 30, 19772, 847876999, 2795742288u, 0};
    PyRandom r;
    pyrandom_seed(&r, 7);
    for (int i = 0; i < 6; i++) {
        uint32_t got = pyrandom_getrandbits(&r, ks[i]);
        CHECK(got == want[i], "getrandbits(%d) = %u, python %u", ks[i], got, want[i]);
    }
}

static void test_pyrandom_randbelow(void) {
    // random.seed(3); [random._inst._randbelow(n) for n in (1,2,3,10,1000,2**31,2**32-1,5,6,7)]
    const uint32_t ns[] = {1, 2, 3, 10, 1000, 1u << 31, UINT32_MAX, 5, 6, 7};
    const uint32_t want[] = {0, 0, 1, 9, 485, 281444313, 2601030205u, 0, 3, 2};
    PyRandom r;
    pyrandom_seed(&r, 3);
    for (int i = 0; i < 10; i++) {
        uint32_t got = pyrandom_randbelow(&r, ns[i]);
        CHECK(got == want[i], "_randbelow(%u) = %u, python %u", ns[i], got, want[i]);
    }
}

static void test_pyrandom_shuffle(void) {
    // random.seed(42); x=list(range(10)); random.shuffle(x); x
    const int want10[] = {7, 3, 2, 8, 5, 6, 9, 4, 0, 1};
    int x[10];
    for (int i = 0; i < 10; i++) x[i] = i;
    PyRandom r;
    pyrandom_seed(&r, 42);
    pyrandom_shuffle(&r, x, 10, sizeof x[0]);
    CHECK(memcmp(x, want10, sizeof x) == 0, "shuffle(range(10)) differs from python");

    // random.seed(123); x=list(range(1000)); random.shuffle(x);
    // x[:8], sum(i*v for i,v in enumerate(x))  ->  [178, 830, 641, 410, 255, 470, 433, 580] 253718990
    int64_t big[1000];  // 8-byte elements: the element size is honoured
    for (int i = 0; i < 1000; i++) big[i] = i;
    pyrandom_seed(&r, 123);
    pyrandom_shuffle(&r, big, 1000, sizeof big[0]);
    const int64_t head[] = {178, 830, 641, 410, 255, 470, 433, 580};
    CHECK(memcmp(big, head, sizeof head) == 0, "shuffle(range(1000)) head differs");
    int64_t weighted = 0;
    for (int i = 0; i < 1000; i++) weighted += i * big[i];
    CHECK(weighted == 253718990, "sum(i*x[i]) = %lld", (long long)weighted);

    // Elements wider than the swap buffer: the same permutation of 100-byte records.
    struct { int id; char pad[96]; } rec[10];
    for (int i = 0; i < 10; i++) {
        rec[i].id = i;
        memset(rec[i].pad, 'a' + i, sizeof rec[i].pad);
    }
    pyrandom_seed(&r, 42);
    pyrandom_shuffle(&r, rec, 10, sizeof rec[0]);
    for (int i = 0; i < 10; i++) {
        CHECK(rec[i].id == want10[i], "record %d holds %d", i, rec[i].id);
        CHECK(rec[i].pad[0] == 'a' + want10[i] && rec[i].pad[95] == 'a' + want10[i],
              "record %d padding torn", i);
    }
    pyrandom_shuffle(&r, rec, 0, sizeof rec[0]);  // n = 0 and 1 are no-ops
    pyrandom_shuffle(&r, rec, 1, sizeof rec[0]);
    CHECK(rec[0].id == want10[0], "n=1 shuffle moved something");
}

// Expected values from a Python transcription of splitmix64 + xoshiro256**:
//   sm(x): x=(x+0x9e3779b97f4a7c15)%2**64; z=x; z=((z^(z>>30))*0xbf58476d1ce4e5b9)%2**64;
//          z=((z^(z>>27))*0x94d049bb133111eb)%2**64; return x, z^(z>>31)
//   next(s): r=rotl(s1*5,7)*9; t=s1<<17; s2^=s0; s3^=s1; s1^=s2; s0^=s3; s2^=t; s3=rotl(s3,45)
static void test_xoshiro_reference(void) {
    Rng r;
    rng_seed(&r, 0);
    const uint64_t state0[4] = {0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL,
                                0xf88bb8a8724c81ecULL};
    CHECK(memcmp(r.s, state0, sizeof state0) == 0, "splitmix64 expansion of seed 0 differs");
    const uint64_t out0[4] = {0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL, 0x1a5f849d4933e6e0ULL,
                              0x6aa594f1262d2d2cULL};
    for (int i = 0; i < 4; i++) {
        uint64_t got = rng_next(&r);
        CHECK(got == out0[i], "seed 0 draw %d: %016llx", i, (unsigned long long)got);
    }
    rng_seed(&r, 12345);
    const uint64_t out1[3] = {0xbe6a36374160d49bULL, 0x214aaa0637a688c6ULL, 0xf69d16de9954d388ULL};
    for (int i = 0; i < 3; i++) {
        uint64_t got = rng_next(&r);
        CHECK(got == out1[i], "seed 12345 draw %d: %016llx", i, (unsigned long long)got);
    }
}

// Lemire's method, pinned: the same Python transcription plus
//   below(s, n): while True: m = (next(s) >> 32) * n
//                             if m % 2**32 >= 2**32 % n: return m >> 32
//   s = seed(2024); [below(s, n) for n in (27,27,27,182625,182625,3<<30,3<<30,1,2,2**32-1)]
static void test_rng_below_reference(void) {
    const uint32_t ns[10] = {27, 27, 27, 182625, 182625, 3u << 30, 3u << 30, 1, 2, UINT32_MAX};
    const uint32_t want[10] = {1, 21, 1, 29168, 141287, 788788324, 1270244487, 0, 1, 217615430};
    Rng r;
    rng_seed(&r, 2024);
    for (int i = 0; i < 10; i++) {
        uint32_t got = rng_below(&r, ns[i]);
        CHECK(got == want[i], "below(%u) = %u, python %u", ns[i], got, want[i]);
    }
}

// uniform = (next >> 40) / 2**24 (exact in float); normal = Box-Muller on
// u1 = ((next >> 11) + 1) / 2**53, u2 = (next >> 11) / 2**53 (two draws per value):
//   s = seed(5); us = [(next(s)>>40)/2**24 for _ in range(3)]
//   zs = [math.sqrt(-2*math.log(u1))*math.cos(2*math.pi*u2) ...] for 3 (u1, u2) pairs
static void test_rng_uniform_normal_reference(void) {
    const float us[3] = {0.2884112000465393f, 0.6020823121070862f, 0.6495466828346252f};
    const double zs[3] = {-0.6235420417603267, -0.6964671498312638, -0.42337943854574017};
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < 3; i++) {
        float u = rng_uniform(&r);
        CHECK(u == us[i], "uniform %d = %.9g", i, u);
    }
    for (int i = 0; i < 3; i++) {
        float z = rng_normal(&r);
        CHECK(fabs(z - zs[i]) < 1e-6, "normal %d = %.9g, python %.9g", i, z, zs[i]);
    }
}

// The whole state is s[4]: a copy taken mid-stream continues identically, normals included.
static void test_rng_state_resumes(void) {
    Rng a, b;
    rng_seed(&a, 99);
    for (int i = 0; i < 7; i++) rng_normal(&a);
    b = a;
    for (int i = 0; i < 100; i++) {
        float x = rng_normal(&a), y = rng_normal(&b);
        CHECK(memcmp(&x, &y, sizeof x) == 0, "normal %d differs after state copy", i);
        CHECK(rng_below(&a, 27) == rng_below(&b, 27), "below %d differs", i);
    }
    Rng c;
    rng_seed(&c, 100);
    CHECK(rng_next(&c) != rng_next(&a), "seeds 99 and 100 give the same draw");
}

// Chi-square over n buckets; 3 * dof is far beyond any plausible fluctuation
// (p < 1e-10 for dof >= 9) yet catches a generator that skews buckets.
static void test_rng_below_uniform(void) {
    Rng r;
    rng_seed(&r, 1);
    CHECK(rng_below(&r, 1) == 0, "below(1) != 0");
    enum { N = 27, DRAWS = 270000 };
    long count[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint32_t v = rng_below(&r, N);
        CHECK(v < N, "below(27) = %u", v);
        if (v < N) count[v]++;
    }
    double chi2 = 0, expect = (double)DRAWS / N;
    for (int i = 0; i < N; i++) chi2 += (count[i] - expect) * (count[i] - expect) / expect;
    CHECK(chi2 < 3.0 * (N - 1), "chi2 = %.1f over %d buckets", chi2, N);

    // A bound close to 2^32 where a plain modulo would be badly biased: with
    // n = 3*2^30, x mod n puts only 1/4 of the draws in the top third [2^31, n).
    uint32_t n = 3u << 30;
    long high = 0;
    for (int i = 0; i < 100000; i++) {
        uint32_t v = rng_below(&r, n);
        CHECK(v < n, "below(3*2^30) = %u", v);
        high += v >= (2u << 30);  // true share: 1/3
    }
    CHECK(fabs(high / 100000.0 - 1.0 / 3) < 0.01, "share of the top third %.4f", high / 100000.0);
}

static void test_rng_uniform_normal_moments(void) {
    Rng r;
    rng_seed(&r, 2);
    enum { N = 200000 };
    double su = 0, sn = 0, sn2 = 0, sn4 = 0;
    float umin = 1, umax = 0;
    int finite = 1;
    for (int i = 0; i < N; i++) {
        float u = rng_uniform(&r);
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
        su += u;
        float z = rng_normal(&r);
        finite &= isfinite(z) != 0;
        sn += z;
        sn2 += (double)z * z;
        sn4 += (double)z * z * z * z;
    }
    CHECK(umin >= 0 && umax < 1, "uniform outside [0,1): %g %g", umin, umax);
    CHECK(fabs(su / N - 0.5) < 0.005, "uniform mean %g", su / N);
    CHECK(finite, "a normal draw is not finite");
    // Standard errors at N=2e5: mean 0.0022, variance 0.0032, 4th moment ~0.022.
    CHECK(fabs(sn / N) < 0.012, "normal mean %g", sn / N);
    CHECK(fabs(sn2 / N - 1) < 0.02, "normal variance %g", sn2 / N);
    CHECK(fabs(sn4 / N - 3) < 0.15, "normal 4th moment %g (3 for a Gaussian)", sn4 / N);
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_pyrandom_getrandbits32);
    RUN_TEST(test_pyrandom_twist_boundary);
    RUN_TEST(test_pyrandom_getrandbits_k);
    RUN_TEST(test_pyrandom_randbelow);
    RUN_TEST(test_pyrandom_shuffle);
    RUN_TEST(test_xoshiro_reference);
    RUN_TEST(test_rng_below_reference);
    RUN_TEST(test_rng_uniform_normal_reference);
    RUN_TEST(test_rng_state_resumes);
    RUN_TEST(test_rng_below_uniform);
    RUN_TEST(test_rng_uniform_normal_moments);
    return check_summary();
}
