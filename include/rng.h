// rng.h: two generators.
//  - Rng: xoshiro256** for initialisation and batch sampling (fast, 256-bit state
//    that a checkpoint saves so a resumed run draws the same batches).
//  - PyRandom: CPython's `random` module (MT19937 + init_by_array seeding,
//    getrandbits, _randbelow, shuffle) reproduced bit for bit, for the lecture's split.
#ifndef MAKEMORE_RNG_H
#define MAKEMORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);      // splitmix64 expansion of the seed
uint64_t rng_next(Rng *r);                 // 64 random bits
uint32_t rng_below(Rng *r, uint32_t n);    // uniform in [0, n), unbiased; n >= 1
float rng_uniform(Rng *r);                 // uniform in [0, 1)
float rng_normal(Rng *r);                  // N(0, 1), Box-Muller

// CPython's random.Random, enough of it for random.seed(int) + random.shuffle(list).
typedef struct {
    uint32_t mt[624];
    int index;
} PyRandom;

void pyrandom_seed(PyRandom *r, uint64_t seed);             // random.seed(seed)
uint32_t pyrandom_getrandbits(PyRandom *r, int k);          // 1 <= k <= 32
uint32_t pyrandom_randbelow(PyRandom *r, uint32_t n);       // random._randbelow(n), n >= 1
// random.shuffle(x) on an array of n elements of `size` bytes each.
void pyrandom_shuffle(PyRandom *r, void *items, size_t n, size_t size);

#endif
