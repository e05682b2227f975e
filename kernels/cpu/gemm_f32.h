#pragma once
#include <cstdint>

namespace anneal::cpu {

// C[M,N] (row-major, leading dim ldc) = A[M,K] @ B[K,N], where element (i,j) of A is at
// a[i*rsa + j*csa] (so transposed views need no copy), likewise B. Uses an AVX-512 or
// AVX2 micro-kernel chosen at run time; returns false when the CPU has neither (the
// caller falls back to Eigen).
bool sgemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t rsb,
           int64_t csb, float* c, int64_t ldc);

}  // namespace anneal::cpu
