#pragma once
// Helpers of the hand-vectorised CPU loops: a clone list so a portable build still runs
// AVX-512 / AVX2 code where the CPU has it (picked once at load time), and a dispatch
// over the two dtypes those loops are written for.
#include "core/dtype.h"
#include "core/error.h"

// Put on a function whose loop should be compiled for each instruction set.
#if defined(__clang__)
// clang (the fuzzing build) cannot clone function templates: one baseline version there
#define ANNEAL_SIMD_CLONES
#else
#define ANNEAL_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

namespace anneal::cpu {

// f(float{}) or f(double{}); other dtypes are a TypeError naming `what`.
template <typename F>
void dispatch_float(DType dt, const char* what, const F& f) {
  if (dt == DType::Float32) return f(float{});
  if (dt == DType::Float64) return f(double{});
  throw TypeError(str("cpu ", what, ": float32 and float64 only, got ", dtype_name(dt)));
}

}  // namespace anneal::cpu
