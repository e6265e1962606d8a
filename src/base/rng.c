// rng.c: xoshiro256** (seeded by splitmix64) and CPython's random module
// (MT19937 with init_by_array seeding), written from the published algorithms.
#include "rng.h"

#include <math.h>
#include <string.h>

// ---- xoshiro256** -----------------------------------------------------------

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// splitmix64: advances *x and returns the next output; used only to expand a seed.
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    // splitmix64 never yields four zero words in a row, so the state is valid.
}

uint64_t rng_next(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

// Lemire's multiply-and-reject: the high half of x*n is uniform in [0, n) once
// the low halves below 2^32 mod n (the biased ones) are rejected.
uint32_t rng_below(Rng *r, uint32_t n) {
    uint64_t m = (rng_next(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;  // 2^32 mod n
        while (low < threshold) {
            m = (rng_next(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

// Top 24 bits: every float in the result is exact and < 1.
float rng_uniform(Rng *r) { return (float)(rng_next(r) >> 40) * 0x1p-24f; }

// Box-Muller with both uniforms drawn fresh on every call (no cached second value:
// the whole generator state stays in s[4], so a checkpoint of it resumes exactly).
float rng_normal(Rng *r) {
    double u1 = ((rng_next(r) >> 11) + 1) * 0x1p-53;  // (0, 1]: log is finite
    double u2 = (rng_next(r) >> 11) * 0x1p-53;        // [0, 1)
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

// ---- CPython's random (MT19937) ---------------------------------------------

enum { MT_N = 624, MT_M = 397 };

static void mt_init_genrand(PyRandom *r, uint32_t s) {
    r->mt[0] = s;
    for (int i = 1; i < MT_N; i++)
        r->mt[i] = 1812433253U * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->index = MT_N;
}

static void mt_init_by_array(PyRandom *r, const uint32_t *key, int key_len) {
    uint32_t *mt = r->mt;
    mt_init_genrand(r, 19650218U);
    int i = 1, j = 0;
    for (int k = MT_N > key_len ? MT_N : key_len; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525U)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
        if (j >= key_len) j = 0;
    }
    for (int k = MT_N - 1; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941U)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
    }
    mt[0] = 0x80000000U;  // the most significant bit set: a non-zero state
}

// random.seed(n) for a non-negative int: the value as 32-bit words, least
// significant first, without high zero words; 0 gives the key [0].
void pyrandom_seed(PyRandom *r, uint64_t seed) {
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    mt_init_by_array(r, key, key[1] ? 2 : 1);
}

static void mt_twist(PyRandom *r) {
    uint32_t *mt = r->mt;
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (mt[i] & 0x80000000U) | (mt[(i + 1) % MT_N] & 0x7fffffffU);
        mt[i] = mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0U);
    }
    r->index = 0;
}

static uint32_t mt_genrand_uint32(PyRandom *r) {
    if (r->index >= MT_N) mt_twist(r);
    uint32_t y = r->mt[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

uint32_t pyrandom_getrandbits(PyRandom *r, int k) { return mt_genrand_uint32(r) >> (32 - k); }

static int bit_length(uint32_t n) {
    int k = 0;
    while (n) {
        k++;
        n >>= 1;
    }
    return k;
}

uint32_t pyrandom_randbelow(PyRandom *r, uint32_t n) {
    int k = bit_length(n);
    uint32_t x = pyrandom_getrandbits(r, k);
    while (x >= n) x = pyrandom_getrandbits(r, k);
    return x;
}

// Fisher-Yates from the end, as random.shuffle; swaps through a small buffer.
void pyrandom_shuffle(PyRandom *r, void *items, size_t n, size_t size) {
    unsigned char *base = items;
    unsigned char tmp[64];
    for (size_t i = n > 0 ? n - 1 : 0; i >= 1; i--) {
        size_t j = pyrandom_randbelow(r, (uint32_t)(i + 1));
        if (j == i) continue;
        unsigned char *a = base + i * size, *b = base + j * size;
        for (size_t off = 0; off < size; off += sizeof tmp) {
            size_t chunk = size - off < sizeof tmp ? size - off : sizeof tmp;
            memcpy(tmp, a + off, chunk);
            memcpy(a + off, b + off, chunk);
            memcpy(b + off, tmp, chunk);
        }
    }
}
