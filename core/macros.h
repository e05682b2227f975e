#pragma once
// Marks a function that runs on the host and, in CUDA code, on the device too.
#if defined(__CUDACC__)
#define ANNEAL_HOST_DEVICE __host__ __device__
#else
#define ANNEAL_HOST_DEVICE
#endif

// Always inlined: the CPU's vectorised loops (target_clones) must see the whole formula
// to vectorise it, and GCC's heuristics alone do not inline a call into a cloned loop.
#if defined(__CUDACC__)
#define ANNEAL_FORCE_INLINE __forceinline__
#else
#define ANNEAL_FORCE_INLINE __attribute__((always_inline)) inline
#endif
