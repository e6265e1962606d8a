// vecmath.h: let `#pragma omp simd` loops call glibc's vector math (libmvec).
// glibc declares these SIMD variants only under -ffast-math, which would also let the
// compiler delete isfinite() checks; redeclaring the two functions we need keeps
// strict IEEE semantics everywhere else. libmvec's tanhf/expf are within 4 ulp.
#ifndef MAKEMORE_VECMATH_H
#define MAKEMORE_VECMATH_H

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
float tanhf(float) __attribute__((simd("notinbranch")));
float expf(float) __attribute__((simd("notinbranch")));
float logf(float) __attribute__((simd("notinbranch")));
#endif

#endif
