#pragma once
// Checked size arithmetic: every element count, extent and byte size derived from user
// input (shapes, file headers, sizes of layers) goes through these, so an overflowing
// product becomes a clear error instead of a tiny buffer that is then read or written
// out of bounds.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/small_vector.h"

namespace anneal {

// The most bytes one tensor may ask for: 2^47 (128 TiB), the user address space of
// x86-64 and AArch64 Linux. Anything larger cannot be mapped, whatever the machine.
inline constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 47;

// a * b or a + b of non-negative sizes; ValueError naming `what` when it does not fit int64.
int64_t checked_mul(int64_t a, int64_t b, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* what);

// The element count of `sizes`; ValueError for a negative size or an overflowing product.
int64_t checked_numel(const SmallVector<int64_t, 6>& sizes, const char* what);

// numel * element_size as a byte count an allocation may ask for; OutOfMemoryError
// stating the request when it exceeds kMaxTensorBytes.
size_t checked_nbytes(int64_t numel, size_t element_size, const char* what);

// One past the largest element offset a (sizes, strides, offset) geometry reaches (0 when
// it has no elements); ValueError for a negative offset or stride or on overflow.
int64_t checked_extent(const SmallVector<int64_t, 6>& sizes, const SmallVector<int64_t, 6>& strides, int64_t offset,
                       const char* what);

}  // namespace anneal
